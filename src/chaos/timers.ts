/**
 * Binds the sans-IO lanes to real time: a min-heap of release tasks ordered by time (ties
 * in insertion order) and one Node timer armed for the earliest. Packets whose time has
 * come are sent in one synchronous burst when the timer fires.
 */

import { TimeQueue } from '../util/time-queue.js';

export class ReleaseQueue {
  private queue = new TimeQueue<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;

  /** `now` is the proxy clock (ms). */
  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.queue.size;
  }

  push(at: number, run: () => void): void {
    if (this.closed) return;
    this.queue.push(at, run);
    if (at < this.timerAt) this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed || this.queue.size === 0) return;
    const at = this.queue.peekTime();
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()));
  }

  /** Runs every task due by now (with half a millisecond of timer slack). */
  fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const limit = this.now() + 0.5;
    while (this.queue.peekTime() <= limit) this.queue.pop()!();
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.clear();
  }
}
