/**
 * Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation) on whole flows with
 * SACK holes: each segment's delivery is counted once (a segment SACKed earlier and
 * cumulatively acknowledged later is not delivered twice), so no sample claims more than the
 * bottleneck can carry, C.delivered never exceeds what actually reached the peer, and the
 * sample RTT obeys Karn's rule (never measured from an ambiguous retransmission).
 */
import { expect } from 'chai';
import { EndlessFlow, simPair } from '../../bench/cc.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { RateSample } from '../../src/tcp/cc/types.js';
import type { CcName } from '../../src/tcp/types.js';

function sampledFlow(cc: CcName, timestamps: boolean) {
  const rate = 1_250_000; // 10 Mbit/s
  const rtt = 40;
  const bdp = (rate * rtt) / 1000;
  const { clock, net, a, b, links } = simPair(
    { delay: rtt / 2, rate, queueBytes: bdp, loss: 0.01, seed: 11 },
    { delay: rtt / 2, loss: 0.01, seed: 12 },
  );
  const config = defaultTcpConfig({ cc, timestamps, sndBuf: 2 << 20, rcvBuf: 2 << 20 });
  const flow = new EndlessFlow(net, a, b, 80, config).start();
  const samples: { rs: RateSample; delivered: number; acked: number }[] = [];
  const cc0 = flow.conn.congestionControl;
  const orig = cc0.onRateSample?.bind(cc0);
  // Observe every sample the connection hands to congestion control (then pass it on).
  (cc0 as { onRateSample?: (s: RateSample) => void }).onRateSample = (rs) => {
    const info = flow.conn.getInfo(clock.now);
    // Everything delivered so far is acknowledged or SACKed: at most acked + in flight (+SYN).
    samples.push({ rs, delivered: rs.totalDelivered, acked: info.bytesAcked + info.bytesInFlight + 1 });
    orig?.(rs);
  };
  clock.runUntilTime(15_000);
  return { samples, rate, rtt, links, flow };
}

describe('sim: delivery-rate samples', function () {
  this.timeout(20_000);

  for (const ts of [true, false]) {
    it(`BBR, 1% loss both ways, timestamps ${ts ? 'on' : 'off'}: samples never exceed the bottleneck, C.delivered never exceeds what was sent`, () => {
      const { samples, rate, rtt, links, flow } = sampledFlow('bbr', ts);
      expect(links.ab.stats.lost, 'the link dropped data (SACK holes exist)').to.be.greaterThan(20);
      expect(flow.conn.getInfo(0).retransmits.fast + flow.conn.getInfo(0).retransmits.rack).to.be.greaterThan(20);
      expect(samples.length).to.be.greaterThan(1000);
      const payloadRate = rate; // payload is below wire size, so the link rate bounds it
      let max = 0;
      for (const { rs, delivered, acked } of samples) {
        max = Math.max(max, rs.deliveryRate);
        expect(delivered, `C.delivered at ${rs.now.toFixed(1)} ms`).to.be.at.most(acked);
        // Karn: an RTT is either absent (-1) or at least the path's propagation RTT
        // (timestamps have 1 ms granularity, hence the 1 ms slack).
        if (rs.rtt >= 0) expect(rs.rtt, `sample rtt at ${rs.now.toFixed(1)} ms`).to.be.at.least(rtt - 1);
      }
      expect(max / payloadRate, 'largest delivery-rate sample / bottleneck rate').to.be.at.most(1.05);
      expect(max / payloadRate, 'the samples do measure the bottleneck').to.be.at.least(0.8);
    });
  }
});
