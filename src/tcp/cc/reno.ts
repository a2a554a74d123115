/**
 * TCP Reno congestion control (RFC 5681), with Appropriate Byte Counting (RFC 3465).
 *
 * - Slow start (RFC 5681 3.1, RFC 3465 2.2): while cwnd < ssthresh every ACK grows cwnd by
 *   the bytes it acknowledges, but by at most L = 2*SMSS, so one round trip of ACKs doubles
 *   the window and a stretch ACK cannot produce a line-rate burst.
 * - Congestion avoidance (RFC 5681 eq. 3, RFC 3465 2.1 byte counting): acknowledged bytes
 *   accumulate; each time a whole cwnd worth has been acknowledged cwnd grows by one SMSS,
 *   i.e. exactly +1 MSS per round trip: the additive increase of AIMD.
 * - Loss (RFC 5681 eq. 4): ssthresh = max(FlightSize/2, 2*SMSS): the multiplicative decrease.
 *   After a fast retransmit the connection does pipe-based recovery (RFC 6675: it sends while
 *   pipe < cwnd), so cwnd is set straight to ssthresh instead of the classic ssthresh + 3*SMSS
 *   inflation. After a retransmission timeout cwnd = LW = 1 SMSS and slow start begins again.
 * - No growth while in fast recovery, nor while the sender is application-limited (RFC 7661:
 *   an ACK clock the application did not fill says nothing about the path).
 * - Undo: when D-SACKs (RFC 2883) show that every retransmission of a recovery was spurious,
 *   restore the window from before the last reduction. (F-RTO and Eifel detection are not
 *   implemented; see docs/tcp-core.md.)
 *
 * Tahoe and NewReno reuse this class (they differ only in what happens at a loss and in how
 * the connection recovers); CUBIC reuses `slowStartIncrease`.
 */
import type { CcName } from '../types.js';
import type { IdleRestartable } from '../idle.js';
import type { AckEvent, CcOptions, CongestionControl, CongestionEvent } from './types.js';

/** RFC 3465 2.2: the slow-start limit L, in segments per ACK. */
export const ABC_LIMIT_SEGMENTS = 2;

/**
 * Slow-start growth for one ACK (RFC 3465 ABC with L = 2*SMSS), capped at ssthresh.
 * `divisor` slows the growth down (RFC 9406 CSS: min(N, L*SMSS) / CSS_GROWTH_DIVISOR).
 * Returns the new cwnd and the acknowledged bytes left over once ssthresh is reached (which
 * belong to congestion avoidance, as in Linux tcp_slow_start).
 */
export function slowStartIncrease(
  cwnd: number,
  ssthresh: number,
  bytesAcked: number,
  mss: number,
  divisor = 1,
): { cwnd: number; leftover: number } {
  const counted = Math.min(bytesAcked, ABC_LIMIT_SEGMENTS * mss) / divisor;
  const next = Math.min(cwnd + counted, Math.max(ssthresh, cwnd));
  return { cwnd: next, leftover: Math.max(0, bytesAcked - (next - cwnd) * divisor) };
}

/** RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
export function halvedSsthresh(inFlight: number, mss: number): number {
  return Math.max(Math.floor(inFlight / 2), 2 * mss);
}

export class Reno implements CongestionControl, IdleRestartable {
  readonly name: CcName = 'reno';
  readonly paces: boolean = false;

  protected mss: number;
  protected cwndBytes: number;
  protected ssthreshBytes = Infinity;
  /** RFC 3465 2.1: bytes acknowledged in congestion avoidance since the last +1 SMSS. */
  protected bytesAckedCa = 0;
  /** Window from before the last reduction, for undo. */
  protected priorCwnd = 0;
  protected priorSsthresh = Infinity;
  /** A fast-recovery reduction is in force (cleared by onRecoveryExit). */
  protected inFastRecovery = false;
  /** An RTO happened and no new data has been acknowledged since (RFC 5681 3.1 note). */
  protected inRtoBackoff = false;
  /** Nothing has been acknowledged yet, so setMss may recompute the initial window. */
  private pristine = true;
  private readonly iwSegments: number;

  constructor(opts: CcOptions) {
    this.mss = opts.mss;
    this.iwSegments = this.initialWindowSegments(opts);
    this.cwndBytes = this.iwSegments * this.mss;
  }

  get cwnd(): number {
    return this.cwndBytes;
  }

  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  /** Initial window in segments (Tahoe overrides: classic 1 MSS). */
  protected initialWindowSegments(opts: CcOptions): number {
    return Math.max(1, Math.floor(opts.initialWindowSegments));
  }

  onAck(ev: AckEvent): void {
    if (ev.bytesAcked <= 0) return;
    this.pristine = false;
    this.inRtoBackoff = false;
    if (ev.inRecovery || this.inFastRecovery || ev.appLimited) return;
    this.grow(ev.bytesAcked);
  }

  /** Slow start below ssthresh, then byte-counted congestion avoidance. */
  protected grow(bytesAcked: number): void {
    let acked = bytesAcked;
    if (this.cwndBytes < this.ssthreshBytes) {
      const ss = slowStartIncrease(this.cwndBytes, this.ssthreshBytes, acked, this.mss);
      this.cwndBytes = ss.cwnd;
      // ABC: bytes beyond L are not counted in slow start; only what is left after
      // reaching ssthresh carries into congestion avoidance.
      acked = this.cwndBytes >= this.ssthreshBytes ? Math.min(ss.leftover, ABC_LIMIT_SEGMENTS * this.mss) : 0;
      if (acked === 0) return;
    }
    this.congestionAvoidance(acked);
  }

  /** RFC 5681 eq. 3 with RFC 3465 byte counting: +1 SMSS per cwnd bytes acknowledged. */
  protected congestionAvoidance(bytesAcked: number): void {
    this.bytesAckedCa += bytesAcked;
    while (this.bytesAckedCa >= this.cwndBytes) {
      this.bytesAckedCa -= this.cwndBytes;
      this.cwndBytes += this.mss;
    }
  }

  protected saveForUndo(): void {
    this.priorCwnd = this.cwndBytes;
    this.priorSsthresh = this.ssthreshBytes;
  }

  onCongestion(ev: CongestionEvent): void {
    this.pristine = false;
    this.bytesAckedCa = 0;
    if (ev.kind === 'rto') {
      // RFC 5681 3.1: when a segment is retransmitted more than once, ssthresh is held
      // constant; only the first timeout of a backoff series halves it.
      if (!this.inRtoBackoff) {
        if (!this.inFastRecovery) this.saveForUndo();
        this.ssthreshBytes = halvedSsthresh(ev.inFlight, this.mss);
      }
      this.cwndBytes = this.mss; // RFC 5681 eq. 5: LW = 1 SMSS
      this.inFastRecovery = false;
      this.inRtoBackoff = true;
      return;
    }
    if (this.inFastRecovery) return; // one reduction per recovery episode
    this.saveForUndo();
    this.ssthreshBytes = halvedSsthresh(ev.inFlight, this.mss);
    this.enterFastRecovery();
  }

  /** Pipe-based recovery (RFC 6675): cwnd = ssthresh, no 3*SMSS inflation. */
  protected enterFastRecovery(): void {
    this.cwndBytes = this.ssthreshBytes;
    this.inFastRecovery = true;
  }

  onRecoveryExit(_now: number): void {
    // RFC 5681 3.2 step 6 / RFC 6675 5: "set cwnd to ssthresh" (deflate the window).
    if (!this.inFastRecovery) return;
    this.inFastRecovery = false;
    this.cwndBytes = this.ssthreshBytes;
    this.bytesAckedCa = 0;
  }

  onSpuriousCongestion(_now: number): void {
    if (this.priorCwnd === 0) return; // nothing to undo
    // Like Linux tcp_undo_cwnd: never shrink while undoing.
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, this.priorSsthresh);
    this.priorCwnd = 0;
    this.inFastRecovery = false;
    this.inRtoBackoff = false;
    this.bytesAckedCa = 0;
  }

  /**
   * RFC 5681 4.1 idle restart (the optional IdleRestartable hook of src/tcp/idle.ts, called by
   * the connection after more than one RTO without sending): cwnd = min(RW, cwnd), and
   * ssthresh keeps 3/4 of the old window (RFC 2861, Linux tcp_cwnd_restart) so slow start
   * climbs back to the old operating point within a few round trips.
   */
  restartAfterIdle(_now: number, restartWindow: number): void {
    // RW = min(IW, cwnd) with this algorithm's own IW (Tahoe's is 1 segment).
    const rw = Math.max(this.mss, Math.min(restartWindow, this.iwSegments * this.mss));
    if (this.cwndBytes <= rw) return;
    this.ssthreshBytes = Math.max(this.ssthreshBytes, Math.floor((3 * this.cwndBytes) / 4));
    this.cwndBytes = rw;
    this.bytesAckedCa = 0;
  }

  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    if (this.pristine) {
      // The initial window is counted in segments of the negotiated MSS (RFC 6928).
      this.cwndBytes = this.iwSegments * mss;
    } else {
      // Keep the window in segments so the connection neither bursts nor stalls.
      this.cwndBytes = Math.max(mss, Math.round((this.cwndBytes / this.mss) * mss));
      if (Number.isFinite(this.ssthreshBytes)) {
        this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
      }
    }
    this.mss = mss;
  }
}
