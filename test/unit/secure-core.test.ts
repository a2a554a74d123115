/**
 * SecureCore in virtual time: two cores wired through an in-memory "network" that can
 * lose, replay, tamper and re-address datagrams. No sockets, no timers.
 */
import { expect } from 'chai';
import { generateKeyPair } from '../../src/secure/crypto.js';
import { SecureCore, type Endpoint, type SecureCoreOptions, type SecureEvent } from '../../src/secure/core.js';
import { DATA_OVERHEAD, type SecureTimers } from '../../src/secure/session.js';

interface Wire {
  datagram: Buffer;
  from: Endpoint;
  to: Endpoint;
}

const A_EP = { address: '127.0.0.1', port: 1000 };
const B_EP = { address: '127.0.0.1', port: 2000 };

function ipPacket(marker: number, len = 100): Buffer {
  const p = Buffer.alloc(len, marker & 0xff);
  p[0] = 0x45;
  p.writeUInt32BE(marker, 4);
  return p;
}

/** Two cores A and B; `wire` holds what is in flight; `pump` delivers it all. */
function pair(opts: { timers?: Partial<SecureTimers>; aKey?: Buffer; bPeerKeyForA?: Buffer; extra?: Partial<SecureCoreOptions> } = {}) {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const wire: Wire[] = [];
  const got = { a: [] as Buffer[], b: [] as Buffer[] };
  const events: SecureEvent[] = [];
  const unreachable: Buffer[] = [];
  let aFrom = { ...A_EP };
  const timers = { rekeyTimeoutMs: 100, rekeyAttemptTimeMs: 500, ...opts.timers };
  const coreA = new SecureCore(
    { privateKey: opts.aKey ?? a.privateKey, peers: [{ publicKey: b.publicKey, endpoint: B_EP }], timers, ...opts.extra },
    {
      transmit: (d, port, address) => wire.push({ datagram: d, from: aFrom, to: { address, port } }),
      deliver: (p, from) => {
        expect(from).to.deep.equal(B_EP);
        got.a.push(p);
      },
      unreachable: (ps) => unreachable.push(...ps),
      event: (e) => events.push(e),
    },
  );
  const coreB = new SecureCore(
    { privateKey: b.privateKey, peers: [{ publicKey: opts.bPeerKeyForA ?? a.publicKey, endpoint: A_EP }], timers, ...opts.extra },
    {
      transmit: (d, port, address) => wire.push({ datagram: d, from: B_EP, to: { address, port } }),
      deliver: (p, from) => {
        expect(from).to.deep.equal(A_EP);
        got.b.push(p);
      },
      event: (e) => events.push(e),
    },
  );
  const deliverOne = (w: Wire, now: number): void => {
    if (w.to.port === B_EP.port) coreB.receive(w.datagram, w.from, now);
    else if (w.to.port === aFrom.port) coreA.receive(w.datagram, w.from, now);
  };
  const pump = (now: number): number => {
    let n = 0;
    while (wire.length && n < 100_000) {
      deliverOne(wire.shift()!, now);
      n++;
    }
    return n;
  };
  return {
    a: coreA,
    b: coreB,
    wire,
    got,
    events,
    unreachable,
    pump,
    deliverOne,
    setAFrom: (ep: Endpoint) => {
      aFrom = ep;
    },
  };
}

describe('secure: SecureCore (virtual time)', () => {
  it('queues packets during the handshake, then delivers them in order, both ways', () => {
    const t = pair();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.a.send(ipPacket(2), B_EP.port, B_EP.address, 0);
    expect(t.wire).to.have.length(1); // one initiation, the packets wait
    t.pump(1);
    expect(t.got.b.map((p) => p.readUInt32BE(4))).to.deep.equal([1, 2]);
    t.b.send(ipPacket(3), A_EP.port, A_EP.address, 2);
    t.pump(2);
    expect(t.got.a.map((p) => p.readUInt32BE(4))).to.deep.equal([3]);
    expect(t.a.stats.handshakesCompleted).to.equal(1);
    expect(t.b.stats.handshakesCompleted).to.equal(1);
    expect(t.a.stats.drops.size + t.b.stats.drops.size).to.equal(0);
  });

  it('a data message is the packet plus 32 bytes, and carries none of its plaintext', () => {
    const t = pair();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.pump(0);
    const marker = Buffer.from('PLAINTEXT-MARKER-0123456789');
    const p = Buffer.concat([ipPacket(9, 20), marker]);
    t.a.send(p, B_EP.port, B_EP.address, 1);
    expect(t.wire).to.have.length(1);
    expect(t.wire[0]!.datagram.length).to.equal(p.length + DATA_OVERHEAD);
    expect(t.wire[0]!.datagram.includes(marker)).to.equal(false);
    t.pump(1);
    expect(t.got.b.at(-1)!.equals(p)).to.equal(true);
  });

  it('drops and counts a flipped bit, a truncated datagram, a replay and an unknown index', () => {
    const t = pair();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.pump(0);
    t.a.send(ipPacket(2), B_EP.port, B_EP.address, 1);
    const good = t.wire.shift()!;
    const flipped = Buffer.from(good.datagram);
    flipped[40] ^= 0x04;
    t.b.receive(flipped, A_EP, 1);
    t.b.receive(good.datagram.subarray(0, 20), A_EP, 1);
    t.b.receive(good.datagram, A_EP, 1);
    t.b.receive(good.datagram, A_EP, 1); // replay
    const wrongIndex = Buffer.from(good.datagram);
    wrongIndex.writeUInt32LE((wrongIndex.readUInt32LE(4) + 1) >>> 0, 4);
    t.b.receive(wrongIndex, A_EP, 1);
    t.b.receive(Buffer.from([9, 0, 0, 0, 1, 2, 3, 4]), A_EP, 1);
    expect(Object.fromEntries(t.b.stats.drops)).to.deep.equal({ bad_mac: 1, truncated: 1, replay: 1, unknown_index: 1, bad_type: 1 });
    expect(t.got.b).to.have.length(2);
  });

  it('an initiation from an unknown key is dropped as unknown_key; a replayed initiation as handshake_replay', () => {
    const stranger = generateKeyPair();
    const t = pair({ aKey: stranger.privateKey });
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.pump(0);
    expect(t.b.stats.drops.get('unknown_key')).to.equal(1);
    expect(t.got.b).to.have.length(0);

    const u = pair();
    u.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    const init = u.wire[0]!;
    u.pump(0);
    u.b.receive(init.datagram, init.from, 10);
    expect(u.b.stats.drops.get('handshake_replay')).to.equal(1);
  });

  it('a wrong peer key: the initiator reports the unanswered handshake, then gives up and returns the packets as unreachable', () => {
    const t = pair({ bPeerKeyForA: generateKeyPair().publicKey });
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    let now = 0;
    for (let i = 0; i < 100 && t.a.stats.handshakesFailed === 0; i++) {
      t.pump(now);
      now += 50;
      t.a.tick(now);
      t.b.tick(now);
    }
    expect(t.b.stats.drops.get('unknown_key')).to.be.greaterThan(1);
    expect(t.events.map((e) => e.type)).to.include.members(['handshake_unanswered', 'handshake_failed']);
    expect(t.unreachable).to.have.length(1);
    expect(t.a.stats.drops.get('handshake_timeout')).to.equal(1);
    expect(now).to.be.at.least(500);
  });

  it('rekeys after a message count and after a time, losing nothing; the old session still opens late packets', () => {
    const t = pair({ timers: { rekeyAfterMessages: 50, rekeyAfterTimeMs: 1000, rejectAfterTimeMs: 3000 } });
    let sent = 0;
    let now = 0;
    const late: Array<{ datagram: Buffer; from: Endpoint }> = [];
    for (let i = 0; i < 2000; i++) {
      t.a.send(ipPacket(sent++), B_EP.port, B_EP.address, now);
      t.b.send(ipPacket(sent++), A_EP.port, A_EP.address, now);
      // Hold back one data message just before each rotation, deliver it after.
      if (i % 97 === 0 && t.wire.length > 1) late.push(t.wire.shift()!);
      t.pump(now);
      if (i % 10 === 0) {
        for (const l of late.splice(0)) t.b.receive(l.datagram, l.from, now);
      }
      now += 5;
      t.a.tick(now);
      t.b.tick(now);
    }
    for (const l of late.splice(0)) t.b.receive(l.datagram, l.from, now);
    t.pump(now);
    expect(t.a.stats.rekeys + t.b.stats.rekeys).to.be.greaterThan(20);
    const all = [...t.got.a, ...t.got.b].map((p) => p.readUInt32BE(4)).sort((x, y) => x - y);
    expect(all.length).to.equal(sent);
    expect(new Set(all).size).to.equal(sent);
    const drops = Object.fromEntries([...t.a.stats.drops, ...t.b.stats.drops]);
    expect(drops).to.deep.equal({});
  });

  it('roams on an authenticated packet from a new endpoint; a forged one from elsewhere moves nothing', () => {
    const t = pair();
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    t.pump(0);
    // A forged datagram (bad MAC) from an attacker's endpoint.
    t.a.send(ipPacket(2), B_EP.port, B_EP.address, 1);
    const d = t.wire.shift()!;
    const forged = Buffer.from(d.datagram);
    forged[forged.length - 1] ^= 1;
    t.b.receive(forged, { address: '127.0.0.9', port: 6666 }, 1);
    expect(t.b.currentEndpoint(A_EP.address, A_EP.port)).to.deep.equal(A_EP);
    expect(t.b.stats.roams).to.equal(0);
    // A's NAT rebinds: its packets now come from port 1001, and B answers there.
    const moved = { address: '127.0.0.1', port: 1001 };
    t.setAFrom(moved);
    t.b.receive(d.datagram, moved, 1);
    expect(t.b.currentEndpoint(A_EP.address, A_EP.port)).to.deep.equal(moved);
    expect(t.b.stats.roams).to.equal(1);
    t.b.send(ipPacket(3), A_EP.port, A_EP.address, 2);
    expect(t.wire.at(-1)!.to).to.deep.equal(moved);
    t.pump(2);
    expect(t.got.a.map((p) => p.readUInt32BE(4))).to.deep.equal([3]);
  });

  it('rate-limits initiations per source address before any DH', () => {
    const t = pair({ extra: { handshakeRate: 1, handshakeBurst: 2 } });
    t.a.send(ipPacket(1), B_EP.port, B_EP.address, 0);
    const init = t.wire.shift()!;
    for (let i = 0; i < 10; i++) t.b.receive(init.datagram, init.from, 0);
    expect(t.b.stats.drops.get('handshake_rate_limited')).to.equal(8);
    expect(t.b.stats.drops.get('handshake_replay')).to.equal(1);
  });

  it('plain FOU: refused unless allowed, and never from a keyed peer', () => {
    const t = pair();
    t.b.receive(ipPacket(1), { address: '127.0.0.5', port: 5 }, 0);
    expect(t.b.stats.drops.get('plain_not_allowed')).to.equal(1);
    t.b.send(ipPacket(1), 5, '127.0.0.5', 0);
    expect(t.b.stats.drops.get('no_peer_key')).to.equal(1);
    const plain: Buffer[] = [];
    const c = new SecureCore(
      { privateKey: generateKeyPair().privateKey, peers: [{ publicKey: generateKeyPair().publicKey, endpoint: A_EP }], allowPlain: true },
      { transmit: () => {}, deliver: (p) => plain.push(p) },
    );
    c.receive(ipPacket(7), { address: '127.0.0.5', port: 5 }, 0);
    c.receive(ipPacket(8), A_EP, 0);
    expect(plain).to.have.length(1);
    expect(c.stats.drops.get('plain_from_keyed_peer')).to.equal(1);
  });
});
