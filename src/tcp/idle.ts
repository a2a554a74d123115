/**
 * Restarting after an idle period (RFC 5681 4.1, RFC 7661 / RFC 2861): a window learned
 * before the connection went quiet says nothing about the path now, so "if TCP has not sent
 * data in an interval exceeding the retransmission timeout", cwnd starts again from the
 * restart window RW = min(IW, cwnd) before sending.
 *
 * The congestion-control interface (cc/types.ts) is unchanged: an algorithm opts in by
 * implementing this optional method (Reno, NewReno, Tahoe and CUBIC do). The connection
 * detects idleness and calls it; an algorithm without the method is left alone. That is
 * deliberate for model-based algorithms such as BBR, which keep their path model across
 * idle periods (Linux likewise skips tcp_cwnd_restart for algorithms with cong_control).
 */
export interface IdleRestartable {
  /**
   * The sender has been idle longer than the RTO (nothing in flight, no data sent) and is
   * about to send: set cwnd = min(restartWindow, cwnd). Implementations may keep ssthresh at
   * max(ssthresh, 3/4 cwnd) so slow start returns quickly to the old operating point
   * (RFC 2861 / Linux tcp_cwnd_restart).
   */
  restartAfterIdle(now: number, restartWindow: number): void;
}

/** Whether a congestion controller implements IdleRestartable. */
export function canRestartAfterIdle(cc: object): cc is IdleRestartable {
  return typeof (cc as Partial<IdleRestartable>).restartAfterIdle === 'function';
}

/**
 * RFC 5681 4.1: idle means nothing outstanding and no data sent for more than one RTO.
 * `lastDataSentAt` is the time data (new or retransmitted) last left; -Infinity if never.
 */
export function isIdleRestart(now: number, lastDataSentAt: number, rto: number, outstanding: boolean): boolean {
  return !outstanding && Number.isFinite(lastDataSentAt) && now - lastDataSentAt > rto;
}
