/**
 * HyStart++ (RFC 9406): leave slow start before it overshoots, when the round-trip time of
 * a round rises noticeably above that of the previous round (the queue is starting to fill),
 * then grow cautiously (Conservative Slow Start, CSS) for a few rounds before congestion
 * avoidance. Used by CUBIC for the initial slow start only (RFC 9406 4.3: after a loss or a
 * timeout, standard slow start applies).
 *
 * Rounds (RFC 9406 4.2 tracks them with windowEnd = SND.NXT at the start of a round, ending
 * when an ACK covers windowEnd). The CongestionControl interface only sees AckEvents, so a
 * round is tracked with bytes: at the ACK that starts a round we remember
 * `roundEnd = delivered + inFlight`, the cumulative delivered-byte count at which every byte
 * outstanding at that moment (all sent before the round started) has been delivered; the
 * round ends at the first ACK that brings `delivered` to roundEnd. This equals the RFC's
 * definition as long as bytes are delivered in order; retransmissions make a round end
 * slightly early, which only matters after a loss, when HyStart++ is no longer in use.
 */
import type { AckEvent } from './types.js';
import { widen } from '../../util/wide.js';

/** RFC 9406 4.3 constants (ms for times). */
export const HYSTART = {
  MIN_RTT_THRESH: 4,
  MAX_RTT_THRESH: 16,
  MIN_RTT_DIVISOR: 8,
  N_RTT_SAMPLE: 8,
  CSS_GROWTH_DIVISOR: 4,
  CSS_ROUNDS: 5,
} as const;

export type HyStartPhase = 'slow_start' | 'css' | 'done';

/** What the caller should do after feeding an ACK. */
export type HyStartVerdict = 'continue' | 'enter_css' | 'resume_slow_start' | 'exit_slow_start';

export class HyStartPlusPlus {
  phase: HyStartPhase = 'slow_start';
  /** Round bookkeeping (see the file comment). */
  private delivered = 0;
  private roundEnd = 0;
  private roundStarted = false;
  rounds = 0;
  /** RFC 9406 variables. */
  lastRoundMinRtt = Infinity;
  currentRoundMinRtt = Infinity;
  rttSampleCount = 0;
  cssBaselineMinRtt = Infinity;
  cssRounds = 0;

  constructor() {
    widen(this, ['delivered', 'roundEnd']); // byte counts past 2^31 (src/util/wide.ts)
  }

  /** Divisor applied to slow-start growth: 1 in slow start, CSS_GROWTH_DIVISOR in CSS. */
  get growthDivisor(): number {
    return this.phase === 'css' ? HYSTART.CSS_GROWTH_DIVISOR : 1;
  }

  get active(): boolean {
    return this.phase !== 'done';
  }

  /** Feed one ACK received while cwnd < ssthresh. */
  onAck(ev: AckEvent): HyStartVerdict {
    if (this.phase === 'done') return 'continue';
    let verdict: HyStartVerdict = 'continue';
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
    if (this.rttSampleCount < HYSTART.N_RTT_SAMPLE) return verdict;
    if (!Number.isFinite(this.currentRoundMinRtt) || !Number.isFinite(this.lastRoundMinRtt)) return verdict;
    if (this.phase === 'slow_start') {
      // RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
      const rttThresh = Math.max(
        HYSTART.MIN_RTT_THRESH,
        Math.min(this.lastRoundMinRtt / HYSTART.MIN_RTT_DIVISOR, HYSTART.MAX_RTT_THRESH),
      );
      if (this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThresh) {
        this.cssBaselineMinRtt = this.currentRoundMinRtt;
        this.phase = 'css';
        this.cssRounds = 0;
        verdict = 'enter_css';
      }
    } else if (this.phase === 'css' && this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // The RTT increase was spurious: back to slow start.
      this.cssBaselineMinRtt = Infinity;
      this.phase = 'slow_start';
      verdict = 'resume_slow_start';
    }
    return verdict;
  }

  /** Loss in slow start or CSS ends HyStart++ (RFC 9406 4.2), for good. */
  stop(): void {
    this.phase = 'done';
  }
}
