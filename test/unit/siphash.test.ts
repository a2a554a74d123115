/**
 * SipHash-2-4 (src/util/siphash.ts) against the paper's test vectors and, for random keys
 * and messages, against a straightforward BigInt implementation of the reference code.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { sipHash24, sipHash3u32, sipKey } from '../../src/util/siphash.js';

const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;

/** SipHash-2-4 as in the reference C code, on BigInts. */
function reference(key: Uint8Array, msg: Uint8Array): bigint {
  const le = (b: Uint8Array, i: number, n = 8): bigint => {
    let x = 0n;
    for (let j = n - 1; j >= 0; j--) x = (x << 8n) | BigInt(b[i + j]!);
    return x;
  };
  const k0 = le(key, 0);
  const k1 = le(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const n = msg.length;
  const full = n - (n % 8);
  const words: bigint[] = [];
  for (let i = 0; i < full; i += 8) words.push(le(msg, i));
  words.push(le(msg, full, n % 8) | (BigInt(n & 0xff) << 56n));
  for (const m of words) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

const seq = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);
const asBig = ([hi, lo]: [number, number]): bigint => (BigInt(hi) << 32n) | BigInt(lo);

describe('unit: SipHash-2-4', () => {
  const key = sipKey(seq(16));

  it("matches the paper's test vectors (key 00..0f, messages 00..n-1)", () => {
    expect(asBig(sipHash24(key, seq(0)))).to.equal(0x726fdb47dd0e0e31n);
    expect(asBig(sipHash24(key, seq(15)))).to.equal(0xa129ca6149be45e5n);
    for (let n = 0; n < 64; n++) expect(asBig(sipHash24(key, seq(n)))).to.equal(reference(seq(16), seq(n)));
  });

  it('equals the reference for random keys and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 100 }), (k, m) => {
        expect(asBig(sipHash24(sipKey(k), m))).to.equal(reference(k, m));
      }),
      { numRuns: 500 },
    );
  });

  it('sipHash3u32 is SipHash of the three words little-endian, low 32 bits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (k, a, b, c) => {
        const msg = Buffer.alloc(12);
        msg.writeUInt32LE(a, 0);
        msg.writeUInt32LE(b, 4);
        msg.writeUInt32LE(c, 8);
        expect(BigInt(sipHash3u32(sipKey(k), a, b, c))).to.equal(reference(k, msg) & 0xffffffffn);
      }),
      { numRuns: 500 },
    );
  });
});
