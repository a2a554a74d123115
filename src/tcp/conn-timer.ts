/**
 * Each TCP connection's one real timer, for the driver (driver.ts). Timers are lazy: when the
 * deadline moves later (the RTO restarted by an ACK, the common case on the hot path) the
 * armed timer is left alone, and when it fires early it simply re-arms. Only an earlier
 * deadline re-arms at once.
 */
import type { TcpConn } from './tcp-conn.js';

/**
 * A wait at least this long (ms) is coarse: it is set with whole milliseconds rounded up and
 * may end up to about a millisecond late, instead of polling the event loop with setImmediate
 * through its last millisecond. The deadlines this long are the RTO, the TLP (at least 10 ms),
 * the delayed ACK (40 ms) and keep-alive, where a millisecond is nothing; pacing and RACK's
 * reordering window, sub-millisecond on a fast path, stay precise.
 */
export const COARSE_WAIT_MS = 2;

export class ConnTimer {
  constructor(
    private readonly now: () => number,
    /** A deadline of the connection is due: the driver's service loop runs its timers. */
    private readonly due: (tc: TcpConn, now: number) => void,
  ) {}

  /**
   * The deadline arm() would set a Node timer for: the next one, unless there is none (an
   * armed timer fires and finds nothing to do) or the timer armed covers it.
   */
  private toSet(tc: TcpConn): number | undefined {
    const d = tc.c.nextDeadline();
    return d === undefined || (tc.timer && tc.armedFor <= d) ? undefined : d;
  }

  /** Whether arm() would set or clear a Node timer now (the deadline is earlier than the armed one). */
  wouldSet(tc: TcpConn): boolean {
    return this.toSet(tc) !== undefined;
  }

  /** Arms the connection's timer for its next deadline, unless one armed sooner covers it. */
  arm(tc: TcpConn): void {
    const d = this.toSet(tc);
    if (d === undefined) return;
    this.clear(tc);
    this.set(tc, d);
  }

  /**
   * Node's timers have 1 ms resolution and may fire up to 1 ms early against
   * performance.now(); pacing and delayed-ACK deadlines are often closer than that. So a
   * timer is set for the whole milliseconds of the wait, and the sub-millisecond rest is
   * covered with setImmediate (a poll through the event loop, I/O included), instead of
   * rounding every wait up by a millisecond. Except a coarse wait (COARSE_WAIT_MS): Node's
   * timer fires up to a millisecond early against performance.now(), and the polling
   * through the rest cost a client 5-20 immediates per connection in the churn bench, each a
   * turn of the event loop with its poll. `rest`: the re-arm after an early firing, which
   * keeps the wait's kind.
   */
  private set(tc: TcpConn, d: number, rest = false): void {
    const delay = d - this.now();
    tc.armedFor = d;
    if (!rest) tc.coarseWait = delay >= COARSE_WAIT_MS;
    // A deadline that onTimer did not move past the time it ran at would spin: 1 ms then.
    tc.timerIsImmediate = delay < 1 && d > tc.lastFiredAt && !tc.coarseWait;
    if (tc.timerIsImmediate) {
      // Never unref an immediate: libuv would then block in poll and run it only when some
      // other event arrives (seconds later on an idle connection). It lasts < 1 ms anyway.
      tc.timer = setImmediate(tc.fire);
    } else {
      tc.timer = setTimeout(tc.fireAfterPoll, Math.max(1, tc.coarseWait ? Math.ceil(delay) : Math.floor(delay)));
      tc.timer.unref();
    }
  }

  /**
   * (TcpConn.fireAfterPoll) A setTimeout timer is due. Node runs timers before
   * polling for I/O, so after the process was busy or descheduled for longer than a PTO
   * (10 ms) the tail-loss probe fired while the ACKs that make it needless were already
   * waiting in the UDP socket: a spurious TLP (or RTO) on a lossless path. So the
   * connection's timers run from setImmediate, after the poll has read (and the connection
   * has processed) what arrived; a deadline an ACK moved later then just re-arms.
   */
  afterPoll(tc: TcpConn): void {
    tc.timerIsImmediate = true;
    tc.timer = setImmediate(tc.fire);
  }

  clear(tc: TcpConn): void {
    const t = tc.timer;
    if (!t) return;
    if (tc.timerIsImmediate) clearImmediate(t as NodeJS.Immediate);
    else clearTimeout(t as NodeJS.Timeout);
    tc.timer = undefined;
    tc.armedFor = Infinity;
  }

  /** (TcpConn.fire) The timer ran: services the connection, or re-arms for a deadline that moved later. */
  fired(tc: TcpConn): void {
    tc.timer = undefined;
    tc.armedFor = Infinity;
    const d = tc.c.nextDeadline();
    if (d === undefined) return;
    const now = this.now();
    if (now < d) {
      this.set(tc, d, true);
      return;
    }
    tc.lastFiredAt = now;
    this.due(tc, now);
  }
}
