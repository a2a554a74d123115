/**
 * Tail latency is garbage collection: every scavenge pauses whatever round trip it falls in,
 * and how often one runs is set by the bytes allocated per round trip. This pins that figure
 * for a 64-byte ping-pong over the node:net-like API (two hosts in this process, real
 * loopback UDP), measured as bench/latency.js does (heap growth over windows in which the
 * collector did not run). It was 11.5 KB; the driver, the engine and the socket layer no
 * longer allocate per burst or per call (closures, sets, arrays, held-write objects).
 */
import { expect } from 'chai';
import { allocPerRoundTrip } from '../../bench/latency.js';

describe('ping-pong allocation budget (heap bytes per 64-byte round trip, both ends)', function () {
  this.timeout(60_000);

  it('stays under 10,000 bytes per round trip', async () => {
    const r = await allocPerRoundTrip(9, 40);
    expect(r.rounds).to.be.greaterThan(0);
    expect(r.bytesPerRound).to.be.lessThan(10_000);
  });
});
