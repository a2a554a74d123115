/**
 * A tiny discrete-event loop on a virtual clock (ms). Events at the same time run in the
 * order they were scheduled, so every run is deterministic.
 */
import { TimeQueue } from '../util/time-queue.js';
export class SimClock {
    now = 0;
    queue = new TimeQueue();
    /** Events run so far. */
    events = 0;
    constructor(start = 0) {
        this.now = start;
    }
    /** Runs `fn` at absolute time `at` (not before now). */
    schedule(at, fn) {
        const ev = { at: Math.max(at, this.now), fn, cancelled: false };
        this.queue.push(ev.at, ev);
        return { cancel: () => void (ev.cancelled = true) };
    }
    /** Runs `fn` after `delay` ms. */
    after(delay, fn) {
        return this.schedule(this.now + delay, fn);
    }
    get pending() {
        return this.queue.items().filter((e) => !e.cancelled).length;
    }
    /** Runs the next event; false when none is left. */
    step() {
        for (;;) {
            const ev = this.queue.pop();
            if (!ev)
                return false;
            if (ev.cancelled)
                continue;
            this.now = ev.at;
            this.events++;
            ev.fn();
            return true;
        }
    }
    /** Runs every event up to and including time `until`, then sets now = until. */
    runUntilTime(until) {
        while (this.queue.peekTime() <= until)
            this.step();
        if (this.now < until)
            this.now = until;
    }
    /**
     * Runs events until `done()` is true (checked after each event), the clock passes
     * `maxTime`, `maxEvents` ran, or nothing is left. Returns done().
     */
    runUntil(done, opts = {}) {
        const maxTime = opts.maxTime ?? Infinity;
        const maxEvents = opts.maxEvents ?? 10_000_000;
        let n = 0;
        while (!done()) {
            if (n++ >= maxEvents)
                return false;
            const next = this.queue.peekTime();
            if (next === Infinity)
                return done();
            if (next > maxTime) {
                this.now = Math.max(this.now, maxTime);
                return done();
            }
            this.step();
        }
        return true;
    }
}
/** Seeded PRNG (mulberry32): uniform [0, 1). */
export function prng(seed) {
    let s = seed >>> 0;
    return () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
