import { expect } from 'chai';
import { Cubic, CUBIC_ALPHA, CUBIC_BETA, cubicK, cubicWindow } from '../../src/tcp/cc/cubic.js';
import { HYSTART } from '../../src/tcp/cc/hystart.js';
import { ackClockRound } from './cc-harness.js';

const MSS = 1000;
const opts = { mss: MSS, initialWindowSegments: 10, now: 0 };

/** Slow-start a CUBIC flow from IW 10 to 10 * 2^doublings segments at a constant RTT. */
function grown(doublings: number, rtt: number): { cc: Cubic; t: number } {
  const cc = new Cubic(opts);
  let t = 0;
  for (let i = 0; i < doublings; i++) t = ackClockRound(cc, t, rtt, MSS);
  return { cc, t };
}

describe('cc: CUBIC (RFC 9438)', () => {
  it('K = cbrt(W_max * (1 - beta) / C) and W_cubic(K) = W_max', () => {
    expect(cubicK(100, 100 * CUBIC_BETA)).to.be.closeTo(Math.cbrt((100 * 0.3) / 0.4), 1e-9);
    expect(cubicK(100, 70)).to.be.closeTo(4.2172, 1e-3);
    expect(cubicWindow(4.2172, 4.2172, 100)).to.be.closeTo(100, 1e-9);
    expect(cubicWindow(0, cubicK(100, 70), 100)).to.be.closeTo(70, 1e-6);
    expect(CUBIC_ALPHA).to.be.closeTo(0.5294, 1e-4);
  });

  it('after a loss at W_max the window follows C(t-K)^3 + W_max within 5%, before and beyond K', () => {
    const rtt = 100;
    const { cc, t: t0 } = grown(4, rtt); // 160 segments
    expect(cc.cwnd).to.equal(160 * MSS);
    cc.onCongestion({ kind: 'fast', now: t0, inFlight: cc.cwnd });
    expect(cc.wMax).to.equal(160);
    expect(cc.cwnd).to.equal(112 * MSS);
    expect(cc.ssthresh).to.equal(112 * MSS);
    cc.onRecoveryExit(t0 + rtt);
    let t = t0 + rtt;
    const K = cubicK(160, 112);
    const checks = [0.25 * K, 0.5 * K, 0.75 * K, K, 1.25 * K, 1.5 * K];
    const seen: number[] = [];
    while (seen.length < checks.length) {
      t = ackClockRound(cc, t, rtt, MSS);
      const elapsed = (t - cc.epochStart!) / 1000;
      const next = checks[seen.length]!;
      if (elapsed >= next) {
        const expected = cubicWindow(elapsed, K, 160);
        expect(cc.cwnd / MSS, `t=${elapsed.toFixed(2)}s`).to.be.closeTo(expected, 0.05 * expected);
        seen.push(elapsed);
      }
    }
    expect(cc.k).to.be.closeTo(K, 1e-9);
    // Convex region: beyond K the window grows faster and faster.
    const w1 = cc.cwnd;
    t = ackClockRound(cc, t, rtt, MSS);
    const w2 = cc.cwnd;
    ackClockRound(cc, t, rtt, MSS);
    expect(cc.cwnd - w2).to.be.greaterThan(w2 - w1);
  });

  it('fast convergence: a loss below the previous W_max lowers W_max to cwnd*(1+beta)/2', () => {
    const { cc, t } = grown(4, 100);
    cc.onCongestion({ kind: 'fast', now: t, inFlight: cc.cwnd });
    cc.onRecoveryExit(t + 100);
    const cwndSeg = cc.cwnd / MSS; // 112 < W_max 160
    cc.onCongestion({ kind: 'fast', now: t + 200, inFlight: cc.cwnd });
    expect(cc.wMax).to.be.closeTo((cwndSeg * (1 + CUBIC_BETA)) / 2, 1e-9);
    expect(cc.cwnd).to.equal(Math.floor(112 * MSS * CUBIC_BETA));
  });

  it('the Reno-friendly region dominates at small windows and short RTTs', () => {
    const rtt = 2;
    const { cc, t: t0 } = grown(1, rtt); // 20 segments
    cc.onCongestion({ kind: 'fast', now: t0, inFlight: cc.cwnd });
    cc.onRecoveryExit(t0 + rtt);
    let t = t0 + rtt;
    for (let i = 0; i < 500; i++) t = ackClockRound(cc, t, rtt, MSS);
    const elapsed = (t - cc.epochStart!) / 1000; // ~1 s, still before K ~ 2.47 s
    const wCubic = cubicWindow(elapsed, cc.k, 20);
    expect(wCubic).to.be.lessThan(20);
    // AIMD-like growth: ~alpha then 1 segment per RTT over 500 RTTs, far above the cubic curve.
    expect(cc.cwnd / MSS).to.be.greaterThan(3 * wCubic);
    expect(cc.cwnd / MSS).to.be.closeTo(cc.wEst, 1);
  });

  it('RTO: cwnd = 1 MSS, slow start to ssthresh, then the curve restarts with K = 0', () => {
    const { cc, t } = grown(3, 50); // 80 segments
    cc.onCongestion({ kind: 'rto', now: t, inFlight: cc.cwnd });
    expect(cc.cwnd).to.equal(MSS);
    expect(cc.ssthresh).to.equal(56 * MSS);
    let now = t + 1000;
    for (let i = 0; i < 8; i++) now = ackClockRound(cc, now, 50, MSS);
    expect(cc.cwnd).to.be.at.least(56 * MSS);
    expect(cc.k).to.equal(0);
  });

  it('does not grow while application-limited, and app-limited time does not count in t', () => {
    const { cc, t: t0 } = grown(4, 100);
    cc.onCongestion({ kind: 'fast', now: t0, inFlight: cc.cwnd });
    cc.onRecoveryExit(t0 + 100);
    let t = ackClockRound(cc, t0 + 100, 100, MSS);
    const epoch = cc.epochStart!;
    const w = cc.cwnd;
    for (let i = 0; i < 20; i++) t = ackClockRound(cc, t, 100, MSS, { appLimited: true });
    expect(cc.cwnd).to.equal(w);
    expect(cc.epochStart! - epoch).to.be.closeTo(2000, 150);
  });

  it('undo restores cwnd, ssthresh and W_max', () => {
    const { cc, t } = grown(4, 100);
    cc.onCongestion({ kind: 'fast', now: t, inFlight: cc.cwnd });
    cc.onRecoveryExit(t + 100);
    const before = { cwnd: cc.cwnd, ssthresh: cc.ssthresh, wMax: cc.wMax };
    cc.onCongestion({ kind: 'fast', now: t + 200, inFlight: cc.cwnd });
    expect(cc.cwnd).to.be.lessThan(before.cwnd);
    cc.onSpuriousCongestion(t + 250);
    expect(cc).to.include(before);
  });
});

describe('cc: HyStart++ (RFC 9406) in CUBIC slow start', () => {
  it('exits slow start into CSS when the round minimum RTT rises by the threshold, then to CA', () => {
    const cc = new Cubic(opts);
    let t = 0;
    for (let i = 0; i < 3; i++) t = ackClockRound(cc, t, 50, MSS); // 80 segments, RTT flat
    expect(cc.hystart.phase).to.equal('slow_start');
    // Queue builds: RTT +8 ms > max(4, min(50/8, 16)) = 6.25 ms.
    t = ackClockRound(cc, t, 58, MSS, { rttSample: 58 });
    expect(cc.hystart.phase).to.equal('css');
    expect(cc.hystart.cssBaselineMinRtt).to.equal(58);
    // CSS grows at 1/CSS_GROWTH_DIVISOR of slow start: about +25% per round, not +100%.
    const w = cc.cwnd;
    t = ackClockRound(cc, t, 58, MSS, { rttSample: 58 });
    expect(cc.cwnd / w).to.be.closeTo(1 + 1 / HYSTART.CSS_GROWTH_DIVISOR, 0.03);
    for (let i = 0; i < HYSTART.CSS_ROUNDS; i++) t = ackClockRound(cc, t, 58, MSS, { rttSample: 58 });
    expect(cc.hystart.phase).to.equal('done');
    expect(cc.ssthresh).to.be.lessThan(Infinity);
    expect(cc.ssthresh).to.be.at.most(cc.cwnd);
  });

  it('stays in slow start when the RTT rise is below the threshold', () => {
    const cc = new Cubic(opts);
    let t = 0;
    for (let i = 0; i < 3; i++) t = ackClockRound(cc, t, 50, MSS);
    t = ackClockRound(cc, t, 54, MSS, { rttSample: 54 }); // +4 ms < 6.25 ms
    expect(cc.hystart.phase).to.equal('slow_start');
    expect(cc.cwnd).to.equal(160 * MSS);
  });

  it('goes back to slow start from CSS when the RTT falls below the CSS baseline', () => {
    const cc = new Cubic(opts);
    let t = 0;
    for (let i = 0; i < 3; i++) t = ackClockRound(cc, t, 50, MSS);
    t = ackClockRound(cc, t, 60, MSS, { rttSample: 60 });
    expect(cc.hystart.phase).to.equal('css');
    ackClockRound(cc, t, 50, MSS, { rttSample: 50 });
    expect(cc.hystart.phase).to.equal('slow_start');
  });

  it('a loss ends HyStart++ for good', () => {
    const cc = new Cubic(opts);
    ackClockRound(cc, 0, 50, MSS);
    cc.onCongestion({ kind: 'fast', now: 60, inFlight: cc.cwnd });
    expect(cc.hystart.phase).to.equal('done');
  });
});
