/** RFC 6298 estimator: formulas, Karn's rule is enforced by the caller (see scenario 34), backoff, bounds. */
import { expect } from 'chai';
import fc from 'fast-check';
import { RttEstimator } from '../../src/tcp/rtt.js';

const opts = { initialRto: 1000, minRto: 200, maxRto: 60000 };

describe('unit: RTT estimator (RFC 6298)', () => {
  it('starts at the initial RTO with no samples (2.1)', () => {
    const r = new RttEstimator(opts);
    expect([r.srtt, r.rttvar, r.rto, r.hasSample]).to.deep.equal([0, 0, 1000, false]);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) (2.2)', () => {
    const r = new RttEstimator(opts);
    r.sample(100);
    expect([r.srtt, r.rttvar, r.rto]).to.deep.equal([100, 50, 300]);
  });

  it('later samples: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R (2.3)', () => {
    const r = new RttEstimator(opts);
    r.sample(100);
    r.sample(200);
    expect(r.rttvar).to.equal(0.75 * 50 + 0.25 * 100);
    expect(r.srtt).to.equal(0.875 * 100 + 0.125 * 200);
    expect(r.rto).to.equal(r.srtt + 4 * r.rttvar);
    expect(r.minRtt).to.equal(100);
  });

  it('clamps to minRto and maxRto (2.4, 2.5)', () => {
    const r = new RttEstimator(opts);
    r.sample(1);
    expect(r.rto).to.equal(200);
    const big = new RttEstimator(opts);
    big.sample(50000);
    expect(big.rto).to.equal(60000);
  });

  it('backoff doubles the RTO on each timeout, capped at maxRto; a new sample ends it (5.5, 5.7)', () => {
    const r = new RttEstimator(opts);
    r.sample(100); // RTO 300
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      r.onTimeout();
      seen.push(r.rto);
    }
    expect(seen.slice(0, 5)).to.deep.equal([600, 1200, 2400, 4800, 9600]);
    expect(seen[9]).to.equal(60000);
    r.sample(100);
    expect(r.backoff).to.equal(0);
    expect(r.rto).to.be.lessThan(600);
  });

  it('a lost SYN without a sample leaves a 3 s RTO (5.7)', () => {
    const r = new RttEstimator(opts);
    r.synRetransmitted();
    expect(r.rto).to.equal(3000);
    const s = new RttEstimator(opts);
    s.sample(50);
    s.synRetransmitted();
    expect(s.rto).to.equal(200); // 50 + 4*25 = 150, clamped to minRto; the sample wins over the 3 s rule
  });

  it('ignores invalid samples', () => {
    const r = new RttEstimator(opts);
    r.sample(NaN);
    r.sample(-5);
    r.sample(Infinity);
    expect(r.hasSample).to.equal(false);
  });

  it('RTO always lies in [minRto, maxRto] and SRTT between the smallest and largest sample (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 100000, noNaN: true }), { minLength: 1, maxLength: 50 }), fc.nat(20), (samples, timeouts) => {
        const r = new RttEstimator(opts);
        for (const s of samples) r.sample(s);
        const lo = Math.min(...samples);
        const hi = Math.max(...samples);
        if (r.srtt < lo - 1e-6 || r.srtt > hi + 1e-6) return false;
        for (let i = 0; i < timeouts; i++) r.onTimeout();
        return r.rto >= 200 && r.rto <= 60000;
      }),
      { numRuns: 200 },
    );
  });
});
