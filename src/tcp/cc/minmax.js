/**
 * Windowed max filter over "slots" (BBRv3's max-bandwidth filter, draft-ietf-ccwg-bbr
 * MaxBwFilter): each slot holds the largest sample seen while it was current; the filter's
 * value is the max over the last `slots` slots. `advance()` starts a new slot (BBR calls it
 * once per ProbeBW cycle, so with 2 slots max_bw remembers the best of two cycles). Exact,
 * O(slots) per read, and trivially correct, unlike sub-window approximations.
 */
export class SlottedMaxFilter {
    slots;
    s;
    constructor(slots) {
        this.slots = slots;
        if (!(slots >= 1))
            throw new RangeError('slots must be >= 1');
        this.s = new Array(slots).fill(0);
    }
    /** Max over the window. */
    get value() {
        let m = 0;
        for (const v of this.s)
            if (v > m)
                m = v;
        return m;
    }
    /** Feed a sample into the current slot; returns the filter's value. */
    update(v) {
        if (v > this.s[0])
            this.s[0] = v;
        return this.value;
    }
    /** Start a new slot; the oldest falls out of the window. */
    advance() {
        this.s.pop();
        this.s.unshift(0);
    }
    reset() {
        this.s.fill(0);
    }
}
