/**
 * Binds the sans-IO lanes to real time: a min-heap of release tasks ordered by time (ties
 * in insertion order) and one Node timer armed for the earliest. Packets whose time has
 * come are sent in one synchronous burst when the timer fires.
 */

interface Task {
  at: number;
  seq: number;
  run: () => void;
}

export class ReleaseQueue {
  private heap: Task[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;

  /** `now` is the proxy clock (ms). */
  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void): void {
    if (this.closed) return;
    const h = this.heap;
    h.push({ at, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
    if (at < this.timerAt) this.arm();
  }

  private pop(): Task {
    const h = this.heap;
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

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed || this.heap.length === 0) return;
    const at = this.heap[0]!.at;
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()));
  }

  /** Runs every task due by now (with half a millisecond of timer slack). */
  fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const limit = this.now() + 0.5;
    while (this.heap.length > 0 && this.heap[0]!.at <= limit) this.pop().run();
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap = [];
  }
}

function less(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
