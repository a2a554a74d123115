/**
 * A simulated one-way link on the virtual clock: propagation delay, jitter, random loss,
 * duplication and reordering, and optionally a bottleneck (serialization at `rate` bytes/s
 * behind a drop-tail queue of `queueBytes`). Segments may be round-tripped through the real
 * wire codec (default) so option-space limits and checksums are exercised too.
 */
import { decodeTcp, encodeTcp } from '../wire/tcp.js';
import { prng } from './clock.js';
/** Bytes a segment occupies on the wire (IPv4 + TCP headers with options + payload). */
export function wireSize(seg) {
    let opt = 0;
    const o = seg.options;
    if (o.mss !== undefined)
        opt += 4;
    if (o.wscale !== undefined)
        opt += 4;
    if (o.sackPermitted)
        opt += 4;
    if (o.ts)
        opt += 12;
    if (o.sack)
        opt += 4 + 8 * o.sack.length;
    return 40 + opt + seg.payload.length;
}
export class SimLink {
    clock;
    opts;
    deliver;
    stats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, queueDrops: 0, bytes: 0, maxQueueBytes: 0 };
    rnd;
    busyUntil = 0;
    queued = 0;
    index = 0;
    constructor(clock, opts, 
    /** Where packets come out: (segment, srcAddr, dstAddr). */
    deliver) {
        this.clock = clock;
        this.opts = opts;
        this.deliver = deliver;
        this.rnd = prng(opts.seed ?? 1);
    }
    /** Bytes waiting in the bottleneck queue now. */
    get queueBytes() {
        return this.queued;
    }
    send(seg0, src, dst) {
        const o = this.opts;
        const i = this.index++;
        this.stats.sent++;
        let seg = seg0;
        if (o.encode !== false) {
            const d = decodeTcp(encodeTcp(seg0, src, dst), src, dst);
            if (!d.ok)
                throw new Error(`sim link: segment does not survive the codec: ${d.reason}`);
            seg = d.segment;
        }
        if (o.drop?.(seg, i)) {
            this.stats.lost++;
            return;
        }
        if (o.loss && this.rnd() < o.loss) {
            this.stats.lost++;
            return;
        }
        const copies = o.duplicate && this.rnd() < o.duplicate ? 2 : 1;
        if (copies === 2)
            this.stats.duplicated++;
        const extra = o.extraDelay?.(seg, i) ?? 0;
        if (extra > 0)
            this.stats.reordered++;
        for (let c = 0; c < copies; c++)
            this.enqueue(seg, src, dst, extra);
    }
    enqueue(seg, src, dst, extra) {
        const o = this.opts;
        const now = this.clock.now;
        const size = wireSize(seg);
        let departAt = now;
        if (o.rate !== undefined && o.rate > 0) {
            if (o.queueBytes !== undefined && this.queued + size > o.queueBytes) {
                this.stats.queueDrops++;
                return;
            }
            this.queued += size;
            if (this.queued > this.stats.maxQueueBytes)
                this.stats.maxQueueBytes = this.queued;
            departAt = Math.max(now, this.busyUntil) + (size * 1000) / o.rate;
            this.busyUntil = departAt;
            this.clock.schedule(departAt, () => {
                this.queued -= size;
            });
        }
        let delay = (o.delay ?? 10) + extra;
        if (o.jitter)
            delay += this.rnd() * o.jitter;
        if (o.reorder && this.rnd() < o.reorder) {
            delay += o.reorderDelay ?? o.delay ?? 10;
            this.stats.reordered++;
        }
        this.stats.bytes += size;
        this.clock.schedule(departAt + delay, () => {
            this.stats.delivered++;
            this.deliver(seg, src, dst);
        });
    }
}
