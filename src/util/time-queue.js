export class TimeQueue {
    heap = [];
    seq = 0;
    get size() {
        return this.heap.length;
    }
    /** Time of the earliest item, or Infinity when empty. */
    peekTime() {
        return this.heap.length > 0 ? this.heap[0].at : Infinity;
    }
    push(at, item) {
        const h = this.heap;
        h.push({ at, seq: this.seq++, item });
        let i = h.length - 1;
        while (i > 0) {
            const parent = (i - 1) >> 1;
            if (!less(h[i], h[parent]))
                break;
            [h[i], h[parent]] = [h[parent], h[i]];
            i = parent;
        }
    }
    /** Removes and returns the earliest item (undefined when empty). */
    pop() {
        const h = this.heap;
        if (h.length === 0)
            return undefined;
        const top = h[0];
        const last = h.pop();
        if (h.length > 0) {
            h[0] = last;
            let i = 0;
            for (;;) {
                const l = 2 * i + 1;
                const r = l + 1;
                let m = i;
                if (l < h.length && less(h[l], h[m]))
                    m = l;
                if (r < h.length && less(h[r], h[m]))
                    m = r;
                if (m === i)
                    break;
                [h[i], h[m]] = [h[m], h[i]];
                i = m;
            }
        }
        return top.item;
    }
    /** Every item, in no particular order. */
    items() {
        return this.heap.map((e) => e.item);
    }
    clear() {
        this.heap = [];
    }
}
function less(a, b) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
