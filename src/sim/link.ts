/**
 * A simulated one-way link on the virtual clock: propagation delay, jitter, random loss,
 * duplication and reordering, and optionally a bottleneck (serialization at `rate` bytes/s
 * behind a drop-tail queue of `queueBytes`). Segments may be round-tripped through the real
 * wire codec (default) so option-space limits and checksums are exercised too.
 */
import { decodeTcp, encodeTcp, type TcpSegment } from '../wire/tcp.js';
import { prng, type SimClock } from './clock.js';

export interface LinkOptions {
  /** One-way propagation delay, ms (default 10). */
  delay?: number;
  /** Extra uniform random delay in [0, jitter) ms per packet (reorders when large). */
  jitter?: number;
  /** Probability a packet is lost. */
  loss?: number;
  /** Probability a packet is delivered twice. */
  duplicate?: number;
  /** Probability a packet is held back by `reorderDelay` ms (default: delay). */
  reorder?: number;
  reorderDelay?: number;
  /** Bottleneck rate, bytes/s (undefined: infinite). */
  rate?: number;
  /** Drop-tail queue limit in bytes in front of the bottleneck (default: unlimited). */
  queueBytes?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Round-trip every segment through encodeTcp/decodeTcp (default true). */
  encode?: boolean;
  /** Deterministic drop decision, called for every packet with its index on this link. */
  drop?: (seg: TcpSegment, index: number) => boolean;
  /** Deterministic extra delay (ms) for one packet, e.g. to reorder a chosen segment. */
  extraDelay?: (seg: TcpSegment, index: number) => number;
}

export interface LinkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  queueDrops: number;
  bytes: number;
  maxQueueBytes: number;
}

/** Bytes a segment occupies on the wire (IPv4 + TCP headers with options + payload). */
export function wireSize(seg: TcpSegment): number {
  let opt = 0;
  const o = seg.options;
  if (o.mss !== undefined) opt += 4;
  if (o.wscale !== undefined) opt += 4;
  if (o.sackPermitted) opt += 4;
  if (o.ts) opt += 12;
  if (o.sack) opt += 4 + 8 * o.sack.length;
  return 40 + opt + seg.payload.length;
}

export class SimLink {
  readonly stats: LinkStats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, queueDrops: 0, bytes: 0, maxQueueBytes: 0 };
  private readonly rnd: () => number;
  private busyUntil = 0;
  private queued = 0;
  private index = 0;

  constructor(
    private readonly clock: SimClock,
    readonly opts: LinkOptions,
    /** Where packets come out: (segment, srcAddr, dstAddr). */
    private readonly deliver: (seg: TcpSegment, src: number, dst: number) => void,
  ) {
    this.rnd = prng(opts.seed ?? 1);
  }

  /** Bytes waiting in the bottleneck queue now. */
  get queueBytes(): number {
    return this.queued;
  }

  send(seg0: TcpSegment, src: number, dst: number): void {
    const o = this.opts;
    const i = this.index++;
    this.stats.sent++;
    let seg = seg0;
    if (o.encode !== false) {
      const d = decodeTcp(encodeTcp(seg0, src, dst), src, dst);
      if (!d.ok) throw new Error(`sim link: segment does not survive the codec: ${d.reason}`);
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
    if (copies === 2) this.stats.duplicated++;
    const extra = o.extraDelay?.(seg, i) ?? 0;
    if (extra > 0) this.stats.reordered++;
    for (let c = 0; c < copies; c++) this.enqueue(wireSize(seg), extra, () => this.deliver(seg, src, dst));
  }

  /**
   * Carries one opaque datagram (a secure-mode message, src/sim/secure.ts) with the same
   * random loss, duplication, reordering, jitter and bottleneck, sized by its length. The
   * segment filters (`drop`, `extraDelay`) do not see it.
   */
  sendDatagram(d: Buffer, arrive: (d: Buffer) => void): void {
    const o = this.opts;
    this.index++;
    this.stats.sent++;
    if (o.loss && this.rnd() < o.loss) {
      this.stats.lost++;
      return;
    }
    const copies = o.duplicate && this.rnd() < o.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) this.enqueue(d.length, 0, () => arrive(Buffer.from(d)));
  }

  private enqueue(size: number, extra: number, arrive: () => void): void {
    const o = this.opts;
    const now = this.clock.now;
    let departAt = now;
    if (o.rate !== undefined && o.rate > 0) {
      if (o.queueBytes !== undefined && this.queued + size > o.queueBytes) {
        this.stats.queueDrops++;
        return;
      }
      this.queued += size;
      if (this.queued > this.stats.maxQueueBytes) this.stats.maxQueueBytes = this.queued;
      departAt = Math.max(now, this.busyUntil) + (size * 1000) / o.rate;
      this.busyUntil = departAt;
      this.clock.schedule(departAt, () => {
        this.queued -= size;
      });
    }
    let delay = (o.delay ?? 10) + extra;
    if (o.jitter) delay += this.rnd() * o.jitter;
    if (o.reorder && this.rnd() < o.reorder) {
      delay += o.reorderDelay ?? o.delay ?? 10;
      this.stats.reordered++;
    }
    this.stats.bytes += size;
    this.clock.schedule(departAt + delay, () => {
      this.stats.delivered++;
      arrive();
    });
  }
}
