/**
 * Issue 14 (ping-pong tail latency is garbage): the sender reuses retransmission-queue entries
 * that an ACK removed (Sender.releaseAcked, newTxSegment's `reuse`). An entry reused while
 * something still refers to it (a SACKed segment still queued, a lost list, a probe) would
 * change what is retransmitted and when. So a flow run with reuse and the same flow run without
 * it (setTxReuse(false)) must send the same segments at the same virtual times and end in the
 * same state, over random lossy, reordering paths, congestion controllers, SACK on or off.
 */
import { expect } from 'chai';
import { txReuseCount, setTxReuse } from '../../src/tcp/sender.js';
import { assertSameFlows, runFlow, type FlowCase } from '../helpers/same-flow.js';

describe('tcp: reusing acknowledged retransmission-queue entries changes nothing', () => {
  it('same segments, times and final state with and without reuse, over random lossy/reordering paths', function () {
    this.timeout(120_000);
    assertSameFlows(setTxReuse, { maxBytes: 300_000, losses: [0, 0.005, 0.02, 0.05], download: true });
  });

  it('entries are reused: a bulk flow reuses most of its queue entries, and none with reuse off', () => {
    // Reuse that never happened would pass the test above too.
    const k: FlowCase = { cc: 'cubic', sack: true, timestamps: true, bytes: 300_000, link: { delay: 5, loss: 0.01, seed: 3 } };
    const before = txReuseCount();
    const a = runFlow(k, setTxReuse, true, true);
    // The client's data segments (the upload, 300 KB in about 210 segments; some leave before any ACK freed an entry).
    const sent = a.trace.filter((l) => l.startsWith('c ') && l.includes('"type":"send"') && !l.includes('"len":0,')).length;
    const reused = txReuseCount() - before;
    expect(reused, `${reused} of ${sent} segments`).to.be.greaterThan(sent / 2);
    const offBefore = txReuseCount();
    runFlow(k, setTxReuse, false, true);
    expect(txReuseCount(), 'turned off, none is reused').to.equal(offBefore);
  });
});
