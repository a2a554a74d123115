/**
 * Buffers SecureCore writes over. It seals a data message into the buffer of the previous
 * one only when the link said that one was released (SecureIo.transmit returned true). A model link here either
 * "sends at once" (copies the bytes, like the kernel, and returns true) or "queues" (keeps
 * the buffer itself and reads it later, like libuv with a full socket buffer, and returns
 * false); some transmits send another packet from inside the call (as a tap or a handler
 * could). Whatever the mix, every queued datagram must still hold what was sealed into it.
 * On receive, only a datagram the caller says it owns is opened in place.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { generateKeyPair } from '../../src/secure/crypto.js';
import { SecureCore } from '../../src/secure/core.js';

const A_EP = { address: '127.0.0.1', port: 1000 };
const B_EP = { address: '127.0.0.1', port: 2000 };

function packet(marker: number, len: number): Buffer {
  const p = Buffer.alloc(len, marker & 0xff);
  p[0] = 0x45;
  p.writeUInt32BE(marker, 4);
  return p;
}

type Step = { queue: boolean; nested: boolean; len: number };

function run(steps: Step[]) {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const toB: Buffer[] = []; // what B receives, in order: copies, or queued buffers read at the end
  const toA: Buffer[] = [];
  const queued: Array<{ d: Buffer; copy: Buffer }> = [];
  let policy: Step | undefined;
  let marker = 0;
  const sentMarkers: number[] = [];
  const send = (len: number): void => {
    sentMarkers.push(++marker);
    a.send(packet(marker, len), B_EP.port, B_EP.address, 1);
  };
  const a = new SecureCore(
    { privateKey: ka.privateKey, peers: [{ publicKey: kb.publicKey, endpoint: B_EP }] },
    {
      transmit: (d) => {
        const p = policy;
        if (!p) {
          toB.push(Buffer.from(d));
          return true;
        }
        policy = undefined;
        if (p.nested) send(p.len); // a nested send while `d` is still being transmitted
        if (p.queue) {
          // Kept by reference and read later; `copy` is what it held when handed over.
          queued.push({ d, copy: Buffer.from(d) });
          toB.push(d);
          return false;
        }
        toB.push(Buffer.from(d));
        return true;
      },
      deliver: () => {},
    },
  );
  const got: number[] = [];
  const b = new SecureCore({ privateKey: kb.privateKey, peers: [{ publicKey: ka.publicKey, endpoint: A_EP }] }, { transmit: (d) => void toA.push(Buffer.from(d)), deliver: (p) => got.push(p.readUInt32BE(4)) });
  // Handshake first (the first packet waits for it).
  send(100);
  for (let i = 0; i < 4; i++) {
    for (const d of toB.splice(0)) b.receive(d, A_EP, 1);
    for (const d of toA.splice(0)) a.receive(d, B_EP, 1);
  }
  for (const s of steps) {
    policy = s;
    send(s.len);
  }
  // The queued datagrams go out only now, as libuv would send them later.
  for (const d of toB.splice(0)) b.receive(d, A_EP, 2);
  return { a, b, got, sentMarkers, queued };
}

describe('secure: reusing a released datagram buffer (SecureCore)', () => {
  it('a link that releases every datagram gets the same buffer back for every data message of the same length', () => {
    const seen = new Set<Buffer>();
    const ka = generateKeyPair();
    const kb = generateKeyPair();
    let wire: Buffer[] = [];
    let hold = true;
    const a = new SecureCore({ privateKey: ka.privateKey, peers: [{ publicKey: kb.publicKey, endpoint: B_EP }] }, { transmit: (d) => (hold ? wire.push(d) : (seen.add(d), wire.push(Buffer.from(d)), true)), deliver: () => {} });
    const got: number[] = [];
    const b = new SecureCore({ privateKey: kb.privateKey, peers: [{ publicKey: ka.publicKey, endpoint: A_EP }] }, { transmit: (d) => void wire.push(d), deliver: (p) => got.push(p.readUInt32BE(4)) });
    a.send(packet(1, 1440), B_EP.port, B_EP.address, 0);
    for (let i = 0; i < 4; i++) {
      const w = wire;
      wire = [];
      for (const d of w) (d.readUInt32LE(0) === 2 ? a : b).receive(d, d.readUInt32LE(0) === 2 ? B_EP : A_EP, 0);
    }
    hold = false;
    const before = a.stats.sealed;
    for (let i = 2; i <= 101; i++) a.send(packet(i, 1440), B_EP.port, B_EP.address, 1);
    for (const d of wire.splice(0)) b.receive(d, A_EP, 1);
    expect(got).to.deep.equal(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(a.stats.sealed - before).to.equal(100);
    // The first of the 100 needs a buffer of its own; the other 99 reuse it.
    expect(seen.size).to.equal(1);
    expect(a.stats.datagramsReused).to.equal(99);
    expect(b.stats.drops.size).to.equal(0);
  });

  it('whatever mix of queued, released, nested and resized sends: every queued datagram keeps its bytes and every packet arrives once, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ queue: fc.boolean(), nested: fc.boolean(), len: fc.constantFrom(60, 1440, 1440, 1440) }), { minLength: 1, maxLength: 60 }), (steps) => {
        const r = run(steps);
        for (const q of r.queued) expect(q.d.equals(q.copy), 'a queued datagram was overwritten').to.equal(true);
        expect([...r.a.stats.drops], 'A dropped nothing').to.deep.equal([]);
        expect([...r.b.stats.drops], 'B dropped nothing').to.deep.equal([]);
        expect(r.got.slice().sort((x, y) => x - y)).to.deep.equal(r.sentMarkers.slice().sort((x, y) => x - y));
      }),
      { numRuns: 300 },
    );
  });

  it('an owned datagram is opened in place (the plaintext is a view of it); any other keeps its bytes, even when dropped', () => {
    const ka = generateKeyPair();
    const kb = generateKeyPair();
    let wire: Buffer[] = [];
    const a = new SecureCore({ privateKey: ka.privateKey, peers: [{ publicKey: kb.publicKey, endpoint: B_EP }] }, { transmit: (d) => void wire.push(Buffer.from(d)), deliver: () => {} });
    const got: Buffer[] = [];
    const b = new SecureCore({ privateKey: kb.privateKey, peers: [{ publicKey: ka.publicKey, endpoint: A_EP }] }, { transmit: (d) => void wire.push(Buffer.from(d)), deliver: (p) => got.push(p) });
    a.send(packet(1, 200), B_EP.port, B_EP.address, 0);
    for (let i = 0; i < 4; i++) {
      const w = wire;
      wire = [];
      for (const d of w) (d.readUInt32LE(0) === 2 ? a : b).receive(d, d.readUInt32LE(0) === 2 ? B_EP : A_EP, 0);
    }
    got.length = 0;
    for (let i = 2; i <= 4; i++) a.send(packet(i, 1440), B_EP.port, B_EP.address, 1);
    const [d2, d3, d4] = wire.splice(0) as [Buffer, Buffer, Buffer];
    const copies = [d2, d3, d4].map((d) => Buffer.from(d));
    b.receive(d2, A_EP, 1, true);
    expect(got[0]!.equals(packet(2, 1440))).to.equal(true);
    expect(got[0]!.buffer, 'a view of the datagram').to.equal(d2.buffer);
    expect(d2.equals(copies[0]!), 'opened in place').to.equal(false);
    b.receive(d3, A_EP, 1);
    expect(got[1]!.equals(packet(3, 1440))).to.equal(true);
    expect(d3.equals(copies[1]!), 'not owned: unchanged').to.equal(true);
    // A replay (refused after it authenticates) and a forgery (refused by the tag): unchanged too.
    b.receive(d3, A_EP, 1);
    const forged = Buffer.from(d4);
    forged[100] ^= 1;
    const forgedCopy = Buffer.from(forged);
    b.receive(forged, A_EP, 1);
    expect(d3.equals(copies[1]!)).to.equal(true);
    expect(forged.equals(forgedCopy)).to.equal(true);
    expect(Object.fromEntries(b.stats.drops)).to.deep.equal({ replay: 1, bad_mac: 1 });
    expect(got).to.have.length(2);
  });

  it('reuse does happen in such mixes (released sends of one length in a row)', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 50; i++) steps.push({ queue: i % 5 === 0, nested: i % 7 === 0, len: i % 11 === 0 ? 60 : 1440 });
    const r = run(steps);
    expect(r.a.stats.datagramsReused).to.be.greaterThan(20);
    for (const q of r.queued) expect(q.d.equals(q.copy)).to.equal(true);
    expect(r.b.stats.drops.size).to.equal(0);
  });
});
