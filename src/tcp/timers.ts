/**
 * Timers as data (sans-IO): each connection keeps one absolute deadline per kind; the driver
 * arms one real timer at `next()` and calls the connection's onTimer(now), which runs
 * `fireExpired(now, ...)` for the kinds that are due. No clock is read here.
 */
export type TimerKind =
  | 'retransmit' // RFC 6298 RTO (also SYN/FIN retransmission)
  | 'persist' // zero-window probes (RFC 9293 3.8.6.1)
  | 'delayedAck' // RFC 1122 4.2.3.2
  | 'keepalive' // RFC 1122 4.2.3.6
  | 'timeWait' // 2*MSL (RFC 9293 3.6)
  | 'finWait2' // policy: an orphaned FIN-WAIT-2 gives up on the peer's FIN (like Linux tcp_fin_timeout)
  | 'pacing' // next paced release
  | 'tlp' // RFC 8985 tail loss probe (PTO)
  | 'rack'; // RFC 8985 reordering timer

export const TIMER_KINDS: readonly TimerKind[] = ['retransmit', 'persist', 'delayedAck', 'keepalive', 'timeWait', 'finWait2', 'pacing', 'tlp', 'rack'];

/** Slot of each kind in the deadline array (TIMER_KINDS order). */
const SLOT: Readonly<Record<TimerKind, number>> = {
  retransmit: 0,
  persist: 1,
  delayedAck: 2,
  keepalive: 3,
  timeWait: 4,
  finWait2: 5,
  pacing: 6,
  tlp: 7,
  rack: 8,
};
const N = TIMER_KINDS.length;

/** N deadlines, none armed: each Timers copies it (slice keeps V8's packed-double array). */
const NONE_ARMED: readonly number[] = TIMER_KINDS.map(() => NaN);

/**
 * Deadlines in a fixed array (NaN = not armed): the connection sets and clears timers on
 * every segment, and a fixed-shape store keeps that a plain indexed write (an object with
 * `delete` would fall back to dictionary mode). A plain array of doubles, not a
 * Float64Array: each connection makes one, and a typed array costs about 0.2-0.3 us to
 * create against a few ns for the copy, with the same indexed reads and writes.
 */
export class Timers {
  private readonly at: number[] = NONE_ARMED.slice();

  set(kind: TimerKind, deadline: number): void {
    this.at[SLOT[kind]] = deadline;
  }

  /** Arms only when not already armed. */
  setIfUnset(kind: TimerKind, deadline: number): void {
    const i = SLOT[kind];
    if (Number.isNaN(this.at[i]!)) this.at[i] = deadline;
  }

  clear(kind: TimerKind): void {
    this.at[SLOT[kind]] = NaN;
  }

  clearAll(): void {
    this.at.fill(NaN);
  }

  get(kind: TimerKind): number | undefined {
    const t = this.at[SLOT[kind]]!;
    return Number.isNaN(t) ? undefined : t;
  }

  isSet(kind: TimerKind): boolean {
    return !Number.isNaN(this.at[SLOT[kind]]!);
  }

  /** The earliest deadline, or undefined. */
  next(): number | undefined {
    let best = Infinity;
    const at = this.at;
    for (let i = 0; i < N; i++) {
      const t = at[i]!;
      if (t < best) best = t; // NaN compares false
    }
    return best === Infinity ? undefined : best;
  }

  /**
   * Fires every kind whose deadline is <= now, in TIMER_KINDS order, clearing each just
   * before its handler runs. A handler that clears a later kind (an RTO cancels the TLP)
   * thereby stops it from firing in the same pass; one pass, so a handler that re-arms a
   * timer at `now` cannot loop (the driver calls again for the new deadline).
   */
  fireExpired(now: number, fire: (kind: TimerKind) => void): void {
    const at = this.at;
    for (let i = 0; i < N; i++) {
      if (at[i]! <= now) {
        at[i] = NaN;
        fire(TIMER_KINDS[i]!);
      }
    }
  }
}
