/**
 * Plots from a connection's trace events, as SVG:
 *  - cwnd:  cwnd and ssthresh over time, bytes in flight, with the phases shaded (slow
 *           start, congestion avoidance, fast recovery) and RTOs marked: the lecture picture.
 *  - seq:   a time-sequence graph like tcptrace: segments sent as vertical bars from seq to
 *           seq+len, retransmissions in red, the ACK line, the receive-window limit
 *           (ACK + window) and SACK blocks.
 *  - rtt:   RTT samples, SRTT and RTO over time.
 * Sequence numbers are unwrapped modulo 2^32 relative to the first one seen.
 */
import type { CwndReason, TcpTraceEvent } from '../tcp/types.js';
import { seqDiff } from '../tcp/seq.js';
import { renderChart, type BarSeries, type LineSeries, type Marker, type Point, type Series, type Span } from './svg.js';
import type { TraceRecord } from './trace.js';

export type PlotKind = 'cwnd' | 'seq' | 'rtt';
export const PLOT_KINDS: readonly PlotKind[] = ['cwnd', 'seq', 'rtt'];

export interface ConnectionSummary {
  conn: string;
  events: number;
  bytesSent: number;
  retransmits: number;
}

/** Groups records by connection, in order of first appearance. */
export function groupByConnection(records: Iterable<TraceRecord>): Map<string, TcpTraceEvent[]> {
  const m = new Map<string, TcpTraceEvent[]>();
  for (const r of records) {
    let list = m.get(r.c);
    if (!list) m.set(r.c, (list = []));
    list.push(r);
  }
  return m;
}

export function summarize(groups: Map<string, TcpTraceEvent[]>): ConnectionSummary[] {
  return [...groups].map(([conn, evs]) => {
    let bytesSent = 0;
    let retransmits = 0;
    for (const e of evs) {
      if (e.type === 'send') {
        bytesSent += e.len;
        if (e.retransmit) retransmits++;
      }
    }
    return { conn, events: evs.length, bytesSent, retransmits };
  });
}

/** The connection to plot: `wanted` if given, else the one that sent the most data. */
export function pickConnection(groups: Map<string, TcpTraceEvent[]>, wanted?: string): string {
  if (wanted !== undefined) {
    if (!groups.has(wanted)) {
      const known = [...groups.keys()].join(', ') || 'none';
      throw new Error(`no connection '${wanted}' in the trace (connections: ${known})`);
    }
    return wanted;
  }
  const all = summarize(groups);
  if (all.length === 0) throw new Error('the trace has no events');
  all.sort((a, b) => b.bytesSent - a.bytesSent || b.events - a.events);
  return all[0]!.conn;
}

/** A byte axis unit that keeps tick labels short. */
function byteUnit(max: number): { div: number; name: string } {
  if (max >= 8 * 1024 * 1024) return { div: 1024 * 1024, name: 'MiB' };
  if (max >= 8 * 1024) return { div: 1024, name: 'KiB' };
  return { div: 1, name: 'bytes' };
}

type Phase = 'slow start' | 'congestion avoidance' | 'fast recovery';
const PHASE_COLOR: Record<Phase, string> = {
  'slow start': '#2ca02c',
  'congestion avoidance': '#1f77b4',
  'fast recovery': '#ff7f0e',
};

function phaseOf(reason: CwndReason, cwnd: number, ssthresh: number, current: Phase): Phase {
  switch (reason) {
    case 'fast_retransmit':
    case 'recovery':
      return 'fast recovery';
    case 'slow_start':
      return 'slow start';
    case 'congestion_avoidance':
      return 'congestion avoidance';
    case 'model':
      return current;
    default: // init, rto, recovery_exit, undo, idle_restart
      return cwnd < ssthresh ? 'slow start' : 'congestion avoidance';
  }
}

/** ssthresh starts "infinite" (RFC 5681: arbitrarily high); such values are not drawn. */
const isHuge = (v: number): boolean => !Number.isFinite(v) || v >= 0x40000000;

export interface PlotOptions {
  conn: string;
  title?: string;
  /** Only events from..to seconds after the connection's first event. */
  from?: number;
  to?: number;
  /** Sequence number that plots as 0 (default: the connection's first one, normally the ISS). */
  seqBase?: number;
}

/** The events inside the options' time window (times stay relative to the connection's start). */
function windowed(events: TcpTraceEvent[], opts: PlotOptions): TcpTraceEvent[] {
  if (opts.from === undefined && opts.to === undefined) return events;
  const t0 = events[0]?.t ?? 0;
  const lo = t0 + (opts.from ?? -Infinity) * 1000;
  const hi = t0 + (opts.to ?? Infinity) * 1000;
  // Keep the first event as the time origin so the axis still reads from connection start.
  return events.filter((e, i) => i === 0 || (e.t >= lo && e.t <= hi));
}

export function plotCwnd(events: TcpTraceEvent[], opts: PlotOptions): string {
  const t0 = events[0]?.t ?? 0;
  const sec = (t: number): number => (t - t0) / 1000;
  const cw = events.filter((e): e is Extract<TcpTraceEvent, { type: 'cwnd' }> => e.type === 'cwnd');
  let max = 0;
  for (const e of cw) max = Math.max(max, e.cwnd, e.inFlight, isHuge(e.ssthresh) ? 0 : e.ssthresh);
  const u = byteUnit(max);
  const cwnd: Point[] = [];
  const ssthresh: Point[] = [];
  const inFlight: Point[] = [];
  const spans: Span[] = [];
  const markers: Marker[] = [];
  let phase: Phase = 'slow start';
  let phaseStart = cw.length ? sec(cw[0]!.t) : 0;
  for (const e of cw) {
    const x = sec(e.t);
    // Step lines: hold the previous value until this change.
    if (cwnd.length) cwnd.push({ x, y: cwnd[cwnd.length - 1]!.y });
    cwnd.push({ x, y: e.cwnd / u.div });
    if (!isHuge(e.ssthresh)) {
      if (ssthresh.length) ssthresh.push({ x, y: ssthresh[ssthresh.length - 1]!.y });
      ssthresh.push({ x, y: e.ssthresh / u.div });
    }
    inFlight.push({ x, y: e.inFlight / u.div });
    if (e.reason === 'rto') markers.push({ x, label: 'RTO', color: '#d62728' });
    const next = phaseOf(e.reason, e.cwnd, e.ssthresh, phase);
    if (next !== phase) {
      spans.push({ x1: phaseStart, x2: x, label: phase, color: PHASE_COLOR[phase] });
      phase = next;
      phaseStart = x;
    }
  }
  const end = events.length ? sec(events[events.length - 1]!.t) : 0;
  if (cw.length) {
    spans.push({ x1: phaseStart, x2: end, label: phase, color: PHASE_COLOR[phase] });
    // Extend the step lines to the end of the trace.
    cwnd.push({ x: end, y: cwnd[cwnd.length - 1]!.y });
    if (ssthresh.length) ssthresh.push({ x: end, y: ssthresh[ssthresh.length - 1]!.y });
  }
  const series: LineSeries[] = [
    { kind: 'line', label: 'bytes in flight', color: '#9a9a9a', points: inFlight, width: 1 },
    { kind: 'line', label: 'cwnd', color: '#1f3fb4', points: cwnd, width: 2 },
    { kind: 'line', label: 'ssthresh', color: '#d62728', points: ssthresh, width: 1.5, dash: '6 4' },
  ];
  return renderChart({
    title: opts.title ?? `Congestion window: ${opts.conn}`,
    xLabel: 'time (s)',
    yLabel: `window (${u.name})`,
    series,
    spans,
    markers,
  });
}

/** Unwraps 32-bit sequence numbers into a running offset from `base`. */
class Unwrapper {
  private lastRaw: number;
  private lastRel = 0;
  constructor(base: number) {
    this.lastRaw = base;
  }
  rel(seq: number): number {
    this.lastRel += seqDiff(seq, this.lastRaw);
    this.lastRaw = seq;
    return this.lastRel;
  }
}

/** At most this many "sent" bars; retransmissions are always drawn. */
const MAX_BARS = 40000;

export function plotSeq(events: TcpTraceEvent[], opts: PlotOptions): string {
  const t0 = events[0]?.t ?? 0;
  const sec = (t: number): number => (t - t0) / 1000;
  const sends = events.filter((e): e is Extract<TcpTraceEvent, { type: 'send' }> => e.type === 'send');
  const dataSends = sends.filter((e) => e.len > 0);
  // Plot the receiving side when this end sent no data (its sends are pure ACKs).
  const receiverView = dataSends.length === 0;
  const first = receiverView ? events.find((e) => e.type === 'recv') : sends[0];
  const base = opts.seqBase ?? (first && (first.type === 'send' || first.type === 'recv') ? first.seq : 0);
  const seqU = new Unwrapper(base);
  const sent: BarSeries['bars'] = [];
  const retx: Point[] = [];
  const acks: Point[] = [];
  const wnd: Point[] = [];
  const sacks: BarSeries['bars'] = [];
  const recvd: BarSeries['bars'] = [];
  let ackU: Unwrapper | undefined;
  const every = Math.max(1, Math.ceil(dataSends.length / MAX_BARS));
  let n = 0;
  let max = 0;
  for (const e of events) {
    const x = sec(e.t);
    if (!receiverView && e.type === 'send' && e.len > 0) {
      const y1 = seqU.rel(e.seq);
      const y2 = y1 + e.len;
      max = Math.max(max, y2);
      if (e.retransmit) retx.push({ x, y: y1 });
      else if (n++ % every === 0) sent.push({ x, y1, y2 });
    } else if (!receiverView && e.type === 'ack') {
      ackU ??= new Unwrapper(base);
      const a = ackU.rel(e.ack);
      if (acks.length) acks.push({ x, y: acks[acks.length - 1]!.y });
      acks.push({ x, y: a });
      if (wnd.length) wnd.push({ x, y: wnd[wnd.length - 1]!.y });
      wnd.push({ x, y: a + e.window });
      for (const b of e.sack ?? []) sacks.push({ x, y1: a + seqDiff(b.left, e.ack), y2: a + seqDiff(b.right, e.ack) });
    } else if (receiverView && e.type === 'recv' && e.len > 0) {
      const y1 = seqU.rel(e.seq);
      max = Math.max(max, y1 + e.len);
      recvd.push({ x, y1, y2: y1 + e.len });
    }
  }
  for (const p of acks) max = Math.max(max, p.y);
  const u = byteUnit(max);
  const scaleBars = (bars: BarSeries['bars']): BarSeries['bars'] => bars.map((b) => ({ x: b.x, y1: b.y1 / u.div, y2: b.y2 / u.div }));
  const scalePts = (pts: Point[]): Point[] => pts.map((p) => ({ x: p.x, y: p.y / u.div }));
  const series: Series[] = receiverView
    ? [{ kind: 'bars', label: 'segments received', color: '#1f3fb4', bars: scaleBars(recvd) }]
    : [
        { kind: 'line', label: 'receive window limit (ACK + window)', color: '#bcbd22', points: scalePts(wnd), width: 1 },
        { kind: 'line', label: 'ACK', color: '#2ca02c', points: scalePts(acks), width: 1.5 },
        { kind: 'bars', label: `segments sent${every > 1 ? ` (1 in ${every})` : ''}`, color: '#1f3fb4', bars: scaleBars(sent) },
        { kind: 'bars', label: 'SACK blocks', color: '#9467bd', bars: scaleBars(sacks), width: 3 },
        // Dots: a retransmitted segment is a sliver at large scales, but must stay visible.
        { kind: 'dots', label: 'retransmissions', color: '#d62728', points: scalePts(retx), radius: 2.5 },
      ];
  return renderChart({
    title: opts.title ?? `Time-sequence graph: ${opts.conn}`,
    xLabel: 'time (s)',
    yLabel: `relative sequence number (${u.name})`,
    series,
    yFromZero: false,
  });
}

export function plotRtt(events: TcpTraceEvent[], opts: PlotOptions): string {
  const t0 = events[0]?.t ?? 0;
  const sec = (t: number): number => (t - t0) / 1000;
  const samples: Point[] = [];
  const srtt: Point[] = [];
  const rto: Point[] = [];
  for (const e of events) {
    if (e.type !== 'rtt') continue;
    const x = sec(e.t);
    samples.push({ x, y: e.sample });
    srtt.push({ x, y: e.srtt });
    rto.push({ x, y: e.rto });
  }
  return renderChart({
    title: opts.title ?? `Round-trip time: ${opts.conn}`,
    xLabel: 'time (s)',
    yLabel: 'time (ms)',
    series: [
      { kind: 'dots', label: 'RTT sample', color: '#7f7f7f', points: samples },
      { kind: 'line', label: 'SRTT', color: '#1f3fb4', points: srtt, width: 2 },
      { kind: 'line', label: 'RTO', color: '#d62728', points: rto, width: 1.5, dash: '6 4' },
    ],
  });
}

export function plot(kind: PlotKind, all: TcpTraceEvent[], opts: PlotOptions): string {
  const events = windowed(all, opts);
  if (kind === 'seq' && opts.seqBase === undefined && events !== all) {
    // Zoomed: keep numbering from the ISS of the whole connection, not the window's start.
    const sentData = all.some((e) => e.type === 'send' && e.len > 0);
    const first = all.find((e) => e.type === (sentData ? 'send' : 'recv'));
    if (first && (first.type === 'send' || first.type === 'recv')) return plotSeq(events, { ...opts, seqBase: first.seq });
  }
  if (kind === 'cwnd') return plotCwnd(events, opts);
  if (kind === 'seq') return plotSeq(events, opts);
  return plotRtt(events, opts);
}
