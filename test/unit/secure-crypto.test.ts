/**
 * Known answers for every primitive the secure overlay composes, and the Noise IK
 * handshake against the cacophony test vector for Noise_IK_25519_ChaChaPoly_SHA256.
 */
import { createCipheriv } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { dh, hkdf, keyPairFromPrivate, noiseHkdf, open, seal, generateKeyPair } from '../../src/secure/crypto.js';
import { IkInitiator, readInitiation, PROTOCOL_NAME } from '../../src/secure/noise.js';
import { ReplayWindow, REPLAY_WINDOW } from '../../src/secure/replay.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('secure: primitives (known answers)', () => {
  it('ChaCha20-Poly1305 matches RFC 8439 (7539) section 2.8.2', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const ad = hex('50515253c0c1c2c3c4c5c6c7');
    const pt = Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      'ascii',
    );
    // The RFC's nonce has a non-zero first word, which Noise's nonce layout never has: so
    // the raw primitive is checked here, and seal/open's nonce layout by the Noise vector.
    const c = createCipheriv('chacha20-poly1305', key, hex('070000004041424344454647'), { authTagLength: 16 });
    c.setAAD(ad, { plaintextLength: pt.length });
    const ct = Buffer.concat([c.update(pt), c.final()]);
    expect(ct.toString('hex')).to.equal(
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116',
    );
    expect(c.getAuthTag().toString('hex')).to.equal('1ae10b594f09e26a7e902ecbd0600691');
  });

  it('seal/open round-trip; a flipped bit, a wrong nonce or wrong AD do not open', () => {
    const key = Buffer.alloc(32, 7);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 2 ** 40 }), fc.nat(), (bytes, n, bit) => {
        const pt = Buffer.from(bytes);
        const sealed = seal(key, n, Buffer.from('ad'), pt);
        expect(open(key, n, Buffer.from('ad'), sealed)!.equals(pt)).to.equal(true);
        const bad = Buffer.from(sealed);
        bad[bit % bad.length] ^= 1 << bit % 8;
        expect(open(key, n, Buffer.from('ad'), bad)).to.equal(undefined);
        expect(open(key, n + 1, Buffer.from('ad'), sealed)).to.equal(undefined);
        expect(open(key, n, Buffer.from('AD'), sealed)).to.equal(undefined);
      }),
      { numRuns: 200 },
    );
  });

  it('HKDF-SHA-256 matches RFC 5869 A.1 and A.3; Noise HKDF is its 64-byte prefix', () => {
    const a1 = hkdf(hex('000102030405060708090a0b0c'), Buffer.alloc(22, 0x0b), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(a1.toString('hex')).to.equal('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    const a3 = hkdf(Buffer.alloc(0), Buffer.alloc(22, 0x0b), Buffer.alloc(0), 42);
    expect(a3.toString('hex')).to.equal('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
    const [o1, o2] = noiseHkdf(Buffer.alloc(0), Buffer.alloc(22, 0x0b), 2);
    expect(Buffer.concat([o1!, o2!]).subarray(0, 42).equals(a3)).to.equal(true);
  });

  it('X25519 matches RFC 7748 section 6.1', () => {
    const alice = keyPairFromPrivate(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = keyPairFromPrivate(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(alice.publicKey.toString('hex')).to.equal('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(bob.publicKey.toString('hex')).to.equal('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(dh(alice, bob.publicKey).toString('hex')).to.equal(shared);
    expect(dh(bob, alice.publicKey).toString('hex')).to.equal(shared);
  });
});

describe('secure: Noise IK (cacophony vector)', () => {
  // From the cacophony test vectors (as shipped in snow, tests/vectors/cacophony.txt).
  const V = {
    prologue: hex('4a6f686e2047616c74'),
    initStatic: hex('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1'),
    initEphemeral: hex('893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a'),
    respStatic: hex('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893'),
    respEphemeral: hex('bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b'),
    remoteStatic: '31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62',
    handshakeHash: '0b0f68fb0c27e03ce9b97565995ed4838cc0581b762ef72b062f6a546419fad7',
    messages: [
      ['4c756477696720766f6e204d69736573', 'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204f904b9bd6c7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a72f48e0b7bba2e89083169825e59642148d492020664ccf7'],
      ['4d757272617920526f746862617264', '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d1d6b3b840f194e373979d241b203c4acafccf5'],
      ['462e20412e20486179656b', '050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8'],
      ['4361726c204d656e676572', '344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667'],
      ['4a65616e2d426170746973746520536179', '62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4'],
      ['457567656e2042f6686d20766f6e2042617765726b', '029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024'],
    ],
  };

  it(`${PROTOCOL_NAME}: both messages, the handshake hash and four transport messages`, () => {
    const i = keyPairFromPrivate(V.initStatic);
    const r = keyPairFromPrivate(V.respStatic);
    expect(r.publicKey.toString('hex')).to.equal(V.remoteStatic);
    const m = V.messages.map(([p, c]) => [hex(p!), c!] as const);
    const init = new IkInitiator(i, r.publicKey, V.prologue, m[0]![0], keyPairFromPrivate(V.initEphemeral));
    expect(init.message.toString('hex')).to.equal(m[0]![1]);
    const got = readInitiation(r, V.prologue, init.message, m[0]![0].length);
    if (typeof got === 'string') throw new Error(got);
    expect(got.payload.equals(m[0]![0])).to.equal(true);
    expect(got.remoteStatic.equals(i.publicKey)).to.equal(true);
    const resp = got.respond(m[1]![0], keyPairFromPrivate(V.respEphemeral));
    expect(resp.message.toString('hex')).to.equal(m[1]![1]);
    const fin = init.readResponse(resp.message)!;
    expect(fin.payload.equals(m[1]![0])).to.equal(true);
    expect(fin.keys.handshakeHash.toString('hex')).to.equal(V.handshakeHash);
    expect(resp.keys.handshakeHash.toString('hex')).to.equal(V.handshakeHash);
    // Transport: initiator -> responder with nonces 0, 1; responder -> initiator likewise.
    const sends = [fin.keys.send, resp.keys.send];
    const nonces = [0, 0];
    for (let k = 2; k < m.length; k++) {
      const who = k % 2; // 0: initiator sends, 1: responder sends
      const ct = seal(sends[who]!, nonces[who]!++, undefined, m[k]![0]);
      expect(ct.toString('hex')).to.equal(m[k]![1]);
    }
    expect(fin.keys.recv.equals(resp.keys.send)).to.equal(true);
  });

  it('a responder with another static key cannot read message 1; a tampered message 2 fails', () => {
    const i = generateKeyPair();
    const r = generateKeyPair();
    const wrong = generateKeyPair();
    const init = new IkInitiator(i, r.publicKey, Buffer.alloc(0), Buffer.from('hi'));
    expect(readInitiation(wrong, Buffer.alloc(0), init.message, 2)).to.equal('bad_static');
    expect(readInitiation(r, Buffer.from('other prologue'), init.message, 2)).to.equal('bad_static');
    const got = readInitiation(r, Buffer.alloc(0), init.message, 2);
    if (typeof got === 'string') throw new Error(got);
    const resp = got.respond(Buffer.alloc(0));
    const bad = Buffer.from(resp.message);
    bad[40] ^= 0x80;
    expect(init.readResponse(bad)).to.equal(undefined);
  });
});

describe('secure: replay window (RFC 6479)', () => {
  it('accepts each counter once, in any order within the window, and refuses older ones', () => {
    const w = new ReplayWindow();
    expect(w.check(0)).to.equal(true);
    expect(w.check(0)).to.equal(false);
    expect(w.check(5)).to.equal(true);
    expect(w.check(3)).to.equal(true);
    expect(w.check(3)).to.equal(false);
    expect(w.check(10_000)).to.equal(true);
    expect(w.check(10_000 - REPLAY_WINDOW)).to.equal(true);
    expect(w.check(10_000 - REPLAY_WINDOW - 1)).to.equal(false);
    expect(w.check(5)).to.equal(false);
    expect(w.check(-1)).to.equal(false);
  });

  it('agrees with a set-based model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 30_000 }), { maxLength: 400 }), (xs) => {
        const w = new ReplayWindow();
        const seen = new Set<number>();
        let max = -1;
        for (const x of xs) {
          const want = !seen.has(x) && (x > max || max - x <= REPLAY_WINDOW);
          expect(w.check(x)).to.equal(want);
          if (want) {
            seen.add(x);
            max = Math.max(max, x);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
