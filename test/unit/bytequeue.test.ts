/**
 * The send buffer (ByteQueue): slicing by offset after any mix of writes and consumes
 * returns exactly the bytes a flat buffer would (the lookup cursor moves with consume()).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ByteQueue } from '../../src/tcp/send.js';

type Op = { kind: 'push'; n: number } | { kind: 'consume'; n: number } | { kind: 'slice'; off: number; n: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), n: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constant('slice' as const), off: fc.integer({ min: 0, max: 120 }), n: fc.integer({ min: 0, max: 70 }) }),
);

describe('unit: ByteQueue', () => {
  it('slice/consume/shift agree with a flat buffer (property)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const q = new ByteQueue();
        let ref = Buffer.alloc(0);
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const b = Buffer.alloc(o.n);
            for (let i = 0; i < o.n; i++) b[i] = next++ & 0xff;
            q.push(b);
            ref = Buffer.concat([ref, b]);
          } else if (o.kind === 'consume') {
            q.consume(o.n);
            ref = ref.subarray(Math.min(o.n, ref.length));
          } else if (o.off <= ref.length) {
            expect(q.slice(o.off, o.n).equals(ref.subarray(o.off, Math.min(ref.length, o.off + o.n)))).to.equal(true);
          }
          expect(q.length).to.equal(ref.length);
        }
        expect(q.shift(q.length).equals(ref)).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it('shift(n, wholeChunk) hands a large front chunk on alone, without copying it', () => {
    const q = new ByteQueue();
    const big = Buffer.alloc(20_000, 1);
    const next = Buffer.alloc(20_000, 2);
    q.push(big);
    q.push(next);
    const a = q.shift(64 * 1024, 16 * 1024);
    expect(a.length).to.equal(20_000);
    expect(a.buffer).to.equal(big.buffer); // a view, not a copy
    q.push(Buffer.alloc(100, 3));
    q.push(Buffer.alloc(100, 4));
    // The rest of a large chunk is still large: alone again. Small chunks are joined as before.
    expect(q.shift(64 * 1024, 16 * 1024).length).to.equal(20_000);
    expect(q.shift(64 * 1024, 16 * 1024)).to.deep.equal(Buffer.concat([Buffer.alloc(100, 3), Buffer.alloc(100, 4)]));
    expect(q.length).to.equal(0);
  });
});
