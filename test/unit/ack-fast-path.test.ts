/**
 * Issue 14: the header-prediction fast path for plain cumulative ACKs (Sender.onPlainAck)
 * must be invisible: a flow run with it and the same flow run with every ACK through the
 * general path (setAckFastPath(false)) send the same segments at the same virtual times and
 * end in the same state, over random paths (loss, reordering, duplication, jitter, a
 * bottleneck), congestion controllers, SACK on or off and transfer sizes.
 */
import { expect } from 'chai';
import { ackFastPathCount, setAckFastPath } from '../../src/tcp/sender.js';
import { assertSameFlows, runFlow, type FlowCase } from '../helpers/same-flow.js';

describe('tcp: plain-ACK fast path (header prediction) equals the general path', () => {
  it('same segments, times and final state with and without the fast path, over random lossy/reordering paths', function () {
    this.timeout(120_000);
    assertSameFlows(setAckFastPath, { maxBytes: 400_000, losses: [0, 0, 0.005, 0.02, 0.05] });
  });

  it('the fast path is taken: on a lossless bulk flow most of the sender ACKs go through it', () => {
    // A fast path that never ran would pass the test above too.
    const k: FlowCase = { cc: 'cubic', sack: true, timestamps: true, bytes: 300_000, link: { delay: 5, seed: 3 } };
    const before = ackFastPathCount();
    const a = runFlow(k, setAckFastPath, true);
    const taken = ackFastPathCount() - before;
    const acks = a.trace.filter((l) => l.startsWith('c ') && l.includes('"type":"ack"')).length;
    expect(acks).to.be.greaterThan(10);
    expect(taken, `${taken} of ${acks} ACKs`).to.be.greaterThan(acks / 2);
    const offBefore = ackFastPathCount();
    runFlow(k, setAckFastPath, false);
    expect(ackFastPathCount(), 'turned off, it is never taken').to.equal(offBefore);
  });
});
