/**
 * The impairment stages on a virtual clock over >= 100k packets: the measured statistics
 * must match the configuration within tight bounds (several standard errors).
 */
import { expect } from 'chai';
import { ChaosModel } from '../../src/chaos/model.js';
import type { Lane } from '../../src/chaos/pipeline.js';
import type { Decision } from '../../src/chaos/stages.js';

interface Out {
  id: number;
  at: number;
  len: number;
}

/** A lane on a virtual clock whose packets carry their index in the first 4 bytes. */
function harness(seed = 1): { model: ChaosModel; lane: Lane; out: Out[]; send(n: number, spacing: number, size?: number): number[]; clock: { now: number }; log: Decision[] } {
  const clock = { now: 0 };
  const log: Decision[] = [];
  const model = new ChaosModel({ seed, now: () => clock.now, log: (d) => log.push(d) });
  const lane = model.lane('10.77.0.2-10.77.0.3', 'up');
  const out: Out[] = [];
  lane.out = (data, at) => out.push({ id: data.readUInt32BE(0), at, len: data.length });
  const send = (n: number, spacing: number, size = 100): number[] => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(size);
      b.writeUInt32BE(i, 0);
      times.push(clock.now);
      lane.push(b, clock.now);
      clock.now += spacing;
    }
    lane.poll(Infinity);
    return times;
  };
  return { model, lane, out, send, clock, log };
}

function meanSd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
  return [m, Math.sqrt(v)];
}

describe('chaos stages: statistics on a virtual clock', function () {
  this.timeout(20000);

  it('Bernoulli loss rate matches p within 6 standard errors over 200k packets', () => {
    const N = 200_000;
    const p = 0.05;
    const h = harness(11);
    h.model.setImpairment('*', 'up', 'loss', { p });
    h.send(N, 1);
    const rate = 1 - h.out.length / N;
    const se = Math.sqrt((p * (1 - p)) / N);
    expect(Math.abs(rate - p)).to.be.below(6 * se);
    // Each packet is decided independently: P(drop | previous dropped) is also p.
    const ids = new Set(h.out.map((o) => o.id));
    let afterDrop = 0;
    let dropAfterDrop = 0;
    for (let i = 1; i < N; i++) {
      if (!ids.has(i - 1)) {
        afterDrop++;
        if (!ids.has(i)) dropAfterDrop++;
      }
    }
    expect(Math.abs(dropAfterDrop / afterDrop - p)).to.be.below(0.01);
  });

  it('Gilbert-Elliott from mean loss and mean burst length reproduces both over 300k packets', () => {
    const N = 300_000;
    const h = harness(12);
    h.model.setImpairment('*', 'up', 'loss', { loss: 0.05, burst: 4 });
    h.send(N, 1);
    const got = new Uint8Array(N);
    for (const o of h.out) got[o.id] = 1;
    const bursts: number[] = [];
    let run = 0;
    for (let i = 0; i < N; i++) {
      if (got[i] === 0) run++;
      else if (run > 0) {
        bursts.push(run);
        run = 0;
      }
    }
    const loss = 1 - h.out.length / N;
    const [meanBurst] = meanSd(bursts);
    expect(loss).to.be.within(0.045, 0.055);
    expect(meanBurst).to.be.within(3.7, 4.3);
  });

  it('Gilbert-Elliott with explicit p, r, h, k gives the stationary loss', () => {
    const N = 200_000;
    const h = harness(13);
    // pi_bad = p/(p+r) = 0.2; loss = 0.2*(1-h) + 0.8*(1-k) = 0.2*0.5 + 0.8*0.01 = 0.108
    h.model.setImpairment('*', 'up', 'loss', { model: 'gilbert-elliott', p: 0.05, r: 0.2, h: 0.5, k: 0.99 });
    h.send(N, 1);
    expect(1 - h.out.length / N).to.be.within(0.098, 0.118);
  });

  it('caps consecutive drops and drops listed packet numbers exactly', () => {
    const h = harness(14);
    h.model.setImpairment('*', 'up', 'loss', { p: 1, maxConsecutive: 3 });
    h.send(12, 1);
    // Packet ids are 0-based; every fourth packet passes.
    expect(h.out.map((o) => o.id)).to.deep.equal([3, 7, 11]);
    const h2 = harness(14);
    h2.model.setImpairment('*', 'up', 'loss', { drop: [3, 5] });
    h2.send(8, 1);
    // Packet numbers count from 1, ids from 0: numbers 3 and 5 are ids 2 and 4.
    expect(h2.out.map((o) => o.id)).to.deep.equal([0, 1, 3, 5, 6, 7]);
  });

  it('duplicate rate and copy count match over 100k packets', () => {
    const N = 100_000;
    const h = harness(15);
    h.model.setImpairment('*', 'up', 'duplicate', { p: 0.1, count: 2 });
    h.send(N, 1);
    const extra = (h.out.length - N) / 2;
    const se = Math.sqrt((0.1 * 0.9) / N);
    expect(Math.abs(extra / N - 0.1)).to.be.below(6 * se);
    const perId = new Map<number, number>();
    for (const o of h.out) perId.set(o.id, (perId.get(o.id) ?? 0) + 1);
    expect([...perId.values()].every((c) => c === 1 || c === 3)).to.equal(true);
  });

  it('reorder holds a packet behind the next k packets (displacement k) without delay', () => {
    const N = 100_000;
    const h = harness(16);
    h.model.setImpairment('*', 'up', 'reorder', { p: 0.02, k: 3, maxHold: 50 });
    const times = h.send(N, 1);
    expect(h.out.length).to.equal(N);
    const displaced: number[] = [];
    h.out.forEach((o, pos) => {
      // A held packet leaves later than its position: displacement = pos - id.
      if (pos > o.id) displaced.push(pos - o.id);
      // No delay: every packet leaves at its own arrival time or at a later packet's.
      expect(o.at).to.be.at.least(times[o.id]!);
    });
    const late = h.out.filter((o, pos) => pos > o.id).length;
    const held = h.log.filter((d) => d.v === 'reordered').length;
    expect(held / N).to.be.within(0.018, 0.022);
    // Nearly every held packet is displaced by exactly k (collisions of two holds are rare).
    const exact = h.out.filter((o, pos) => pos - o.id === 3).length;
    expect(exact).to.be.at.least(0.9 * held);
    expect(late).to.be.at.most(held * 1.1);
    expect(meanSd(displaced)[0]).to.be.within(2.7, 3.3);
  });

  it('reorder releases the tail after maxHold when no more packets come', () => {
    const h = harness(17);
    h.model.setImpairment('*', 'up', 'reorder', { p: 1, k: 5, maxHold: 30 });
    const b = Buffer.alloc(8);
    h.lane.push(b, 0);
    expect(h.out).to.have.length(0);
    expect(h.lane.nextDeadline()).to.equal(30);
    h.lane.poll(29);
    expect(h.out).to.have.length(0);
    h.lane.poll(31);
    expect(h.out).to.have.length(1);
    expect(h.out[0]!.at).to.equal(30);
  });

  for (const dist of ['normal', 'uniform'] as const) {
    it(`delay with ${dist} jitter has the configured mean and standard deviation (100k packets)`, () => {
      const N = 100_000;
      const h = harness(18);
      h.model.setImpairment('*', 'up', 'delay', { ms: 40, jitter: 6, dist });
      // Spacing far above the jitter, so preserving order never binds.
      const times = h.send(N, 100);
      const d = h.out.map((o) => o.at - times[o.id]!);
      const [m, sd] = meanSd(d);
      const wantSd = dist === 'normal' ? 6 : 6 / Math.sqrt(3);
      expect(m).to.be.within(40 - 0.1, 40 + 0.1);
      expect(sd).to.be.within(wantSd * 0.98, wantSd * 1.02);
      if (dist === 'uniform') expect(Math.min(...d)).to.be.at.least(34);
    });
  }

  it('delay preserves order under jitter by default, and reorders in reorder mode', () => {
    const run = (reorder: boolean): Out[] => {
      const h = harness(19);
      h.model.setImpairment('*', 'up', 'delay', { ms: 10, jitter: 5, reorder });
      h.send(20_000, 1);
      return [...h.out].sort((a, b) => a.at - b.at);
    };
    const ordered = run(false);
    expect(ordered.every((o, i) => i === 0 || ordered[i - 1]!.id < o.id || ordered[i - 1]!.at === o.at)).to.equal(true);
    const mixed = run(true);
    const inversions = mixed.filter((o, i) => i > 0 && mixed[i - 1]!.id > o.id).length;
    expect(inversions).to.be.above(1000);
  });

  it('bottleneck: throughput within 2% of the rate, queue never above its limit (packets)', () => {
    const h = harness(20);
    const rate = 10e6;
    const limit = 50;
    h.model.setImpairment('*', 'up', 'bottleneck', { rate: '10mbit', queue: limit });
    // 1250-byte packets take 1 ms at 10 Mbit/s; offer 2 per ms for 100k packets.
    const times = h.send(100_000, 0.5, 1250);
    const first = h.out[0]!;
    const last = h.out[h.out.length - 1]!;
    const bits = (h.out.length - 1) * 1250 * 8;
    const tput = bits / ((last.at - first.at) / 1000);
    expect(Math.abs(tput - rate) / rate).to.be.below(0.02);
    // Independent check of the queue: at every arrival, accepted packets in the system.
    const arrivals = h.out.map((o) => ({ a: times[o.id]!, d: o.at }));
    let maxQ = 0;
    let head = 0;
    for (let i = 0; i < arrivals.length; i++) {
      while (arrivals[head]!.d <= arrivals[i]!.a) head++;
      maxQ = Math.max(maxQ, i - head + 1);
    }
    expect(maxQ).to.be.at.most(limit);
    expect(maxQ).to.equal(limit);
    expect(h.lane.bottlenecks()[0]!.maxQueuedPackets).to.equal(limit);
    // Half the offered packets are dropped at the tail.
    expect(h.out.length / 100_000).to.be.within(0.49, 0.51);
  });

  it('bottleneck with a byte limit never holds more bytes than the limit', () => {
    const h = harness(21);
    h.model.setImpairment('*', 'up', 'bottleneck', { rate: '1mbit', queue: '16kb' });
    let id = 0;
    for (let i = 0; i < 100_000; i++) {
      const size = 64 + ((i * 7919) % 1400);
      const b = Buffer.alloc(size);
      b.writeUInt32BE(id++, 0);
      h.lane.push(b, h.clock.now);
      h.clock.now += 0.2;
    }
    const b = h.lane.bottlenecks()[0]!;
    expect(b.maxQueuedBytes).to.be.at.most(16 * 1024);
    expect(b.maxQueuedBytes).to.be.above(16 * 1024 - 1500);
  });

  it('CoDel removes a standing queue that drop-tail keeps (RFC 8289)', () => {
    const sojourn = (codel: boolean): number => {
      const h = harness(22);
      h.model.setImpairment('*', 'up', 'bottleneck', { rate: '10mbit', queue: 2000, codel });
      // 1 s at twice the rate builds a ~1 s queue, then 30 s at 98% of the rate:
      // drop-tail drains it slowly, CoDel drops until the sojourn is near its target.
      const arrivals: number[] = [];
      let t = 0;
      for (let i = 0; t < 31_000; i++) {
        const b = Buffer.alloc(1250);
        b.writeUInt32BE(i, 0);
        arrivals.push(t);
        h.lane.push(b, t);
        t += t < 1000 ? 0.5 : 1 / 0.98;
      }
      const late = h.out.filter((o) => arrivals[o.id]! > 10_000);
      return meanSd(late.map((o) => o.at - arrivals[o.id]! - 1))[0];
    };
    const tail = sojourn(false);
    const cd = sojourn(true);
    expect(tail).to.be.above(300);
    expect(cd).to.be.below(20);
  });
});
