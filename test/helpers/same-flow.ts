/**
 * A differential check for optimisations that must be invisible: run one simulated flow twice,
 * with a switch on and off, and require the same trace events (segments, times, state changes)
 * on both ends and the same final figures, over random lossy, reordering, duplicating,
 * bottlenecked paths, congestion controllers, SACK and timestamps on or off.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { runTransfer, type LinkOptions } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

export interface FlowCase {
  cc: 'newreno' | 'cubic' | 'bbr' | 'reno';
  sack: boolean;
  timestamps: boolean;
  bytes: number;
  link: LinkOptions;
}

export interface FlowRun {
  /** Every trace event of both ends, as JSON, client lines prefixed `c `, server lines `s `. */
  trace: string[];
  end: { ok: boolean; time: number; retransmits: unknown; cwnd: number; srtt: number; segmentsOut: number };
}

/**
 * Runs the flow with `set(on)` applied, then `set(true)` again. `download` adds a reply of a
 * quarter of the upload from the server.
 */
export function runFlow(k: FlowCase, set: (on: boolean) => void, on: boolean, download = false): FlowRun {
  set(on);
  try {
    const trace: string[] = [];
    // debugRethrow: an exception in the core fails the property with its stack, not as a flow that stalls.
    const cfg = defaultTcpConfig({ cc: k.cc, sack: k.sack, timestamps: k.timestamps, msl: 50, rcvBuf: 256 * 1024, sndBuf: 256 * 1024, debugRethrow: true });
    const r = runTransfer({
      clientConfig: cfg,
      ...(download ? { serverConfig: cfg, download: Buffer.alloc(k.bytes >> 2, 0x43) } : {}),
      ab: k.link,
      ba: { ...k.link, rate: undefined, queueBytes: undefined, seed: (k.link.seed ?? 1) + 7 },
      upload: Buffer.alloc(k.bytes, 0x42),
      maxTime: 120_000,
      onTrace: (ev: TcpTraceEvent) => trace.push('c ' + JSON.stringify(ev)),
      onServerTrace: (ev: TcpTraceEvent) => trace.push('s ' + JSON.stringify(ev)),
    });
    const info = r.client.getInfo(r.time);
    return { trace, end: { ok: r.ok, time: r.time, retransmits: info.retransmits, cwnd: info.cwnd, srtt: info.srtt, segmentsOut: info.segmentsOut } };
  } finally {
    set(true);
  }
}

/** Random flows of up to `maxBytes`, each run with the switch on and off: the runs must be identical. */
export function assertSameFlows(set: (on: boolean) => void, opts: { maxBytes: number; losses: number[]; download?: boolean; numRuns?: number }): void {
  fc.assert(
    fc.property(
      fc.record({
        cc: fc.constantFrom('newreno', 'cubic', 'bbr', 'reno'),
        sack: fc.boolean(),
        timestamps: fc.boolean(),
        bytes: fc.integer({ min: 1, max: opts.maxBytes }),
        link: fc.record({
          delay: fc.integer({ min: 1, max: 30 }),
          jitter: fc.constantFrom(0, 0, 2, 15),
          loss: fc.constantFrom(...opts.losses),
          duplicate: fc.constantFrom(0, 0, 0.01),
          reorder: fc.constantFrom(0, 0, 0.02),
          rate: fc.constantFrom(undefined, 2e6, 10e6),
          queueBytes: fc.constantFrom(undefined, 30_000, 100_000),
          seed: fc.integer({ min: 1, max: 1_000_000 }),
        }),
      }) as fc.Arbitrary<FlowCase>,
      (k) => {
        const a = runFlow(k, set, true, opts.download);
        const b = runFlow(k, set, false, opts.download);
        expect(a.end).to.deep.equal(b.end);
        expect(a.trace.length).to.equal(b.trace.length);
        for (let i = 0; i < a.trace.length; i++) if (a.trace[i] !== b.trace[i]) expect(a.trace[i], `event ${i}`).to.equal(b.trace[i]);
        expect(a.end.ok).to.equal(true);
      },
    ),
    { numRuns: opts.numRuns ?? 40 },
  );
}
