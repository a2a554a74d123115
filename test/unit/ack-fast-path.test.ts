/**
 * Issue 14: the header-prediction fast path for plain cumulative ACKs (Sender.onPlainAck)
 * must be invisible: a flow run with it and the same flow run with every ACK through the
 * general path (setAckFastPath(false)) send the same segments at the same virtual times and
 * end in the same state, over random paths (loss, reordering, duplication, jitter, a
 * bottleneck), congestion controllers, SACK on or off and transfer sizes.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { runTransfer, type LinkOptions } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import { ackFastPathCount, setAckFastPath } from '../../src/tcp/sender.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

interface Case {
  cc: 'newreno' | 'cubic' | 'bbr' | 'reno';
  sack: boolean;
  timestamps: boolean;
  bytes: number;
  link: LinkOptions;
}

/** Runs the flow once; returns every trace event of both ends and the final figures. */
function run(k: Case, fast: boolean): { trace: string[]; end: unknown } {
  setAckFastPath(fast);
  try {
    const trace: string[] = [];
    const cfg = defaultTcpConfig({ cc: k.cc, sack: k.sack, timestamps: k.timestamps, msl: 50, rcvBuf: 256 * 1024, sndBuf: 256 * 1024 });
    const upload = Buffer.alloc(k.bytes, 0x42);
    const r = runTransfer({
      clientConfig: cfg,
      ab: k.link,
      ba: { ...k.link, rate: undefined, queueBytes: undefined, seed: (k.link.seed ?? 1) + 7 },
      upload,
      maxTime: 120_000,
      onTrace: (ev: TcpTraceEvent) => trace.push('c ' + JSON.stringify(ev)),
      onServerTrace: (ev: TcpTraceEvent) => trace.push('s ' + JSON.stringify(ev)),
    });
    const info = r.client.getInfo(r.time);
    return { trace, end: { ok: r.ok, time: r.time, retransmits: info.retransmits, cwnd: info.cwnd, srtt: info.srtt, segmentsOut: info.segmentsOut } };
  } finally {
    setAckFastPath(true);
  }
}

describe('tcp: plain-ACK fast path (header prediction) equals the general path', () => {
  it('same segments, times and final state with and without the fast path, over random lossy/reordering paths', function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(
        fc.record({
          cc: fc.constantFrom('newreno', 'cubic', 'bbr', 'reno'),
          sack: fc.boolean(),
          timestamps: fc.boolean(),
          bytes: fc.integer({ min: 1, max: 400_000 }),
          link: fc.record({
            delay: fc.integer({ min: 1, max: 30 }),
            jitter: fc.constantFrom(0, 0, 2, 15),
            loss: fc.constantFrom(0, 0, 0.005, 0.02, 0.05),
            duplicate: fc.constantFrom(0, 0, 0.01),
            reorder: fc.constantFrom(0, 0, 0.02),
            rate: fc.constantFrom(undefined, 2e6, 10e6),
            queueBytes: fc.constantFrom(undefined, 30_000, 100_000),
            seed: fc.integer({ min: 1, max: 1_000_000 }),
          }),
        }) as fc.Arbitrary<Case>,
        (k) => {
          const a = run(k, true);
          const b = run(k, false);
          expect(a.end).to.deep.equal(b.end);
          expect(a.trace.length).to.equal(b.trace.length);
          for (let i = 0; i < a.trace.length; i++) if (a.trace[i] !== b.trace[i]) expect(a.trace[i], `event ${i}`).to.equal(b.trace[i]);
          expect((a.end as { ok: boolean }).ok).to.equal(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('the fast path is taken: on a lossless bulk flow most of the sender ACKs go through it', () => {
    // A fast path that never ran would pass the test above too.
    const k: Case = { cc: 'cubic', sack: true, timestamps: true, bytes: 300_000, link: { delay: 5, seed: 3 } };
    const before = ackFastPathCount();
    const a = run(k, true);
    const taken = ackFastPathCount() - before;
    const acks = a.trace.filter((l) => l.startsWith('c ') && l.includes('"type":"ack"')).length;
    expect(acks).to.be.greaterThan(10);
    expect(taken, `${taken} of ${acks} ACKs`).to.be.greaterThan(acks / 2);
    const offBefore = ackFastPathCount();
    run(k, false);
    expect(ackFastPathCount(), 'turned off, it is never taken').to.equal(offBefore);
  });
});
