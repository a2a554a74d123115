/**
 * One side of a perf test: its data streams (each either sending or receiving), the
 * interval clock and the totals. Both the client and the server run one.
 *
 * Times are seconds since the side's start ("start" sent or received). The first `omit`
 * seconds are reported as omitted intervals and left out of the totals. A sending stream
 * writes `len`-byte blocks as fast as the socket takes them until stopSending(); a
 * receiving stream counts bytes until the peer's FIN. Bytes are counted when written to
 * (or read from) the socket, like iperf3.
 */
import type { Socket } from '../../net.js';
import type { CpuResult, StreamResult } from './protocol.js';

/** What every iperf3 record of a span of time has (intervals, their sums, the end section's). */
export interface SpanRecord {
  start: number;
  end: number;
  seconds: number;
  bytes: number;
  bits_per_second: number;
  /** Sending side only. */
  retransmits?: number;
  sender: boolean;
}

export interface IntervalSum extends SpanRecord {
  omitted: boolean;
}

export interface IntervalStream extends IntervalSum {
  socket: number;
  /** Sending streams only (what tcp_info says at the end of the interval). */
  snd_cwnd?: number;
  snd_wnd?: number;
  rtt?: number;
  rttvar?: number;
  pmtu?: number;
}

/** An interval as iperf3 writes it; sum_bidir_reverse holds the streams this side receives in bidir mode. */
export interface Interval {
  streams: IntervalStream[];
  sum: IntervalSum;
  sum_bidir_reverse?: IntervalSum;
}

export interface PerfStream {
  id: number;
  socket: Socket;
  sender: boolean;
}

interface StreamState extends PerfStream {
  total: number;
  ivBytes: number;
  ivStart: number;
  rtxAtOmitEnd: number;
  rtxAtIv: number;
  endT: number | undefined;
  maxCwnd: number;
  maxWnd: number;
  maxRtt: number;
  minRtt: number;
  rttSum: number;
  rttN: number;
}

function retransmitsOf(s: Socket): number {
  const info = s.getInfo();
  if (!info) return 0;
  const r = info.retransmits;
  // Zero-window probes are not retransmissions of lost data.
  return r.rto + r.fast + r.tlp + r.rack;
}

export interface SessionOptions {
  omit: number;
  interval: number;
  len: number;
  /** Bidir mode: intervals get "sum" (the forward direction, client to server) and "sum_bidir_reverse". */
  bidir: boolean;
  /** Whether this side's sending streams are the forward direction (the client's: yes). */
  sendsForward: boolean;
  onInterval(iv: Interval): void;
}

export class Session {
  private readonly streams: StreamState[];
  private t0 = 0;
  private cpu0 = process.cpuUsage();
  private cpuAtOmit = process.cpuUsage();
  private tOmitEnd = 0;
  private timer: NodeJS.Timeout | undefined;
  private omitTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private finished = false;
  private cpuEnd: CpuResult | undefined;
  private resolveDone: () => void = () => {};
  readonly done: Promise<void>;
  private readonly block: Buffer;

  constructor(
    streams: PerfStream[],
    private readonly opts: SessionOptions,
  ) {
    this.block = Buffer.alloc(opts.len, 0x5a);
    this.streams = streams.map((s) => ({
      ...s,
      total: 0,
      ivBytes: 0,
      ivStart: 0,
      rtxAtOmitEnd: 0,
      rtxAtIv: 0,
      endT: undefined,
      maxCwnd: 0,
      maxWnd: 0,
      maxRtt: 0,
      minRtt: Infinity,
      rttSum: 0,
      rttN: 0,
    }));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  private now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  start(): void {
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.cpuAtOmit = this.cpu0;
    this.tOmitEnd = this.opts.omit;
    if (this.opts.omit > 0) this.omitTimer = setTimeout(() => this.endOmit(), this.opts.omit * 1000);
    if (this.opts.interval > 0) this.timer = setInterval(() => this.tick(), this.opts.interval * 1000);
    for (const s of this.streams) {
      if (s.sender) this.startSending(s);
      else {
        s.socket.on('data', (d: Buffer) => {
          s.total += d.length;
          s.ivBytes += d.length;
        });
        s.socket.on('end', () => this.streamEnded(s));
      }
      s.socket.on('close', () => this.streamEnded(s));
    }
  }

  private startSending(s: StreamState): void {
    const pump = (): void => {
      while (!this.stopped && !s.socket.destroyed) {
        s.total += this.block.length;
        s.ivBytes += this.block.length;
        if (!s.socket.write(this.block)) {
          s.socket.once('drain', pump);
          return;
        }
      }
    };
    s.socket.on('data', () => {}); // a sender reads nothing, but must see the peer's FIN
    pump();
  }

  private endOmit(): void {
    // What was counted so far was omitted: report it as such and restart the totals.
    this.tick();
    this.omitTimer = undefined;
    this.cpuAtOmit = process.cpuUsage();
    for (const s of this.streams) {
      s.total = 0;
      s.rtxAtOmitEnd = retransmitsOf(s.socket);
      s.maxCwnd = 0;
      s.maxWnd = 0;
      s.maxRtt = 0;
      s.minRtt = Infinity;
      s.rttSum = 0;
      s.rttN = 0;
    }
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = setInterval(() => this.tick(), this.opts.interval * 1000);
    }
  }

  /** Ends every sending stream (FIN after the queued bytes). */
  stopSending(): void {
    if (this.stopped) return;
    this.stopped = true;
    const t = this.now();
    for (const s of this.streams) {
      if (!s.sender) continue;
      s.endT ??= t;
      s.socket.end();
    }
    if (this.streams.some((s) => s.sender)) this.tick();
    this.maybeFinished();
  }

  private streamEnded(s: StreamState): void {
    if (s.endT === undefined) s.endT = this.now();
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (this.finished || !this.stopped && this.streams.some((s) => s.sender)) return;
    if (this.streams.some((s) => s.endT === undefined)) return;
    this.finished = true;
    if (this.timer) clearInterval(this.timer);
    if (this.omitTimer) clearTimeout(this.omitTimer);
    this.tick(true);
    const u = process.cpuUsage(this.cpuAtOmit);
    const wall = Math.max(1e-6, this.now() - this.tOmitEnd) * 1e6;
    this.cpuEnd = { user: (u.user / wall) * 100, system: (u.system / wall) * 100, total: ((u.user + u.system) / wall) * 100 };
    this.resolveDone();
  }

  /** Stops the clocks and destroys the streams (a failed or abandoned test). */
  abort(): void {
    this.stopped = true;
    this.finished = true;
    if (this.timer) clearInterval(this.timer);
    if (this.omitTimer) clearTimeout(this.omitTimer);
    for (const s of this.streams) s.socket.resetAndDestroy();
    this.resolveDone();
  }

  /** Reports the interval since the last one (final: also a short tail). */
  private tick(final = false): void {
    const now = this.now();
    const omitted = this.omitTimer !== undefined;
    const rows: IntervalStream[] = [];
    for (const s of this.streams) {
      const end = Math.min(now, s.endT ?? now);
      const seconds = Math.max(0, end - s.ivStart);
      const row: IntervalStream = {
        socket: s.id,
        start: s.ivStart,
        end,
        seconds,
        bytes: s.ivBytes,
        bits_per_second: seconds > 0 ? (s.ivBytes * 8) / seconds : 0,
        omitted,
        sender: s.sender,
      };
      if (s.sender) {
        const info = s.socket.getInfo();
        const rtx = retransmitsOf(s.socket);
        row.retransmits = rtx - s.rtxAtIv;
        s.rtxAtIv = rtx;
        if (info) {
          row.snd_cwnd = info.cwnd;
          row.snd_wnd = info.sndWnd;
          row.rtt = Math.round(info.srtt * 1000);
          row.rttvar = Math.round(info.rttvar * 1000);
          row.pmtu = info.mss + 40;
          if (!omitted) {
            s.maxCwnd = Math.max(s.maxCwnd, info.cwnd);
            s.maxWnd = Math.max(s.maxWnd, info.sndWnd);
            if (info.srtt > 0) {
              s.maxRtt = Math.max(s.maxRtt, row.rtt);
              s.minRtt = Math.min(s.minRtt, row.rtt);
              s.rttSum += row.rtt;
              s.rttN++;
            }
          }
        }
      }
      s.ivBytes = 0;
      s.ivStart = end;
      rows.push(row);
    }
    // The final tail after stopSending's tick is empty for the sending streams: leave
    // those out (their bytes are all in earlier intervals), and skip an empty tail.
    if (final) {
      const kept = rows.filter((r) => r.bytes > 0 || r.seconds >= 0.001);
      if (kept.length === 0) return;
      rows.splice(0, rows.length, ...kept);
    }
    if (rows.every((r) => r.seconds === 0 && r.bytes === 0)) return;
    const sum = (sender: boolean): IntervalSum | undefined => {
      const mine = rows.filter((r) => r.sender === sender);
      if (mine.length === 0) return undefined;
      const bytes = mine.reduce((a, r) => a + r.bytes, 0);
      const start = Math.min(...mine.map((r) => r.start));
      const end = Math.max(...mine.map((r) => r.end));
      const seconds = end - start;
      const out: IntervalSum = { start, end, seconds, bytes, bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0, omitted, sender };
      if (sender) out.retransmits = mine.reduce((a, r) => a + (r.retransmits ?? 0), 0);
      return out;
    };
    const iv: Interval = { streams: rows, sum: sum(true) ?? sum(false)! };
    if (this.opts.bidir) {
      // iperf3: "sum" is the forward direction (client sending), "sum_bidir_reverse" the other.
      const empty = (sender: boolean): IntervalSum => ({ start: now, end: now, seconds: 0, bytes: 0, bits_per_second: 0, omitted, sender, ...(sender ? { retransmits: 0 } : {}) });
      iv.sum = sum(this.opts.sendsForward) ?? empty(this.opts.sendsForward);
      const rev = sum(!this.opts.sendsForward);
      if (rev) iv.sum_bidir_reverse = rev;
    }
    // -i 0: no interval reports (the totals above were still kept).
    if (this.opts.interval > 0) this.opts.onInterval(iv);
  }

  /** This side's totals per stream (after done). */
  results(): StreamResult[] {
    return this.streams.map((s) => {
      const seconds = Math.max(0, (s.endT ?? this.now()) - this.tOmitEnd);
      return {
        id: s.id,
        sender: s.sender,
        bytes: s.total,
        seconds,
        retransmits: s.sender ? retransmitsOf(s.socket) - s.rtxAtOmitEnd : 0,
        max_snd_cwnd: s.maxCwnd,
        max_snd_wnd: s.maxWnd,
        max_rtt: s.rttN ? s.maxRtt : 0,
        min_rtt: s.rttN ? s.minRtt : 0,
        mean_rtt: s.rttN ? Math.round(s.rttSum / s.rttN) : 0,
      };
    });
  }

  /** The congestion control this side's streams really use (its sending streams first). */
  cc(): string {
    const pick = this.streams.find((s) => s.sender) ?? this.streams[0];
    return pick?.socket.getInfo()?.cc ?? 'cubic';
  }

  cpu(): CpuResult {
    return this.cpuEnd ?? { user: 0, system: 0, total: 0 };
  }

  get elapsed(): number {
    return this.now();
  }
}
