/**
 * `npm run figures`: regenerates the lecture's figures (docs/images/*.svg) from seeded,
 * deterministic runs of the real TCP core on the simulator (src/sim): same code, virtual
 * time, so every run draws the same pictures in about a second.
 *
 *   npm run figures                 # writes docs/images/fig-*.svg
 *   node dist/tools/figures/main.js --out DIR [--png]   # --png: also PNGs via rsvg-convert, to look at
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { CcName, TcpConfig, TcpTraceEvent } from '../../src/tcp/types.js';
import { BulkApp, SimClock, SimNet, runTransfer } from '../../src/sim/index.js';
import type { LinkOptions } from '../../src/sim/index.js';
import type { Connection } from '../../src/tcp/connection.js';
import { plot } from '../../src/trace/plot.js';
import { plotMulti, plotWindow } from '../../src/trace/plot-views.js';
import { renderLadder } from './ladder.js';
import { synFloodFigure } from './synflood.js';

const SIZE = { width: 1200, height: 675 }; // 16:9, readable on a slide

const cfg = (o: Partial<TcpConfig>): TcpConfig => defaultTcpConfig({ msl: 500, delayedAckMs: 0, ...o });

/** One transfer; returns the client's and the server's trace events. */
function transfer(o: { config: TcpConfig; server?: TcpConfig; ab: LinkOptions; ba?: LinkOptions; bytes: number; maxTime?: number }): { client: TcpTraceEvent[]; server: TcpTraceEvent[] } {
  const client: TcpTraceEvent[] = [];
  const server: TcpTraceEvent[] = [];
  const r = runTransfer({
    clientConfig: o.config,
    ...(o.server ? { serverConfig: o.server } : {}),
    ab: o.ab,
    ...(o.ba ? { ba: o.ba } : {}),
    upload: Buffer.alloc(o.bytes, 0x61),
    maxTime: o.maxTime ?? 120_000,
    clientIss: 1000,
    serverIss: 5000,
    onTrace: (e) => client.push(e),
    onServerTrace: (e) => server.push(e),
  });
  if (!r.serverReceived.equals(Buffer.alloc(o.bytes, 0x61))) throw new Error('figure run: the transfer did not complete');
  return { client, server };
}

/** Data segments (by index on the link) to drop, for a reproducible loss pattern. */
const dropData = (which: number[]): LinkOptions['drop'] => {
  let n = 0;
  const set = new Set(which);
  return (seg) => seg.payload.length > 0 && set.has(++n) && (set.delete(n), true);
};

const figures: Record<string, { concept: string; make: () => string }> = {
  'fig-handshake-teardown': {
    concept: 'three-way handshake, data, and the FIN exchange (with TIME-WAIT)',
    make: () => {
      // Every segment on the wire (the links' drop hooks see each one, and drop none), so
      // the SYNs are there too; the states come from the connections' own trace events.
      const clock = new SimClock();
      const wire: { a: TcpTraceEvent[]; b: TcpTraceEvent[] } = { a: [], b: [] };
      const tap = (side: 'a' | 'b'): LinkOptions['drop'] => (seg) => {
        wire[side].push({ type: 'send', t: clock.now, seq: seg.seq, len: seg.payload.length, flags: seg.flags, ack: seg.ack } as TcpTraceEvent);
        return false;
      };
      const states: { a: TcpTraceEvent[]; b: TcpTraceEvent[] } = { a: [], b: [] };
      runTransfer({
        clock,
        clientConfig: cfg({ initialWindowSegments: 2 }),
        ab: { delay: 20, drop: tap('a') },
        ba: { delay: 20, drop: tap('b') },
        upload: Buffer.alloc(3000, 0x61),
        download: Buffer.alloc(500, 0x62),
        clientIss: 1000,
        serverIss: 5000,
        onTrace: (e) => e.type === 'state' && states.a.push(e),
        onServerTrace: (e) => e.type === 'state' && states.b.push(e),
      });
      return renderLadder(
        'TCP handshake, data and teardown',
        { name: 'client 10.77.0.1', events: [...wire.a, ...states.a] },
        { name: 'server 10.77.0.2:80', events: [...wire.b, ...states.b] },
        20,
      );
    },
  },
  'fig-stop-and-wait-vs-sliding-window': {
    concept: 'stop-and-wait (one segment in flight) against a sliding window',
    make: () => {
      const mss = 1460;
      const link = { delay: 25, rate: 250_000, queueBytes: 100_000 };
      const saw = transfer({ config: cfg({ cc: 'reno' }), server: cfg({ rcvBuf: mss }), ab: link, bytes: 60_000 });
      const win = transfer({ config: cfg({ cc: 'reno' }), server: cfg({ rcvBuf: 64 * 1024 }), ab: link, bytes: 60_000 });
      return plotMulti('seq', [
        { label: 'stop-and-wait: receive window 1 segment', events: saw.client },
        { label: 'sliding window: receive window 64 KiB', events: win.client },
      ], { title: 'Stop-and-wait against a sliding window (RTT 50 ms, 2 Mbit/s, the same 60 kB)', ...SIZE });
    },
  },
  'fig-zero-window': {
    concept: 'the receive window closing to zero, persist probes, and reopening',
    make: () => zeroWindow(),
  },
  'fig-slow-start-congestion-avoidance': {
    concept: 'slow start, then congestion avoidance after a loss (Reno)',
    make: () => {
      const t = transfer({ config: cfg({ cc: 'reno', initialWindowSegments: 1 }), ab: { delay: 20, rate: 1.25e6, queueBytes: 60_000 }, bytes: 6_000_000, maxTime: 60_000 });
      return plot('cwnd', t.client, { conn: 'reno', title: 'Slow start, then congestion avoidance (Reno, 10 Mbit/s, RTT 40 ms)', to: 12 });
    },
  },
  'fig-tahoe-vs-reno': {
    concept: 'Tahoe against Reno on the same loss pattern',
    make: () => {
      const run = (cc: CcName): TcpTraceEvent[] =>
        transfer({ config: cfg({ cc, initialWindowSegments: 1 }), ab: { delay: 20, drop: dropData([120, 400, 700]) }, bytes: 3_000_000 }).client;
      return plotMulti('cwnd', [
        { label: 'Tahoe: back to 1 MSS on every loss', events: run('tahoe') },
        { label: 'Reno: halve and fast-recover', events: run('reno') },
      ], { title: 'Tahoe against Reno: the same three losses (data segments 120, 400, 700)', ...SIZE });
    },
  },
  'fig-fast-retransmit-zoom': {
    concept: 'fast retransmit and fast recovery on the time-sequence graph',
    make: () => {
      const ev = transfer({ config: cfg({ cc: 'reno', initialWindowSegments: 1 }), ab: { delay: 20, rate: 1.25e6, queueBytes: 400_000, drop: dropData([120]) }, bytes: 1_000_000 }).client;
      const retx = ev.find((e) => e.type === 'send' && e.retransmit);
      const t0 = ev[0]!.t;
      const at = retx ? (retx.t - t0) / 1000 : 1;
      return plot('seq', ev, { conn: 'reno', title: 'Fast retransmit and recovery: duplicate ACKs, SACK blocks, one retransmission', from: Math.max(0, at - 0.06), to: at + 0.1 });
    },
  },
  'fig-aimd-two-flows': {
    concept: 'two flows converging to a fair share under AIMD',
    make: () => twoFlows(),
  },
  'fig-syn-flood-cookies': {
    concept: 'a SYN flood against a small SYN queue, without and with SYN cookies',
    make: () => synFloodFigure(cfg({ initialRto: 1000 }), SIZE),
  },
};

function zeroWindow(): string {
  // The receiver does not read for 3.5 s: its buffer fills, the window closes, the sender
  // probes; then the application reads everything and the window reopens.
  const clock = new SimClock();
  const net = new SimNet(clock);
  const a = net.host(0x0a4d0001);
  const b = net.host(0x0a4d0002);
  net.link(a, b, { delay: 10 }, { delay: 10 });
  const events: TcpTraceEvent[] = [];
  const server = cfg({ rcvBuf: 32 * 1024, allowHalfOpen: true });
  b.listen(80, server);
  let sconn: Connection | undefined;
  const readAll = (): void => {
    if (!sconn) return;
    while (sconn.read()) {
      /* discard */
    }
    b.service(sconn);
  };
  b.onAccept = (c) => {
    sconn = c;
    c.hooks = { onReadable: () => (clock.now > 3500 ? readAll() : undefined) };
  };
  clock.after(3500, readAll);
  const c = a.connect(b.addr, 80, cfg({ cc: 'reno', allowHalfOpen: true }), { iss: 1000 });
  const app = new BulkApp(a, c, Buffer.alloc(120_000, 1), { onTrace: (e) => events.push(e) });
  clock.runUntil(() => app.conn.state === 'FIN-WAIT-2' || app.conn.state === 'TIME-WAIT' || app.conn.state === 'CLOSED', { maxTime: 10_000 });
  return plotWindow(events, 'zero window', {
    title: 'Receive window closing to zero, persist probes, reopening (reader paused 3.5 s)',
    ...SIZE,
  });
}

function twoFlows(): string {
  const clock = new SimClock();
  const net = new SimNet(clock);
  const a = net.host(0x0a4d0001);
  const b = net.host(0x0a4d0002);
  net.link(a, b, { delay: 20, rate: 1.25e6, queueBytes: 50_000 }, { delay: 20 });
  b.listen(80, cfg({ cc: 'reno', allowHalfOpen: true }));
  b.onAccept = (c) => new BulkApp(b, c, Buffer.alloc(0));
  const e1: TcpTraceEvent[] = [];
  const e2: TcpTraceEvent[] = [];
  const f1 = new BulkApp(a, a.connect(b.addr, 80, cfg({ cc: 'reno', allowHalfOpen: true }), { iss: 1000 }), Buffer.alloc(30_000_000, 1), { onTrace: (e) => e1.push(e) });
  clock.after(8000, () => {
    new BulkApp(a, a.connect(b.addr, 80, cfg({ cc: 'reno', allowHalfOpen: true }), { iss: 9000 }), Buffer.alloc(30_000_000, 2), { onTrace: (e) => e2.push(e) });
  });
  clock.runUntil(() => false, { maxTime: 40_000 });
  void f1;
  return plotMulti('cwnd', [
    { label: 'flow 1 (starts at 0 s)', events: e1 },
    { label: 'flow 2 (starts at 8 s)', events: e2 },
  ], { title: 'Two Reno flows on one 10 Mbit/s bottleneck converge (AIMD)', ...SIZE });
}

function main(argv: string[]): number {
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1]! : 'docs/images';
  const png = argv.includes('--png');
  mkdirSync(out, { recursive: true });
  for (const [name, f] of Object.entries(figures)) {
    const svg = f.make();
    const file = join(out, `${name}.svg`);
    writeFileSync(file, svg);
    let note = '';
    if (png) {
      const r = spawnSync('rsvg-convert', ['-o', join(out, `${name}.png`), file]);
      note = r.status === 0 ? ` (+ ${name}.png)` : ' (rsvg-convert failed or missing: no PNG)';
    }
    process.stdout.write(`${file}: ${f.concept}${note}\n`);
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
