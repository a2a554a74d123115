/**
 * The wire protocol of `overlay perf` (an iperf3-style test over overlay TCP).
 *
 * Every connection to the server's port starts with one line. The control connection's
 * lines are JSON messages; a data connection sends `DATA <cookie> <index>\n` and then
 * only test bytes (in whichever direction that stream runs).
 *
 *   client -> server  {"t":"hello","cookie":C,"params":{...}}
 *   server -> client  {"t":"accept"} | {"t":"busy"} | {"t":"error","message":M}
 *   client            opens streams * (bidir ? 2 : 1) data connections, `DATA C i`
 *   server -> client  {"t":"start"}        both sides start their clocks and senders
 *   client -> server  {"t":"end"}          after omit + duration; senders stop (FIN)
 *   server -> client  {"t":"results",...}  once its receivers saw every FIN
 *   client -> server  {"t":"results",...}  then the client closes the control connection
 *
 * Stream i runs client -> server, except: with reverse every stream runs server -> client,
 * with bidir streams >= `streams` run server -> client.
 */
import type { Duplex } from 'node:stream';

export const DEFAULT_PORT = 5201;
/** Longest first line accepted on a connection. */
export const MAX_LINE = 16 * 1024;

export interface TestParams {
  streams: number;
  reverse: boolean;
  bidir: boolean;
  /** Seconds of measured test, seconds omitted before it, seconds per interval (0 = none). */
  duration: number;
  omit: number;
  interval: number;
  /** Bytes per write. */
  len: number;
  cc?: string;
}

/** One side's figures for one stream over the whole (non-omitted) test. */
export interface StreamResult {
  id: number;
  sender: boolean;
  bytes: number;
  seconds: number;
  retransmits: number;
  max_snd_cwnd: number;
  max_snd_wnd: number;
  /** Microseconds, like iperf3. */
  max_rtt: number;
  min_rtt: number;
  mean_rtt: number;
}

export interface CpuResult {
  total: number;
  user: number;
  system: number;
}

export interface SideResults {
  streams: StreamResult[];
  cpu: CpuResult;
  cc: string;
}

export type ControlMessage =
  | { t: 'hello'; cookie: string; params: TestParams }
  | { t: 'accept' }
  | { t: 'busy'; message: string }
  | { t: 'error'; message: string }
  | { t: 'start' }
  | { t: 'end' }
  | ({ t: 'results' } & SideResults);

/** True when stream `index` is sent by the client. */
export function clientSends(p: TestParams, index: number): boolean {
  if (p.bidir) return index < p.streams;
  return !p.reverse;
}

export function streamCount(p: TestParams): number {
  return p.bidir ? p.streams * 2 : p.streams;
}

export function sendMessage(s: Duplex, m: ControlMessage): void {
  if (!s.destroyed && !s.writableEnded) s.write(JSON.stringify(m) + '\n');
}

/**
 * Splits a stream's bytes into lines and hands each to `onLine` until it returns false
 * (then the rest, if any, goes to `onRest` and the reader detaches). Lines longer than
 * MAX_LINE call onError.
 */
export function readLines(
  s: Duplex,
  onLine: (line: string) => boolean,
  onError: (why: string) => void,
  onRest?: (rest: Buffer) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_LINE) {
          s.off('data', onData);
          onError('line too long');
        }
        return;
      }
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      if (!onLine(line)) {
        s.off('data', onData);
        if (buf.length && onRest) onRest(buf);
        return;
      }
    }
  };
  s.on('data', onData);
}

export function parseMessage(line: string): ControlMessage | undefined {
  try {
    const m = JSON.parse(line) as ControlMessage;
    return m && typeof m === 'object' && typeof m.t === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}
