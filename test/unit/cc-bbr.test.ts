import { expect } from 'chai';
import { Bbr, BBR, type BbrState } from '../../src/tcp/cc/bbr.js';
import { Reno } from '../../src/tcp/cc/reno.js';
import { SlottedMaxFilter } from '../../src/tcp/cc/minmax.js';
import type { AckEvent, RateSample } from '../../src/tcp/cc/types.js';
import { BottleneckSim, type SimOptions } from './cc-harness.js';

const MSS = 1000;
const opts = { mss: MSS, initialWindowSegments: 10, now: 0 };

interface Row {
  t: number;
  state: BbrState;
  cwnd: number;
  pacing: number;
  bw: number;
  pacingGain: number;
  round: number;
  maxBw: number;
}

/** BBR that records its state after every ACK. */
class RecordingBbr extends Bbr {
  readonly rows: Row[] = [];
  override onAck(ev: AckEvent): void {
    super.onAck(ev);
    this.rows.push({
      t: ev.now, state: this.state, cwnd: this.cwnd, pacing: this.pacingRate(), bw: this.bw,
      pacingGain: this.pacingGain, round: this.roundCount, maxBw: this.maxBw,
    });
  }
}

// 40 Mbit/s (5 MB/s), 40 ms: BDP = 200 packets; buffer = 1 BDP.
const LINK: SimOptions = { mss: MSS, rate: 5e6, rtt: 40, buffer: 200_000, pace: true, seed: 7 };

function run(loss: number, ms: number, cc: Bbr | Reno = new RecordingBbr(opts)) {
  const sim = new BottleneckSim(cc, { ...LINK, loss });
  const delivered = sim.run(ms);
  return { cc, sim, goodput: (delivered / ms) * 1000 };
}

describe('cc: BBR (BBRv3 design)', () => {
  it('Startup grows until the bandwidth plateaus for 3 rounds, then Drain, then ProbeBW', () => {
    // A 3-BDP buffer so Startup (cwnd gain 2) ends on the bandwidth plateau, not on loss.
    const cc = new RecordingBbr(opts);
    const sim = new BottleneckSim(cc, { ...LINK, buffer: 3 * LINK.buffer });
    sim.run(3000);
    expect(sim.lostBytes).to.equal(0);
    const rows = cc.rows;
    const order: BbrState[] = [];
    for (const r of rows) if (order[order.length - 1] !== r.state) order.push(r.state);
    expect(order.slice(0, 2)).to.deep.equal(['Startup', 'Drain']);
    expect(order[2]).to.match(/^ProbeBW_/);
    const exit = rows.findIndex((r) => r.state !== 'Startup');
    // Startup paced at 2.77x and doubled the delivery rate each round until the link rate.
    expect(rows[exit - 1]!.pacingGain).to.be.closeTo(BBR.STARTUP_PACING_GAIN, 1e-9);
    expect(rows[exit]!.maxBw).to.be.within(0.9 * LINK.rate, 1.05 * LINK.rate);
    // Full-pipe rule: max_bw at exit is less than 1.25x what it was 3 rounds earlier.
    const exitRound = rows[exit]!.round;
    const earlier = rows.filter((r) => r.round === exitRound - 3)[0];
    expect(earlier, 'a row 3 rounds before the exit').to.not.equal(undefined);
    expect(rows[exit]!.maxBw).to.be.lessThan(1.25 * earlier!.maxBw);
    // Growth in Startup: the delivery rate doubles (or better) per round once the ACK
    // clock runs, and the link rate is found within a dozen rounds.
    const byRound = new Map<number, number>();
    for (const r of rows) if (r.state === 'Startup') byRound.set(r.round, r.maxBw);
    let best = 0;
    for (const [round, bw] of byRound) if (byRound.has(round + 2) && bw > 0) best = Math.max(best, byRound.get(round + 2)! / bw);
    expect(best).to.be.greaterThan(3.5);
    expect(exitRound).to.be.lessThan(14);
  });

  it('pacing rate = pacing_gain * bw * (1 - 1%) and the link stays full in ProbeBW', () => {
    const { cc, goodput } = run(0, 10_000);
    const rows = (cc as RecordingBbr).rows.filter((r) => r.t > 1000 && r.state.startsWith('ProbeBW'));
    expect(rows.length).to.be.greaterThan(1000);
    for (const r of rows) {
      expect(r.pacing).to.be.closeTo(r.pacingGain * r.bw * (1 - BBR.PACING_MARGIN), 1e-6 * r.pacing);
    }
    const gains = new Set(rows.map((r) => r.pacingGain));
    expect([...gains].sort()).to.deep.equal([BBR.PROBE_DOWN_PACING_GAIN, 1, BBR.PROBE_UP_PACING_GAIN].sort());
    expect(rows[rows.length - 1]!.bw).to.be.within(0.95 * LINK.rate, 1.02 * LINK.rate);
    expect(goodput).to.be.greaterThan(0.9 * LINK.rate);
  });

  it('enters ProbeRTT when min_rtt is stale, holds cwnd at 4 packets for >= 200 ms, then leaves', () => {
    // The path RTT grows by 10 ms after 3 s: no sample will ever beat the old min_rtt again.
    const cc = new RecordingBbr(opts);
    const sim = new BottleneckSim(cc, { ...LINK, loss: 0, extraDelay: (now) => (now > 3000 ? 10 : 0) });
    sim.run(16_000);
    const rows = cc.rows;
    const probe = rows.filter((r) => r.state === 'ProbeRTT');
    expect(probe.length).to.be.greaterThan(0);
    const first = probe[0]!.t;
    expect(first).to.be.within(3000, 3000 + BBR.PROBE_RTT_INTERVAL + 500);
    for (const r of probe) expect(r.cwnd).to.equal(BBR.MIN_PIPE_CWND_SEGMENTS * MSS);
    const left = rows.find((r) => r.t > first && r.state !== 'ProbeRTT')!;
    expect(left.t - first).to.be.at.least(BBR.PROBE_RTT_DURATION);
    expect(left.t - first).to.be.lessThan(BBR.PROBE_RTT_DURATION + 4 * 60);
    // min_rtt moves to the new path RTT once the 10 s filter expires.
    expect(cc.minRtt).to.be.greaterThan(LINK.rtt + 9);
  });

  it('1% random loss does not collapse the rate (and beats Reno by far)', () => {
    const clean = run(0, 20_000);
    const lossy = run(0.01, 20_000);
    const reno = run(0.01, 20_000, new Reno(opts));
    expect(lossy.goodput).to.be.greaterThan(0.75 * clean.goodput);
    const rows = (lossy.cc as RecordingBbr).rows.filter((r) => r.t > 2000);
    const meanPacing = rows.reduce((a, r) => a + r.pacing, 0) / rows.length;
    expect(meanPacing).to.be.greaterThan(0.75 * LINK.rate);
    expect(lossy.goodput).to.be.greaterThan(5 * reno.goodput);
  });

  it('10% loss lowers inflight_hi and the rate, like a loss-based flow', () => {
    const lossy = run(0.1, 10_000);
    const bbr = lossy.cc as RecordingBbr;
    expect(bbr.inflightHi).to.be.lessThan(0.5 * LINK.rate * (LINK.rtt / 1000));
    expect(lossy.goodput).to.be.lessThan(0.3 * LINK.rate);
    expect(lossy.goodput).to.be.greaterThan(0);
  });

  it('gives the same result whether the rate sample comes before or after onAck', () => {
    const a = new RecordingBbr(opts);
    const b = new RecordingBbr(opts);
    const sa = new BottleneckSim(a, { ...LINK, loss: 0.01 });
    const sb = new BottleneckSim(b, { ...LINK, loss: 0.01, sampleAfterAck: true });
    expect(sb.run(5000)).to.equal(sa.run(5000));
    // The harness traces cwnd and pacing after both calls for each ACK.
    expect(sb.trace).to.deep.equal(sa.trace);
    expect(b.state).to.equal(a.state);
  });

  it('holds an over-counting rate sample to what the ACKs reported in its interval', () => {
    // A connection that counts some bytes twice in its delivery-rate estimator.
    class Inflated extends RecordingBbr {
      override onRateSample(s: RateSample): void {
        super.onRateSample({ ...s, delivered: 2 * s.delivered, deliveryRate: 2 * s.deliveryRate, totalDelivered: 2 * s.totalDelivered });
      }
    }
    const cc = new Inflated(opts);
    const delivered = new BottleneckSim(cc, { ...LINK, loss: 0 }).run(5000);
    expect(cc.maxBw).to.be.within(0.9 * LINK.rate, 1.05 * LINK.rate);
    expect(delivered / 5).to.be.greaterThan(0.85 * LINK.rate);
  });

  it('recovery: packet conservation on entry, prior cwnd restored on exit; RTO drops to 1 packet', () => {
    const cc = new Bbr(opts);
    const before = cc.cwnd;
    cc.onCongestion({ kind: 'fast', now: 0, inFlight: 6 * MSS });
    expect(cc.cwnd).to.equal(7 * MSS);
    cc.onRecoveryExit(10);
    expect(cc.cwnd).to.equal(before);
    cc.onCongestion({ kind: 'rto', now: 20, inFlight: 10 * MSS });
    expect(cc.cwnd).to.equal(MSS);
    cc.onSpuriousCongestion(30);
    expect(cc.cwnd).to.equal(before);
  });

  it('works from ACKs alone if the connection supplies no rate samples', () => {
    const cc = new Bbr(opts);
    let delivered = 0;
    let t = 0;
    // 1 packet per ms = 1 MB/s, 20 ms RTT.
    for (let i = 0; i < 3000; i++) {
      t += 1;
      delivered += MSS;
      cc.onAck({
        now: t, bytesAcked: MSS, rttSample: 20, srtt: 20, minRtt: 20, priorInFlight: 20 * MSS,
        inFlight: 19 * MSS, inRecovery: false, appLimited: false,
      });
    }
    expect(delivered).to.equal(3000 * MSS);
    expect(cc.maxBw).to.be.within(0.9e6, 1.1e6);
    expect(cc.state).to.not.equal('Startup');
  });
});

describe('cc: slotted max filter (BBR max_bw)', () => {
  it('keeps the max over the last N slots and ages it out', () => {
    const f = new SlottedMaxFilter(2);
    f.update(5);
    f.update(3);
    expect(f.value).to.equal(5);
    f.advance();
    expect(f.update(4)).to.equal(5); // 5 is one slot old: still in the window
    f.advance();
    expect(f.value).to.equal(4); // 5 fell out
    expect(f.update(2)).to.equal(4);
    f.advance();
    f.advance();
    expect(f.value).to.equal(0);
    expect(() => new SlottedMaxFilter(0)).to.throw(RangeError);
  });
});
