/**
 * A probe bench/latency.ts preloads (`node --import`) into its ping processes with `--probe`:
 * for each datagram the process receives, the time from its 'message' event to the process's
 * next send() (the turn-around: everything the process does before it answers, the stack's
 * receive and send path for the overlay, the bench's own handler for raw dgram), and per
 * message how many process.nextTick / setImmediate / setTimeout / clearTimeout calls the
 * process made. Messages before LATENCY_PROBE_SKIP are not counted (the warm-up). At exit,
 * one JSON object into the file LATENCY_PROBE_OUT. The same probe runs in both transports'
 * processes; it patches node:dgram, so it sees raw dgram and the overlay's link alike.
 */
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { percentile } from './lib/stats.js';

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
}

/** Percentiles (us) of turn-around times in ms. */
export function turnaroundSummary(ms: number[]): { p50: number; p90: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  const p = (q: number): number => (s.length ? Number((percentile(s, q) * 1000).toFixed(2)) : NaN);
  return { p50: p(50), p90: p(90), p99: p(99) };
}

function install(out: string, skip: number): void {
  const proto = dgram.Socket.prototype as unknown as { emit: (...a: unknown[]) => boolean; send: (...a: unknown[]) => void };
  const times: number[] = [];
  let seen = 0;
  let received = -1;
  const calls = { ticks: 0, immediates: 0, setTimeouts: 0, clearTimeouts: 0, sends: 0 };
  const counting = (): boolean => seen > skip;
  const emit = proto.emit;
  proto.emit = function (this: unknown, ...a: unknown[]): boolean {
    if (a[0] === 'message') {
      seen++;
      received = performance.now();
    }
    return emit.apply(this, a);
  };
  const send = proto.send;
  proto.send = function (this: unknown, ...a: unknown[]): void {
    if (counting()) calls.sends++;
    if (received >= 0) {
      if (counting()) times.push(performance.now() - received);
      received = -1;
    }
    send.apply(this, a);
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
    const n = Math.max(1, seen - skip);
    const per = (k: keyof typeof calls): number => Number((calls[k] / n).toFixed(3));
    const r: ProbeReport = {
      messages: seen - skip,
      ...turnaroundSummary(times),
      ticks: per('ticks'),
      immediates: per('immediates'),
      setTimeouts: per('setTimeouts'),
      clearTimeouts: per('clearTimeouts'),
      sends: per('sends'),
    };
    writeFileSync(out, JSON.stringify(r));
  });
}

const out = process.env['LATENCY_PROBE_OUT'];
if (out) install(out, Number(process.env['LATENCY_PROBE_SKIP'] ?? '0'));
