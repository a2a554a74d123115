/**
 * The receive side: bounded out-of-order reassembly, SACK block generation (RFC 2018 section
 * 4, with D-SACK, RFC 2883) and the receive window with receiver silly-window avoidance
 * (RFC 1122 4.2.3.3).
 */
import type { SackBlock } from '../wire/tcp.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

interface OooEntry {
  seq: number;
  data: Buffer;
  fin: boolean;
}

function entryEnd(e: OooEntry): number {
  return seqAdd(e.seq, e.data.length + (e.fin ? 1 : 0));
}

export type InsertResult =
  | { kind: 'queued' }
  /** Everything was already held: a duplicate, reported as a D-SACK block. */
  | { kind: 'duplicate'; dsack: SackBlock }
  /** Over the out-of-order byte bound: dropped. */
  | { kind: 'dropped' };

/** Out-of-order segments above RCV.NXT, sorted and non-overlapping, bounded in bytes. */
export class Reassembly {
  private entries: OooEntry[] = [];
  private bytes = 0;
  /** Start sequence numbers of the most recently received segments, newest first (RFC 2018 4). */
  private recent: number[] = [];

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.bytes;
  }

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /** Holds a segment starting above rcvNxt (the caller has trimmed it to the window). */
  insert(seq: number, data: Buffer, fin: boolean): InsertResult {
    // Cut the new segment into the pieces no held entry covers.
    const end = seqAdd(seq, data.length + (fin ? 1 : 0));
    const pieces: OooEntry[] = [];
    let cur = seq;
    for (const e of this.entries) {
      if (!seqLt(cur, end)) break;
      const eEnd = entryEnd(e);
      if (seqLe(eEnd, cur)) continue;
      if (seqGe(e.seq, end)) break;
      if (seqLt(cur, e.seq)) pieces.push(this.piece(seq, data, fin, cur, e.seq));
      cur = seqGt(eEnd, cur) ? eEnd : cur;
    }
    if (seqLt(cur, end)) pieces.push(this.piece(seq, data, fin, cur, end));
    if (pieces.length === 0) return { kind: 'duplicate', dsack: { left: seq, right: end } };
    const added = pieces.reduce((n, p) => n + p.data.length, 0);
    if (this.bytes + added > this.maxBytes) return { kind: 'dropped' };
    for (const p of pieces) this.insertSorted(p);
    this.bytes += added;
    this.recent = [seq, ...this.recent.filter((s) => s !== seq)].slice(0, 8);
    return { kind: 'queued' };
  }

  private piece(seq: number, data: Buffer, fin: boolean, from: number, to: number): OooEntry {
    const a = seqDiff(from, seq);
    const b = Math.min(seqDiff(to, seq), data.length);
    const hasFin = fin && seqDiff(to, seq) === data.length + 1;
    return { seq: from, data: data.subarray(a, Math.max(a, b)), fin: hasFin };
  }

  private insertSorted(p: OooEntry): void {
    let i = this.entries.length;
    while (i > 0 && seqGt(this.entries[i - 1]!.seq, p.seq)) i--;
    this.entries.splice(i, 0, p);
  }

  /**
   * Takes the entries that became in-order at rcvNxt. Returns the data (in order), the new
   * RCV.NXT and whether a FIN was reached.
   */
  drain(rcvNxt: number): { data: Buffer[]; rcvNxt: number; fin: boolean } {
    const data: Buffer[] = [];
    let nxt = rcvNxt;
    let fin = false;
    while (this.entries.length > 0) {
      const e = this.entries[0]!;
      if (seqGt(e.seq, nxt)) break;
      this.entries.shift();
      this.bytes -= e.data.length;
      const eEnd = entryEnd(e);
      if (seqLe(eEnd, nxt)) continue; // wholly old
      const skip = seqDiff(nxt, e.seq);
      if (skip < e.data.length) data.push(e.data.subarray(skip));
      nxt = eEnd;
      if (e.fin) {
        fin = true;
        // Anything held beyond a FIN is meaningless.
        this.clear();
        break;
      }
    }
    this.recent = this.recent.filter((s) => seqGt(s, nxt));
    return { data, rcvNxt: nxt, fin };
  }

  /** Contiguous runs of held data, [left, right), in sequence order. */
  runs(): SackBlock[] {
    const out: SackBlock[] = [];
    for (const e of this.entries) {
      const last = out[out.length - 1];
      const eEnd = entryEnd(e);
      if (last && seqGe(last.right, e.seq)) {
        if (seqGt(eEnd, last.right)) last.right = eEnd;
      } else out.push({ left: e.seq, right: eEnd });
    }
    return out;
  }

  /**
   * Up to `max` SACK blocks: the block holding the most recently received segment first, then
   * the blocks of earlier recent arrivals, then the other held runs (RFC 2018 section 4).
   */
  sackBlocks(max: number): SackBlock[] {
    if (max <= 0 || this.entries.length === 0) return [];
    const runs = this.runs();
    const out: SackBlock[] = [];
    const used = new Set<number>();
    const runOf = (s: number): number => runs.findIndex((r) => seqLe(r.left, s) && seqLt(s, r.right));
    for (const s of this.recent) {
      const i = runOf(s);
      if (i >= 0 && !used.has(i)) {
        used.add(i);
        out.push({ ...runs[i]! });
        if (out.length >= max) return out;
      }
    }
    for (let i = 0; i < runs.length && out.length < max; i++) if (!used.has(i)) out.push({ ...runs[i]! });
    return out;
  }

  clear(): void {
    this.entries = [];
    this.bytes = 0;
    this.recent = [];
  }
}

/**
 * Receiver SWS avoidance (RFC 1122 4.2.3.3): the right edge we offer never moves left, and it
 * moves right only when the free space exceeds the current offer by at least
 * min(rcvBuf/2, MSS). Returns the window (bytes) to advertise from rcvNxt.
 */
export function receiveWindow(p: { free: number; offered: number; rcvBuf: number; mss: number }): number {
  const offered = Math.max(0, p.offered);
  const free = Math.max(0, p.free);
  if (free - offered >= Math.min(p.rcvBuf / 2, p.mss)) return free;
  return offered;
}
