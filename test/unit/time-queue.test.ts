/**
 * TimeQueue (src/util/time-queue.ts), the min-heap behind the TIME-WAIT table's one timer, the
 * simulator's clock and the chaos proxy's release timer: earliest first, ties in insertion
 * order, and (the TIME-WAIT table holds about rate x 2 x MSL records, 10,000 at 5,000
 * handshakes/s) no garbage per push or pop: its sift used a destructuring swap, an array per
 * heap level, about 450 bytes per churn handshake.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { TimeQueue } from '../../src/util/time-queue.js';

/**
 * Heap bytes `op` allocates per call, over windows of `n` calls: heapUsed only grows in a
 * window the collector did not run in (one where it shrank is discarded). The smallest of
 * the clean windows, or undefined when none was clean within the cap.
 */
function bytesPerCall(op: () => void, n: number): number | undefined {
  let best: number | undefined;
  let clean = 0;
  for (let w = 0; w < 40 && clean < 5; w++) {
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) op();
    const after = process.memoryUsage().heapUsed;
    if (after < before) continue; // a collection ran in this window
    clean++;
    const b = (after - before) / n;
    best = best === undefined ? b : Math.min(best, b);
  }
  return best;
}

describe('TimeQueue', () => {
  it('pops earliest first, ties in insertion order, under any interleaving of pushes and pops (against a sorted list)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(-1)), { maxLength: 300 }), (ops) => {
        const q = new TimeQueue<number>();
        const ref: Array<{ at: number; id: number }> = [];
        let id = 0;
        for (const op of ops) {
          if (op >= 0) {
            q.push(op, id);
            ref.push({ at: op, id: id++ });
            ref.sort((a, b) => a.at - b.at || a.id - b.id);
          } else {
            expect(q.pop()).to.equal(ref.shift()?.id);
          }
          expect(q.size).to.equal(ref.length);
          expect(q.peekTime()).to.equal(ref.length > 0 ? ref[0]!.at : Infinity);
        }
        while (ref.length > 0) expect(q.pop()).to.equal(ref.shift()!.id);
        expect(q.pop()).to.equal(undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('allocates nothing per pop and only the entry per push, at 10,000 items (as many TIME-WAIT records as 5,000 handshakes/s leave)', () => {
    const q = new TimeQueue<number>();
    let t = 0;
    // Steady state: one push (a later deadline, as TIME-WAIT's are) and one pop per call.
    for (let i = 0; i < 10_000; i++) q.push(t++, i);
    const cycle = (): void => {
      q.pop();
      q.push(t++, t);
    };
    for (let i = 0; i < 50_000; i++) cycle(); // warm: measure the optimised code
    const b = bytesPerCall(cycle, 2_000);
    expect(b, 'a window without a collection').to.not.equal(undefined);
    // The entry pushed ({ at, seq, item }: about 40 bytes); the old swaps were 13 levels of
    // 2-element arrays per pop (over 400 bytes).
    expect(b!).to.be.lessThan(100);
    expect(q.size).to.equal(10_000);
  });
});
