/**
 * The send pool: the stream socket copies each write into reused blocks (copyForSend)
 * instead of a fresh buffer, the send queue joins copies that are next to each other in
 * memory, and a block is reused only once every byte copied into it was consumed.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fc from 'fast-check';
import { Host } from '../../src/host/host.js';
import { connect } from '../../src/net.js';
import { ByteQueue, copyForSend, SEND_BLOCK, SEND_POOL_MIN, sendPool, takeJoined } from '../../src/tcp/send.js';
import { SEND_APART_MIN } from '../../src/wire/tcp.js';
import { digestReply, hashServer } from '../helpers/digest.js';

/** `n` bytes counting on from `from` (mod 251, so no period of a power of two). */
function pattern(n: number, from: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

describe('unit: send pool (copyForSend and the send queue)', function () {
  this.timeout(60_000);

  it('a send queue holds exactly the bytes written, though callers reuse their buffers and blocks are reused (property)', () => {
    const sizes = fc.oneof(fc.integer({ min: 1, max: SEND_POOL_MIN * 2 }), fc.integer({ min: 100_000, max: 600_000 }), fc.integer({ min: SEND_BLOCK - 10, max: SEND_BLOCK + 10 }));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), sizes: fc.array(sizes, { minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 900_000 }) }),
      fc.record({ kind: fc.constant('slice' as const), off: fc.integer({ min: 0, max: 2_000_000 }), n: fc.integer({ min: 1, max: 70_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const q = new ByteQueue(true);
        const ref: Buffer[] = []; // what the queue must hold, as written
        let refLen = 0;
        let refSkip = 0;
        let next = 0;
        const flat = (): Buffer => Buffer.concat(ref).subarray(refSkip);
        for (const o of ops) {
          if (o.kind === 'write') {
            const parts = o.sizes.map((n) => {
              const p = pattern(n, next);
              next += n;
              return p;
            });
            const total = o.sizes.reduce((a, b) => a + b, 0);
            const views = parts.map((p) => Buffer.from(p)); // the caller's buffers
            const copy = copyForSend(views, total);
            for (const v of views) v.fill(0xee); // reused by the caller right after the write

            q.push(copy);
            for (const p of parts) ref.push(p);
            refLen += total;
          } else if (o.kind === 'consume') {
            const n = Math.min(o.n, refLen - refSkip);
            q.consume(n);
            refSkip += n;
            // Keep the reference short: drop whole parts consumed.
            while (ref.length > 0 && refSkip >= ref[0]!.length) {
              refSkip -= ref[0]!.length;
              refLen -= ref[0]!.length;
              ref.shift();
            }
          } else {
            const want = flat();
            const got = q.slice(o.off, o.n);
            expect(got.equals(want.subarray(o.off, o.off + o.n))).to.equal(true);
          }
          expect(q.length).to.equal(refLen - refSkip);
        }
        expect(q.slice(0, q.length).equals(flat())).to.equal(true);
        q.consume(q.length); // (acknowledged: clear() would quarantine the blocks)
      }),
      { numRuns: 60 },
    );
  });

  it('copies next to each other in a block form one chunk: a slice across two writes is a view, not a copy', () => {
    const q = new ByteQueue(true);
    q.clear();
    // Start from a fresh block so both copies land in the same one.
    const first = copyForSend([pattern(SEND_BLOCK - 1000, 0)], SEND_BLOCK - 1000);
    const a = copyForSend([pattern(100_000, 7)], 100_000);
    const b = copyForSend([pattern(100_000, 7 + 100_000)], 100_000);
    expect(sendPool.blockOf(b)).to.equal(sendPool.blockOf(a));
    expect(sendPool.blockOf(first)).to.not.equal(sendPool.blockOf(a));
    expect(b.byteOffset).to.equal(a.byteOffset + a.length);
    q.push(a);
    q.push(b);
    const across = q.slice(90_000, 20_000);
    expect(across.buffer).to.equal(a.buffer);
    expect(across.byteOffset).to.equal(a.byteOffset + 90_000);
    expect(across.equals(pattern(20_000, 7 + 90_000))).to.equal(true);
    // Small writes stay outside the pool (node's own pool serves them).
    expect(sendPool.holds(copyForSend([Buffer.alloc(SEND_POOL_MIN - 1)], SEND_POOL_MIN - 1))).to.equal(false);
    const min = copyForSend([Buffer.alloc(SEND_POOL_MIN)], SEND_POOL_MIN);
    expect(sendPool.holds(min)).to.equal(true);
    q.push(min);
    q.push(first); // (given back with the rest)
    q.consume(q.length);
  });

  it('a large slice across two blocks is joined into a packet the caller may give back once; a small one or a receive queue\'s is an ordinary copy', () => {
    const q = new ByteQueue(true);
    const rq = new ByteQueue(false);
    // Writes of 40,000 bytes until one lands in another block than the one before.
    const before: Buffer[] = [];
    let tail = copyForSend([pattern(40_000, 1)], 40_000);
    let next = copyForSend([pattern(40_000, 2)], 40_000);
    for (let i = 0; i < 30 && sendPool.blockOf(next) === sendPool.blockOf(tail); i++) {
      before.push(tail);
      tail = next;
      next = copyForSend([pattern(40_000, i + 3)], 40_000);
    }
    expect(sendPool.blockOf(next)).to.not.equal(sendPool.blockOf(tail));
    for (const c of [tail, next]) {
      q.push(c);
      rq.push(Buffer.from(c));
    }
    const across = q.slice(30_000, 20_000);
    expect(across.equals(Buffer.concat([tail.subarray(30_000), next.subarray(0, 10_000)]))).to.equal(true);
    expect(sendPool.holds(across)).to.equal(false);
    expect(takeJoined(across)).to.equal(true);
    expect(takeJoined(across)).to.equal(false); // given back at most once
    const small = q.slice(40_000 - SEND_APART_MIN / 2, SEND_APART_MIN - 2);
    expect(takeJoined(small)).to.equal(false);
    const received = rq.slice(30_000, 20_000);
    expect(received.equals(across)).to.equal(true);
    expect(takeJoined(received)).to.equal(false);
    for (const b of before) q.push(b); // (given back with the rest)
    q.consume(q.length);
  });

  it('a block is reused once everything copied into it was consumed, not before', () => {
    const q = new ByteQueue(true);
    const n = SEND_BLOCK / 4;
    const before = sendPool.allocated;
    const held: Buffer[] = [];
    // Three blocks' worth written and held by the queue: every copy needs new memory.
    for (let i = 0; i < 12; i++) {
      const c = copyForSend([pattern(n, i * n)], n);
      held.push(c);
      q.push(c);
    }
    expect(new Set(held.map((h) => sendPool.blockOf(h))).size).to.be.within(3, 4); // 4 when the first copies finish a block begun before
    const grown = sendPool.allocated - before;
    // All consumed: another 40 blocks' worth, written and consumed one by one, allocates nothing more.
    q.consume(q.length);
    for (let i = 0; i < 160; i++) {
      q.push(copyForSend([pattern(n, i)], n));
      q.consume(n);
    }
    expect(sendPool.allocated - before).to.equal(grown);
    // A copy still queued is never overwritten by later copies.
    const keep = copyForSend([pattern(n, 99)], n);
    q.push(keep);
    for (let i = 0; i < 40; i++) {
      const q2 = new ByteQueue(true);
      q2.push(copyForSend([pattern(n, i)], n));
      q2.consume(n);
    }
    expect(q.slice(0, n).equals(pattern(n, 99))).to.equal(true);
    q.consume(q.length);
  });

  it('a block whose bytes were abandoned unacknowledged (clear) is reused only after 64 MiB more went through the pool, then before a new one', () => {
    const n = SEND_BLOCK / 2;
    // Fill the current block up, so the next copies begin a block of their own.
    const filler = new ByteQueue(true);
    let c = copyForSend([pattern(n, 0)], n);
    filler.push(c);
    for (let i = 0; i <= SEND_BLOCK / SEND_POOL_MIN && sendPool.blockOf(c) === sendPool.blockOf(filler.slice(0, 1)); i++) {
      c = copyForSend([pattern(SEND_POOL_MIN, 0)], SEND_POOL_MIN);
      filler.push(c);
    }
    expect(sendPool.blockOf(c)).to.not.equal(sendPool.blockOf(filler.slice(0, 1)));
    filler.push(copyForSend([pattern(n, 0)], n));
    const aborted = new ByteQueue(true);
    const lost = copyForSend([pattern(n, 1)], n);
    aborted.push(lost);
    filler.consume(filler.length);
    aborted.clear(); // as an aborted connection's send buffer: sent bytes may still be queued in libuv
    // (What follows the abandoned bytes in their block was never handed out: that may be used.)
    const overlaps = (x: Buffer): boolean => x.buffer === lost.buffer && x.byteOffset < lost.byteOffset + lost.length && lost.byteOffset < x.byteOffset + x.length;
    const q = new ByteQueue(true);
    // 64 MiB written and acknowledged one copy at a time: other blocks serve, never those bytes.
    for (let i = 0; i < 128; i++) {
      const x = copyForSend([Buffer.alloc(n, i)], n);
      expect(overlaps(x), `copy ${i}`).to.equal(false);
      q.push(x);
      q.consume(n);
    }
    // Now copies held (as a window's worth in flight): once the free blocks are gone, the
    // quarantined block is taken before any new one.
    const before = sendPool.allocated;
    let reused = false;
    for (let i = 0; i < 60 && !reused; i++) {
      const x = copyForSend([Buffer.alloc(n, i)], n);
      reused = overlaps(x);
      q.push(x);
    }
    expect(reused).to.equal(true);
    expect(sendPool.allocated).to.equal(before);
    q.consume(q.length);
  });

  it('a stream socket sends a reused, rewritten write buffer intact, through a bounded number of blocks', async () => {
    const a = await Host.create({ address: '10.81.0.1', mtu: 65000 });
    const b = await Host.create({ address: '10.81.0.2', mtu: 65000, peers: [{ prefix: '10.81.0.1/32', endpoint: a.endpoint }] });
    a.addPeer('10.81.0.2/32', b.endpoint);
    const { server } = await hashServer(b, 5001);
    try {
      const s = connect({ via: a, host: '10.81.0.2', port: 5001 });
      const reply = digestReply(s, 40_000);
      await once(s, 'connect');
      const before = sendPool.allocated;
      const takenBefore = sendPool.takenBytes;
      // The payloads sent apart lie in the checksum's memory (summed there without a copy).
      let apartBytes = 0;
      let inArea = 0;
      const sendParts = a.sendParts.bind(a);
      a.sendParts = (head: Buffer, body: Buffer, dst: number): boolean => {
        apartBytes += body.length;
        if (sendPool.inArea(body)) inArea += body.length;
        return sendParts(head, body, dst);
      };
      const want = createHash('sha256');
      const buf = Buffer.allocUnsafe(256 * 1024);
      const writes = 96; // 24 MiB: 24 blocks if none were reused
      for (let i = 0; i < writes; i++) {
        buf.fill(i & 0xff);
        buf.writeUInt32BE(i, 1000);
        want.update(buf);
        // The caller rewrites its buffer as soon as the write's callback ran (node:net allows it).
        await new Promise<void>((resolve, reject) => s.write(buf, (err) => (err ? reject(err) : resolve())));
      }
      s.end();
      expect(await reply).to.equal(want.digest('hex'));
      // The send buffer (4 MiB) holds at most 5 blocks, the free list 4: never one per MiB written.
      expect(sendPool.takenBytes - takenBefore).to.equal(writes * buf.length);
      const used = sendPool.allocated - before;
      expect(used).to.be.at.most(10);
      expect(apartBytes).to.be.at.least(writes * buf.length);
      expect(inArea / apartBytes).to.be.above(0.9);
      expect(b.stats.drops.get('tcp_bad_checksum')).to.equal(undefined);
      s.destroy();
    } finally {
      server.close();
      await a.close();
      await b.close();
    }
  });
});
