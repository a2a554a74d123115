/**
 * The data path's two ChaCha20-Poly1305 implementations (src/secure/aead.ts): sodium-native
 * and the node:crypto fallback produce the same bytes, each opens what the other sealed,
 * and two SecureCores, one on each, talk to each other (the fallback counted).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { aeadKey, defaultAead, nodeAead, sodiumAeadImpl, sodiumDirect, sodiumError, sodiumWrappedAead, type Aead } from '../../src/secure/aead.js';
import { generateKeyPair, seal } from '../../src/secure/crypto.js';
import { SecureCore, type Endpoint } from '../../src/secure/core.js';

const A_EP = { address: '127.0.0.1', port: 1000 };
const B_EP = { address: '127.0.0.1', port: 2000 };

function sodium(): Aead {
  if (!sodiumAeadImpl) throw new Error(`sodium-native did not load: ${sodiumError}`);
  return sodiumAeadImpl;
}

describe('secure: the data-path AEAD (sodium-native and the node:crypto fallback)', () => {
  it('sodium-native loads here, and is the default; its data path calls the binding directly (the known-answer check passed)', () => {
    expect(sodiumError).to.equal(undefined);
    expect(defaultAead.name).to.equal('sodium-native');
    expect(sodiumDirect).to.equal(true);
  });

  it('both implementations seal the same bytes as the handshake AEAD; each opens the other; a flipped bit opens in neither', () => {
    const impls = [sodium(), nodeAead];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 1500 }), fc.nat({ max: 2 ** 52 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }), fc.nat(), fc.nat({ max: 7 }), (k, bytes, n, adBytes, bit, off) => {
        const key = aeadKey(Buffer.from(k));
        const pt = Buffer.from(bytes);
        const ad = adBytes ? Buffer.from(adBytes) : null;
        // node:crypto's one-shot seal (the handshake's) is the reference.
        const ref = seal(Buffer.from(k), n, ad ?? undefined, pt);
        for (const sealer of impls) {
          const out = Buffer.alloc(off + pt.length + 16, 0xee);
          expect(sealer.sealInto(key, n, ad, pt, out, off), sealer.name).to.equal(pt.length + 16);
          expect(out.subarray(off).equals(ref), `${sealer.name} seals like node:crypto`).to.equal(true);
          for (const opener of impls) {
            const got = Buffer.alloc(off + pt.length);
            expect(opener.openInto(key, n, ad, ref, got, off), `${sealer.name} -> ${opener.name}`).to.equal(pt.length);
            expect(got.subarray(off).equals(pt)).to.equal(true);
            const bad = Buffer.from(ref);
            bad[bit % bad.length] ^= 1 << bit % 8;
            expect(opener.openInto(key, n, ad, bad, got, off), `${opener.name} refuses a flipped bit`).to.equal(-1);
            expect(opener.openInto(key, n + 1, ad, ref, got, off), `${opener.name} refuses another nonce`).to.equal(-1);
            expect(opener.openInto(key, n, ad, ref.subarray(0, 15), got, off), `${opener.name} refuses a short input`).to.equal(-1);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("the data path's seal/open (no AD, into exact views, open in place too; sodium-native's binding, its exported functions, node:crypto) give the same bytes as sealInto/openInto and refuse what they refuse", () => {
    const impls = [sodium(), sodiumWrappedAead!, nodeAead];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 1500 }), fc.nat({ max: 2 ** 52 }), fc.nat(), (k, bytes, n, bit) => {
        const key = aeadKey(Buffer.from(k));
        const pt = Buffer.from(bytes);
        const ref = seal(Buffer.from(k), n, undefined, pt);
        for (const impl of impls) {
          // A view 16 bytes into a larger buffer, as a data message's sealed part.
          const dgram = Buffer.alloc(16 + pt.length + 16, 0xee);
          impl.seal(key, n, pt, dgram.subarray(16));
          expect(dgram.subarray(16).equals(ref), `${impl.name} seal`).to.equal(true);
          expect(dgram.subarray(0, 16).equals(Buffer.alloc(16, 0xee)), `${impl.name} wrote only its view`).to.equal(true);
          const got = Buffer.alloc(pt.length);
          expect(impl.open(key, n, ref, got), `${impl.name} open`).to.equal(true);
          expect(got.equals(pt)).to.equal(true);
          const bad = Buffer.from(ref);
          bad[bit % bad.length] ^= 1 << bit % 8;
          expect(impl.open(key, n, bad, got), `${impl.name} refuses a flipped bit`).to.equal(false);
          expect(impl.open(key, n + 1, ref, got), `${impl.name} refuses another nonce`).to.equal(false);
          expect(impl.open(key, n, ref.subarray(0, 15), Buffer.alloc(0)), `${impl.name} refuses a short input`).to.equal(false);
          expect(impl.open(key, n, ref, Buffer.alloc(pt.length + 1)), `${impl.name} refuses a view of the wrong length`).to.equal(false);
          // In place, as the receiver opens a datagram from the socket: the plaintext over the ciphertext.
          const own = Buffer.concat([Buffer.alloc(16, 0xee), ref]);
          expect(impl.open(key, n, own.subarray(16), own.subarray(16, 16 + pt.length)), `${impl.name} opens in place`).to.equal(true);
          expect(own.subarray(16, 16 + pt.length).equals(pt), `${impl.name} in place`).to.equal(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('with an explicit 12-byte nonce (the cookie reply): each implementation opens what the other sealed, and nothing else', () => {
    const impls = [sodium(), nodeAead];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (k, nb, cookie, mac1) => {
        const key = aeadKey(Buffer.from(k));
        const nonce = Buffer.from(nb);
        const ad = Buffer.from(mac1);
        const sealed = impls.map((impl) => {
          const out = Buffer.alloc(40);
          expect(impl.sealInto(key, 0, ad, Buffer.from(cookie), out, 8, nonce)).to.equal(32);
          return out.subarray(8);
        });
        expect(sealed[0]!.equals(sealed[1]!), 'same bytes').to.equal(true);
        for (const impl of impls) {
          const got = Buffer.alloc(16);
          expect(impl.openInto(key, 0, ad, sealed[0]!, got, 0, nonce)).to.equal(16);
          expect(got.equals(Buffer.from(cookie))).to.equal(true);
          const other = Buffer.from(nonce);
          other[0] ^= 1;
          expect(impl.openInto(key, 0, ad, sealed[0]!, got, 0, other), `${impl.name}: another nonce`).to.equal(-1);
          expect(impl.openInto(key, 0, Buffer.alloc(16), sealed[0]!, got, 0, nonce), `${impl.name}: another AD`).to.equal(-1);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a core on the fallback and a core on sodium-native exchange packets both ways; the fallback counts every message it seals or opens', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const wire: Array<{ d: Buffer; to: Endpoint; from: Endpoint }> = [];
    const got = { a: [] as Buffer[], b: [] as Buffer[] };
    const coreA = new SecureCore(
      { privateKey: a.privateKey, peers: [{ publicKey: b.publicKey, endpoint: B_EP }], aead: nodeAead },
      { transmit: (d, port, address) => wire.push({ d, to: { address, port }, from: A_EP }), deliver: (p) => got.a.push(p) },
    );
    const coreB = new SecureCore(
      { privateKey: b.privateKey, peers: [{ publicKey: a.publicKey, endpoint: A_EP }], aead: sodium() },
      { transmit: (d, port, address) => wire.push({ d, to: { address, port }, from: B_EP }), deliver: (p) => got.b.push(p) },
    );
    const pump = (): void => {
      for (let i = 0; wire.length && i < 10_000; i++) {
        const w = wire.shift()!;
        (w.to.port === B_EP.port ? coreB : coreA).receive(w.d, w.from, 0);
      }
    };
    const packets = Array.from({ length: 20 }, (_, i) => Buffer.alloc(60 + i * 70, i + 1).fill(0x45, 0, 1));
    for (const p of packets) coreA.send(p, B_EP.port, B_EP.address, 0);
    pump();
    for (const p of packets) coreB.send(p, A_EP.port, A_EP.address, 0);
    pump();
    expect(got.b.map((x) => x.toString('hex'))).to.deep.equal(packets.map((x) => x.toString('hex')));
    expect(got.a.map((x) => x.toString('hex'))).to.deep.equal(packets.map((x) => x.toString('hex')));
    expect(Object.fromEntries(coreA.stats.drops)).to.deep.equal({});
    expect(Object.fromEntries(coreB.stats.drops)).to.deep.equal({});
    expect(coreA.aead.name).to.equal('node:crypto');
    // A sealed 20 packets (+ nothing else: its queue flushed the session confirmation) and opened 20.
    expect(coreA.stats.aeadFallback).to.equal(coreA.stats.sealed + coreA.stats.opened);
    expect(coreA.stats.aeadFallback).to.be.at.least(40);
    expect(coreB.stats.aeadFallback).to.equal(0);
  });
});
