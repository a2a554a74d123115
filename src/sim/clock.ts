/**
 * A tiny discrete-event loop on a virtual clock (ms). Events at the same time run in the
 * order they were scheduled, so every run is deterministic.
 */
interface Ev {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export interface SimTimer {
  cancel(): void;
}

export class SimClock {
  now = 0;
  private heap: Ev[] = [];
  private seq = 0;
  /** Events run so far. */
  events = 0;

  constructor(start = 0) {
    this.now = start;
  }

  /** Runs `fn` at absolute time `at` (not before now). */
  schedule(at: number, fn: () => void): SimTimer {
    const ev: Ev = { at: Math.max(at, this.now), seq: this.seq++, fn, cancelled: false };
    this.push(ev);
    return { cancel: () => void (ev.cancelled = true) };
  }

  /** Runs `fn` after `delay` ms. */
  after(delay: number, fn: () => void): SimTimer {
    return this.schedule(this.now + delay, fn);
  }

  get pending(): number {
    return this.heap.filter((e) => !e.cancelled).length;
  }

  /** Runs the next event; false when none is left. */
  step(): boolean {
    for (;;) {
      const ev = this.pop();
      if (!ev) return false;
      if (ev.cancelled) continue;
      this.now = ev.at;
      this.events++;
      ev.fn();
      return true;
    }
  }

  /** Runs every event up to and including time `until`, then sets now = until. */
  runUntilTime(until: number): void {
    while (this.heap.length > 0 && this.heap[0]!.at <= until) this.step();
    if (this.now < until) this.now = until;
  }

  /**
   * Runs events until `done()` is true (checked after each event), the clock passes
   * `maxTime`, `maxEvents` ran, or nothing is left. Returns done().
   */
  runUntil(done: () => boolean, opts: { maxTime?: number; maxEvents?: number } = {}): boolean {
    const maxTime = opts.maxTime ?? Infinity;
    const maxEvents = opts.maxEvents ?? 10_000_000;
    let n = 0;
    while (!done()) {
      if (n++ >= maxEvents) return false;
      const next = this.heap[0];
      if (!next) return done();
      if (next.at > maxTime) {
        this.now = Math.max(this.now, maxTime);
        return done();
      }
      this.step();
    }
    return true;
  }

  private push(ev: Ev): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Ev | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Seeded PRNG (mulberry32): uniform [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
