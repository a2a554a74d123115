/**
 * Issue 14 (ping-pong tail latency is garbage): the sender reuses retransmission-queue entries
 * that an ACK removed (Sender.releaseAcked, newTxSegment's `reuse`). An entry reused while
 * something still refers to it (a SACKed segment still queued, a lost list, a probe) would
 * change what is retransmitted and when. So a flow run with reuse and the same flow run without
 * it (setTxReuse(false)) must send the same segments at the same virtual times and end in the
 * same state, over random lossy, reordering paths, congestion controllers, SACK on or off.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { runTransfer, type LinkOptions } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import { setTxReuse, txReuseCount } from '../../src/tcp/sender.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

interface Case {
  cc: 'newreno' | 'cubic' | 'bbr' | 'reno';
  sack: boolean;
  timestamps: boolean;
  bytes: number;
  link: LinkOptions;
}

function run(k: Case, reuse: boolean): { trace: string[]; end: unknown } {
  setTxReuse(reuse);
  try {
    const trace: string[] = [];
    const cfg = defaultTcpConfig({ cc: k.cc, sack: k.sack, timestamps: k.timestamps, msl: 50, rcvBuf: 256 * 1024, sndBuf: 256 * 1024 });
    const r = runTransfer({
      clientConfig: cfg,
      serverConfig: cfg,
      ab: k.link,
      ba: { ...k.link, rate: undefined, queueBytes: undefined, seed: (k.link.seed ?? 1) + 7 },
      upload: Buffer.alloc(k.bytes, 0x42),
      download: Buffer.alloc(k.bytes >> 2, 0x43),
      maxTime: 120_000,
      onTrace: (ev: TcpTraceEvent) => trace.push('c ' + JSON.stringify(ev)),
      onServerTrace: (ev: TcpTraceEvent) => trace.push('s ' + JSON.stringify(ev)),
    });
    const info = r.client.getInfo(r.time);
    return { trace, end: { ok: r.ok, time: r.time, retransmits: info.retransmits, cwnd: info.cwnd, srtt: info.srtt, segmentsOut: info.segmentsOut } };
  } finally {
    setTxReuse(true);
  }
}

describe('tcp: reusing acknowledged retransmission-queue entries changes nothing', () => {
  it('same segments, times and final state with and without reuse, over random lossy/reordering paths', function () {
    this.timeout(120_000);
    fc.assert(
      fc.property(
        fc.record({
          cc: fc.constantFrom('newreno', 'cubic', 'bbr', 'reno'),
          sack: fc.boolean(),
          timestamps: fc.boolean(),
          bytes: fc.integer({ min: 1, max: 300_000 }),
          link: fc.record({
            delay: fc.integer({ min: 1, max: 30 }),
            jitter: fc.constantFrom(0, 0, 2, 15),
            loss: fc.constantFrom(0, 0.005, 0.02, 0.05),
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

  it('entries are reused: a bulk flow reuses most of its queue entries, and none with reuse off', () => {
    // Reuse that never happened would pass the test above too.
    const k: Case = { cc: 'cubic', sack: true, timestamps: true, bytes: 300_000, link: { delay: 5, loss: 0.01, seed: 3 } };
    const before = txReuseCount();
    const a = run(k, true);
    // The client's data segments (the upload, 300 KB in about 210 segments; some leave before any ACK freed an entry).
    const sent = a.trace.filter((l) => l.startsWith('c ') && l.includes('"type":"send"') && !l.includes('"len":0,')).length;
    const reused = txReuseCount() - before;
    expect(reused, `${reused} of ${sent} segments`).to.be.greaterThan(sent / 2);
    const offBefore = txReuseCount();
    run(k, false);
    expect(txReuseCount(), 'turned off, none is reused').to.equal(offBefore);
  });
});
