import { seqAdd, seqGe, seqGt, seqLe, seqLt } from '../seq.js';
import { txEnd, txSize } from '../send.js';
/** RFC 6675 DupThresh. */
export const DUP_THRESH = 3;
/** Applies the SACK blocks of an ACK (already known valid: above SND.UNA, at most SND.NXT). */
export function applySack(queue, blocks, ack, sndNxt) {
    const res = { newlySacked: 0, newly: [], wasLostBytes: 0, wasLostSegs: 0 };
    if (!blocks || blocks.length === 0)
        return res;
    let list = blocks;
    const first = blocks[0];
    // RFC 2883 4: a D-SACK is the first block, below the cumulative ACK or covered by the second.
    if (seqLe(first.right, ack) || (blocks.length > 1 && seqGe(first.left, blocks[1].left) && seqLe(first.right, blocks[1].right))) {
        res.dsack = first;
        list = blocks.slice(1);
    }
    for (const b of list) {
        // Ignore nonsense (RFC 2018: blocks must lie within (SND.UNA, SND.NXT]).
        if (!seqLt(b.left, b.right) || seqLt(b.left, ack) || seqGt(b.right, sndNxt))
            continue;
        for (let i = firstEndingAfter(queue, b.left); i < queue.length; i++) {
            const s = queue[i];
            if (s.sacked)
                continue;
            if (seqGe(s.seq, b.right))
                break;
            if (seqGe(s.seq, b.left) && seqLe(txEnd(s), b.right)) {
                s.sacked = true;
                if (s.lost) {
                    res.wasLostBytes += txSize(s);
                    res.wasLostSegs++;
                    s.lost = false;
                }
                res.newlySacked += txSize(s);
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
export function markLostBySack(queue, mss, highSackedEnd, state) {
    const newly = [];
    if (queue.length === 0)
        return newly;
    if (seqLt(state.doneUpTo, queue[0].seq))
        state.doneUpTo = queue[0].seq;
    // The segment holding the highest SACKed byte, then down to where the threshold is met.
    let top = firstEndingAfter(queue, seqAdd(highSackedEnd, -1));
    if (top >= queue.length)
        top = queue.length - 1;
    let sackedSegs = 0;
    let sackedBytes = 0;
    let lim = -1;
    for (let i = top; i >= 0; i--) {
        const s = queue[i];
        if (!s.sacked)
            continue;
        sackedSegs++;
        sackedBytes += s.len;
        if (sackedSegs >= DUP_THRESH || sackedBytes > (DUP_THRESH - 1) * mss) {
            lim = i;
            break;
        }
    }
    if (lim <= 0)
        return newly;
    for (let i = firstEndingAfter(queue, state.doneUpTo); i < lim; i++) {
        const s = queue[i];
        if (!s.sacked && !s.lost && s.retransmits === 0) {
            s.lost = true;
            newly.push(s);
        }
    }
    state.doneUpTo = txEnd(queue[lim - 1]);
    return newly;
}
/** Index of the first queued segment whose end is above `seq` (binary search; the queue is in order). */
export function firstEndingAfter(queue, seq) {
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (seqLe(txEnd(queue[mid]), seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
/** RFC 6675 SetPipe: bytes in flight. */
export function pipe(queue) {
    let p = 0;
    for (const s of queue)
        if (!s.sacked && !s.lost)
            p += txSize(s);
    return p;
}
/** RFC 6675 NextSeg rule 1: the first segment deemed lost (and not SACKed). */
export function nextLost(queue) {
    for (const s of queue)
        if (s.lost && !s.sacked)
            return s;
    return undefined;
}
/** Bytes SACKed. */
export function sackedBytes(queue) {
    let n = 0;
    for (const s of queue)
        if (s.sacked)
            n += txSize(s);
    return n;
}
/** Whether any segment is SACKed. */
export function anySacked(queue) {
    for (const s of queue)
        if (s.sacked)
            return true;
    return false;
}
