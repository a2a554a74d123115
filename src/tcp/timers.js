export const TIMER_KINDS = ['retransmit', 'persist', 'delayedAck', 'keepalive', 'timeWait', 'pacing', 'tlp', 'rack'];
/** Slot of each kind in the deadline array (TIMER_KINDS order). */
const SLOT = {
    retransmit: 0,
    persist: 1,
    delayedAck: 2,
    keepalive: 3,
    timeWait: 4,
    pacing: 5,
    tlp: 6,
    rack: 7,
};
const N = TIMER_KINDS.length;
/**
 * Deadlines in a fixed array (NaN = not armed): the connection sets and clears timers on
 * every segment, and a fixed-shape store keeps that a plain indexed write (an object with
 * `delete` would fall back to dictionary mode).
 */
export class Timers {
    at = new Float64Array(N).fill(NaN);
    set(kind, deadline) {
        this.at[SLOT[kind]] = deadline;
    }
    /** Arms only when not already armed. */
    setIfUnset(kind, deadline) {
        const i = SLOT[kind];
        if (Number.isNaN(this.at[i]))
            this.at[i] = deadline;
    }
    clear(kind) {
        this.at[SLOT[kind]] = NaN;
    }
    clearAll() {
        this.at.fill(NaN);
    }
    get(kind) {
        const t = this.at[SLOT[kind]];
        return Number.isNaN(t) ? undefined : t;
    }
    isSet(kind) {
        return !Number.isNaN(this.at[SLOT[kind]]);
    }
    /** The earliest deadline, or undefined. */
    next() {
        let best = Infinity;
        const at = this.at;
        for (let i = 0; i < N; i++) {
            const t = at[i];
            if (t < best)
                best = t; // NaN compares false
        }
        return best === Infinity ? undefined : best;
    }
    /**
     * Fires every kind whose deadline is <= now, in TIMER_KINDS order, clearing each just
     * before its handler runs. A handler that clears a later kind (an RTO cancels the TLP)
     * thereby stops it from firing in the same pass; one pass, so a handler that re-arms a
     * timer at `now` cannot loop (the driver calls again for the new deadline).
     */
    fireExpired(now, fire) {
        const at = this.at;
        for (let i = 0; i < N; i++) {
            if (at[i] <= now) {
                at[i] = NaN;
                fire(TIMER_KINDS[i]);
            }
        }
    }
}
