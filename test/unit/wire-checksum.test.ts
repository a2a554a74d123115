import { expect } from 'chai';
import fc from 'fast-check';
import { batchReadArea, fold, incrementalUpdate, internetChecksum, pseudoHeaderSum, setSumTwin, summableArea, sumWords, sumWordsJs } from '../../src/wire/checksum.js';
import { SIMD_SCRATCH, simdSum } from '../../src/wire/checksum-simd.js';
import { encodeIpv4 } from '../../src/wire/ipv4.js';
import { decodeTcp, encodeTcp } from '../../src/wire/tcp.js';

/** The textbook RFC 1071 checksum: 16-bit big-endian pairs, carry folded after every add. */
function naiveChecksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) {
    const hi = buf[i]!;
    const lo = i + 1 < end ? buf[i + 1]! : 0;
    sum += (hi << 8) | lo;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('wire: Internet checksum (RFC 1071, RFC 1624)', () => {
  it('matches the RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const b = Buffer.from('0001f203f4f5f6f7', 'hex');
    expect(fold(sumWords(b))).to.equal(0xddf2);
    expect(internetChecksum(b)).to.equal(0x220d);
  });

  it('the 32-bit word implementation equals a naive byte-pair reference at any offset and length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.nat(),
        fc.nat(),
        (data, a, b) => {
          const s = data.length === 0 ? 0 : a % (data.length + 1);
          const e = s + (data.length - s === 0 ? 0 : b % (data.length - s + 1));
          expect(internetChecksum(data, s, e)).to.equal(naiveChecksum(data, s, e));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('WebAssembly SIMD is available on the supported Node versions, so sumWords takes it', () => {
    expect(simdSum, 'the SIMD module did not validate or instantiate').to.not.equal(undefined);
  });

  it('the WebAssembly SIMD sum equals the JavaScript sum: any length, offset, alignment, odd byte and pseudo-header sum', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 5000, size: 'max' }),
        fc.nat(7), // where the data starts in its ArrayBuffer: every alignment, even and odd
        fc.nat(),
        fc.nat(),
        fc.nat(0xffff_ffff),
        fc.nat(0xffff_ffff),
        fc.nat(0xffff),
        (data, lead, a, b, src, dst, len) => {
          const backing = new Uint8Array(lead + data.length);
          backing.set(data, lead);
          const buf = backing.subarray(lead);
          const s = data.length === 0 ? 0 : a % (data.length + 1);
          const e = s + (data.length - s === 0 ? 0 : b % (data.length - s + 1));
          const initial = pseudoHeaderSum(src, dst, 6, len);
          expect(fold(sumWords(buf, s, e, initial))).to.equal(fold(sumWordsJs(buf, s, e, initial)));
          expect(internetChecksum(buf, s, e)).to.equal(naiveChecksum(buf, s, e));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the SIMD sum is exact across scratch-sized pieces (ranges longer than its memory, odd lengths, 0xff carries)', () => {
    fc.assert(
      fc.property(fc.integer({ min: SIMD_SCRATCH - 40, max: 2 * SIMD_SCRATCH + 40 }), fc.nat(3), fc.boolean(), (n, lead, ones) => {
        const backing = new Uint8Array(lead + n);
        if (ones) backing.fill(0xff);
        else for (let i = 0; i < backing.length; i++) backing[i] = (i * 2654435761) >>> 23;
        const buf = backing.subarray(lead);
        expect(fold(sumWords(buf, 0, n, 0x1_2345))).to.equal(fold(sumWordsJs(buf, 0, n, 0x1_2345)));
      }),
      { numRuns: 40 },
    );
  });

  it('a range of the summable area (the module\'s own memory) is summed in place, not copied, and exactly: any offset, length and odd byte', () => {
    const area = summableArea!;
    expect(area, 'no summable area although SIMD is available').to.not.equal(undefined);
    const scratch = simdSum!.scratch;
    fc.assert(
      fc.property(fc.integer({ min: 128, max: 70_000 }), fc.nat(area.length - 70_000), fc.boolean(), fc.nat(0xffff_ffff), (n, at, ones, initial) => {
        const view = area.subarray(at, at + n);
        if (ones) view.fill(0xff);
        else for (let i = 0; i < n; i++) view[i] = ((at + i) * 2654435761) >>> 23;
        scratch.fill(0xa5, 0, 256); // a copy into the scratch area would overwrite this
        expect(fold(sumWords(view, 0, n, initial))).to.equal(fold(sumWordsJs(view, 0, n, initial)));
        expect(fold(sumWords(area, at, at + n, initial))).to.equal(fold(sumWordsJs(view, 0, n, initial)));
        expect(scratch.subarray(0, 256).every((b) => b === 0xa5)).to.equal(true);
        view.fill(0);
      }),
      { numRuns: 60 },
    );
  });

  it('a copy out of the batch area is summed where its twin lies while the twin is set, exactly; any other buffer, or after, as usual', () => {
    const area = batchReadArea!;
    expect(area, 'no batch area although SIMD is available').to.not.equal(undefined);
    const scratch = simdSum!.scratch;
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 65_000 }), fc.nat(area.length - 65_000), fc.nat(100), fc.nat(100), fc.nat(0xffff_ffff), (n, at, cut, tail, initial) => {
        const twin = area.subarray(at, at + n);
        for (let i = 0; i < n; i++) twin[i] = ((at + i) * 2654435761) >>> 23;
        // The copy lies inside a larger buffer (as a packet in node's pool does), any offset.
        const outer = Buffer.alloc(n + cut + tail, 0x11);
        const copy = outer.subarray(cut, cut + n);
        twin.copy(copy);
        const truth = (b: Buffer, s: number, e: number): number => fold(sumWordsJs(b, s, e, initial));
        const from = Math.min(n - 150, cut); // a sub-range of at least 150 bytes
        setSumTwin(copy, at);
        try {
          scratch.fill(0xa5, 0, 256); // a copy into the scratch area would overwrite this
          expect(fold(sumWords(copy, 0, n, initial))).to.equal(truth(copy, 0, n));
          expect(fold(sumWords(copy, from, n, initial))).to.equal(truth(copy, from, n));
          expect(fold(sumWords(copy.subarray(from), 0, n - from, initial))).to.equal(truth(copy, from, n));
          expect(scratch.subarray(0, 256).every((b) => b === 0xa5)).to.equal(true);
          // The twin is what is summed: change it, and the sum of the (unchanged) copy follows.
          twin[0] = twin[0]! ^ 0xff;
          expect(fold(sumWords(copy, 0, n, initial))).to.equal(fold(sumWordsJs(twin, 0, n, initial)));
          twin[0] = twin[0]! ^ 0xff;
          // The bytes around the copy are not its twin's: summed as usual, exactly.
          if (cut + tail >= 150) expect(fold(sumWords(outer, 0, outer.length, initial))).to.equal(truth(outer, 0, outer.length));
        } finally {
          setSumTwin(undefined);
        }
        twin[0] = twin[0]! ^ 0xff;
        expect(fold(sumWords(copy, 0, n, initial))).to.equal(truth(copy, 0, n)); // no twin any more
      }),
      { numRuns: 60 },
    );
  });

  it('a TCP segment whose header and payload view are summed apart (the SIMD path) verifies: any payload offset, length and option length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000, size: 'max' }),
        fc.nat(5),
        fc.boolean(),
        fc.nat(4),
        fc.nat(0xffff_ffff),
        fc.nat(0xffff_ffff),
        fc.record({ srcPort: fc.nat(0xffff), dstPort: fc.nat(0xffff), seq: fc.nat(0xffff_ffff), ack: fc.nat(0xffff_ffff), flags: fc.nat(0xff), window: fc.nat(0xffff), urgent: fc.nat(0xffff) }),
        (data, lead, ts, sackBlocks, src, dst, h) => {
          const backing = Buffer.alloc(lead + data.length);
          backing.set(data, lead);
          const payload = backing.subarray(lead); // any alignment, as a view of a user's chunk
          const sack = Array.from({ length: ts ? Math.min(sackBlocks, 3) : sackBlocks }, (_, i) => ({ left: 1000 * i, right: 1000 * i + 500 }));
          const seg = { ...h, options: { ...(ts ? { ts: { val: 1, ecr: 2 } } : {}), ...(sack.length ? { sack } : {}) }, payload };
          const bytes = encodeTcp(seg, src, dst);
          const d = decodeTcp(bytes, src, dst);
          expect(d.ok ? 'ok' : d.reason).to.equal('ok');
          if (d.ok) expect(d.segment.payload.equals(payload)).to.equal(true);
          expect(internetChecksum(bytes, 0, bytes.length, pseudoHeaderSum(src, dst, 6, bytes.length))).to.equal(0);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('large sums of 0xff bytes fold correctly (carry-heavy input)', () => {
    for (const n of [1, 2, 3, 4, 5, 65535, 65536, 200_001]) {
      const b = new Uint8Array(n).fill(0xff);
      expect(internetChecksum(b), `n=${n}`).to.equal(naiveChecksum(b, 0, n));
    }
  });

  it('a buffer with its own checksum inserted verifies to 0', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }), (data) => {
        const b = Buffer.from(data.length % 2 ? [...data, 0] : data);
        b.writeUInt16BE(0, 0);
        b.writeUInt16BE(internetChecksum(b), 0);
        expect(internetChecksum(b)).to.equal(0);
      }),
    );
  });

  it('incremental update (RFC 1624 eqn. 3) after a TTL decrement equals a full recompute', () => {
    fc.assert(
      fc.property(
        fc.record({
          src: fc.integer({ min: 0, max: 0xffffffff }),
          dst: fc.integer({ min: 0, max: 0xffffffff }),
          protocol: fc.integer({ min: 0, max: 255 }),
          id: fc.integer({ min: 0, max: 0xffff }),
          ttl: fc.integer({ min: 1, max: 255 }),
          tos: fc.integer({ min: 0, max: 255 }),
        }),
        (f) => {
          const p = encodeIpv4(f, Buffer.alloc(0));
          const oldCk = p.readUInt16BE(10);
          const oldWord = p.readUInt16BE(8);
          p[8] = f.ttl - 1;
          const newWord = p.readUInt16BE(8);
          const inc = incrementalUpdate(oldCk, oldWord, newWord);
          p.writeUInt16BE(0, 10);
          const full = internetChecksum(p, 0, 20);
          expect(inc).to.equal(full);
          p.writeUInt16BE(inc, 10);
          expect(internetChecksum(p, 0, 20)).to.equal(0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
