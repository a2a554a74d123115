/**
 * The impairment stages. One instance per (link, direction, toxic); it owns the toxic's
 * state (Gilbert-Elliott state, held packets, the bottleneck queue) and survives parameter
 * updates. Stages are sans-IO: `handle(packet, t, emit)` gets the packet's arrival time at
 * the stage (proxy-clock ms, possibly in the future after a delay) and emits zero or more
 * packets with their departure times; `poll(now, emit)` releases what timed out. The
 * driver (real UDP and timers, or a virtual clock in tests) only moves bytes.
 */
import { normalFrom, streamKey, u01 } from './prng.js';
import { viewInner, type InnerView } from './inner.js';
import {
  matchHeaders,
  scheduleActive,
  type BottleneckParams,
  type CorruptParams,
  type DelayParams,
  type Direction,
  type DuplicateParams,
  type LossParams,
  type MtuParams,
  type ReorderParams,
  type StageName,
  type Toxic,
} from './rules.js';

/** A packet inside the pipeline: the inner bytes, its number on the link direction (from 1) and duplicate copy index. */
export interface Pkt {
  data: Buffer;
  n: number;
  c: number;
  view?: InnerView;
}

export type Emit = (p: Pkt, t: number) => void;

export type Verdict = 'passed' | 'dropped' | 'duplicated' | 'corrupted' | 'reordered' | 'delayed';
export const VERDICTS: readonly Verdict[] = ['passed', 'dropped', 'duplicated', 'corrupted', 'reordered', 'delayed'];

/** One decision, as the decision log stores it. */
export interface Decision {
  /** Proxy-clock ms. */
  t: number;
  /** Link, direction, packet number, copy. */
  l: string;
  d: Direction;
  n: number;
  c: number;
  /** Stage and toxic name. */
  g: StageName;
  s: string;
  v: Verdict;
  /** The drawn value where there is one: delay ms, duplicate copies, corrupted bit positions. */
  x?: number | number[];
}

/** What a stage needs from its lane. */
export interface LaneContext {
  readonly seed: number;
  readonly link: string;
  readonly dir: Direction;
  /** Records a decision (stats, metrics, decision log). */
  record(stage: StageInstance, p: Pkt, t: number, v: Verdict, x?: number | number[]): void;
  /** A recorded decision to apply instead of drawing (replay mode), or undefined. */
  replay?(stage: StageInstance, p: Pkt): Decision | undefined;
  /** Sends an ICMP error back towards the packet's source (router mode). */
  fragNeeded?(p: Pkt, mtu: number): void;
  /** Schedule base for toxics with from: 'start' (proxy-clock ms, normally 0). */
  readonly startTime: number;
}

export abstract class StageInstance {
  protected key: number;
  /** Matching packets seen (for match.count). */
  private matched = 0;
  readonly scopeName: string;

  constructor(
    public toxic: Toxic,
    protected readonly ctx: LaneContext,
    scope: string,
  ) {
    this.scopeName = `${scope}/${toxic.name}`;
    this.key = streamKey(ctx.seed, ctx.link, ctx.dir, this.scopeName);
  }

  get stage(): StageName {
    return this.toxic.stage;
  }

  /** Takes new parameters; state (queues, Markov state, held packets) is kept. */
  update(toxic: Toxic): void {
    this.toxic = toxic;
  }

  /** Whether the toxic acts on this packet now: schedule, packet range, headers, count. */
  protected applies(p: Pkt, t: number): boolean {
    const tx = this.toxic;
    if (tx.schedule) {
      const base = tx.schedule.from === 'start' ? this.ctx.startTime : tx.addedAt;
      if (!scheduleActive(tx.schedule, t - base)) return false;
    }
    // Toxicity draws from its own counter (63) so it never disturbs the stage's draws
    // (in replay the recorded decision governs).
    if (tx.toxicity < 1 && !this.ctx.replay && !(u01(this.key, p.n, p.c, 63) < tx.toxicity)) return false;
    const m = tx.match;
    if (!m) return true;
    if (m.packets && (p.n < m.packets[0] || p.n > m.packets[1])) return false;
    if (m.needsInner) {
      p.view ??= viewInner(p.data);
      if (!matchHeaders(m, p.view)) return false;
    }
    if (m.count !== undefined) {
      if (this.matched >= m.count) return false;
      this.matched++;
    }
    return true;
  }

  /** Draw k for this packet in this toxic's stream. */
  protected draw(p: Pkt, k: number): number {
    return u01(this.key, p.n, p.c, k);
  }

  abstract handle(p: Pkt, t: number, emit: Emit): void;

  poll(_now: number, _emit: Emit): void {}

  nextDeadline(): number {
    return Infinity;
  }

  /** Drops held state (reset). */
  clear(): void {}
}

class PartitionStage extends StageInstance {
  handle(p: Pkt, t: number, emit: Emit): void {
    if (!this.applies(p, t)) return emit(p, t);
    this.ctx.record(this, p, t, 'dropped');
  }
}

class LossStage extends StageInstance {
  private bad = false;
  private consecutive = 0;
  private dropSet = new Set<number>();

  constructor(toxic: Toxic, ctx: LaneContext, scope: string) {
    super(toxic, ctx, scope);
    this.update(toxic);
  }

  override update(toxic: Toxic): void {
    this.toxic = toxic;
    this.dropSet = new Set((toxic.params as LossParams).drop);
  }

  handle(p: Pkt, t: number, emit: Emit): void {
    if (!this.applies(p, t)) return emit(p, t);
    const prm = this.toxic.params as LossParams;
    let drop: boolean;
    if (this.ctx.replay) {
      drop = this.ctx.replay(this, p)?.v === 'dropped';
    } else if (this.dropSet.has(p.n) && p.c === 0) {
      drop = true;
    } else if (prm.model === 'bernoulli') {
      drop = this.draw(p, 0) < prm.p;
    } else {
      // Gilbert-Elliott: the loss depends on the current state, then the chain steps.
      const u = this.draw(p, 0);
      drop = this.bad ? u >= prm.h : u >= prm.k;
      const v = this.draw(p, 1);
      this.bad = this.bad ? !(v < prm.r) : v < prm.p;
    }
    if (drop && !this.ctx.replay && prm.maxConsecutive > 0 && this.consecutive >= prm.maxConsecutive) drop = false;
    this.consecutive = drop ? this.consecutive + 1 : 0;
    this.ctx.record(this, p, t, drop ? 'dropped' : 'passed');
    if (!drop) emit(p, t);
  }

  override clear(): void {
    this.bad = false;
    this.consecutive = 0;
  }
}

class DuplicateStage extends StageInstance {
  handle(p: Pkt, t: number, emit: Emit): void {
    if (!this.applies(p, t)) return emit(p, t);
    const prm = this.toxic.params as DuplicateParams;
    let extra: number;
    if (this.ctx.replay) {
      const rec = this.ctx.replay(this, p);
      extra = rec?.v === 'duplicated' ? Number(rec.x ?? 1) : 0;
    } else {
      extra = this.draw(p, 0) < prm.p ? prm.count : 0;
    }
    if (extra === 0) this.ctx.record(this, p, t, 'passed');
    else this.ctx.record(this, p, t, 'duplicated', extra);
    emit(p, t);
    for (let i = 1; i <= extra; i++) emit({ data: p.data, n: p.n, c: p.c * 101 + i, view: p.view }, t);
  }
}

/** Byte ranges [start, end) of the datagram that a corruption may touch. */
function corruptRanges(p: Pkt, where: CorruptParams['where']): Array<[number, number]> {
  const len = p.data.length;
  const v = (p.view ??= viewInner(p.data));
  if (!v.ipv4 || where === 'any') return [[0, len]];
  const t = v.ihl;
  const end = v.totalLength;
  if (where === 'ip') {
    // Skip version/IHL and the total length, so the receiver's reason is the header checksum.
    return [
      [1, 2],
      [4, t],
    ];
  }
  if (end <= t) return [[0, len]];
  if (v.protocol === 6 && end >= t + 20) {
    const thl = (p.data[t + 12]! >> 4) * 4;
    if (where === 'payload' && end > t + thl) return [[t + thl, end]];
    // Skip the data offset byte (a bad offset is dropped before the checksum is checked).
    return [
      [t, t + 12],
      [t + 13, end],
    ];
  }
  if (v.protocol === 17 && end >= t + 8) {
    if (where === 'payload' && end > t + 8) return [[t + 8, end]];
    // Skip the length (checked first) and the checksum field (0 would mean "no checksum").
    return [
      [t, t + 4],
      [t + 8, end],
    ].filter(([a, b]) => b! > a!) as Array<[number, number]>;
  }
  return [[t, end]];
}

class CorruptStage extends StageInstance {
  handle(p: Pkt, t: number, emit: Emit): void {
    if (!this.applies(p, t)) return emit(p, t);
    const prm = this.toxic.params as CorruptParams;
    let bits: number[] = [];
    if (this.ctx.replay) {
      const rec = this.ctx.replay(this, p);
      if (rec?.v === 'corrupted' && Array.isArray(rec.x)) bits = rec.x;
    } else if (this.draw(p, 0) < prm.p) {
      const ranges = corruptRanges(p, prm.where);
      const total = ranges.reduce((s, [a, b]) => s + (b - a), 0) * 8;
      for (let k = 1; bits.length < prm.bits && total > 0 && k < 64 + prm.bits * 4; k++) {
        let idx = Math.floor(this.draw(p, k) * total);
        let pos = -1;
        for (const [a, b] of ranges) {
          const n = (b - a) * 8;
          if (idx < n) {
            pos = a * 8 + idx;
            break;
          }
          idx -= n;
        }
        if (pos >= 0 && !bits.includes(pos)) bits.push(pos);
      }
    }
    if (bits.length === 0) {
      this.ctx.record(this, p, t, 'passed');
      return emit(p, t);
    }
    // Copy: the original buffer may be shared with duplicates.
    const data = Buffer.from(p.data);
    for (const pos of bits) if (pos >> 3 < data.length) data[pos >> 3]! ^= 0x80 >> (pos & 7);
    this.ctx.record(this, p, t, 'corrupted', bits);
    emit({ data, n: p.n, c: p.c, view: p.view }, t);
  }
}

class MtuStage extends StageInstance {
  handle(p: Pkt, t: number, emit: Emit): void {
    const prm = this.toxic.params as MtuParams;
    if (p.data.length <= prm.mtu || !this.applies(p, t)) return emit(p, t);
    this.ctx.record(this, p, t, 'dropped');
    if (prm.icmp) this.ctx.fragNeeded?.(p, prm.mtu);
  }
}

interface Held {
  p: Pkt;
  passed: number;
  deadline: number;
}

class ReorderStage extends StageInstance {
  private held: Held[] = [];

  handle(p: Pkt, t: number, emit: Emit): void {
    this.poll(t, emit);
    if (this.applies(p, t)) {
      const prm = this.toxic.params as ReorderParams;
      const hold = this.ctx.replay ? this.ctx.replay(this, p)?.v === 'reordered' : this.draw(p, 0) < prm.p;
      if (hold) {
        this.ctx.record(this, p, t, 'reordered');
        this.held.push({ p, passed: 0, deadline: t + prm.maxHold });
        return;
      }
      this.ctx.record(this, p, t, 'passed');
    }
    emit(p, t);
    // The packet passed: each held packet is now one packet further behind.
    const k = (this.toxic.params as ReorderParams).k;
    let j = 0;
    for (const h of this.held) {
      if (++h.passed >= k) emit(h.p, t);
      else this.held[j++] = h;
    }
    this.held.length = j;
  }

  override poll(now: number, emit: Emit): void {
    if (this.held.length === 0) return;
    let j = 0;
    for (const h of this.held) {
      if (h.deadline <= now) emit(h.p, h.deadline);
      else this.held[j++] = h;
    }
    this.held.length = j;
  }

  override nextDeadline(): number {
    let d = Infinity;
    for (const h of this.held) if (h.deadline < d) d = h.deadline;
    return d;
  }

  override clear(): void {
    this.held = [];
  }
}

class DelayStage extends StageInstance {
  private last = -Infinity;

  handle(p: Pkt, t: number, emit: Emit): void {
    if (!this.applies(p, t)) return emit(p, t);
    const prm = this.toxic.params as DelayParams;
    let d: number;
    if (this.ctx.replay) {
      const rec = this.ctx.replay(this, p);
      d = typeof rec?.x === 'number' ? rec.x : prm.ms;
    } else {
      d = prm.ms;
      if (prm.jitter > 0) {
        const j = prm.dist === 'normal' ? normalFrom(this.draw(p, 0), this.draw(p, 1)) : 2 * this.draw(p, 0) - 1;
        d = Math.max(0, d + prm.jitter * j);
      }
    }
    let dep = t + d;
    // Order preserved by default: a packet never leaves before the one ahead of it.
    if (!prm.reorder) {
      if (dep < this.last) dep = this.last;
      this.last = dep;
    }
    this.ctx.record(this, p, t, d > 0 ? 'delayed' : 'passed', d);
    emit(p, dep);
  }

  override clear(): void {
    this.last = -Infinity;
  }
}

interface Queued {
  dep: number;
  bytes: number;
}

/**
 * A FIFO server at `rate` bits/s with a finite buffer (drop-tail), optionally CoDel
 * (RFC 8289). Service times are computed on arrival (the queue is FIFO and the arrival
 * times it sees are non-decreasing), so the departure time of each packet is exact on
 * both the virtual and the real clock. The queue counts the packet in service.
 */
export class BottleneckStage extends StageInstance {
  private q: Queued[] = [];
  private head = 0;
  queuedBytes = 0;
  private busyUntil = -Infinity;
  private lastArrival = -Infinity;
  /** High-water marks, for tests and stats. */
  maxQueuedPackets = 0;
  maxQueuedBytes = 0;
  /** Sum and count of queueing delays (ms). */
  delaySum = 0;
  delayCount = 0;
  // CoDel state (RFC 8289 section 5).
  private firstAboveTime = 0;
  private dropping = false;
  private dropNext = 0;
  private count = 0;
  private lastCount = 0;

  get queuedPackets(): number {
    return this.q.length - this.head;
  }

  /** Drains departures up to `now`; returns [packets, bytes] still queued. */
  occupancy(now: number): [number, number] {
    this.drain(now);
    return [this.queuedPackets, this.queuedBytes];
  }

  /** The queueing delay a packet arriving at `now` would see, ms. */
  queueDelay(now: number): number {
    return Math.max(0, this.busyUntil - now);
  }

  private drain(t: number): void {
    while (this.head < this.q.length && this.q[this.head]!.dep <= t) {
      this.queuedBytes -= this.q[this.head]!.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.head = 0;
    }
  }

  handle(p: Pkt, t0: number, emit: Emit): void {
    if (!this.applies(p, t0)) return emit(p, t0);
    const prm = this.toxic.params as BottleneckParams;
    const t = Math.max(t0, this.lastArrival);
    this.lastArrival = t;
    this.drain(t);
    const size = p.data.length;
    if (
      (prm.queuePackets !== undefined && this.queuedPackets + 1 > prm.queuePackets) ||
      (prm.queueBytes !== undefined && this.queuedBytes + size > prm.queueBytes)
    ) {
      this.ctx.record(this, p, t, 'dropped');
      return;
    }
    const start = Math.max(t, this.busyUntil);
    const sojourn = start - t;
    if (prm.codel && this.codelDrop(start, sojourn, prm.codel)) {
      this.ctx.record(this, p, t, 'dropped', sojourn);
      return;
    }
    const dep = start + (size * 8 * 1000) / prm.rate;
    this.busyUntil = dep;
    this.q.push({ dep, bytes: size });
    this.queuedBytes += size;
    if (this.queuedPackets > this.maxQueuedPackets) this.maxQueuedPackets = this.queuedPackets;
    if (this.queuedBytes > this.maxQueuedBytes) this.maxQueuedBytes = this.queuedBytes;
    this.delaySum += sojourn;
    this.delayCount++;
    this.ctx.record(this, p, t, sojourn > 0 ? 'delayed' : 'passed', sojourn);
    emit(p, dep);
  }

  /** RFC 8289 dequeue logic, evaluated at the packet's dequeue time `now`. */
  private codelDrop(now: number, sojourn: number, c: { target: number; interval: number }): boolean {
    let okToDrop = false;
    if (sojourn < c.target || this.queuedBytes <= 1500) {
      this.firstAboveTime = 0;
    } else if (this.firstAboveTime === 0) {
      this.firstAboveTime = now + c.interval;
    } else if (now >= this.firstAboveTime) {
      okToDrop = true;
    }
    const controlLaw = (t: number): number => t + c.interval / Math.sqrt(this.count);
    if (this.dropping) {
      if (!okToDrop) {
        this.dropping = false;
        return false;
      }
      if (now >= this.dropNext) {
        this.count++;
        this.dropNext = controlLaw(this.dropNext);
        return true;
      }
      return false;
    }
    if (okToDrop) {
      this.dropping = true;
      const delta = this.count - this.lastCount;
      this.count = delta > 1 && now - this.dropNext < 16 * c.interval ? delta : 1;
      this.dropNext = controlLaw(now);
      this.lastCount = this.count;
      return true;
    }
    return false;
  }

  override clear(): void {
    this.q = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.busyUntil = -Infinity;
    this.lastArrival = -Infinity;
    this.dropping = false;
    this.firstAboveTime = 0;
    this.count = 0;
    this.lastCount = 0;
  }
}

export function createStage(toxic: Toxic, ctx: LaneContext, scope: string): StageInstance {
  switch (toxic.stage) {
    case 'partition':
      return new PartitionStage(toxic, ctx, scope);
    case 'loss':
      return new LossStage(toxic, ctx, scope);
    case 'duplicate':
      return new DuplicateStage(toxic, ctx, scope);
    case 'corrupt':
      return new CorruptStage(toxic, ctx, scope);
    case 'mtu':
      return new MtuStage(toxic, ctx, scope);
    case 'reorder':
      return new ReorderStage(toxic, ctx, scope);
    case 'delay':
      return new DelayStage(toxic, ctx, scope);
    case 'bottleneck':
      return new BottleneckStage(toxic, ctx, scope);
  }
}

/** A stable hash of a decision key (replay lookups). */
export function decisionKey(l: string, d: string, n: number, c: number, s: string): string {
  return `${l}|${d}|${n}|${c}|${s}`;
}

