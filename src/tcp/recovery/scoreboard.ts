/**
 * The RFC 6675 SACK scoreboard over the retransmission queue: SACK block processing
 * (RFC 2018), D-SACK detection (RFC 2883 section 4), IsLost and NextSeg; the tallies that make
 * pipe (SetPipe) O(1) are LossRecovery's (loss-recovery.ts).
 *
 * Model (as in Linux): each queued segment is SACKed, lost (awaiting retransmission) or in
 * flight. `pipe` counts the segments in flight: not SACKed and not lost; a retransmitted
 * segment is in flight again until it is deemed lost again (RFC 6675 SetPipe's "plus
 * retransmitted" term with the "lost" term already subtracted).
 */
import type { SackBlock } from '../../wire/tcp.js';
import { seqAdd, seqGe, seqGt, seqLe, seqLt } from '../seq.js';
import { txEnd, txSpan, type SegQueue, type TxSegment } from '../send.js';

/** RFC 6675 DupThresh. */
export const DUP_THRESH = 3;

export interface SackResult {
  /** Bytes newly SACKed by this ACK. */
  newlySacked: number;
  /** Segments newly SACKed (for RACK and rate sampling). */
  newly: TxSegment[];
  /** Of those, the ones that had been marked lost: bytes and count (they leave the lost tally). */
  wasLostBytes: number;
  wasLostSegs: number;
  /** The first block was a D-SACK (RFC 2883 4): below SND.UNA or inside another block. */
  dsack?: SackBlock;
}

/** Applies the SACK blocks of an ACK (already known valid: above SND.UNA, at most SND.NXT). */
export function applySack(queue: SegQueue, blocks: SackBlock[] | undefined, ack: number, sndNxt: number): SackResult {
  const res: SackResult = { newlySacked: 0, newly: [], wasLostBytes: 0, wasLostSegs: 0 };
  if (!blocks || blocks.length === 0) return res;
  let list = blocks;
  const first = blocks[0]!;
  // RFC 2883 4: a D-SACK is the first block, below the cumulative ACK or covered by the second.
  if (seqLe(first.right, ack) || (blocks.length > 1 && seqGe(first.left, blocks[1]!.left) && seqLe(first.right, blocks[1]!.right))) {
    res.dsack = first;
    list = blocks.slice(1);
  }
  for (const b of list) {
    // Ignore nonsense (RFC 2018: blocks must lie within (SND.UNA, SND.NXT]).
    if (!seqLt(b.left, b.right) || seqLt(b.left, ack) || seqGt(b.right, sndNxt)) continue;
    for (let i = firstEndingAfter(queue, b.left); i < queue.length; i++) {
      const s = queue.at(i)!;
      if (s.sacked) continue;
      if (seqGe(s.seq, b.right)) break;
      if (seqGe(s.seq, b.left) && seqLe(txEnd(s), b.right)) {
        s.sacked = true;
        if (s.lost) {
          res.wasLostBytes += txSpan(s);
          res.wasLostSegs++;
          s.lost = false;
        }
        res.newlySacked += txSpan(s);
        res.newly.push(s);
      }
    }
  }
  return res;
}

/**
 * RFC 6675 IsLost for every not-yet-SACKed segment: lost when DupThresh segments, or more than
 * (DupThresh-1)*SMSS bytes, above it have been SACKed. Marks them; returns the newly lost.
 *
 * Incremental: counts only grow while a segment waits, so everything below the DupThresh-th
 * SACKed segment from the top is lost, and a segment once considered (marked, SACKed or
 * already retransmitted, which IsLost never re-marks) never needs looking at again.
 * `state.doneUpTo` (a sequence number) remembers how far that is; `highSackedEnd` is the
 * end of the highest SACKed segment, where the count starts. Per call the work is the
 * segments between the top SACKed ones plus the newly considered ones, not the whole queue.
 */
export function markLostBySack(
  queue: SegQueue,
  mss: number,
  highSackedEnd: number,
  state: { doneUpTo: number },
): TxSegment[] {
  const newly: TxSegment[] = [];
  if (queue.length === 0) return newly;
  if (seqLt(state.doneUpTo, queue.at(0)!.seq)) state.doneUpTo = queue.at(0)!.seq;
  // The segment holding the highest SACKed byte, then down to where the threshold is met.
  let top = firstEndingAfter(queue, seqAdd(highSackedEnd, -1));
  if (top >= queue.length) top = queue.length - 1;
  let sackedSegs = 0;
  let sackedBytes = 0;
  let lim = -1;
  for (let i = top; i >= 0; i--) {
    const s = queue.at(i)!;
    if (!s.sacked) continue;
    sackedSegs++;
    sackedBytes += s.len;
    if (sackedSegs >= DUP_THRESH || sackedBytes > (DUP_THRESH - 1) * mss) {
      lim = i;
      break;
    }
  }
  if (lim <= 0) return newly;
  for (let i = firstEndingAfter(queue, state.doneUpTo); i < lim; i++) {
    const s = queue.at(i)!;
    if (!s.sacked && !s.lost && s.retransmits === 0) {
      s.lost = true;
      newly.push(s);
    }
  }
  state.doneUpTo = txEnd(queue.at(lim - 1)!);
  return newly;
}

/** Index of the first queued segment whose end is above `seq` (binary search; the queue is in order). */
export function firstEndingAfter(queue: SegQueue, seq: number): number {
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqLe(txEnd(queue.at(mid)!), seq)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** RFC 6675 NextSeg rule 1: the first segment deemed lost (and not SACKed). */
export function nextLost(queue: SegQueue): TxSegment | undefined {
  for (let i = 0; i < queue.length; i++) {
    const s = queue.at(i)!;
    if (s.lost && !s.sacked) return s;
  }
  return undefined;
}
