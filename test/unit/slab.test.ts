/**
 * src/util/slab.ts: a slab is taken again only once every packet carved from it came back
 * (releasePacket), and the packet taken last, given back at once, leaves its bytes to the
 * next; a packet that never comes back is never overwritten.
 */
import { expect } from 'chai';
import { allocPacket, packetReuseCount, releasePacket } from '../../src/util/slab.js';

describe('packet slabs', () => {
  it('never hands out the bytes of a packet that was not given back, while reusing the slabs of those that were', () => {
    // Kept (never given back) at these rounds, each alone among packets that all come back.
    const keepAt = new Map([
      [0, 1400],
      [300, 1400],
      [700, 200],
      [1100, 7000],
    ]);
    const held: Buffer[] = [];
    const before = packetReuseCount();
    const batch: Buffer[] = [];
    let given = 0;
    for (let round = 0; round < 2000; round++) {
      const k = keepAt.get(round);
      if (k !== undefined) held.push(allocPacket(k).fill(0xa0 + held.length));
      // Ten packets out at once (a queued burst), then all back, oldest first.
      for (let i = 0; i < 10; i++) batch.push(allocPacket(i % 3 === 0 ? 1400 : i % 3 === 1 ? 200 : 7000).fill(round & 0xff));
      for (const p of batch) releasePacket(p);
      given += batch.length;
      batch.length = 0;
      // And pairs: two out, both back (the one taken last leaves its bytes to the next
      // packet), newest or oldest first, so a slab also fills up while nothing but a kept
      // packet is out.
      for (let i = 0; i < 6; i++) {
        const p = allocPacket(1400 + i * 100).fill(0x55);
        const q = allocPacket(1400).fill(0x66);
        releasePacket(i % 2 ? p : q);
        releasePacket(i % 2 ? q : p);
        given += 2;
      }
    }
    const after = packetReuseCount();
    expect(after.packets - before.packets).to.equal(given);
    expect(after.slabs - before.slabs).to.be.greaterThan(100);
    held.forEach((p, i) => expect(p.every((b) => b === 0xa0 + i), `kept packet ${i}`).to.equal(true));
  });

  it('reuses the bytes of the packet taken last only: a packet given back out of order leaves its bytes alone', () => {
    const a = allocPacket(1000);
    const b = allocPacket(1000);
    b.fill(7);
    releasePacket(a); // not the last taken: counted, its bytes stay
    const c = allocPacket(1000);
    expect(c.buffer === b.buffer && c.byteOffset < b.byteOffset + b.length).to.equal(false);
    releasePacket(c); // the last taken: the next packet starts where it did
    const d = allocPacket(1000);
    expect(d.buffer === c.buffer && d.byteOffset === c.byteOffset).to.equal(true);
    d.fill(9);
    expect(b.every((x) => x === 7)).to.equal(true);
  });

  it('does not take a full slab again while one of its packets is still out', () => {
    const kept = allocPacket(1400).fill(0xee);
    for (let i = 0; i < 2000; i++) {
      // Two out, the newer back first: the pointer moves on by one packet and, when a slab
      // fills, nothing is out but `kept` (if it is that slab's).
      const p = allocPacket(3000).fill(i & 0xff);
      const q = allocPacket(8).fill(1);
      releasePacket(q);
      releasePacket(p);
    }
    expect(kept.every((b) => b === 0xee)).to.equal(true);
  });
});
