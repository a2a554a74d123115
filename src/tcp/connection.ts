/**
 * The sans-IO TCP connection: RFC 9293 state machine (segment arrival per 3.10.7, user calls
 * per 3.10.1-3.10.6), reliable ordered delivery, flow control, timers and loss recovery.
 * PUBLIC API FIRST COMMIT: bodies are being filled in; signatures are stable.
 */
import type { TcpSegment } from '../wire/tcp.js';
import type { ConnectionHooks, ConnectionIO, FourTuple, TcpConfig, TcpErrorCode, TcpInfo, TcpState } from './types.js';

export interface ConnectOptions {
  /** Initial send sequence number; default from the RFC 6528 generator. */
  iss?: number;
  hooks?: ConnectionHooks;
  /** Offset added to TSval (RFC 7323 5.4 recommends a random per-connection offset); default 0. */
  tsOffset?: number;
}

export class Connection implements ConnectionIO {
  hooks: ConnectionHooks = {};
  readonly tuple: FourTuple;
  readonly config: TcpConfig;
  private _state: TcpState = 'CLOSED';
  private _error?: TcpErrorCode;

  private constructor(tuple: FourTuple, config: TcpConfig) {
    this.tuple = tuple;
    this.config = config;
  }

  /** Active open: emits a SYN on the next takeOutput(). */
  static connect(tuple: FourTuple, config: TcpConfig, now: number, opts: ConnectOptions = {}): Connection {
    void now;
    const c = new Connection(tuple, config);
    if (opts.hooks) c.hooks = opts.hooks;
    return c;
  }

  /**
   * Passive open from a SYN received in LISTEN (used by Listener): the new connection is in
   * SYN-RECEIVED and its SYN-ACK is on the next takeOutput().
   */
  static accept(tuple: FourTuple, config: TcpConfig, syn: TcpSegment, now: number, opts: ConnectOptions = {}): Connection {
    void syn; void now;
    const c = new Connection(tuple, config);
    if (opts.hooks) c.hooks = opts.hooks;
    return c;
  }

  get state(): TcpState { return this._state; }
  /** Why it closed, if aborted (RST received, timeout). */
  get error(): TcpErrorCode | undefined { return this._error; }

  /** A segment for this connection arrived (already demultiplexed and checksummed). Never throws. */
  input(seg: TcpSegment, now: number): void { void seg; void now; }
  /** The deadline from nextDeadline() passed. Never throws. */
  onTimer(now: number): void { void now; }
  /** Absolute time (ms) at which onTimer must be called, or undefined. */
  nextDeadline(): number | undefined { return undefined; }
  /** Segments to transmit now, in order (the driver encodes them); clears the queue. */
  takeOutput(): TcpSegment[] { return []; }

  /** SEND: bytes accepted (0..data.length) into the send buffer. Throws EPIPE after shutdown/close/abort. */
  send(data: Buffer, now: number): number { void data; void now; return 0; }
  /** Free space in the send buffer, bytes. */
  get sendBufferFree(): number { return 0; }
  /** Half-close (node's end()): FIN after all queued data. */
  shutdown(now: number): void { void now; }
  /** CLOSE: full close; with unread received data a RST is sent instead of a FIN (RFC 1122 4.2.2.13). */
  close(now: number): void { void now; }
  /** ABORT: RST now, CLOSED. */
  abort(now: number): void { void now; }
  /** RECEIVE: consume up to `max` in-order bytes, or null when none are buffered. */
  read(max?: number): Buffer | null { void max; return null; }
  /** Received in-order bytes not yet read. */
  get readableLength(): number { return 0; }
  /** The peer's FIN has been received in sequence: EOF after the buffered data. */
  get remoteClosed(): boolean { return false; }
  setNoDelay(on: boolean, now: number): void { void on; void now; }
  setKeepAlive(on: boolean, idleMs: number | undefined, now: number): void { void on; void idleMs; void now; }
  getInfo(now: number): TcpInfo { void now; throw new Error('in progress'); }
}
