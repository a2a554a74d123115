/**
 * Goodput under random (non-congestive) loss, on virtual time: 1% loss in BOTH directions
 * (data and ACKs) through a bottleneck with one BDP of drop-tail queue.
 *
 * - BBR models the path from delivery rate and must keep most of the bottleneck: the
 *   connection applies no Reno-style reduction of its own (recovery decides what to send,
 *   BBR's cwnd how much), so random loss costs only the retransmissions.
 * - Reno and CUBIC are loss-limited: near the Mathis et al. bound MSS/RTT * 1.22/sqrt(p)
 *   (within 2x either way). Not needlessly below it: SACK + RACK repair several losses per
 *   window, including lost retransmissions, without a single retransmission timeout.
 */
import { expect } from 'chai';
import { EndlessFlow, mathisBound, simPair } from '../../bench/cc.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { CcName } from '../../src/tcp/types.js';

function lossyFlow(cc: CcName, o: { rtt: number; rate: number; loss: number; seconds: number; seed: number }) {
  const bdp = (o.rate * o.rtt) / 1000;
  const { clock, net, a, b, links } = simPair(
    { delay: o.rtt / 2, rate: o.rate, queueBytes: bdp, loss: o.loss, seed: o.seed },
    { delay: o.rtt / 2, loss: o.loss, seed: o.seed + 1 },
  );
  const config = defaultTcpConfig({ cc, sndBuf: 8 << 20, rcvBuf: 8 << 20 });
  const flow = new EndlessFlow(net, a, b, 80, config).start();
  clock.runUntilTime(o.seconds * 1000);
  const info = flow.conn.getInfo(clock.now);
  return {
    goodput: flow.received / o.seconds,
    info,
    dataLost: links.ab.stats.lost,
    acksLost: links.ba.stats.lost,
    mathis: mathisBound(info.mss, o.rtt, o.loss),
  };
}

describe('sim: goodput at 1% random loss both ways', function () {
  this.timeout(30_000);

  it('BBR keeps at least half of a 100 Mbit/s, 20 ms bottleneck over 20 s, with no RTO', () => {
    const rate = 12_500_000;
    const r = lossyFlow('bbr', { rtt: 20, rate, loss: 0.01, seconds: 20, seed: 42 });
    expect(r.dataLost, 'data segments the link dropped').to.be.greaterThan(500);
    expect(r.acksLost, 'ACKs the link dropped').to.be.greaterThan(100);
    expect(r.goodput / rate, `goodput ${((r.goodput * 8) / 1e6).toFixed(1)} Mbit/s`).to.be.at.least(0.5);
    expect(r.goodput, 'far above the loss-limited Mathis bound').to.be.greaterThan(4 * r.mathis);
    expect(r.info.retransmits.rto, 'retransmission timeouts').to.equal(0);
  });

  it('BBR on the demo path (50 ms, 20 Mbit/s): near the bottleneck, lost retransmissions repaired without RTO', () => {
    const rate = 2_500_000;
    for (const seed of [42, 43]) {
      const r = lossyFlow('bbr', { rtt: 50, rate, loss: 0.01, seconds: 15, seed });
      expect(r.goodput / rate, `seed ${seed}: goodput ${((r.goodput * 8) / 1e6).toFixed(1)} Mbit/s`).to.be.at.least(0.75);
      expect(r.info.retransmits.rto, `seed ${seed}: retransmission timeouts`).to.equal(0);
    }
  });

  for (const cc of ['cubic', 'reno'] as const) {
    it(`${cc} stays within 2x of the Mathis bound (20 ms, 100 Mbit/s) and repairs every loss without RTO`, () => {
      const r = lossyFlow(cc, { rtt: 20, rate: 12_500_000, loss: 0.01, seconds: 20, seed: 42 });
      const ratio = r.goodput / r.mathis;
      expect(ratio, `goodput / Mathis (${((r.goodput * 8) / 1e6).toFixed(2)} Mbit/s)`).to.be.within(0.5, 2);
      expect(r.dataLost).to.be.greaterThan(50);
      expect(r.info.retransmits.fast + r.info.retransmits.rack).to.be.at.least(r.dataLost);
      expect(r.info.retransmits.rto, 'retransmission timeouts').to.equal(0);
    });
  }

  it('the scoreboard tallies (SACKed, lost) agree with a full scan of the queue after every event', () => {
    const mixes = [
      { cc: 'bbr', sack: true, loss: 0.01 },
      { cc: 'cubic', sack: true, loss: 0.05 },
      { cc: 'newreno', sack: false, loss: 0.03 },
      { cc: 'tahoe', sack: true, loss: 0.02 },
    ] as const;
    for (const m of mixes) {
      const { clock, net, a, b } = simPair(
        { delay: 10, rate: 2_500_000, queueBytes: 50_000, loss: m.loss, jitter: 3, seed: 3 },
        { delay: 10, loss: m.loss, reorder: 0.01, seed: 4 },
      );
      const flow = new EndlessFlow(net, a, b, 80, defaultTcpConfig({ cc: m.cc, sack: m.sack, sndBuf: 1 << 20, rcvBuf: 1 << 20 })).start();
      const c = flow.conn;
      let events = 0;
      let bad = 0;
      const input = c.input.bind(c);
      const onTimer = c.onTimer.bind(c);
      c.input = (seg, now) => {
        input(seg, now);
        events++;
        if (!c.scoreboardConsistent()) bad++;
      };
      c.onTimer = (now) => {
        onTimer(now);
        events++;
        if (!c.scoreboardConsistent()) bad++;
      };
      clock.runUntilTime(5000);
      const rtx = c.getInfo(clock.now).retransmits;
      expect(rtx.fast + rtx.rack + rtx.rto, `${m.cc}: losses were repaired`).to.be.greaterThan(10);
      expect(events).to.be.greaterThan(1000);
      expect(bad, `${m.cc} sack=${m.sack}: inconsistent events`).to.equal(0);
    }
  });
});
