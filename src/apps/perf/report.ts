/**
 * iperf3's output shapes for `overlay perf`: the JSON `end` section built from both
 * sides' results, and the text lines (intervals and summary) in iperf3's layout with an
 * RTT column added.
 */
import { clientSends, type SideResults, type StreamResult, type TestParams } from './protocol.js';
import type { Interval, IntervalStream, IntervalSum, SpanRecord } from './session.js';

export interface EndStreamRecord extends SpanRecord {
  socket: number;
  /** Sending side only. */
  max_snd_cwnd?: number;
  max_snd_wnd?: number;
  max_rtt?: number;
  min_rtt?: number;
  mean_rtt?: number;
}

export type EndSum = SpanRecord;

export interface EndSection {
  streams: Array<{ sender: EndStreamRecord; receiver: EndStreamRecord }>;
  sum_sent: EndSum;
  sum_received: EndSum;
  sum_sent_bidir_reverse?: EndSum;
  sum_received_bidir_reverse?: EndSum;
  cpu_utilization_percent: {
    host_total: number;
    host_user: number;
    host_system: number;
    remote_total: number;
    remote_user: number;
    remote_system: number;
  };
  sender_tcp_congestion: string;
  receiver_tcp_congestion: string;
}

function record(r: StreamResult | undefined, id: number, localSender: boolean, isSender: boolean): EndStreamRecord {
  const bytes = r?.bytes ?? 0;
  const seconds = r?.seconds ?? 0;
  const out: EndStreamRecord = { socket: id, start: 0, end: seconds, seconds, bytes, bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0, sender: localSender };
  if (isSender) {
    out.retransmits = r?.retransmits ?? 0;
    out.max_snd_cwnd = r?.max_snd_cwnd ?? 0;
    out.max_snd_wnd = r?.max_snd_wnd ?? 0;
    out.max_rtt = r?.max_rtt ?? 0;
    out.min_rtt = r?.min_rtt ?? 0;
    out.mean_rtt = r?.mean_rtt ?? 0;
  }
  return out;
}

function sumOf(recs: EndStreamRecord[], sender: boolean, withRetransmits: boolean): EndSum {
  const bytes = recs.reduce((a, r) => a + r.bytes, 0);
  const seconds = recs.reduce((a, r) => Math.max(a, r.seconds), 0);
  const out: EndSum = { start: 0, end: seconds, seconds, bytes, bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0, sender };
  if (withRetransmits) out.retransmits = recs.reduce((a, r) => a + (r.retransmits ?? 0), 0);
  return out;
}

/**
 * The `end` section from this side's results and the peer's. `localIsClient` decides the
 * direction names (streams the client sends are the forward direction).
 */
export function buildEnd(p: TestParams, local: SideResults, remote: SideResults, localIsClient: boolean): EndSection {
  const ids = [...new Set([...local.streams, ...remote.streams].map((s) => s.id))].sort((a, b) => a - b);
  const streams: EndSection['streams'] = [];
  const fwd: Array<{ sender: EndStreamRecord; receiver: EndStreamRecord }> = [];
  const rev: Array<{ sender: EndStreamRecord; receiver: EndStreamRecord }> = [];
  for (const id of ids) {
    const index = id - 1;
    const cs = clientSends(p, index);
    const localSends = localIsClient ? cs : !cs;
    const mine = local.streams.find((s) => s.id === id);
    const theirs = remote.streams.find((s) => s.id === id);
    const pair = {
      sender: record(localSends ? mine : theirs, id, localSends, true),
      receiver: record(localSends ? theirs : mine, id, localSends, false),
    };
    streams.push(pair);
    if (!p.bidir || index < p.streams) fwd.push(pair);
    else rev.push(pair);
  }
  const localSendsFwd = localIsClient ? !p.reverse || p.bidir : p.reverse && !p.bidir;
  const end: EndSection = {
    streams,
    sum_sent: sumOf(fwd.map((x) => x.sender), localSendsFwd, true),
    sum_received: sumOf(fwd.map((x) => x.receiver), localSendsFwd, false),
    cpu_utilization_percent: {
      host_total: local.cpu.total,
      host_user: local.cpu.user,
      host_system: local.cpu.system,
      remote_total: remote.cpu.total,
      remote_user: remote.cpu.user,
      remote_system: remote.cpu.system,
    },
    sender_tcp_congestion: localSendsFwd ? local.cc : remote.cc,
    receiver_tcp_congestion: localSendsFwd ? remote.cc : local.cc,
  };
  if (p.bidir) {
    end.sum_sent_bidir_reverse = sumOf(rev.map((x) => x.sender), !localSendsFwd, true);
    end.sum_received_bidir_reverse = sumOf(rev.map((x) => x.receiver), !localSendsFwd, false);
  }
  return end;
}

// ---- text ----

/** iperf3's adaptive number: 2 decimals below 10, 1 below 100, else none. */
function adaptive(v: number): string {
  return v < 9.995 ? v.toFixed(2) : v < 99.95 ? v.toFixed(1) : v.toFixed(0);
}

/** `v` divided by `step` until below it (or out of units), with the unit reached. */
function scaled(v: number, step: number, units: readonly string[]): string {
  let i = 0;
  while (v >= step && i < units.length - 1) {
    v /= step;
    i++;
  }
  return `${adaptive(v)} ${units[i]}`;
}

const BYTE_UNITS = ['Bytes', 'KBytes', 'MBytes', 'GBytes', 'TBytes'] as const;
const BIT_UNITS = ['bits/sec', 'Kbits/sec', 'Mbits/sec', 'Gbits/sec', 'Tbits/sec'] as const;

export function formatBytes(n: number): string {
  return scaled(n, 1024, BYTE_UNITS);
}

export function formatBits(bps: number): string {
  return scaled(bps, 1000, BIT_UNITS);
}

function span(start: number, end: number): string {
  return `${start.toFixed(2).padStart(6)}-${end.toFixed(2).padEnd(6)} sec`;
}

export function idTag(id: number | 'SUM', role?: string): string {
  const inner = id === 'SUM' ? 'SUM' : String(id).padStart(3);
  return `[${inner}]${role ? `[${role}]` : ''}`;
}

/** The column header before the intervals (with Retr/Cwnd/RTT when this side sends). */
export function intervalHeader(sends: boolean, bidir: boolean): string {
  const pad = bidir ? '      ' : '';
  return `[ ID]${pad} Interval           Transfer          Bitrate${sends ? '  Retr         Cwnd        RTT' : ''}`;
}

function row(tag: string, r: { start: number; end: number; bytes: number; bits_per_second: number }): string {
  return `${tag} ${span(r.start, r.end)}  ${formatBytes(r.bytes).padStart(11)}  ${formatBits(r.bits_per_second).padStart(15)}`;
}

/** Text lines for one interval. `roleOf(sender)` gives the bidir tag (TX-C...), or undefined. */
export function intervalLines(iv: Interval, roleOf: (sender: boolean) => string | undefined): string[] {
  const lines: string[] = [];
  const one = (s: IntervalStream): string => {
    let line = row(idTag(s.socket, roleOf(s.sender)), s);
    if (s.sender) {
      const cwnd = s.snd_cwnd !== undefined ? formatBytes(s.snd_cwnd) : '-';
      const rtt = s.rtt !== undefined ? `${(s.rtt / 1000).toFixed(2)} ms` : '-';
      line += `  ${String(s.retransmits ?? 0).padStart(4)}  ${cwnd.padStart(11)}  ${rtt.padStart(9)}`;
    }
    return line + (s.omitted ? '  (omitted)' : '');
  };
  const sum = (s: IntervalSum): string =>
    row(idTag('SUM', roleOf(s.sender)), s) + (s.sender ? `  ${String(s.retransmits ?? 0).padStart(4)}` : '') + (s.omitted ? '  (omitted)' : '');
  const groups = [iv.streams.filter((s) => s.sender), iv.streams.filter((s) => !s.sender)];
  for (const g of groups) {
    if (g.length === 0) continue;
    for (const s of g) lines.push(one(s));
    if (g.length > 1) {
      const want = g[0]!.sender;
      const s = iv.sum.sender === want ? iv.sum : iv.sum_bidir_reverse;
      if (s) lines.push(sum(s));
    }
  }
  return lines;
}

export const SEPARATOR = '- - - - - - - - - - - - - - - - - - - - - - - - -';

/** The summary: sender and receiver line per stream (and SUM lines), then CPU utilisation. */
export function summaryLines(end: EndSection, p: TestParams, roleOf: (localSender: boolean) => string | undefined, localIsClient: boolean): string[] {
  const lines = [SEPARATOR, `[ ID]${p.bidir ? '      ' : ''} Interval           Transfer          Bitrate  Retr`];
  const senderReceiver = (tag: string, sent: EndSum, received: EndSum): void => {
    lines.push(`${row(tag, sent)}  ${String(sent.retransmits ?? 0).padStart(4)}             sender`);
    lines.push(`${row(tag, received)}                   receiver`);
  };
  const pairRows = (pairs: EndSection['streams']): void => {
    for (const x of pairs) senderReceiver(idTag(x.sender.socket, roleOf(x.sender.sender)), x.sender, x.receiver);
  };
  const sumRows = (sent: EndSum, received: EndSum): void => senderReceiver(idTag('SUM', roleOf(sent.sender)), sent, received);
  const fwd = end.streams.filter((x) => !p.bidir || x.sender.socket <= p.streams);
  const rev = end.streams.filter((x) => p.bidir && x.sender.socket > p.streams);
  pairRows(fwd);
  if (fwd.length > 1) sumRows(end.sum_sent, end.sum_received);
  if (rev.length) {
    pairRows(rev);
    if (rev.length > 1 && end.sum_sent_bidir_reverse && end.sum_received_bidir_reverse) sumRows(end.sum_sent_bidir_reverse, end.sum_received_bidir_reverse);
  }
  const c = end.cpu_utilization_percent;
  const localRole = p.bidir ? 'bidir' : end.sum_sent.sender ? 'sender' : 'receiver';
  const remoteRole = p.bidir ? 'bidir' : end.sum_sent.sender ? 'receiver' : 'sender';
  const pct = (t: number, u: number, s: number): string => `${t.toFixed(1)}% (${u.toFixed(1)}%u/${s.toFixed(1)}%s)`;
  lines.push(
    `CPU Utilization: local/${localRole} ${pct(c.host_total, c.host_user, c.host_system)}, remote/${remoteRole} ${pct(c.remote_total, c.remote_user, c.remote_system)}`,
  );
  if (localIsClient) lines.push(`${end.sender_tcp_congestion === end.receiver_tcp_congestion ? `congestion control: ${end.sender_tcp_congestion}` : `sender congestion control: ${end.sender_tcp_congestion}, receiver: ${end.receiver_tcp_congestion}`}`);
  return lines;
}
