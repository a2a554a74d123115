/**
 * A min-heap of items ordered by time, ties in insertion order (FIFO), so that whatever
 * drives it (the simulator's virtual clock, the chaos proxy's release timer) is deterministic.
 */
interface Entry<T> {
  at: number;
  seq: number;
  item: T;
}

export class TimeQueue<T> {
  private heap: Entry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest item, or Infinity when empty. */
  peekTime(): number {
    return this.heap.length > 0 ? this.heap[0]!.at : Infinity;
  }

  push(at: number, item: T): void {
    const h = this.heap;
    const e: Entry<T> = { at, seq: this.seq++, item };
    // Sift up by moving parents down into the hole, then place the entry once: no swaps (a
    // destructuring swap allocated an array per level, 13 levels deep at 10,000 TIME-WAIT
    // records).
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!less(e, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = e;
  }

  /** Removes and returns the earliest item (undefined when empty). */
  pop(): T | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      // Sift the last entry down from the root, moving the smaller child up into the hole.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && less(h[r]!, h[l]!) ? r : l;
        const c = h[m]!;
        if (!less(c, last)) break;
        h[i] = c;
        i = m;
      }
      h[i] = last;
    }
    return top.item;
  }

  /** Every item, in no particular order. */
  items(): T[] {
    return this.heap.map((e) => e.item);
  }

  clear(): void {
    this.heap = [];
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
