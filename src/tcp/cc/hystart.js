/** RFC 9406 4.3 constants (ms for times). */
export const HYSTART = {
    MIN_RTT_THRESH: 4,
    MAX_RTT_THRESH: 16,
    MIN_RTT_DIVISOR: 8,
    N_RTT_SAMPLE: 8,
    CSS_GROWTH_DIVISOR: 4,
    CSS_ROUNDS: 5,
};
export class HyStartPlusPlus {
    phase = 'slow_start';
    /** Round bookkeeping (see the file comment). */
    delivered = 0;
    roundEnd = 0;
    roundStarted = false;
    rounds = 0;
    /** RFC 9406 variables. */
    lastRoundMinRtt = Infinity;
    currentRoundMinRtt = Infinity;
    rttSampleCount = 0;
    cssBaselineMinRtt = Infinity;
    cssRounds = 0;
    /** Divisor applied to slow-start growth: 1 in slow start, CSS_GROWTH_DIVISOR in CSS. */
    get growthDivisor() {
        return this.phase === 'css' ? HYSTART.CSS_GROWTH_DIVISOR : 1;
    }
    get active() {
        return this.phase !== 'done';
    }
    /** Feed one ACK received while cwnd < ssthresh. */
    onAck(ev) {
        if (this.phase === 'done')
            return 'continue';
        let verdict = 'continue';
        this.delivered += ev.bytesAcked;
        if (!this.roundStarted || this.delivered >= this.roundEnd) {
            // A new round (RFC 9406 4.2: "at the start of each round").
            if (this.roundStarted && this.phase === 'css') {
                this.cssRounds++;
                if (this.cssRounds >= HYSTART.CSS_ROUNDS) {
                    // "If CSS_ROUNDS rounds are complete, enter congestion avoidance by setting
                    // ssthresh to the current cwnd."
                    this.phase = 'done';
                    return 'exit_slow_start';
                }
            }
            this.roundStarted = true;
            this.rounds++;
            this.roundEnd = this.delivered + ev.inFlight;
            this.lastRoundMinRtt = this.currentRoundMinRtt;
            this.currentRoundMinRtt = Infinity;
            this.rttSampleCount = 0;
        }
        if (ev.rttSample !== undefined && ev.rttSample > 0) {
            this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, ev.rttSample);
            this.rttSampleCount++;
        }
        if (this.rttSampleCount < HYSTART.N_RTT_SAMPLE)
            return verdict;
        if (!Number.isFinite(this.currentRoundMinRtt) || !Number.isFinite(this.lastRoundMinRtt))
            return verdict;
        if (this.phase === 'slow_start') {
            // RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
            const rttThresh = Math.max(HYSTART.MIN_RTT_THRESH, Math.min(this.lastRoundMinRtt / HYSTART.MIN_RTT_DIVISOR, HYSTART.MAX_RTT_THRESH));
            if (this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThresh) {
                this.cssBaselineMinRtt = this.currentRoundMinRtt;
                this.phase = 'css';
                this.cssRounds = 0;
                verdict = 'enter_css';
            }
        }
        else if (this.phase === 'css' && this.currentRoundMinRtt < this.cssBaselineMinRtt) {
            // The RTT increase was spurious: back to slow start.
            this.cssBaselineMinRtt = Infinity;
            this.phase = 'slow_start';
            verdict = 'resume_slow_start';
        }
        return verdict;
    }
    /** Loss in slow start or CSS ends HyStart++ (RFC 9406 4.2), for good. */
    stop() {
        this.phase = 'done';
    }
}
