/**
 * src/util/wide.ts: fields that outgrow V8's small integers are doubles from the start, so a
 * byte count passing 2^31 (or a 32-bit sequence number) does not change its object's hidden
 * class, which would deoptimize every function compiled for it (docs/benchmarks-bulk.md).
 * The check uses V8's own %HaveSameMap (natives syntax, enabled for this process).
 */
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { widen, widenFirst } from '../../src/util/wide.js';
import { newTxSegment } from '../../src/tcp/send.js';
import { RateSampler } from '../../src/tcp/rate.js';
import { HyStartPlusPlus } from '../../src/tcp/cc/hystart.js';
import { emptyTotals } from '../../src/observe/inventory.js';
import { Bbr } from '../../src/tcp/cc/bbr.js';

setFlagsFromString('--allow-natives-syntax');
// Natives syntax parses only in a function made after the flag is set.
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

const BIG = 2 ** 31 + 5;

describe('wide fields (src/util/wide.ts)', () => {
  it('a widened field takes a value past 2^31 without a new hidden class; an ordinary one does not', () => {
    class Wide {
      n = 0;
      constructor() {
        widen(this, ['n']);
      }
    }
    class Narrow {
      n = 0;
    }
    const [w1, w2] = [new Wide(), new Wide()];
    w2.n += BIG;
    expect(haveSameMap(w1, w2)).to.equal(true);
    expect(w1.n).to.equal(0);
    expect(w2.n).to.equal(BIG);
    const [n1, n2] = [new Narrow(), new Narrow()];
    n2.n += BIG;
    expect(haveSameMap(n1, n2), 'the control: a small-integer field changes class').to.equal(false);
  });

  it('widenFirst widens the first literal of a place only, and that serves the later ones', () => {
    const wide = widenFirst(['d']);
    const make = (d: number): { t: number; d: number } => wide({ t: 1, d });
    const first = make(2);
    const later = make(3);
    later.d = BIG;
    expect(haveSameMap(first, later)).to.equal(true);
    expect(first.d).to.equal(2);
    // The retransmission queue's entries, made the same way.
    const a = newTxSegment(1, 10, false, false, 0);
    const b = newTxSegment(2, 10, false, false, 0);
    b.seq = BIG;
    b.delivered = BIG;
    expect(haveSameMap(a, b), 'TxSegment').to.equal(true);
  });

  it('keeps the values, and refuses a name the object does not have', () => {
    const o = { a: 7, b: -3 };
    widen(o, ['a', 'b']);
    expect(o).to.deep.equal({ a: 7, b: -3 });
    expect(() => widen(o, ['c'])).to.throw(/no field c/);
  });

  it("the rate sampler's, HyStart's and the stack totals' byte counts pass 2^31 without a new class", () => {
    const r1 = new RateSampler();
    const r2 = new RateSampler();
    r2.delivered = BIG;
    r2.appLimited = BIG;
    expect(haveSameMap(r1, r2), 'RateSampler').to.equal(true);
    const h1 = new HyStartPlusPlus();
    const h2 = new HyStartPlusPlus();
    (h2 as unknown as { delivered: number; roundEnd: number }).delivered = BIG;
    (h2 as unknown as { delivered: number; roundEnd: number }).roundEnd = BIG;
    expect(haveSameMap(h1, h2), 'HyStart++').to.equal(true);
    const t1 = emptyTotals();
    const t2 = emptyTotals();
    t2.bytesOut = BIG;
    t2.bytesIn = BIG;
    expect(haveSameMap(t1, t2), 'stack totals').to.equal(true);
    const b1 = new Bbr({ mss: 1448, initialWindowSegments: 10, now: 0 });
    const b2 = new Bbr({ mss: 1448, initialWindowSegments: 10, now: 0 });
    (b2 as unknown as { totalDelivered: number }).totalDelivered = BIG;
    expect(haveSameMap(b1, b2), 'BBR').to.equal(true);
  });
});
