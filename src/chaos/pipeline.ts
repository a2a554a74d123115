/**
 * A Lane is one direction of one link: the packet counter and the ordered stage
 * instances (stage order first, then the order toxics were added). Sans-IO: `push(data,
 * now)` runs the packet through the stages and calls `out(data, at)` for every packet that
 * leaves, with its departure time; the driver sends at once when `at <= now` or arms a
 * timer. `poll(now)` releases held packets whose time has come; `nextDeadline()` says when.
 */
import { stageIndex, type Direction, type StageName, type Toxic } from './rules.js';
import {
  BottleneckStage,
  createStage,
  decisionKey,
  VERDICTS,
  type Decision,
  type Emit,
  type LaneContext,
  type Pkt,
  type StageInstance,
  type Verdict,
} from './stages.js';

export interface VerdictCounts {
  packets: Record<Verdict, number>;
  bytes: Record<Verdict, number>;
}

export interface LaneStats {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  stages: Partial<Record<StageName, VerdictCounts>>;
}

export type ReplayTable = Map<string, Decision>;

export interface LaneOptions {
  seed: number;
  link: string;
  dir: Direction;
  startTime?: number;
  /** Decision log sink. */
  log?: (d: Decision) => void;
  /** Recorded decisions to apply instead of drawing. */
  replay?: ReplayTable;
  /** Router mode: answer an oversized DF packet with ICMP fragmentation needed. */
  fragNeeded?: (p: Pkt, mtu: number) => void;
}

/** A toxic as configured for a lane, with its scope ('*' or the link name). */
export interface ScopedToxic {
  scope: string;
  toxic: Toxic;
}

function zeroCounts(): VerdictCounts {
  const packets = {} as Record<Verdict, number>;
  const bytes = {} as Record<Verdict, number>;
  for (const v of VERDICTS) packets[v] = bytes[v] = 0;
  return { packets, bytes };
}

export function emptyLaneStats(): LaneStats {
  return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, stages: {} };
}

export class Lane {
  readonly stats: LaneStats = emptyLaneStats();
  /** Packets numbered on this link direction, from 1. */
  counter = 0;
  out: (data: Buffer, at: number) => void = () => {};
  private instances: StageInstance[] = [];
  private chain: Emit[] = [];
  private readonly ctx: LaneContext;

  constructor(readonly opts: LaneOptions) {
    const log = opts.log;
    const replay = opts.replay;
    const link = opts.link;
    const dir = opts.dir;
    const ctx: LaneContext = {
      seed: opts.seed,
      link,
      dir,
      startTime: opts.startTime ?? 0,
      record: (stage, p, t, v, x) => {
        const counts = (this.stats.stages[stage.stage] ??= zeroCounts());
        counts.packets[v]++;
        counts.bytes[v] += p.data.length;
        if (log) {
          const d: Decision = { t, l: link, d: dir, n: p.n, c: p.c, g: stage.stage, s: stage.scopeName, v };
          if (x !== undefined) d.x = x;
          log(d);
        }
      },
    };
    if (replay) ctx.replay = (stage, p) => replay.get(decisionKey(link, dir, p.n, p.c, stage.scopeName));
    if (opts.fragNeeded) ctx.fragNeeded = opts.fragNeeded;
    this.ctx = ctx;
    this.rebuildChain();
  }

  get link(): string {
    return this.opts.link;
  }

  get dir(): Direction {
    return this.opts.dir;
  }

  /** True when no toxic applies (the fast path). */
  get empty(): boolean {
    return this.instances.length === 0;
  }

  /**
   * Installs a new toxic list. Instances of toxics that stay keep their state and take the
   * new parameters; removed ones release any packets they hold (at `now`).
   */
  configure(toxics: ScopedToxic[], now: number): void {
    const old = new Map(this.instances.map((i) => [i.scopeName, i]));
    const next: StageInstance[] = [];
    for (const { scope, toxic } of toxics) {
      const key = `${scope}/${toxic.name}`;
      const inst = old.get(key);
      if (inst && inst.stage === toxic.stage) {
        if (inst.toxic !== toxic) inst.update(toxic);
        old.delete(key);
        next.push(inst);
      } else {
        next.push(createStage(toxic, this.ctx, scope));
      }
    }
    // Stable sort: stage order, then insertion order.
    next.sort((a, b) => stageIndex(a.stage) - stageIndex(b.stage));
    const removed = [...old.values()];
    this.instances = next;
    this.rebuildChain();
    for (const r of removed) r.poll(Infinity, (p) => this.emitOut(p, now));
  }

  private emitOut(p: Pkt, t: number): void {
    this.stats.packetsOut++;
    this.stats.bytesOut += p.data.length;
    this.out(p.data, t);
  }

  private rebuildChain(): void {
    const n = this.instances.length;
    const chain: Emit[] = new Array(n + 1);
    chain[n] = (p, t) => this.emitOut(p, t);
    for (let i = n - 1; i >= 0; i--) {
      const inst = this.instances[i]!;
      const next = chain[i + 1]!;
      chain[i] = (p, t) => inst.handle(p, t, next);
    }
    this.chain = chain;
  }

  /** One packet in at proxy-clock `now`. */
  push(data: Buffer, now: number): void {
    const n = ++this.counter;
    this.stats.packetsIn++;
    this.stats.bytesIn += data.length;
    if (this.instances.length === 0) {
      this.stats.packetsOut++;
      this.stats.bytesOut += data.length;
      this.out(data, now);
      return;
    }
    this.poll(now);
    this.chain[0]!({ data, n, c: 0 }, now);
  }

  /** Releases held packets whose deadline is <= now. */
  poll(now: number): void {
    for (let i = 0; i < this.instances.length; i++) {
      const inst = this.instances[i]!;
      if (inst.nextDeadline() <= now) inst.poll(now, this.chain[i + 1]!);
    }
  }

  nextDeadline(): number {
    let d = Infinity;
    for (const i of this.instances) {
      const x = i.nextDeadline();
      if (x < d) d = x;
    }
    return d;
  }

  bottlenecks(): BottleneckStage[] {
    return this.instances.filter((i): i is BottleneckStage => i instanceof BottleneckStage);
  }

  /** Queue occupancy over all bottleneck toxics at `now`: [packets, bytes, delay ms]. */
  queue(now: number): [number, number, number] {
    let p = 0;
    let b = 0;
    let d = 0;
    for (const s of this.bottlenecks()) {
      const [qp, qb] = s.occupancy(now);
      p += qp;
      b += qb;
      d += s.queueDelay(now);
    }
    return [p, b, d];
  }

  toxicNames(): string[] {
    return this.instances.map((i) => i.scopeName);
  }
}
