/**
 * Pacing's initial quantum (src/tcp/pacing.ts), on the virtual clock: a connection whose pacing
 * rate is derived from cwnd/SRTT (CUBIC) sends its first 10 data segments unpaced, as Linux's
 * fq qdisc lets a new flow's initial quantum leave and RFC 6928 allows the initial window as
 * one burst; after them the rate applies. A controller that sets its own rate (BBR) paces from
 * its first segment, as before.
 */
import { expect } from 'chai';
import { runTransfer } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { CongestionControl } from '../../src/tcp/cc/types.js';
import { Pacer, PACING_INITIAL_QUANTUM_SEGMENTS } from '../../src/tcp/pacing.js';
import type { RttEstimator } from '../../src/tcp/rtt.js';
import type { CcName } from '../../src/tcp/types.js';
import { pattern } from '../helpers/data.js';

/** The client's data segments, grouped by the virtual instant they left at, in order. */
function dataBursts(cc: CcName, pacing?: boolean): number[] {
  const times = new Map<number, number>();
  const r = runTransfer({
    clientConfig: defaultTcpConfig({ msl: 500, cc, sack: true, ...(pacing === undefined ? {} : { pacing }) }),
    ab: { delay: 25 },
    ba: { delay: 25 },
    upload: pattern(300_000, 5),
    maxTime: 60_000,
    onTrace: (ev) => {
      if (ev.type === 'send' && ev.len > 0 && !ev.retransmit) times.set(ev.t, (times.get(ev.t) ?? 0) + 1);
    },
  });
  expect(r.ok).to.equal(true);
  return [...times.values()];
}

describe('sim: pacing lets the initial window leave as one burst', () => {
  it('CUBIC: the first 10 data segments leave at one instant, then pacing spreads the next window', () => {
    const bursts = dataBursts('cubic');
    expect(PACING_INITIAL_QUANTUM_SEGMENTS).to.equal(10);
    expect(bursts[0], 'the initial window, unpaced').to.equal(10);
    // The second round (20 segments in slow start) is paced: no instant sends it all.
    const unpaced = dataBursts('cubic', false);
    expect(unpaced[1], 'unpaced, the second round leaves in one burst').to.be.greaterThan(10);
    expect(Math.max(...bursts.slice(1)), 'after the initial quantum, pacing releases').to.be.lessThan(Math.max(...unpaced.slice(1)));
  });

  it('the Pacer: a derived rate releases the first 10 segments at once, a controller\'s own rate (BBR) paces from the first', () => {
    const MSS = 1000;
    const rtt = { hasSample: true, srtt: 10 } as RttEstimator;
    // Slow start, cwnd 10 segments over 10 ms: 2 x 1 000 bytes/ms, a 1 ms release quantum.
    const derived = { cwnd: 10 * MSS, ssthresh: Infinity, paces: true } as CongestionControl;
    const own = { ...derived, pacingRate: () => 2_000_000 } as CongestionControl; // the same rate, in bytes/s
    const leaveAtOnce = (cc: CongestionControl): number => {
      const p = new Pacer(undefined, () => cc, rtt);
      const rate = p.rateBytesPerMs();
      expect(rate).to.equal(2000);
      let n = 0;
      while (n < 100 && p.blockedUntil(rate, 0, MSS) === undefined) {
        p.sent(MSS, rate, 0);
        n++;
      }
      return n;
    };
    // A controller's rate: a release quantum (1 ms = 2 segments, and the one that reaches it).
    const paced = leaveAtOnce(own);
    expect(paced).to.equal(3);
    // The derived rate: the initial quantum, then the same release.
    expect(leaveAtOnce(derived)).to.equal(PACING_INITIAL_QUANTUM_SEGMENTS + paced);
  });
});
