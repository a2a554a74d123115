/**
 * Per-connection event traces: a msgpack stream (msgpackr with record structures in
 * sequential mode, the format PackrStream/UnpackrStream speak) of
 *
 *   1. one header  { format: 'overlay-trace', version: 1, wallStart, monoStart }
 *   2. events      { c: CONN, type, t, ... }  (a TcpTraceEvent plus its connection label)
 *
 * `t` is the driver's monotonic clock in ms; wall time is wallStart + (t - monoStart).
 * Events are packed synchronously into a large buffer and written in chunks, so leaving
 * a trace on during a benchmark costs well under a microsecond per event.
 */
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Packr, UnpackrStream } from 'msgpackr';
import type { TcpTraceEvent } from '../tcp/types.js';
import { ChunkedFile } from './chunked-file.js';

export const TRACE_FORMAT = 'overlay-trace';
export const TRACE_VERSION = 1;

export interface TraceHeader {
  format: typeof TRACE_FORMAT;
  version: number;
  /** Wall clock (ms since the epoch) and monotonic clock (ms) at the same instant. */
  wallStart: number;
  monoStart: number;
}

/** One recorded event: the connection label `c` ("LADDR:LPORT-RADDR:RPORT") and the event. */
export type TraceRecord = TcpTraceEvent & { c: string };

export class TraceWriter {
  private readonly packr = new Packr({ sequential: true, useRecords: true });
  /** Events recorded so far. */
  count = 0;

  private constructor(private readonly file: ChunkedFile) {}

  static async open(path: string, monoNow: number = performance.now()): Promise<TraceWriter> {
    const w = new TraceWriter(await ChunkedFile.open(path));
    const header: TraceHeader = { format: TRACE_FORMAT, version: TRACE_VERSION, wallStart: Date.now(), monoStart: monoNow };
    w.file.appendBuffer(w.packr.pack(header));
    return w;
  }

  /** Records one event of connection `conn`; suitable as `observers.trace`. */
  write(conn: string, ev: TcpTraceEvent): void {
    this.count++;
    this.file.appendBuffer(this.packr.pack({ c: conn, ...ev }));
  }

  flush(): void {
    this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** Reads a trace: first the header, then every event in order. */
export async function* readTraceWithHeader(path: string): AsyncGenerator<TraceHeader | TraceRecord> {
  const input = createReadStream(path);
  const decoder = new UnpackrStream({ useRecords: true });
  input.on('error', (e) => decoder.destroy(e));
  input.pipe(decoder);
  let first = true;
  const it = (decoder as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  for (;;) {
    let step: IteratorResult<unknown>;
    try {
      step = await it.next();
    } catch (e) {
      input.destroy();
      const why = (e as Error).message;
      throw new Error(first ? `${path}: not an overlay trace (${why})` : `${path}: corrupt trace (${why})`);
    }
    if (step.done) break;
    const obj = step.value;
    if (first) {
      const h = obj as Partial<TraceHeader>;
      if (!h || h.format !== TRACE_FORMAT) throw new Error(`${path}: not an overlay trace`);
      if (h.version !== TRACE_VERSION) throw new Error(`${path}: trace version ${String(h.version)} is not supported`);
      first = false;
    }
    yield obj as TraceHeader | TraceRecord;
  }
  if (first) throw new Error(`${path}: empty trace`);
}

/** The events of a trace, in order (the header is checked and skipped). */
export async function* readTrace(path: string): AsyncGenerator<TraceRecord> {
  let first = true;
  for await (const r of readTraceWithHeader(path)) {
    if (first) {
      first = false;
      continue;
    }
    yield r as TraceRecord;
  }
}
