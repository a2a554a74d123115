/**
 * A connection as the socket layer sees it (TcpConn): user calls that run through the stack
 * (flush and re-arm), the connection's events delivered on a later tick, its share of the
 * process-wide receive-buffer budget, and how a closing socket lets it finish.
 */
import { processBuffers } from '../limits.js';
import { formatIpv4 } from '../wire/addr.js';
import type { Connection } from './connection.js';
import type { TcpStack } from './driver.js';
import type { Listener } from './listener.js';
import type { ConnectionDropReason } from './drops.js';
import type { ConnectionHooks, FourTuple, TcpErrorCode, TcpInfo } from './types.js';

export const EV_ESTABLISHED = 1;
export const EV_READABLE = 2;
export const EV_WRITABLE = 4;
export const EV_CLOSED = 8;

/** What a socket learns from its connection (always on a later tick, in this order). */
export interface TcpConnHooks {
  onEstablished?(): void;
  onReadable?(): void;
  onWritable?(): void;
  /** CLOSED; `code` when aborted, with the syscall node:net would name. */
  onClosed?(code?: string, syscall?: string): void;
}

/**
 * A connection as the socket layer sees it: user calls that flush and re-arm. It is also the
 * Connection's hooks (ConnectionHooks' methods below), so a connection costs no closures for
 * them; the driver builds a separate hooks object only when a trace or RTT observer is set.
 */
export class TcpConn implements ConnectionHooks {
  hooks: TcpConnHooks = {};
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  timerIsImmediate = false;
  /** The armed wait is coarse (conn-timer.ts COARSE_WAIT_MS): no polling through its last millisecond. */
  coarseWait = false;
  lastFiredAt = -Infinity;
  /** The timer callback, allocated once per connection. */
  readonly fire = (): void => this.stack.timers.fired(this);
  /** The setTimeout callback: runs `fire` after the event loop's next poll (driver.ts). */
  readonly fireAfterPoll = (): void => this.stack.timers.afterPoll(this);
  /**
   * After the application's turn, on a later tick (scheduleAckRelease): the deferred ACK's
   * release, and the timer's arming that waited for the turn (armAfterTurn). Allocated once
   * per connection.
   */
  private readonly releaseAck = (): void => {
    this.ackReleasePending = false;
    if (this.delivering) return; // that turn's end schedules this again
    this.releaseDeferredAck();
    if (this.armAfterTurn && !this.scheduled) {
      this.armAfterTurn = false;
      if (!this.closed && !this.compacted) this.stack.timers.arm(this);
    }
  };
  /**
   * @internal (driver.ts flushOne) The timer is armed after the application's turn, unless a
   * flush with segments to send comes first and arms it after they left: either way the
   * reply the handlers write leaves before a Node timer is set or cleared (10 µs for a cold
   * setTimeout, 3.5 for clearTimeout).
   */
  armAfterTurn = false;
  private ackReleasePending = false;
  /** The deadline the armed timer was set for. */
  armedFor = Infinity;
  private labelText: string | undefined;
  established = false;
  closed = false;
  shutdownDone = false;
  released = false;
  /** Set when a listener child becomes established and waits for accept. */
  owner: ListenerEntry | undefined;
  /** Refused by the host's connection limit (holds no slot). */
  overLimit = false;
  /** Replaced by a compact TIME-WAIT record (time-wait.ts): no longer in the stack's table. */
  compacted = false;
  /** Called once our FIN has been acknowledged or the connection closed (see release). */
  onFinished: (() => void) | undefined;
  /** Received bytes (unread + out of order) charged to the process-wide buffer budget. */
  charged = 0;

  constructor(
    readonly stack: TcpStack,
    readonly c: Connection,
  ) {}

  /** "A.B.C.D:port-A.B.C.D:port", for traces (formatted on first use: most connections are never traced). */
  get label(): string {
    if (this.labelText === undefined) {
      const t = this.c.tuple;
      this.labelText = `${formatIpv4(t.localAddr)}:${t.localPort}-${formatIpv4(t.remoteAddr)}:${t.remotePort}`;
    }
    return this.labelText;
  }

  get tuple(): FourTuple {
    return this.c.tuple;
  }

  get state(): string {
    return this.c.state;
  }

  // ---- ConnectionHooks: the Connection's events (driver.ts install) ----

  onEstablished(): void {
    if (this.owner) return; // a listener child: delivered through accept()
    this.established = true;
    this.post(EV_ESTABLISHED);
  }

  onReadable(): void {
    this.post(EV_READABLE);
  }

  onWritable(): void {
    this.post(EV_WRITABLE);
  }

  onClosed(error?: TcpErrorCode): void {
    this.stack.connClosed(this, error);
  }

  /** The connection's drops reach the host's counters (overlay_ip_dropped_packets_total). */
  onDrop(reason: ConnectionDropReason): void {
    this.stack.countTcpDrop(reason);
  }

  setHooks(h: TcpConnHooks): void {
    this.hooks = h;
    // A close that happened before anyone listened (an accepted child reset before its
    // 'connection' event ran) is delivered to the new listener.
    if (this.closed && !this.closeDelivered) this.post(EV_CLOSED);
  }

  // Events reach the socket on a later tick, never from inside the connection or the
  // receive path: an exception in user code ('data', 'connect' handlers) then surfaces
  // as in node:net instead of being caught (and counted as a drop) by the stack.
  private pendingEvents = 0;
  private scheduled = false;
  private closeDelivered = false;
  /** The abort reason to report (the connection's own, or one the driver imposes). */
  closeCode: string | undefined;
  closeSyscall: string | undefined;
  forcedError: 'ECONNREFUSED' | 'EHOSTUNREACH' | undefined;
  private readonly deliverFn = (): void => this.deliver();

  post(ev: number): void {
    this.pendingEvents |= ev;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.deliverFn);
    }
  }

  private deliver(): void {
    this.scheduled = false;
    const p = this.pendingEvents;
    this.pendingEvents = 0;
    // The application's turn: an ACK owed now or during its handlers waits until they have
    // run, so a reply they write carries it (Connection.ackMayAwaitEvents).
    const turn = this.beginTurn();
    try {
      // Read this.hooks at each step: a handler may release the connection.
      if (p & EV_ESTABLISHED) this.hooks.onEstablished?.();
      if (p & EV_READABLE) this.hooks.onReadable?.();
      if (p & EV_WRITABLE) this.hooks.onWritable?.();
      if (p & EV_CLOSED) {
        const h = this.hooks;
        if (h.onClosed) {
          this.closeDelivered = true;
          h.onClosed(this.closeCode, this.closeSyscall); // a method call: hooks may be an object with methods
        }
      }
    } finally {
      if (turn) this.endTurn();
    }
  }

  /** Inside the application's turn (deliver()). */
  private delivering = false;

  /**
   * The application's turn begins (false when one is already running): owed ACKs wait for
   * endTurn(), so that what the application writes meanwhile carries them.
   */
  private beginTurn(): boolean {
    if (this.delivering) return false;
    this.delivering = true;
    if (this.c.ackAfterEvents && !this.closed) this.c.ackDeferred = true;
    return true;
  }

  /**
   * The application's turn is over. An ACK it did not carry leaves on a tick queued after
   * the ticks its handlers queued (a stream emits 'data' and resumes a pipe on later ticks):
   * the reply they write still carries it.
   */
  private endTurn(): void {
    this.delivering = false;
    if (this.deferredAckOwed() || this.armAfterTurn) this.scheduleAckRelease();
  }

  /** Whether the application's turn is queued (deliver()) or running: a reply may follow. */
  get turnAhead(): boolean {
    return this.scheduled || this.delivering;
  }

  /**
   * Whether an ACK still waits for the application's turn. The wait ends here when there is
   * nothing left to send it for: the connection closed or compacted, or a reply carried it.
   */
  private deferredAckOwed(): boolean {
    const c = this.c;
    if (!c.ackDeferred) return false;
    if (this.closed || this.compacted || !(c.rcv.ackNeeded || c.rcv.ackSoon)) {
      c.ackDeferred = false;
      return false;
    }
    return true;
  }

  /**
   * @internal (driver.ts flushOne) The connection holds an ACK for the application's turn: it
   * leaves when deliver() has run the events' handlers (running or queued), or, should no
   * delivery be pending (an event nobody is told of), on a tick of its own.
   */
  scheduleAckRelease(): void {
    if (this.delivering || this.scheduled || this.ackReleasePending) return;
    this.ackReleasePending = true;
    process.nextTick(this.releaseAck);
  }

  /** Sends the ACK that waited for the application's turn, unless a reply already carried it. */
  private releaseDeferredAck(): void {
    if (!this.deferredAckOwed()) return;
    this.stack.call(this, releaseDeferredAck);
  }

  /** Bytes accepted into the send buffer (throws EPIPE after shutdown). */
  write(data: Buffer): number {
    return this.stack.call(this, send, data);
  }

  /** Up to `max` in-order bytes (all by default), or undefined when none are buffered. */
  read(max?: number): Buffer | undefined {
    if (this.c.readableLength === 0) return undefined;
    const d = this.stack.call(this, receive, max);
    this.recharge();
    return d ?? undefined;
  }

  /**
   * Brings this connection's charge on the process-wide buffer budget (src/limits.ts) in
   * line with what it holds: unread in-order bytes plus out-of-order bytes.
   */
  recharge(): void {
    const held = this.closed ? 0 : this.c.readableLength + this.c.outOfOrderBytes;
    const delta = held - this.charged;
    if (delta > 0) processBuffers.reserveUpTo(delta);
    else if (delta < 0) processBuffers.release(-delta);
    this.charged = held;
  }

  /** The peer's FIN was received and everything before it was read. */
  readEnded(): boolean {
    return this.c.remoteClosed && this.c.readableLength === 0;
  }

  hasUnread(): boolean {
    return this.c.readableLength > 0;
  }

  /** FIN after the queued data (node's end()). */
  shutdown(): void {
    if (this.shutdownDone || this.closed) return;
    this.shutdownDone = true;
    this.stack.call(this, shutdown);
  }

  /** RST now. */
  abort(): void {
    if (this.closed) return;
    this.stack.call(this, abort);
  }

  /**
   * The socket is gone: the connection finishes on its own (FIN, TIME-WAIT), or is reset
   * when `reset` (an error, unread data, unsent data). `onFinished` runs once everything we
   * sent, FIN included, was acknowledged (FIN-WAIT-2, TIME-WAIT) or the connection closed:
   * unlike a kernel, this stack dies with its process, so the socket's 'close' waits for it.
   */
  release(reset: boolean, onFinished?: () => void): void {
    if (this.released) return;
    this.released = true;
    this.hooks = {};
    if (!this.closed) {
      if (reset) this.abort();
      else if (!this.shutdownDone || this.c.readableLength > 0) this.stack.call(this, close);
    }
    if (onFinished) {
      if (this.finished()) onFinished();
      else this.onFinished = onFinished;
    }
    this.stack.onReleased(this);
  }

  /** Our side is done: FIN acknowledged, or closed. */
  finished(): boolean {
    const st = this.c.state;
    return this.closed || st === 'CLOSED' || st === 'TIME-WAIT' || st === 'FIN-WAIT-2';
  }

  setNoDelay(on: boolean): void {
    if (this.closed) return;
    this.stack.call(this, setNoDelay, on);
  }

  setKeepAlive(on: boolean, idleMs: number): void {
    if (this.closed) return;
    this.stack.call(this, (tc) => tc.c.setKeepAlive(on, idleMs > 0 ? idleMs : undefined, tc.stack.now()));
  }

  info(): TcpInfo {
    return this.c.getInfo(this.stack.now());
  }
}

export interface ListenerEntry {
  readonly listener: Listener;
  readonly port: number;
  readonly onConnection: (conn: TcpConn) => void;
  closed: boolean;
}

// The user calls TcpStack.call runs for a TcpConn: module-level functions, not a closure per call.
const send = (tc: TcpConn, data: Buffer): number => tc.c.send(data, tc.stack.now());
const receive = (tc: TcpConn, max: number | undefined): Buffer | null => tc.c.read(max);
const shutdown = (tc: TcpConn): void => tc.c.shutdown(tc.stack.now());
const close = (tc: TcpConn): void => tc.c.close(tc.stack.now());
const abort = (tc: TcpConn): void => tc.c.abort(tc.stack.now());
const releaseDeferredAck = (tc: TcpConn): void => tc.c.releaseDeferredAck(tc.stack.now());
const setNoDelay = (tc: TcpConn, on: boolean): void => tc.c.setNoDelay(on, tc.stack.now());

/** The driver's drainAccept, on a later tick (queued with arguments, not a closure per accepted connection). */
export function offerAccepted(entry: ListenerEntry, tc: TcpConn): void {
  if (entry.closed) tc.abort(); // the server closed before it could take this one
  else entry.onConnection(tc);
}

/** node:net style errors from a connection's abort reason. */
export function syscallFor(code: string, established: boolean): string {
  if (code === 'ECONNREFUSED') return 'connect';
  if (code === 'EPIPE') return 'write';
  return established ? 'read' : 'connect';
}


/** Both hook sets, a's first (a Listener watches its children; the driver installs its own). */
export function chainHooks(a: ConnectionHooks, b: ConnectionHooks): ConnectionHooks {
  if (!a.onEstablished && !a.onReadable && !a.onWritable && !a.onClosed && !a.onTrace && !a.onRtt && !a.onDrop) return b;
  const out: ConnectionHooks = {
    onEstablished: () => {
      a.onEstablished?.();
      b.onEstablished?.();
    },
    onReadable: () => {
      a.onReadable?.();
      b.onReadable?.();
    },
    onWritable: () => {
      a.onWritable?.();
      b.onWritable?.();
    },
    onClosed: (e) => {
      a.onClosed?.(e);
      b.onClosed?.(e);
    },
  };
  if (a.onTrace || b.onTrace) {
    out.onTrace = (ev) => {
      a.onTrace?.(ev);
      b.onTrace?.(ev);
    };
  }
  if (a.onDrop || b.onDrop) {
    out.onDrop = (r) => {
      a.onDrop?.(r);
      b.onDrop?.(r);
    };
  }
  if (a.onRtt || b.onRtt) {
    out.onRtt = (ms) => {
      a.onRtt?.(ms);
      b.onRtt?.(ms);
    };
  }
  return out;
}
