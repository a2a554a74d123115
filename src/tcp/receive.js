import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
/**
 * Out-of-order data above RCV.NXT: sorted, non-overlapping, contiguous runs coalesced (so the
 * entry count is the number of holes, not of segments), bounded in bytes.
 */
export class Reassembly {
    maxBytes;
    entries = [];
    bytes = 0;
    /** Start sequence numbers of the most recently received segments, newest first (RFC 2018 4). */
    recent = [];
    constructor(maxBytes) {
        this.maxBytes = maxBytes;
    }
    get size() {
        return this.bytes;
    }
    get isEmpty() {
        return this.entries.length === 0;
    }
    /** Holds a segment starting above rcvNxt (the caller has trimmed it to the window). */
    insert(seq, data, fin) {
        // Cut the new segment into the pieces no held entry covers.
        const end = seqAdd(seq, data.length + (fin ? 1 : 0));
        const pieces = [];
        let cur = seq;
        for (const e of this.entries) {
            if (!seqLt(cur, end))
                break;
            if (seqLe(e.end, cur))
                continue;
            if (seqGe(e.seq, end))
                break;
            if (seqLt(cur, e.seq))
                pieces.push(this.piece(seq, data, fin, cur, e.seq));
            if (seqGt(e.end, cur))
                cur = e.end;
        }
        if (seqLt(cur, end))
            pieces.push(this.piece(seq, data, fin, cur, end));
        if (pieces.length === 0)
            return { kind: 'duplicate', dsack: { left: seq, right: end } };
        const added = pieces.reduce((n, p) => n + p.data.length, 0);
        if (this.bytes + added > this.maxBytes)
            return { kind: 'dropped' };
        for (const p of pieces)
            this.place(p);
        this.bytes += added;
        this.recent = [seq, ...this.recent.filter((s) => s !== seq)].slice(0, 8);
        return { kind: 'queued' };
    }
    piece(seq, data, fin, from, to) {
        const a = seqDiff(from, seq);
        const b = Math.min(seqDiff(to, seq), data.length);
        const hasFin = fin && seqDiff(to, seq) === data.length + 1;
        return { seq: from, end: to, data: data.subarray(a, Math.max(a, b)), fin: hasFin };
    }
    /** Puts a piece (which lies in a gap) in order, merging it with adjacent entries. */
    place(p) {
        let i = this.entries.length;
        while (i > 0 && seqGt(this.entries[i - 1].seq, p.seq))
            i--;
        const left = this.entries[i - 1];
        const right = this.entries[i];
        if (left && !left.fin && left.end === p.seq) {
            left.chunks.push(p.data);
            left.bytes += p.data.length;
            left.end = p.end;
            left.fin = p.fin;
            if (right && !left.fin && left.end === right.seq) {
                for (const c of right.chunks)
                    left.chunks.push(c);
                left.bytes += right.bytes;
                left.end = right.end;
                left.fin = right.fin;
                this.entries.splice(i, 1);
            }
            return;
        }
        if (right && !p.fin && p.end === right.seq) {
            right.chunks.unshift(p.data);
            right.bytes += p.data.length;
            right.seq = p.seq;
            return;
        }
        this.entries.splice(i, 0, { seq: p.seq, end: p.end, chunks: [p.data], bytes: p.data.length, fin: p.fin });
    }
    /**
     * Takes the entries that became in-order at rcvNxt. Returns the data (in order), the new
     * RCV.NXT (counting a FIN) and whether a FIN was reached.
     */
    drain(rcvNxt) {
        const data = [];
        let nxt = rcvNxt;
        let fin = false;
        while (this.entries.length > 0) {
            const e = this.entries[0];
            if (seqGt(e.seq, nxt))
                break;
            this.entries.shift();
            this.bytes -= e.bytes;
            if (seqLe(e.end, nxt))
                continue; // wholly old
            let skip = seqDiff(nxt, e.seq);
            for (const c of e.chunks) {
                if (skip >= c.length) {
                    skip -= c.length;
                    continue;
                }
                data.push(skip > 0 ? c.subarray(skip) : c);
                skip = 0;
            }
            nxt = e.end;
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
    runs() {
        return this.entries.map((e) => ({ left: e.seq, right: e.end }));
    }
    /**
     * Up to `max` SACK blocks: the block holding the most recently received segment first, then
     * the blocks of earlier recent arrivals, then the other held runs (RFC 2018 section 4).
     */
    sackBlocks(max) {
        if (max <= 0 || this.entries.length === 0)
            return [];
        const out = [];
        const used = new Set();
        for (const s of this.recent) {
            const e = this.entries.find((x) => seqLe(x.seq, s) && seqLt(s, x.end));
            if (e && !used.has(e)) {
                used.add(e);
                out.push({ left: e.seq, right: e.end });
                if (out.length >= max)
                    return out;
            }
        }
        for (const e of this.entries) {
            if (out.length >= max)
                break;
            if (!used.has(e))
                out.push({ left: e.seq, right: e.end });
        }
        return out;
    }
    clear() {
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
export function receiveWindow(p) {
    const offered = Math.max(0, p.offered);
    const free = Math.max(0, p.free);
    if (free - offered >= Math.min(p.rcvBuf / 2, p.mss))
        return free;
    return offered;
}
