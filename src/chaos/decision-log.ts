/**
 * The decision log: one msgpack object per stage decision (time, link, direction, packet
 * number, copy, stage, toxic, verdict, drawn value), preceded by a header object. A replay
 * reads it back into a table keyed by (link, direction, packet number, copy, toxic), so
 * the same input order gets the same verdicts without drawing.
 */
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { Packr, Unpackr } from 'msgpackr';
import { decisionKey, type Decision } from './stages.js';
import type { ReplayTable } from './pipeline.js';

export const LOG_FORMAT = 'overlay-chaos-decisions';

export interface LogHeader {
  format: typeof LOG_FORMAT;
  version: 1;
  seed: number;
  mode: string;
  started: string;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

/** Buffered writer: flushes every `flushEvery` decisions and on close. */
export class DecisionLogWriter {
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  count = 0;

  constructor(
    readonly path: string,
    header: Omit<LogHeader, 'format' | 'version'>,
    private readonly flushBytes = 1 << 16,
  ) {
    this.fd = openSync(path, 'w');
    this.push(packr.pack({ format: LOG_FORMAT, version: 1, ...header }));
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= this.flushBytes) this.flush();
  }

  write(d: Decision): void {
    this.count++;
    this.push(packr.pack(d));
  }

  flush(): void {
    if (this.fd < 0 || this.pending.length === 0) return;
    writeSync(this.fd, Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Reads a decision log; throws a one-line Error when the file is not one. */
export function readDecisionLog(path: string): { header: LogHeader; decisions: Decision[] } {
  const buf = readFileSync(path);
  let items: unknown[];
  try {
    items = unpackr.unpackMultiple(buf) as unknown[];
  } catch {
    throw new Error(`${path}: not a decision log (msgpack decode failed)`);
  }
  const header = items[0] as LogHeader | undefined;
  if (!header || header.format !== LOG_FORMAT) throw new Error(`${path}: not a decision log (no ${LOG_FORMAT} header)`);
  return { header, decisions: items.slice(1) as Decision[] };
}

export function replayTable(decisions: Decision[]): ReplayTable {
  const t: ReplayTable = new Map();
  for (const d of decisions) t.set(decisionKey(d.l, d.d, d.n, d.c, d.s), d);
  return t;
}
