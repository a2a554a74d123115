/** Whether a congestion controller implements IdleRestartable. */
export function canRestartAfterIdle(cc) {
    return typeof cc.restartAfterIdle === 'function';
}
/**
 * RFC 5681 4.1: idle means nothing outstanding and no data sent for more than one RTO.
 * `lastDataSentAt` is the time data (new or retransmitted) last left; -Infinity if never.
 */
export function isIdleRestart(now, lastDataSentAt, rto, outstanding) {
    return !outstanding && Number.isFinite(lastDataSentAt) && now - lastDataSentAt > rto;
}
