/**
 * What every bulk-transfer child of the TCP bench measures, the same way for each peer
 * (raw dgram, overlay TCP, udx-native, utp-native, kernel TCP):
 *
 * - goodput after a warm-up (like iperf3 --omit): the first OMIT_MS after the first byte
 *   are not counted (slow start, and V8 compiling the hot paths), then bytes over time;
 * - CPU seconds of this process (user + system, process.cpuUsage) over the same steady
 *   window, per GiB moved in it: the receiver over its counted bytes, the sender over the
 *   bytes it handed to the transport after its own OMIT_MS.
 *
 * A child prints one JSON object per line on stdout (bench/lib/child.ts reads them).
 */
import { once } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { overlapsPause } from './stats.js';

export const OMIT_MS = 1000;
export const GiB = 1024 * 1024 * 1024;

/** CPU seconds (user + system) this process has used. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function say(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** `--name VALUE` from argv, or `dflt`; throws when absent and no default. */
export function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`missing --${name}`);
  return dflt;
}

export interface RxReport {
  bytes: number;
  seconds: number;
  totalBytes: number;
  totalSeconds: number;
  /** CPU seconds per GiB over the counted window. */
  cpuPerGiB: number;
}

/** The receiving side's meter: call add(n) per chunk; report() at the end. */
export class SteadyMeter {
  private first = -1;
  private start = -1;
  private last = 0;
  private bytes = 0;
  private total = 0;
  private cpu0 = 0;
  private cpu1 = 0;

  add(n: number): void {
    const now = performance.now();
    if (this.first < 0) this.first = now;
    else this.total += n; // bytes that arrived after the first one
    this.last = now;
    if (now - this.first < OMIT_MS) return;
    if (this.start < 0) {
      this.start = now;
      this.cpu0 = cpuSeconds();
    } else this.bytes += n; // bytes that arrived after `start`
  }

  /** Call when the last byte has arrived (the CPU window closes here). */
  finish(): void {
    if (this.cpu1 === 0) this.cpu1 = cpuSeconds();
  }

  report(): RxReport {
    this.finish();
    return {
      bytes: this.bytes,
      seconds: Math.max(1e-9, (this.last - this.start) / 1000),
      totalBytes: this.total,
      totalSeconds: Math.max(1e-9, (this.last - this.first) / 1000),
      cpuPerGiB: this.bytes > 0 ? (this.cpu1 - this.cpu0) / (this.bytes / GiB) : 0,
    };
  }
}

/**
 * The sending side's meter: started when the sender starts; `sent(n)` per chunk handed to
 * the transport; report() gives CPU-s per GiB from OMIT_MS after the start to the end.
 */
export class SenderMeter {
  private readonly t0 = performance.now();
  private cpu0 = -1;
  private bytes0 = 0;
  private bytes = 0;

  sent(n: number): void {
    this.bytes += n;
    if (this.cpu0 < 0 && performance.now() - this.t0 >= OMIT_MS) {
      this.cpu0 = cpuSeconds();
      this.bytes0 = this.bytes;
    }
  }

  report(): { sentBytes: number; cpuPerGiB: number } {
    const cpu = cpuSeconds();
    const counted = this.bytes - this.bytes0;
    return { sentBytes: this.bytes, cpuPerGiB: this.cpu0 >= 0 && counted > 0 ? (cpu - this.cpu0) / (counted / GiB) : 0 };
  }
}

/** A sender's stream, as node:net, overlay TCP, udx-native and utp-native all give one. */
export interface BulkStream extends NodeJS.EventEmitter {
  write(b: Buffer): boolean;
  end(): unknown;
}

/**
 * The bulk sender's loop, the same for every stream peer: 256 KiB chunks written for
 * `seconds` with backpressure (waits for 'drain'), then end() and wait for 'close'.
 * Returns the meter for the report line.
 */
export async function sendFor(s: BulkStream, seconds: number): Promise<SenderMeter> {
  const closed = once(s, 'close');
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const meter = new SenderMeter();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    meter.sent(chunk.length);
    if (!s.write(chunk)) await once(s, 'drain');
  }
  s.end();
  await closed;
  return meter;
}

/** A ping client's reply counter for timeRounds: one reply per 64 echoed bytes, however they arrive in pieces. */
export function per64Bytes(s: NodeJS.EventEmitter): (reply: () => void) => void {
  return (reply) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= 64) {
        got -= 64;
        reply();
      }
    });
  };
}

/** Runs the role named by --role from `roles` when `metaUrl` is the script node started. */
export function runRoleIfMain(metaUrl: string, roles: Record<string, () => Promise<void>>): void {
  if (process.argv[1] !== fileURLToPath(metaUrl) || !process.argv.includes('--role')) return;
  const role = arg('role');
  const f = roles[role];
  if (!f) {
    process.stderr.write(`bench: unknown role ${role}\n`);
    process.exit(2);
  }
  f().then(
    // stdout to a pipe is asynchronous: exit once what was said has been flushed.
    () => process.stdout.write('', () => process.exit(0)),
    (e: Error) => {
      process.stderr.write(`bench ${role}: ${e.message}\n`);
      process.exit(1);
    },
  );
}

/** Round-trip times (us) of `rounds` exchanges after `warmup` not counted, sorted. */
export function timeRounds(warmup: number, rounds: number, send: () => void, onReply: (reply: () => void) => void): Promise<number[]> {
  const rtts: number[] = [];
  return new Promise((resolve) => {
    let t0 = performance.now();
    onReply(() => {
      rtts.push((performance.now() - t0) * 1000);
      if (rtts.length >= warmup + rounds) return resolve(rtts.slice(warmup).sort((a, b) => a - b));
      t0 = performance.now();
      send();
    });
    send();
  });
}

/**
 * A ping client's report: `rounds` timed exchanges after `--warmup` (2000) not counted, summarised; with
 * `--gc` on the command line also each counted round (start epoch ms, rtt us) and this
 * process's GC pauses, for bench/latency.ts to match slow rounds with pauses.
 */
export async function pingReport(rounds: number, send: () => void, onReply: (reply: () => void) => void): Promise<Record<string, unknown>> {
  const gc = process.argv.includes('--gc') ? new GcRecorder(PerformanceObserver) : undefined;
  const starts: number[] = [];
  const rtts = await timeRounds(
    Number(arg('warmup', '2000')),
    rounds,
    () => {
      if (gc) starts.push(performance.timeOrigin + performance.now());
      send();
    },
    onReply,
  );
  gc?.stop();
  return { ...rttSummary(rtts), ...(gc && { rounds: roundsOf(starts, rtts), pauses: gc.pauses }) };
}

/**
 * [start epoch ms, rtt us] per counted round: timeRounds sorts the RTTs, so they are
 * recomputed from consecutive starts (a round ends when the next one starts).
 */
export function roundsOf(starts: number[], sorted: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const skip = starts.length - sorted.length - 1;
  for (let i = Math.max(0, skip); i + 1 < starts.length; i++) out.push([starts[i]!, (starts[i + 1]! - starts[i]!) * 1000]);
  return out;
}

/** p50/p99/p99.9/max of sorted RTTs, for a ping client's report line. */
export function rttSummary(sorted: number[]): Record<string, number> {
  const p = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))]!;
  return { p50: p(50), p99: p(99), p999: p(99.9), max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** Lines from stdin, one at a time, and a promise for its end (the parent's "stop"). */
export class StdinLines {
  private readonly lines: string[] = [];
  private waiter: ((l: string) => void) | undefined;
  readonly ended: Promise<void>;

  constructor() {
    let buf = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiter;
        this.waiter = undefined;
        if (w) w(l);
        else this.lines.push(l);
      }
    });
    this.ended = new Promise((r) => process.stdin.once('end', () => r()));
    process.stdin.resume();
  }

  next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => (this.waiter = r));
  }
}

/**
 * Garbage-collection pauses of this process (perf_hooks 'gc' entries) on the epoch clock
 * (ms), so pauses of two processes can be matched with each other's slow rounds.
 */
export class GcRecorder {
  readonly pauses: Array<[number, number]> = [];
  private readonly obs: import('node:perf_hooks').PerformanceObserver;

  constructor(PerformanceObserver: typeof import('node:perf_hooks').PerformanceObserver) {
    this.obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.pauses.push([performance.timeOrigin + e.startTime, e.duration]);
    });
    this.obs.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.obs.disconnect();
  }
}

/**
 * Of the slowest 1% of rounds (start epoch ms, rtt us), how many overlap a GC pause in
 * `pauses` (either process's); and the pauses' count and total.
 */
export function slowRoundsInGc(rounds: Array<[number, number]>, pauses: Array<[number, number]>): Record<string, number> {
  const sorted = [...rounds].sort((a, b) => b[1] - a[1]);
  const slow = sorted.slice(0, Math.max(1, Math.floor(rounds.length / 100)));
  let inGc = 0;
  for (const [t, rtt] of slow) if (overlapsPause(pauses, t, t + rtt / 1000)) inGc++;
  return { slowRounds: slow.length, slowRoundsInGc: inGc, gcPauses: pauses.length, gcMs: pauses.reduce((a, [, d]) => a + d, 0), p99threshold: slow[slow.length - 1]![1] };
}
