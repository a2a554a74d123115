/** Order statistics for the bench suites, and the overlap test of a span with GC pauses. */

/** The median (the mean of the two middle values for an even count). `xs` is not modified. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-th percentile of an already sorted array (nearest rank, rounding down). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Whether [start, end) overlaps any of `pauses` ([start, duration], same clock and unit). */
export function overlapsPause(pauses: ReadonlyArray<readonly [number, number]>, start: number, end: number): boolean {
  return pauses.some(([s, d]) => s < end && s + d > start);
}
