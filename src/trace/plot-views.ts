/**
 * More plots from trace events (beside plot.ts's cwnd / seq / rtt), as SVG:
 *  - throughput: goodput (bytes newly ACKed) and throughput (bytes sent, retransmissions
 *                included) per time bin: Wireshark's throughput graph.
 *  - window:     outstanding bytes (highest sequence sent minus the ACK), the peer's
 *                advertised window and cwnd: tcptrace -N / Wireshark's window-scaling graph.
 *  - multi:      one line per connection on one figure (cwnd, throughput or sequence
 *                progress), e.g. the flows of a congestion race.
 *  - queue:      a chaos proxy's bottleneck queue from its decision log: each packet's
 *                queueing delay (how full the queue was when it arrived) and the tail drops.
 */
import type { TcpTraceEvent } from '../tcp/types.js';
import { seqDiff } from '../tcp/seq.js';
import { renderChart, type LineSeries, type Point, type Series } from './svg.js';

export interface ViewOptions {
  title?: string;
  /** Time bin for rates, seconds (default: a 100th of the trace, at least 10 ms). */
  binS?: number;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f3fb4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function byteUnit(max: number): { div: number; name: string } {
  if (max >= 8 * 1024 * 1024) return { div: 1024 * 1024, name: 'MiB' };
  if (max >= 8 * 1024) return { div: 1024, name: 'KiB' };
  return { div: 1, name: 'bytes' };
}

const sizeOf = (o: ViewOptions): { width?: number; height?: number } => ({
  ...(o.width ? { width: o.width } : {}),
  ...(o.height ? { height: o.height } : {}),
});

/** Per-bin sums of `value(e)` over the events, as Mbit/s points at the bins' centres. */
function rate(events: TcpTraceEvent[], t0: number, binS: number, value: (e: TcpTraceEvent) => number): Point[] {
  const bins: number[] = [];
  for (const e of events) {
    const v = value(e);
    if (v <= 0) continue;
    // The epsilon keeps an event exactly on a bin edge in the later bin despite float error.
    const i = Math.floor((e.t - t0) / (binS * 1000) + 1e-9);
    bins[i] = (bins[i] ?? 0) + v;
  }
  const pts: Point[] = [];
  for (let i = 0; i < bins.length; i++) pts.push({ x: (i + 0.5) * binS, y: ((bins[i] ?? 0) * 8) / binS / 1e6 });
  return pts;
}

function defaultBin(events: TcpTraceEvent[], o: ViewOptions): number {
  if (o.binS) return o.binS;
  const span = events.length ? (events[events.length - 1]!.t - events[0]!.t) / 1000 : 1;
  return Math.max(0.01, span / 100);
}

/** Bytes newly acknowledged by each ACK event (cumulative ACK advances, unwrapped). */
function ackedBytes(events: TcpTraceEvent[]): Map<TcpTraceEvent, number> {
  const m = new Map<TcpTraceEvent, number>();
  let last: number | undefined;
  for (const e of events) {
    if (e.type !== 'ack') continue;
    if (last !== undefined) {
      const d = seqDiff(e.ack, last);
      if (d > 0) m.set(e, d);
    }
    if (last === undefined || seqDiff(e.ack, last) > 0) last = e.ack;
  }
  return m;
}

/** Throughput (bytes sent, retransmissions included) and goodput (newly ACKed) in Mbit/s per bin. */
export function throughputSeries(events: TcpTraceEvent[], binS: number): { throughput: Point[]; goodput: Point[]; received: Point[] } {
  const t0 = events[0]?.t ?? 0;
  const acked = ackedBytes(events);
  return {
    throughput: rate(events, t0, binS, (e) => (e.type === 'send' ? e.len : 0)),
    goodput: rate(events, t0, binS, (e) => acked.get(e) ?? 0),
    received: rate(events, t0, binS, (e) => (e.type === 'recv' ? e.len : 0)),
  };
}

export function plotThroughput(events: TcpTraceEvent[], conn: string, o: ViewOptions = {}): string {
  const bin = defaultBin(events, o);
  const r = throughputSeries(events, bin);
  const sentData = events.some((e) => e.type === 'send' && e.len > 0);
  const series: LineSeries[] = sentData
    ? [
        { kind: 'line', label: 'throughput (sent, with retransmissions)', color: '#9a9a9a', points: r.throughput, width: 1.5 },
        { kind: 'line', label: 'goodput (newly ACKed)', color: '#1f3fb4', points: r.goodput, width: 2 },
      ]
    : [{ kind: 'line', label: 'received', color: '#1f3fb4', points: r.received, width: 2 }];
  return renderChart({
    title: o.title ?? `Throughput and goodput: ${conn}`,
    xLabel: `time (s), ${Math.round(bin * 1000)} ms bins`,
    yLabel: 'rate (Mbit/s)',
    series,
    ...sizeOf(o),
  });
}

/** Step series in bytes: outstanding (highest sent - ACK), the advertised window, cwnd; and the window probes. */
export function windowSeries(events: TcpTraceEvent[]): { outstanding: Point[]; adv: Point[]; cwnd: Point[]; probes: Point[]; max: number } {
  const t0 = events[0]?.t ?? 0;
  const sec = (t: number): number => (t - t0) / 1000;
  const outstanding: Point[] = [];
  const adv: Point[] = [];
  const cwnd: Point[] = [];
  const probes: Point[] = [];
  let base: number | undefined;
  let highest = 0; // highest sequence sent, relative to base
  let acked = 0;
  let max = 0;
  const step = (pts: Point[], x: number, y: number): void => {
    if (pts.length) pts.push({ x, y: pts[pts.length - 1]!.y });
    pts.push({ x, y });
    max = Math.max(max, y);
  };
  for (const e of events) {
    const x = sec(e.t);
    if (e.type === 'send') {
      base ??= e.seq;
      const end = seqDiff(e.seq, base) + e.len;
      if (end > highest) highest = end;
      if (e.len > 0) step(outstanding, x, Math.max(0, highest - acked));
      if (e.retransmit === 'probe') probes.push({ x, y: 0 });
    } else if (e.type === 'ack' && base !== undefined) {
      const a = seqDiff(e.ack, base);
      if (a > acked) acked = a;
      step(outstanding, x, Math.max(0, highest - acked));
      step(adv, x, e.window);
    } else if (e.type === 'cwnd') {
      step(cwnd, x, e.cwnd);
    }
  }
  return { outstanding, adv, cwnd, probes, max };
}

export function plotWindow(events: TcpTraceEvent[], conn: string, o: ViewOptions = {}): string {
  const { outstanding, adv, cwnd, probes, max } = windowSeries(events);
  const u = byteUnit(max);
  const sc = (pts: Point[]): Point[] => pts.map((p) => ({ x: p.x, y: p.y / u.div }));
  return renderChart({
    title: o.title ?? `Window and outstanding bytes: ${conn}`,
    xLabel: 'time (s)',
    yLabel: `bytes (${u.name})`,
    series: [
      { kind: 'line', label: 'window advertised by the peer (rwnd)', color: '#bcbd22', points: sc(adv), width: 2 },
      { kind: 'line', label: 'cwnd', color: '#1f3fb4', points: sc(cwnd), width: 1.5, dash: '6 4' },
      { kind: 'line', label: 'outstanding (sent, not ACKed)', color: '#d62728', points: sc(outstanding), width: 1.5 },
      ...(probes.length ? [{ kind: 'dots' as const, label: `window probes (${probes.length})`, color: '#9467bd', points: probes, radius: 6 }] : []),
    ],
    ...sizeOf(o),
  });
}

export type MultiKind = 'cwnd' | 'throughput' | 'seq';

/** Several connections on one figure; times are relative to the earliest event of all. */
export function plotMulti(kind: MultiKind, flows: Array<{ label: string; events: TcpTraceEvent[] }>, o: ViewOptions = {}): string {
  const t0 = Math.min(...flows.map((f) => f.events[0]?.t ?? Infinity));
  const sec = (t: number): number => (t - t0) / 1000;
  const all = flows.flatMap((f) => f.events);
  const bin = kind === 'throughput' ? defaultBin([...all].sort((a, b) => a.t - b.t), o) : 0;
  let max = 0;
  const raw = flows.map((f) => {
    const pts: Point[] = [];
    if (kind === 'cwnd') {
      for (const e of f.events) {
        if (e.type !== 'cwnd') continue;
        if (pts.length) pts.push({ x: sec(e.t), y: pts[pts.length - 1]!.y });
        pts.push({ x: sec(e.t), y: e.cwnd });
      }
    } else if (kind === 'seq') {
      let base: number | undefined;
      for (const e of f.events) {
        if (e.type !== 'ack') continue;
        base ??= e.ack;
        // A step: the ACKed total holds until the next ACK.
        if (pts.length) pts.push({ x: sec(e.t), y: pts[pts.length - 1]!.y });
        pts.push({ x: sec(e.t), y: seqDiff(e.ack, base) });
      }
    } else {
      const acked = ackedBytes(f.events);
      pts.push(...rate(f.events, t0, bin, (e) => acked.get(e) ?? 0));
    }
    for (const p of pts) max = Math.max(max, p.y);
    return pts;
  });
  const u = kind === 'throughput' ? { div: 1, name: 'Mbit/s' } : byteUnit(max);
  const series: Series[] = raw.map((pts, i) => ({
    kind: 'line',
    label: flows[i]!.label,
    color: PALETTE[i % PALETTE.length]!,
    points: pts.map((p) => ({ x: p.x, y: p.y / u.div })),
    width: 2,
  }));
  const what = kind === 'cwnd' ? `cwnd (${u.name})` : kind === 'seq' ? `bytes ACKed (${u.name})` : 'goodput (Mbit/s)';
  return renderChart({
    title: o.title ?? (kind === 'cwnd' ? 'Congestion windows' : kind === 'seq' ? 'Sequence progress (ACKed bytes)' : 'Goodput per connection'),
    xLabel: kind === 'throughput' ? `time (s), ${Math.round(bin * 1000)} ms bins` : 'time (s)',
    yLabel: what,
    series,
    ...sizeOf(o),
  });
}

/** One bottleneck decision of a chaos proxy's decision log. */
export interface QueueSample {
  /** Proxy-clock ms. */
  t: number;
  lane: string;
  /** Queueing delay the packet saw, ms (absent for a drop). */
  delayMs?: number;
  dropped: boolean;
}

export function plotQueue(samples: QueueSample[], o: ViewOptions = {}): string {
  const lanes = [...new Set(samples.map((s) => s.lane))];
  const series: Series[] = [];
  lanes.forEach((lane, i) => {
    const mine = samples.filter((s) => s.lane === lane);
    series.push({ kind: 'line', label: `${lane}: queueing delay`, color: PALETTE[(2 * i) % PALETTE.length]!, points: mine.filter((s) => !s.dropped).map((s) => ({ x: s.t / 1000, y: s.delayMs ?? 0 })), width: 1 });
    const drops = mine.filter((s) => s.dropped);
    if (drops.length) {
      // A tail drop happens when the queue is full: drawn at the largest delay seen on the lane.
      const top = Math.max(0, ...mine.map((s) => s.delayMs ?? 0));
      series.push({ kind: 'dots', label: `${lane}: tail drops (${drops.length})`, color: '#d62728', points: drops.map((s) => ({ x: s.t / 1000, y: top })), radius: 3 });
    }
  });
  return renderChart({
    title: o.title ?? 'Bottleneck queue occupancy (as queueing delay)',
    xLabel: 'proxy time (s)',
    yLabel: 'queueing delay (ms)',
    series,
    ...sizeOf(o),
  });
}
