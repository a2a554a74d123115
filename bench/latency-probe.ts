/**
 * A probe bench/latency.ts preloads (`node --import`) into its ping processes with `--probe`:
 * for each datagram the process receives, the time from its 'message' event to the process's
 * next send() (the turn-around: everything the process does before it answers, the stack's
 * receive and send path for the overlay, the bench's own handler for raw dgram), and per
 * message how many process.nextTick / setImmediate / setTimeout / clearTimeout calls the
 * process made. Messages before LATENCY_PROBE_SKIP are not counted (the warm-up). At exit,
 * one JSON object into the file LATENCY_PROBE_OUT. The same probe runs in both transports'
 * processes; it patches node:dgram, so it sees raw dgram and the overlay's link alike.
 *
 * What the slowest 1% of turn-arounds have in common (`slow`): how many overlapped one of the
 * process's GC pauses, how many set or cleared a Node timer, and the process's idle time
 * before the datagram arrived. With LATENCY_PROBE_CPU=1 the probe also reads the process's
 * CPU time at both ends of every turn-around (two getrusage calls, about 2 us added to
 * each): a slow turn-around that used about as much CPU as it took ran slowly (more work,
 * cold caches); one that used much less was not running (preempted, an interrupt, the
 * hypervisor).
 */
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { median, overlapsPause, percentile } from './lib/stats.js';
import { DirectSender } from '../src/link/direct-send.js';

/** What the slowest 1% of a process's turn-arounds share. */
export interface SlowTurnarounds {
  /** Turn-arounds at or above the p99. */
  n: number;
  /** Of them, overlapping one of the process's GC pauses. */
  inGc: number;
  /** Of them, with a setTimeout or clearTimeout call inside. */
  withTimer: number;
  /** Median idle time before the datagram arrived (since the previous send), us: the slow ones and all. */
  idleP50: number;
  idleP50All: number;
  /** With LATENCY_PROBE_CPU=1: median CPU time inside the turn-around, us: the slow ones and all. */
  cpuP50?: number;
  cpuP50All?: number;
  /** Median wall time of the slow ones, us. */
  wallP50: number;
}

export interface ProbeReport {
  /** Messages counted (after the skipped ones). */
  messages: number;
  /** Turn-around percentiles, us. */
  p50: number;
  p90: number;
  p99: number;
  /** Calls per counted message. */
  ticks: number;
  immediates: number;
  setTimeouts: number;
  clearTimeouts: number;
  /** send() calls per counted message (1: the answer carries the ACK; 2: a separate ACK). */
  sends: number;
  /**
   * The process's whole CPU time per counted message, us, user and system: the turn-around and
   * everything else (the kernel's receive and send, work done after the answer is sent).
   */
  cpuUser: number;
  cpuSystem: number;
  slow: SlowTurnarounds;
}

/** Percentiles (us) of turn-around times in ms. */
export function turnaroundSummary(ms: number[]): { p50: number; p90: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  const p = (q: number): number => (s.length ? Number((percentile(s, q) * 1000).toFixed(2)) : NaN);
  return { p50: p(50), p90: p(90), p99: p(99) };
}

/** One turn-around as recorded: arrival (performance.now() ms), wall ms, idle ms before it, CPU us (or -1), a timer call inside. */
export interface Turnaround {
  at: number;
  wall: number;
  idle: number;
  cpu: number;
  timer: boolean;
}

const us = (ms: number): number => Number((ms * 1000).toFixed(2));

/**
 * The slowest 1% of `turns` (wall time at or above the p99) against `pauses` ([start, duration]
 * in performance.now() ms): how many overlapped a pause, called a timer, and their medians.
 */
export function slowTurnarounds(turns: Turnaround[], pauses: Array<[number, number]>): SlowTurnarounds {
  const med = (xs: number[]): number => (xs.length ? median(xs) : NaN);
  if (turns.length === 0) return { n: 0, inGc: 0, withTimer: 0, idleP50: NaN, idleP50All: NaN, wallP50: NaN };
  const p99 = percentile(turns.map((t) => t.wall).sort((a, b) => a - b), 99);
  const slow = turns.filter((t) => t.wall >= p99);
  const overlaps = (t: Turnaround): boolean => overlapsPause(pauses, t.at, t.at + t.wall);
  const r: SlowTurnarounds = {
    n: slow.length,
    inGc: slow.filter(overlaps).length,
    withTimer: slow.filter((t) => t.timer).length,
    idleP50: us(med(slow.map((t) => t.idle))),
    idleP50All: us(med(turns.map((t) => t.idle))),
    wallP50: us(med(slow.map((t) => t.wall))),
  };
  if (turns[0]!.cpu >= 0) {
    r.cpuP50 = Number(med(slow.map((t) => t.cpu)).toFixed(2));
    r.cpuP50All = Number(med(turns.map((t) => t.cpu)).toFixed(2));
  }
  return r;
}

function install(out: string, skip: number, withCpu: boolean): void {
  const proto = dgram.Socket.prototype as unknown as { emit: (...a: unknown[]) => boolean; send: (...a: unknown[]) => void };
  // Columns of doubles, not an object per message: the probe should not add garbage (and
  // scavenges) to the process it measures.
  const cols = { at: [] as number[], wall: [] as number[], idle: [] as number[], cpu: [] as number[], timer: [] as number[] };
  let seen = 0;
  let received = -1;
  let lastSend = -1;
  let idle = 0;
  let cpuAt = 0;
  let timersAt = 0;
  let cpuFrom: NodeJS.CpuUsage | undefined;
  const calls = { ticks: 0, immediates: 0, setTimeouts: 0, clearTimeouts: 0, sends: 0 };
  const counting = (): boolean => seen > skip;
  const cpuNow = (): number => {
    const c = process.cpuUsage();
    return c.user + c.system;
  };
  const pauses: Array<[number, number]> = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([e.startTime, e.duration]);
  });
  gc.observe({ entryTypes: ['gc'] });
  const emit = proto.emit;
  proto.emit = function (this: unknown, ...a: unknown[]): boolean {
    if (a[0] === 'message') {
      seen++;
      if (seen === skip + 1) cpuFrom = process.cpuUsage();
      received = performance.now();
      idle = lastSend >= 0 ? received - lastSend : 0;
      timersAt = calls.setTimeouts + calls.clearTimeouts;
      if (withCpu) cpuAt = cpuNow();
    }
    return emit.apply(this, a);
  };
  // An answer leaves by node:dgram's send or by the overlay's direct send (src/link/direct-send.ts).
  const sending = (): void => {
    if (counting()) calls.sends++;
    if (received >= 0) {
      if (counting()) {
        const cpu = withCpu ? cpuNow() - cpuAt : -1;
        const now = performance.now();
        cols.at.push(received);
        cols.wall.push(now - received);
        cols.idle.push(idle);
        cols.cpu.push(cpu);
        cols.timer.push(calls.setTimeouts + calls.clearTimeouts > timersAt ? 1 : 0);
      }
      received = -1;
    }
  };
  const send = proto.send;
  proto.send = function (this: unknown, ...a: unknown[]): void {
    sending();
    send.apply(this, a);
    lastSend = performance.now();
  };
  const direct = DirectSender.prototype as unknown as { send: (...a: unknown[]) => number };
  const directSend = direct.send;
  direct.send = function (this: unknown, ...a: unknown[]): number {
    sending();
    const r = directSend.apply(this, a);
    lastSend = performance.now();
    return r;
  };
  const wrap = <F extends (...a: never[]) => unknown>(f: F, key: keyof typeof calls): F =>
    function (this: unknown, ...a: Parameters<F>) {
      if (counting()) calls[key]++;
      return f.apply(this, a);
    } as F;
  process.nextTick = wrap(process.nextTick, 'ticks');
  globalThis.setImmediate = wrap(globalThis.setImmediate, 'immediates');
  globalThis.setTimeout = wrap(globalThis.setTimeout, 'setTimeouts');
  globalThis.clearTimeout = wrap(globalThis.clearTimeout, 'clearTimeouts');
  process.on('exit', () => {
    for (const e of gc.takeRecords()) pauses.push([e.startTime, e.duration]);
    gc.disconnect();
    const turns: Turnaround[] = cols.at.map((at, i) => ({ at, wall: cols.wall[i]!, idle: cols.idle[i]!, cpu: cols.cpu[i]!, timer: cols.timer[i] === 1 }));
    const n = Math.max(1, seen - skip);
    const per = (k: keyof typeof calls): number => Number((calls[k] / n).toFixed(3));
    const cpu = process.cpuUsage(cpuFrom);
    const r: ProbeReport = {
      messages: seen - skip,
      ...turnaroundSummary(turns.map((t) => t.wall)),
      ticks: per('ticks'),
      immediates: per('immediates'),
      setTimeouts: per('setTimeouts'),
      clearTimeouts: per('clearTimeouts'),
      sends: per('sends'),
      cpuUser: cpuFrom ? Number((cpu.user / n).toFixed(2)) : NaN,
      cpuSystem: cpuFrom ? Number((cpu.system / n).toFixed(2)) : NaN,
      slow: slowTurnarounds(turns, pauses),
    };
    writeFileSync(out, JSON.stringify(r));
  });
}

const out = process.env['LATENCY_PROBE_OUT'];
if (out) install(out, Number(process.env['LATENCY_PROBE_SKIP'] ?? '0'), process.env['LATENCY_PROBE_CPU'] === '1');
