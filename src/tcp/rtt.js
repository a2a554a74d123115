/**
 * Round-trip time estimation and the retransmission timeout (RFC 6298), Karn's algorithm
 * (RFC 6298 section 3: no samples from retransmitted segments unless timestamps make them
 * unambiguous) and RTT from TCP timestamps (RFC 7323 section 4).
 *
 *   first sample R:  SRTT = R, RTTVAR = R/2
 *   later samples:   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'
 *   RTO = SRTT + max(G, 4*RTTVAR), clamped to [minRto, maxRto]
 *   on timeout:      RTO doubles (5.5), capped at maxRto, until the next valid sample (5.7)
 */
export const RTT_ALPHA = 1 / 8;
export const RTT_BETA = 1 / 4;
/** Clock granularity G, ms (our clock is a float ms clock; 1 ms like Linux's jiffy floor). */
export const CLOCK_GRANULARITY = 1;
export class RttEstimator {
    /** Smoothed RTT and its variation, ms (0 before the first sample). */
    srtt = 0;
    rttvar = 0;
    /** Smallest RTT sample seen, ms (Infinity before the first). */
    minRtt = Infinity;
    /** Latest sample, ms. */
    latest = 0;
    /** Number of exponential backoffs in force (RFC 6298 5.5). */
    backoff = 0;
    baseRto;
    opts;
    constructor(opts) {
        this.opts = opts;
        this.baseRto = clamp(opts.initialRto, opts.minRto, opts.maxRto);
    }
    get hasSample() {
        return this.srtt > 0;
    }
    /** Feeds one valid RTT measurement (ms). Resets the backoff (RFC 6298 5.7 with Karn). */
    sample(r) {
        if (!(r >= 0) || !Number.isFinite(r))
            return;
        const rr = Math.max(r, 0.001);
        this.latest = rr;
        if (rr < this.minRtt)
            this.minRtt = rr;
        if (this.srtt === 0) {
            this.srtt = rr; // 2.2
            this.rttvar = rr / 2;
        }
        else {
            // 2.3: RTTVAR first, with the old SRTT.
            this.rttvar = (1 - RTT_BETA) * this.rttvar + RTT_BETA * Math.abs(this.srtt - rr);
            this.srtt = (1 - RTT_ALPHA) * this.srtt + RTT_ALPHA * rr;
        }
        this.baseRto = clamp(this.srtt + Math.max(CLOCK_GRANULARITY, 4 * this.rttvar), this.opts.minRto, this.opts.maxRto);
        this.backoff = 0;
    }
    /** The timer expired (5.5): back off. */
    onTimeout() {
        if (this.rto < this.opts.maxRto)
            this.backoff++;
    }
    /** New data was acknowledged: Linux-style, the backoff ends with forward progress. */
    resetBackoff() {
        this.backoff = 0;
    }
    /** Current RTO with backoff, ms. */
    get rto() {
        return Math.min(this.baseRto * 2 ** this.backoff, this.opts.maxRto);
    }
    /** RTO without backoff, ms. */
    get baseRtoValue() {
        return this.baseRto;
    }
    /**
     * RFC 6298 5.7: after the SYN (or SYN-ACK) was retransmitted and no sample was taken, the
     * RTO once data transmission begins is 3 s (at most maxRto).
     */
    synRetransmitted() {
        if (this.srtt === 0)
            this.baseRto = clamp(Math.max(3000, this.baseRto), this.opts.minRto, this.opts.maxRto);
    }
}
function clamp(x, lo, hi) {
    return Math.min(Math.max(x, lo), hi);
}
