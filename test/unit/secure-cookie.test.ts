/**
 * WireGuard's cookie mechanism in the secure mode (src/secure/cookie.ts), in virtual time:
 * under load a responder answers an initiation without a valid mac2 with a cookie reply and
 * does no Diffie-Hellman; the initiator's retry with mac2 completes; cookies are bound to
 * the UDP source and to a secret replaced every 2 minutes; forged cookie replies and
 * initiations without the right mac1 are dropped and counted before any DH.
 */
import { expect } from 'chai';
import { dhCount, generateKeyPair, type KeyPair } from '../../src/secure/crypto.js';
import { SecureCore, type Endpoint } from '../../src/secure/core.js';
import { COOKIE_REPLY_LEN, MSG_COOKIE_REPLY, macKeys } from '../../src/secure/cookie.js';
import { defaultAead } from '../../src/secure/aead.js';
import { MSG_INITIATION } from '../../src/secure/session.js';

const A_EP = { address: '127.0.0.1', port: 1000 };
const B_EP = { address: '127.0.0.1', port: 2000 };
/** Rekey timeout 100 ms: the initiator retries (with mac2 once it has a cookie) after 100 ms. */
const timers = { rekeyTimeoutMs: 100, rekeyAttemptTimeMs: 5000 };

interface Wire {
  d: Buffer;
  from: Endpoint;
  to: Endpoint;
}

const drops = (c: SecureCore): Record<string, number> => Object.fromEntries(c.stats.drops);

function ipPacket(marker: number): Buffer {
  const p = Buffer.alloc(100, marker);
  p[0] = 0x45;
  return p;
}

/** A responder B, an initiator A that B knows, and a flood of initiations from strangers. */
function setup(cookieThreshold = 5) {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const wire: Wire[] = [];
  const got: Buffer[] = [];
  let aFrom: Endpoint = { ...A_EP };
  const events: string[] = [];
  const coreA = new SecureCore({ privateKey: a.privateKey, peers: [{ publicKey: b.publicKey, endpoint: B_EP }], timers }, {
    transmit: (d, port, address) => wire.push({ d, from: aFrom, to: { address, port } }),
    deliver: () => {},
    event: (e) => events.push(e.type),
  });
  const coreB = new SecureCore(
    // The per-address rate limit is out of the way: this is about the global load.
    { privateKey: b.privateKey, peers: [{ publicKey: a.publicKey, endpoint: A_EP }], timers, cookieThreshold, handshakeRate: 1000, handshakeBurst: 1000 },
    { transmit: (d, port, address) => wire.push({ d, from: B_EP, to: { address, port } }), deliver: (p) => got.push(p) },
  );
  /** Delivers what is in flight: to B, or to A at whatever address it now has. */
  const pump = (now: number, filter: (w: Wire) => boolean = () => true): void => {
    for (let i = 0; wire.length && i < 10_000; i++) {
      const w = wire.shift()!;
      if (!filter(w)) continue;
      if (w.to.port === B_EP.port) coreB.receive(w.d, w.from, now);
      else if (w.to.port === aFrom.port && w.to.address === aFrom.address) coreA.receive(w.d, w.from, now);
    }
  };
  /** `n` initiations with a valid mac1 (strangers who know B's public key) from spoofed sources. */
  const flood = (n: number, now: number): void => {
    const strangers: KeyPair[] = [generateKeyPair(), generateKeyPair()];
    for (let i = 0; i < n; i++) {
      const src = { address: `192.0.2.${1 + (i % 200)}`, port: 40000 + i };
      const sent: Buffer[] = [];
      const s = new SecureCore({ privateKey: strangers[i % 2]!.privateKey, peers: [{ publicKey: b.publicKey, endpoint: B_EP }], timers }, { transmit: (d) => sent.push(d), deliver: () => {} });
      s.send(ipPacket(9), B_EP.port, B_EP.address, now);
      coreB.receive(sent[0]!, src, now);
    }
    wire.splice(0); // cookie replies to the spoofed sources go nowhere
  };
  return { a: coreA, b: coreB, aKeys: a, bKeys: b, wire, got, events, pump, flood, setAFrom: (e: Endpoint) => (aFrom = e) };
}

/**
 * B under load answers A's first initiation with a cookie reply; A's retry (with mac2) leaves
 * at t=110 while B is under load again, and is taken off the wire unsent: returned.
 */
function cookiedRetry(t: ReturnType<typeof setup>) {
  t.flood(10, 0);
  t.a.send(ipPacket(1), B_EP.port, B_EP.address, 10);
  t.pump(10);
  t.pump(10);
  expect(t.a.stats.cookiesReceived).to.equal(1);
  t.flood(10, 100);
  t.a.tick(110);
  const retry = t.wire.splice(0);
  expect(retry).to.have.length(1);
  expect(retry[0]!.d.readUInt32LE(0)).to.equal(MSG_INITIATION);
  return retry[0]!;
}

describe('secure: cookie replies under load (mac1, mac2, cookie)', () => {
  it('not under load: an initiation without mac2 is answered at once with a response (the DH is done)', () => {
    const t = setup();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.pump(0);
    t.pump(0);
    expect(t.got).to.have.length(1);
    expect(t.b.stats.handshakeDh).to.equal(1);
    expect(t.b.stats.cookieRepliesSent).to.equal(0);
    expect(drops(t.b)).to.deep.equal({});
  });

  it('under load: no DH for an initiation without mac2 but a cookie reply; the retry with mac2 completes the handshake', () => {
    const t = setup();
    t.flood(10, 0); // 10 initiations at t=0 against a threshold of 5 per second
    expect(drops(t.b).handshake_under_load, 'the flood itself got cookie replies').to.be.at.least(4);
    const dh0 = dhCount();
    const dhB0 = t.b.stats.handshakeDh;
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 10);
    const dhA = dhCount() - dh0; // the initiator's own DHs (es, ss)
    expect(t.wire).to.have.length(1);
    const init = t.wire.shift()!;
    t.b.receive(init.d, init.from, 10);
    expect(dhCount() - dh0, 'the responder did no DH').to.equal(dhA);
    expect(t.b.stats.handshakeDh).to.equal(dhB0);
    expect(t.b.stats.cookieRepliesSent).to.equal(drops(t.b).handshake_under_load);
    // The cookie reply went to A's source; A read it.
    expect(t.wire).to.have.length(1);
    expect(t.wire[0]!.d.readUInt32LE(0)).to.equal(MSG_COOKIE_REPLY);
    expect(t.wire[0]!.d.length).to.equal(COOKIE_REPLY_LEN);
    t.pump(10);
    expect(t.a.stats.cookiesReceived).to.equal(1);
    expect(t.got).to.have.length(0);
    // Still under load when A retries (rekeyTimeout later), now with mac2: the handshake runs.
    t.flood(10, 100);
    t.a.tick(110);
    expect(t.a.stats.handshakeInitiations).to.equal(2);
    // A cookie reply is an answer: no "handshake unanswered" hint (that one means a wrong key or a dead peer).
    expect(t.events).not.to.include('handshake_unanswered');
    t.pump(110);
    t.pump(110);
    expect(t.b.stats.handshakeDh).to.equal(dhB0 + 1);
    expect(t.got.map((p) => p[1])).to.deep.equal([1]);
    expect(drops(t.a)).to.deep.equal({});
  });

  it('a cookie is bound to the UDP source: the same initiation (valid mac2) from another port gets another cookie reply, no DH', () => {
    const t = setup();
    const retry = cookiedRetry(t);
    const dhB0 = t.b.stats.handshakeDh;
    const cookies0 = t.b.stats.cookieRepliesSent;
    // The retry arrives from another address (a spoofer replaying it, or A behind a new NAT port).
    t.b.receive(retry.d, { address: '127.0.0.1', port: 1001 }, 110);
    t.b.receive(retry.d, { address: '127.0.0.2', port: 1000 }, 110);
    expect(t.b.stats.handshakeDh, 'no DH for a cookie from another source').to.equal(dhB0);
    expect(t.b.stats.cookieRepliesSent).to.equal(cookies0 + 2);
    expect(t.wire.map((w) => w.to)).to.deep.equal([
      { address: '127.0.0.1', port: 1001 },
      { address: '127.0.0.2', port: 1000 },
    ]);
    // From its own source it works.
    t.wire.splice(0);
    t.b.receive(retry.d, A_EP, 110);
    expect(t.b.stats.handshakeDh).to.equal(dhB0 + 1);
  });

  it('the cookie secret is replaced every 2 minutes: a cookie older than that gets a new cookie reply', () => {
    const t = setup();
    const retry = cookiedRetry(t);
    // 2 minutes later, under load again, the same mac2 is stale.
    t.flood(10, 120_200);
    const dhB0 = t.b.stats.handshakeDh;
    const cookies0 = t.b.stats.cookieRepliesSent;
    t.b.receive(retry.d, A_EP, 120_210);
    expect(t.b.stats.handshakeDh).to.equal(dhB0);
    expect(t.b.stats.cookieRepliesSent).to.equal(cookies0 + 1);
  });

  it('a forged cookie reply (garbage, or sealed without the initiation mac1) is dropped as cookie_bad_mac and stores nothing', () => {
    const t = setup();
    t.flood(10, 0);
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 10);
    const init = t.wire.splice(0)[0]!.d;
    const forge = (sealWith: Buffer | null): Buffer => {
      const r = Buffer.alloc(COOKIE_REPLY_LEN);
      r.writeUInt32LE(MSG_COOKIE_REPLY, 0);
      init.copy(r, 4, 4, 8); // the right receiver index: an attacker who saw the initiation's header
      const nonce = Buffer.alloc(12, 3);
      nonce.copy(r, 8);
      if (sealWith) defaultAead.sealInto(macKeys(t.bKeys.publicKey).cookie, 0, sealWith, Buffer.alloc(16, 0xcc), r, 20, nonce);
      else r.fill(0x5a, 20);
      return r;
    };
    // Garbage, and a reply made with B's (public) cookie key but the wrong AD (not this mac1).
    t.a.receive(forge(null), B_EP, 20);
    t.a.receive(forge(Buffer.alloc(16, 1)), B_EP, 20);
    expect(drops(t.a)).to.deep.equal({ cookie_bad_mac: 2 });
    expect(t.a.stats.cookiesReceived).to.equal(0);
    // The retry has no mac2 (zeros): nothing was stored, and the handshake counts as unanswered.
    t.a.tick(110);
    expect(t.events).to.include('handshake_unanswered');
    const retry = t.wire.splice(0)[0]!.d;
    expect(retry.subarray(retry.length - 16).equals(Buffer.alloc(16))).to.equal(true);
    // A reply to an index A never used: unknown_index; a short one: truncated.
    const stray = forge(null);
    stray.writeUInt32LE((0xdeadbeef ^ init.readUInt32LE(4)) >>> 0, 4);
    t.a.receive(stray, B_EP, 120);
    t.a.receive(forge(null).subarray(0, 40), B_EP, 120);
    expect(drops(t.a)).to.deep.equal({ cookie_bad_mac: 2, unknown_index: 1, truncated: 1 });
  });

  it('an initiation without the right mac1 (a sender that does not know our public key) is dropped before any DH', () => {
    const t = setup();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    const init = t.wire.splice(0)[0]!.d;
    const bad = Buffer.from(init);
    bad[bad.length - 20] ^= 1; // inside mac1
    const dh0 = dhCount();
    t.b.receive(bad, A_EP, 0);
    const tampered = Buffer.from(init);
    tampered[20] ^= 1; // the Noise message under mac1
    t.b.receive(tampered, A_EP, 0);
    expect(dhCount() - dh0).to.equal(0);
    expect(drops(t.b)).to.deep.equal({ handshake_bad_mac1: 2 });
    expect(t.b.stats.handshakeDh).to.equal(0);
    t.b.receive(init, A_EP, 0);
    expect(t.b.stats.handshakeDh).to.equal(1);
  });
});
