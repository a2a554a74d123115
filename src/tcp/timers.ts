/**
 * Timers as data (sans-IO): each connection keeps one absolute deadline per kind; the driver
 * arms one real timer at `next()` and calls the connection's onTimer(now), which asks
 * `expired(now)` which kinds fired. No clock is read here.
 */
export type TimerKind =
  | 'retransmit' // RFC 6298 RTO (also SYN/FIN retransmission)
  | 'persist' // zero-window probes (RFC 9293 3.8.6.1)
  | 'delayedAck' // RFC 1122 4.2.3.2
  | 'keepalive' // RFC 1122 4.2.3.6
  | 'timeWait' // 2*MSL (RFC 9293 3.6)
  | 'pacing' // next paced release
  | 'tlp' // RFC 8985 tail loss probe (PTO)
  | 'rack'; // RFC 8985 reordering timer

export const TIMER_KINDS: readonly TimerKind[] = ['retransmit', 'persist', 'delayedAck', 'keepalive', 'timeWait', 'pacing', 'tlp', 'rack'];

export class Timers {
  private readonly at: Partial<Record<TimerKind, number>> = {};

  set(kind: TimerKind, deadline: number): void {
    this.at[kind] = deadline;
  }

  /** Arms only when not already armed. */
  setIfUnset(kind: TimerKind, deadline: number): void {
    if (this.at[kind] === undefined) this.at[kind] = deadline;
  }

  clear(kind: TimerKind): void {
    delete this.at[kind];
  }

  clearAll(): void {
    for (const k of TIMER_KINDS) delete this.at[k];
  }

  get(kind: TimerKind): number | undefined {
    return this.at[kind];
  }

  isSet(kind: TimerKind): boolean {
    return this.at[kind] !== undefined;
  }

  /** The earliest deadline, or undefined. */
  next(): number | undefined {
    let best: number | undefined;
    for (const k of TIMER_KINDS) {
      const t = this.at[k];
      if (t !== undefined && (best === undefined || t < best)) best = t;
    }
    return best;
  }

  /** Kinds whose deadline is <= now, removed from the set, in TIMER_KINDS order. */
  expired(now: number): TimerKind[] {
    const out: TimerKind[] = [];
    for (const k of TIMER_KINDS) {
      const t = this.at[k];
      if (t !== undefined && t <= now) {
        out.push(k);
        delete this.at[k];
      }
    }
    return out;
  }
}
