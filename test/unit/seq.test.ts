/**
 * Sequence-number arithmetic modulo 2^32 (src/tcp/seq.ts), checked against BigInt reference
 * arithmetic with fast-check, especially across the 2^32 wrap.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from '../../src/tcp/seq.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Distances strictly inside the comparable half-space. */
const dist = fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 });

describe('unit: sequence arithmetic (RFC 9293 3.4)', () => {
  it('seqAdd stays in [0, 2^32) and matches BigInt modular addition', () => {
    fc.assert(
      fc.property(u32, dist, (a, n) => {
        const r = seqAdd(a, n);
        const ref = Number((BigInt(a) + BigInt(n) + 2n ** 32n) % 2n ** 32n);
        return r === ref && r >= 0 && r <= 0xffffffff;
      }),
    );
  });

  it('seqDiff(a + n, a) === n for every a and |n| < 2^31 (including across the wrap)', () => {
    fc.assert(fc.property(u32, dist, (a, n) => seqDiff(seqAdd(a, n), a) === n));
  });

  it('comparisons agree with the signed distance', () => {
    fc.assert(
      fc.property(u32, dist, (a, n) => {
        const b = seqAdd(a, n);
        return (
          seqLt(a, b) === n > 0 &&
          seqLe(a, b) === n >= 0 &&
          seqGt(a, b) === n < 0 &&
          seqGe(a, b) === n <= 0 &&
          seqMax(a, b) === (n >= 0 ? b : a) &&
          seqMin(a, b) === (n >= 0 ? a : b)
        );
      }),
    );
  });

  it('seqInRange is a half-open window that works across the wrap', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: -(2 ** 30), max: 2 ** 30 }), (lo, w, off) => {
        const hi = seqAdd(lo, w);
        const x = seqAdd(lo, off);
        return seqInRange(x, lo, hi) === (off >= 0 && off < w);
      }),
    );
    expect(seqInRange(2, 0xfffffff0, 5)).to.equal(true);
    expect(seqInRange(5, 0xfffffff0, 5)).to.equal(false);
    expect(seqLt(0xffffffff, 0)).to.equal(true);
    expect(seqGt(0, 0xffffffff)).to.equal(true);
    expect(seqDiff(3, 0xfffffffd)).to.equal(6);
  });
});
