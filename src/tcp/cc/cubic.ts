/**
 * CUBIC (RFC 9438). The window is a cubic function of the time since the last congestion
 * event, independent of the RTT, so flows with different RTTs converge and long fat pipes
 * are refilled quickly:
 *
 *   W_cubic(t) = C * (t - K)^3 + W_max                 (eq. 1; segments, seconds)
 *   K = cbrt((W_max - cwnd_epoch) / C)                  (eq. 2; = cbrt(W_max*(1-beta)/C) after a loss)
 *
 * with C = 0.4 and beta_cubic = 0.7. Concave below W_max (cautious near the last loss
 * point), convex above it (probing for new bandwidth).
 *
 * - Window increase (4.2): target = W_cubic(t + RTT) clamped to [cwnd, 1.5*cwnd]; each ACK
 *   adds (target - cwnd)/cwnd per acknowledged segment, so cwnd reaches the target in one RTT.
 *   t runs from the start of the congestion-avoidance stage (the epoch, which begins at the
 *   first ACK after recovery), and RTT is the smoothed RTT.
 * - Reno-friendly region (4.3): W_est grows like an AIMD flow with the same beta,
 *   alpha_cubic = 3*(1-beta)/(1+beta) segments per RTT (1 once W_est passes cwnd_prior); if
 *   W_cubic(t) < W_est, cwnd = W_est. This dominates at small windows and short RTTs.
 * - Multiplicative decrease (4.6): ssthresh = cwnd * beta (cwnd, like Linux and Windows; the
 *   RFC allows it when growth is stopped while app-limited, which we do), W_max = cwnd.
 * - Fast convergence (4.7): a loss below the previous W_max lowers W_max to
 *   cwnd * (1 + beta) / 2 to release bandwidth to newer flows.
 * - Timeout (4.8): cwnd = 1 SMSS, slow start, then K = 0 and W_max = cwnd at the start of
 *   the next congestion-avoidance stage.
 * - Spurious congestion (4.9): undo restores cwnd, ssthresh, W_max, K and the epoch.
 * - Slow start (4.10): HyStart++ (RFC 9406, ./hystart.ts) in the initial slow start.
 * - Application-limited: no growth, and the app-limited time is taken out of t (the epoch
 *   slides forward) so the curve does not jump when the application speeds up again.
 */
import type { CcName } from '../types.js';
import type { IdleRestartable } from '../idle.js';
import type { AckEvent, CcOptions, CongestionControl, CongestionEvent } from './types.js';
import { ABC_LIMIT_SEGMENTS, slowStartIncrease } from './reno.js';
import { HyStartPlusPlus } from './hystart.js';

export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438 eq. 2, segments -> seconds. */
export function cubicK(wMaxSegments: number, cwndEpochSegments: number): number {
  return Math.cbrt(Math.max(0, wMaxSegments - cwndEpochSegments) / CUBIC_C);
}

/** RFC 9438 eq. 1: W_cubic(t) in segments, t and K in seconds. */
export function cubicWindow(tSeconds: number, kSeconds: number, wMaxSegments: number): number {
  return CUBIC_C * (tSeconds - kSeconds) ** 3 + wMaxSegments;
}

interface CubicSnapshot {
  cwnd: number;
  ssthresh: number;
  wMax: number;
  cwndPrior: number;
  k: number;
  epochStart: number | undefined;
  originPoint: number;
  wEst: number;
}

export class Cubic implements CongestionControl, IdleRestartable {
  readonly name: CcName = 'cubic';
  readonly paces = true;
  readonly hystart = new HyStartPlusPlus();

  private mss: number;
  /** Window in bytes, fractional (exposed floored). */
  private w: number;
  private ssthreshBytes = Infinity;
  /** W_max and cwnd_prior in segments (0 = none yet / after an RTO). */
  wMax = 0;
  private cwndPrior = 0;
  /** K in seconds; origin point (the curve's plateau) in segments. */
  k = 0;
  private originPoint = 0;
  /** Start of the current congestion-avoidance stage (ms), undefined = not started. */
  epochStart: number | undefined;
  /** Reno-friendly estimate, segments. */
  wEst = 0;
  private lastAckAt: number | undefined;
  private inFastRecovery = false;
  private inRtoBackoff = false;
  private pristine = true;
  private readonly iwSegments: number;
  private undo: CubicSnapshot | undefined;

  constructor(opts: CcOptions) {
    this.mss = opts.mss;
    this.iwSegments = Math.max(1, Math.floor(opts.initialWindowSegments));
    this.w = this.iwSegments * this.mss;
  }

  get cwnd(): number {
    return Math.max(this.mss, Math.floor(this.w));
  }

  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  onAck(ev: AckEvent): void {
    if (ev.bytesAcked <= 0) return;
    this.pristine = false;
    this.inRtoBackoff = false;
    const sinceLast = this.lastAckAt === undefined ? 0 : Math.max(0, ev.now - this.lastAckAt);
    this.lastAckAt = ev.now;
    if (ev.inRecovery || this.inFastRecovery) return;
    let acked = ev.bytesAcked;

    if (this.w < this.ssthreshBytes) {
      if (this.hystart.active && this.ssthreshBytes === Infinity) {
        const verdict = this.hystart.onAck(ev);
        if (verdict === 'exit_slow_start') this.ssthreshBytes = this.w; // RFC 9406: enter CA
      }
      if (this.w < this.ssthreshBytes) {
        if (ev.appLimited) return;
        const ss = slowStartIncrease(this.w, this.ssthreshBytes, acked, this.mss, this.hystart.growthDivisor);
        this.w = ss.cwnd;
        if (this.w < this.ssthreshBytes) return;
        acked = Math.min(ss.leftover, ABC_LIMIT_SEGMENTS * this.mss);
        if (acked <= 0) return;
      }
    }

    if (ev.appLimited) {
      // Take the app-limited time out of t (Linux: CA_EVENT_TX_START epoch shift).
      if (this.epochStart !== undefined) this.epochStart += sinceLast;
      return;
    }
    this.congestionAvoidance(ev, acked);
  }

  private congestionAvoidance(ev: AckEvent, ackedBytes: number): void {
    const mss = this.mss;
    const cwndSeg = this.w / mss;
    if (this.epochStart === undefined) {
      // RFC 9438 4.2: a new congestion-avoidance stage begins.
      this.epochStart = ev.now;
      if (this.wMax <= cwndSeg) {
        // No loss yet, after an RTO, or already above the old maximum: plateau here.
        this.k = 0;
        this.originPoint = cwndSeg;
      } else {
        this.k = cubicK(this.wMax, cwndSeg);
        this.originPoint = this.wMax;
      }
      this.wEst = cwndSeg;
      if (this.cwndPrior === 0) this.cwndPrior = cwndSeg;
    }
    const rttMs = ev.srtt > 0 ? ev.srtt : (ev.rttSample ?? ev.minRtt);
    const t = (ev.now - this.epochStart) / 1000;
    const segmentsAcked = ackedBytes / mss;

    // 4.3 Reno-friendly region.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / cwndSeg;
    const wCubicNow = cubicWindow(t, this.k, this.originPoint);
    if (wCubicNow < this.wEst) {
      this.w = Math.max(this.w, this.wEst * mss);
      return;
    }

    // 4.4/4.5 concave and convex regions: aim for W_cubic(t + RTT), at most 1.5*cwnd.
    const wTarget = cubicWindow(t + rttMs / 1000, this.k, this.originPoint);
    const target = Math.min(Math.max(wTarget, cwndSeg), 1.5 * cwndSeg);
    this.w += ((target - cwndSeg) / cwndSeg) * segmentsAcked * mss;
  }

  private snapshot(): CubicSnapshot {
    return {
      cwnd: this.w, ssthresh: this.ssthreshBytes, wMax: this.wMax, cwndPrior: this.cwndPrior,
      k: this.k, epochStart: this.epochStart, originPoint: this.originPoint, wEst: this.wEst,
    };
  }

  onCongestion(ev: CongestionEvent): void {
    this.pristine = false;
    this.hystart.stop();
    const mss = this.mss;
    if (ev.kind === 'rto') {
      if (!this.inRtoBackoff) {
        if (!this.inFastRecovery) this.undo = this.snapshot();
        // RFC 9438 4.8: ssthresh as for a loss; then K = 0 and W_max = cwnd at the start of
        // the next congestion-avoidance stage.
        this.ssthreshBytes = Math.max(this.w * CUBIC_BETA, 2 * mss);
        this.wMax = 0;
        this.cwndPrior = 0;
      }
      this.w = mss;
      this.epochStart = undefined;
      this.inFastRecovery = false;
      this.inRtoBackoff = true;
      return;
    }
    if (this.inFastRecovery) return; // one reduction per recovery episode
    this.undo = this.snapshot();
    const cwndSeg = this.w / mss;
    // 4.7 fast convergence, 4.6 multiplicative decrease.
    this.wMax = cwndSeg < this.wMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    this.cwndPrior = cwndSeg;
    this.ssthreshBytes = Math.max(Math.floor(this.w * CUBIC_BETA), 2 * mss);
    this.w = this.ssthreshBytes; // pipe-based recovery (RFC 6675): no inflation
    this.epochStart = undefined;
    this.inFastRecovery = true;
  }

  onRecoveryExit(_now: number): void {
    if (!this.inFastRecovery) return;
    this.inFastRecovery = false;
    this.w = this.ssthreshBytes;
    this.epochStart = undefined;
  }

  onSpuriousCongestion(_now: number): void {
    const s = this.undo;
    if (!s) return;
    this.undo = undefined;
    this.w = Math.max(this.w, s.cwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, s.ssthresh);
    this.wMax = s.wMax;
    this.cwndPrior = s.cwndPrior;
    this.k = s.k;
    this.originPoint = s.originPoint;
    this.epochStart = s.epochStart;
    this.wEst = s.wEst;
    this.inFastRecovery = false;
    this.inRtoBackoff = false;
  }

  /**
   * RFC 5681 4.1 idle restart (the optional IdleRestartable hook of src/tcp/idle.ts):
   * cwnd = min(RW, cwnd), ssthresh keeps 3/4 of the old window (RFC 2861, Linux
   * tcp_cwnd_restart), and a new congestion-avoidance epoch starts when slow start ends
   * (W_max is kept, so the curve climbs back towards the old plateau).
   */
  restartAfterIdle(_now: number, restartWindow: number): void {
    const rw = Math.max(this.mss, Math.min(restartWindow, this.iwSegments * this.mss));
    if (this.w <= rw) return;
    this.ssthreshBytes = Math.max(this.ssthreshBytes, Math.floor((3 * this.w) / 4));
    this.w = rw;
    this.epochStart = undefined;
  }

  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    if (this.pristine) {
      this.w = this.iwSegments * mss;
    } else {
      this.w = Math.max(mss, (this.w / this.mss) * mss);
      if (Number.isFinite(this.ssthreshBytes)) this.ssthreshBytes = Math.max(2 * mss, (this.ssthreshBytes / this.mss) * mss);
    }
    this.mss = mss;
  }
}
