/**
 * The sans-IO TCP connection: the RFC 9293 state machine, segment arrival per 3.10.7 (the
 * acceptance tests and the dispatch by state) and the user calls per 3.10.1-3.10.6. The
 * work is done by parts that own their state, one file each:
 *
 *   handshake.ts   negotiated options, timestamps/PAWS, our SYN      receiver.ts  receive side
 *   sender.ts      send side, RTO, persist                            pacing.ts    pacing
 *   recovery/      loss recovery strategies over the SACK scoreboard  cc/          congestion control
 *   closing.ts     TIME-WAIT, orphaned FIN-WAIT-2, keepalive          timer-dispatch.ts  timers
 *
 * Sans-IO: every entry point takes `now` (ms on the caller's clock); segments to transmit are
 * collected and taken with takeOutput(); nextDeadline() says when onTimer(now) is due. The
 * connection never reads a clock, never sets a timer and never throws from input()/onTimer()
 * (an exception there is counted as internal_error, and rethrown with `debugRethrow`).
 */
import { ACK, FIN, PSH, RST, SYN, segmentLength, type TcpSegment } from '../wire/tcp.js';
import { makeError } from '../util/errors.js';
import { createCongestionControl } from './cc/index.js';
import type { CongestionControl } from './cc/types.js';
import { DEFAULT_PEER_MSS } from './config.js';
import { Closing, Keepalive } from './closing.js';
import { Handshake, type CookieOptions, type InheritedTsRecent } from './handshake.js';
import { defaultIsnGenerator } from './isn.js';
import { Pacer } from './pacing.js';
import { RateSampler } from './rate.js';
import { Receiver } from './receiver.js';
import type { LossRecovery } from './recovery/loss-recovery.js';
import { createLossRecovery } from './recovery/strategies.js';
import { rstFor } from './rst.js';
import { RttEstimator } from './rtt.js';
import { Sender } from './sender.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, segmentAcceptable } from './seq.js';
import { Timers, type TimerKind } from './timers.js';
import { fireTimer } from './timer-dispatch.js';
import { RECEIVING, SENDING, SYNCHRONIZED } from './states.js';
import type { ConnectionHooks, CwndReason, FourTuple, TcpConfig, TcpErrorCode, TcpInfo, TcpState } from './types.js';
import { connectionInfo } from './info.js';
import { Output } from './output.js';
import type { IcmpPmtuIgnored, PathMtu } from './pmtu.js';
import { receivesData } from './receives-data.js';
import { countDrop, type ConnectionDropReason, type ConnectionEvent, type DropCounts } from './drops.js';

export { clampPeerMss } from './handshake.js';

export interface ConnectOptions {
  /** Initial send sequence number; default from the RFC 6528 generator. */
  iss?: number;
  hooks?: ConnectionHooks;
  /** Offset added to TSval (RFC 7323 5.4 recommends a random per-connection offset); default 0. */
  tsOffset?: number;
  /** TS.Recent of the TIME-WAIT whose 4-tuple an active open reuses (handshake.ts). */
  tsRecent?: InheritedTsRecent;
}

/**
 * How a Listener watches a child it created (internal; the driver does not need it).
 * `canEstablish` gates the handshake-completing ACK while the accept queue is full
 * (scenario 46): the ACK is ignored and the SYN-ACK retransmission timer keeps running.
 */
export interface ChildLink {
  canEstablish(c: Connection): boolean;
  established(c: Connection): void;
  closed(c: Connection): void;
}

/** RFC 5961 7: at most one challenge ACK per this many ms per connection (like Linux tcp_invalid_ratelimit). */
export const CHALLENGE_ACK_INTERVAL_MS = 500;
const EMPTY: Buffer = Buffer.alloc(0);

export class Connection {
  hooks: ConnectionHooks = {};
  readonly tuple: FourTuple;
  readonly config: TcpConfig;
  /** Set by a Listener for the children it creates. */
  childLink?: ChildLink;
  /** Segments dropped on arrival and other refusals, by typed reason (src/tcp/drops.ts). */
  readonly drops: DropCounts<ConnectionDropReason> = {};
  /** Decisions counted apart from drops (RFC 5961 challenge ACKs). */
  readonly events: DropCounts<ConnectionEvent> = {};

  private _state: TcpState = 'CLOSED';
  private _error?: TcpErrorCode;
  /** caught() is aborting the connection (an exception while it does must not recurse). */
  private aborting = false;
  /** @internal (time-wait.ts copies it) */ segmentsIn = 0;
  /** @internal The RFC 5961 challenge-ACK clock (a compact TIME-WAIT, time-wait.ts, takes it over). */
  challengeAckAt = -Infinity;
  /** input() held this connection's output for the end of a receive burst (endBurst()). */
  private held = false;
  /** @internal Set by the driver: an ACK may wait for the application's turn (ackMayAwaitEvents). */
  ackAfterEvents = false;
  /** @internal Owed ACKs wait for releaseDeferredAck() (also set by the driver while the application handles an event). */
  ackDeferred = false;

  // ---- the parts (internal to src/tcp) ----
  /** @internal The time of the current entry point. */
  now: number;
  /** @internal */ readonly timers = new Timers();
  readonly rtt: RttEstimator;
  /** @internal */ cc: CongestionControl;
  /** @internal */ readonly rate = new RateSampler();
  /** @internal */ readonly pacer: Pacer;
  /** @internal */ readonly handshake: Handshake;
  /** @internal */ readonly snd: Sender;
  /** @internal */ readonly rcv: Receiver;
  /** @internal */ recovery: LossRecovery;
  /** @internal */ readonly closing: Closing;
  /** @internal */ readonly keepalive: Keepalive;
  /** @internal */ readonly output = new Output(this);
  private readonly fireTimer = (k: TimerKind): void => fireTimer(this, k);


  private constructor(tuple: FourTuple, config: TcpConfig, now: number, opts: ConnectOptions) {
    this.tuple = tuple;
    // A private copy: setNoDelay() changes it, and callers may share one config object.
    this.config = { ...config };
    this.now = now;
    if (opts.hooks) this.hooks = opts.hooks;
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    const mss = Math.min(config.mss, DEFAULT_PEER_MSS);
    this.cc = createCongestionControl(config.cc, { mss, initialWindowSegments: config.initialWindowSegments, now });
    this.pacer = new Pacer(config.pacing, () => this.cc, this.rtt);
    this.handshake = new Handshake(this, opts.tsOffset ?? 0, opts.tsRecent);
    this.snd = new Sender(this, (opts.iss ?? 0) >>> 0, mss);
    this.rcv = new Receiver(this, mss);
    this.recovery = createLossRecovery(this, this.handshake.recoveryStyle(), false);
    this.closing = new Closing(this);
    this.keepalive = new Keepalive(this);
  }

  /** Active open: emits a SYN on the next takeOutput(). */
  static connect(tuple: FourTuple, config: TcpConfig, now: number, opts: ConnectOptions = {}): Connection {
    const iss = opts.iss ?? defaultIsnGenerator().isn(tuple, now);
    const c = new Connection(tuple, config, now, { ...opts, iss });
    c.setState('SYN-SENT');
    c.snd.sendSyn();
    c.flush();
    return c;
  }

  /**
   * Passive open from a SYN received in LISTEN (RFC 9293 3.10.7.2; used by Listener): the new
   * connection is in SYN-RECEIVED and its SYN-ACK is on the next takeOutput().
   */
  static accept(tuple: FourTuple, config: TcpConfig, syn: TcpSegment, now: number, opts: ConnectOptions = {}): Connection {
    const iss = opts.iss ?? defaultIsnGenerator().isn(tuple, now);
    const c = new Connection(tuple, config, now, { ...opts, iss });
    c.handshake.passive = true;
    c._state = 'LISTEN';
    c.segmentsIn++;
    c.handshake.takePeerSyn(syn);
    c.setState('SYN-RECEIVED');
    c.snd.sendSyn();
    c.flush();
    return c;
  }

  /**
   * A connection completed statelessly by a SYN cookie (RFC 4987 3.6): the ACK `ack` answered
   * our cookie SYN-ACK (ISS = SEG.ACK-1). Starts in ESTABLISHED with what the cookie restored.
   */
  static fromSynCookie(tuple: FourTuple, config: TcpConfig, ack: TcpSegment, negotiated: CookieOptions, now: number, opts: ConnectOptions = {}): Connection {
    const c = new Connection(tuple, config, now, { ...opts, iss: seqAdd(ack.ack, -1) });
    c._state = 'LISTEN';
    c.handshake.fromCookie(ack, negotiated);
    c.flush();
    return c;
  }

  get state(): TcpState {
    return this._state;
  }

  /** Why it closed, if aborted (RST received, timeout). */
  get error(): TcpErrorCode | undefined {
    return this._error;
  }

  // RFC 9293 3.3.1 variables, read-only views of the parts (tests, tools).
  get iss(): number { return this.snd.iss; }
  get sndUna(): number { return this.snd.sndUna; }
  get sndNxt(): number { return this.snd.sndNxt; }
  get sndWnd(): number { return this.snd.sndWnd; }
  get sndWl1(): number { return this.snd.sndWl1; }
  get sndWl2(): number { return this.snd.sndWl2; }
  get irs(): number { return this.rcv.irs; }
  get rcvNxt(): number { return this.rcv.rcvNxt; }

  // =====================================================================================
  // Driver interface
  // =====================================================================================

  /**
   * A segment for this connection arrived (already demultiplexed and checksummed). Never throws.
   * The payload is kept by reference (no copy) until read: the caller hands it over.
   *
   * `burst`: the driver is delivering a burst of datagrams (one read of the event loop) and
   * will call endBurst() once it has delivered them all. With `config.coalesceAcks`, an
   * ESTABLISHED connection then holds what can wait: the ACK for in-order data and user
   * events (new data still enters flight at once). One ACK covers the whole burst, as Linux's
   * GRO makes one ACK per aggregated super-segment: a stretch ACK (RFC 5681 4.2 and RFC 9293
   * 3.8.6.3 say an ACK SHOULD cover at most two full segments; GRO-era stacks trade that for
   * half the packets, and so do we, with `coalesceAcks: false` for the classic behaviour).
   * Anything that must not wait still leaves at once: duplicate ACKs and SACKs for
   * out-of-order data, the ACK of a hole fill or a FIN, every state change.
   */
  input(seg: TcpSegment, now: number, burst = false): void {
    this.now = now;
    const before = this._state;
    try {
      this.segmentArrives(seg);
    } catch (err) {
      this.caught(err);
    }
    // A pushed segment that owes no ACK yet (PSH: the sender's queue is empty, RFC 9293
    // 3.9.1) is delivered at once: nothing to coalesce, and a request should not wait for the burst.
    const pushed = (seg.flags & PSH) !== 0 && !this.rcv.ackSoon && this.ackAfterEvents;
    if (burst && this.config.coalesceAcks && receivesData(before) && this._state === before && !this.rcv.ackNeeded && this.rcv.ackMayWait && !pushed) {
      this.held = true;
      // Sending is not held: new data goes into flight at once (the driver transmits it at
      // the end of the burst). Held, a burst of ACKs drained FlightSize before the refill, so
      // a loss found mid-burst set ssthresh = FlightSize/2 from a half-empty pipe: Reno over
      // a 1%-loss path lost about 20% of its goodput that way.
      try {
        this.snd.trySend();
      } catch (err) {
        this.caught(err);
      }
      return;
    }
    this.flushSafely();
  }

  /** True while input() holds output for endBurst(). */
  get holding(): boolean {
    return this.held;
  }

  /** The receive burst is over: emit what input() held (one ACK, events). */
  endBurst(now: number): void {
    if (!this.held) return;
    this.now = now;
    this.flushSafely();
  }

  /** The deadline from nextDeadline() passed. Never throws. */
  onTimer(now: number): void {
    this.now = now;
    try {
      this.timers.fireExpired(now, this.fireTimer);
    } catch (err) {
      this.caught(err);
    }
    this.flushSafely();
  }

  /** Absolute time (ms) at which onTimer must be called, or undefined. */
  nextDeadline(): number | undefined {
    return this.timers.next();
  }

  /** Segments to transmit now, in order (the driver encodes them); clears the queue. */
  takeOutput(): TcpSegment[] {
    return this.output.take();
  }

  // =====================================================================================
  // User calls (RFC 9293 3.10)
  // =====================================================================================

  /**
   * SEND: queues bytes; returns how many were accepted (0..data.length, bounded by the free
   * send buffer). Data written in SYN-SENT/SYN-RECEIVED leaves after the handshake.
   * Throws EPIPE after shutdown/close/abort or once the connection has closed.
   * The send buffer keeps a reference to `data` (no copy) until the peer acknowledges it:
   * the caller must not change those bytes (the stream Socket hands over a copy).
   */
  send(data: Buffer, now: number): number {
    this.now = now;
    if (this.snd.finQueued || this.closing.userClosed || this._state === 'CLOSED' || this._state === 'TIME-WAIT') {
      throw makeError('EPIPE', 'write');
    }
    const n = Math.min(data.length, this.snd.bufferFree);
    if (n > 0) this.snd.sendQ.push(n === data.length ? data : data.subarray(0, n));
    this.flushSafely();
    return n;
  }

  /** Free space in the send buffer, bytes. */
  get sendBufferFree(): number {
    return this.snd.bufferFree;
  }

  /** Half-close (node's end(), RFC 9293 3.10.4 CLOSE of the sending side): FIN after all queued data. */
  shutdown(now: number): void {
    this.now = now;
    if (this.closing.queueFin()) this.flushSafely();
  }

  /**
   * CLOSE: full close. With received data the user never read, a RST is sent instead of a FIN
   * (RFC 1122 4.2.2.13) and the connection is CLOSED at once. In SYN-SENT nothing is sent.
   */
  close(now: number): void {
    this.now = now;
    if (this._state === 'CLOSED') return;
    if (this._state === 'SYN-SENT') {
      this.enterClosed(undefined);
      this.flushSafely();
      return;
    }
    if (this.rcv.holdsUnread) {
      this.abort(now);
      return;
    }
    this.closing.userClosed = true;
    this.shutdown(now);
    this.closing.armOrphanTimeout();
    this.flushSafely();
  }

  /** ABORT (RFC 9293 3.10.5): RST now if synchronized, then CLOSED. */
  abort(now: number): void {
    this.now = now;
    if (this._state === 'CLOSED') return;
    if (SYNCHRONIZED.has(this._state) && this._state !== 'TIME-WAIT') this.sendRst();
    this.closing.userClosed = true;
    this.enterClosed(undefined);
    this.flushSafely();
  }

  /**
   * RECEIVE: consumes up to `max` in-order bytes (all by default); null when none are buffered
   * (check remoteClosed for EOF). Reading opens the window; a window update is sent when the
   * offer grows enough to matter (receiver.ts). Uses the time of the last entry point.
   */
  read(max?: number): Buffer | null {
    if (this.rcv.rcvQ.length === 0) {
      this.maybeAutoShutdown();
      return null;
    }
    const b = this.rcv.read(max, RECEIVING.has(this._state));
    if (!b) return null;
    this.flushSafely();
    return b;
  }

  /** Received in-order bytes not yet read. */
  get readableLength(): number {
    return this.rcv.rcvQ.length;
  }

  /** Bytes held in the out-of-order reassembly queue. */
  get outOfOrderBytes(): number {
    return this.rcv.reasm.size;
  }

  /** The peer's FIN has been received in sequence: EOF after the buffered data. */
  get remoteClosed(): boolean {
    return this.rcv.finReceived;
  }

  /** Nagle off (true) or on (false); turning it off sends what Nagle held. */
  setNoDelay(on: boolean, now: number): void {
    this.now = now;
    (this.config as { noDelay: boolean }).noDelay = on;
    this.flushSafely();
  }

  /** Keepalive (RFC 1122 4.2.3.6) on/off; idleMs overrides config.keepAliveIdle. */
  setKeepAlive(on: boolean, idleMs: number | undefined, now: number): void {
    this.now = now;
    this.keepalive.set(on, idleMs);
  }

  getInfo(now: number): TcpInfo {
    void now;
    return connectionInfo(this, this._state, this.segmentsIn, this.output.segmentsOut);
  }

  /** The congestion-control instance (read-only use: tests, metrics). */
  get congestionControl(): CongestionControl {
    return this.cc;
  }

  /** The loss-recovery strategy in use ('tahoe', 'reno', 'newreno' or 'sack'). */
  get lossRecovery(): string {
    return this.recovery.name;
  }

  /** Path MTU state (src/tcp/pmtu.ts): the driver reads `pmtu.mtu` for the host's cache. */
  get pmtu(): PathMtu {
    return this.snd.pmtu;
  }

  /**
   * ICMP "fragmentation needed" about one of our segments (RFC 1191), checked against the
   * data in flight (RFC 5927): the MSS falls and the queue is resegmented. Returns undefined
   * when applied, else why it was ignored.
   */
  onFragNeeded(quotedSeq: number, nextHopMtu: number, quotedTotalLength: number, now: number): IcmpPmtuIgnored | undefined {
    this.now = now;
    let why: IcmpPmtuIgnored | undefined;
    try {
      why = this.snd.onFragNeeded(quotedSeq, nextHopMtu, quotedTotalLength);
      if (why === undefined) this.snd.trySend();
    } catch (err) {
      this.caught(err);
    }
    this.flushSafely();
    return why;
  }

  /** Test/debug aid: the scoreboard's tallies agree with a scan of the queue. */
  scoreboardConsistent(): boolean {
    return this.recovery.consistent();
  }

  // =====================================================================================
  // Segment arrival (RFC 9293 3.10.7)
  // =====================================================================================

  private segmentArrives(seg: TcpSegment): void {
    this.segmentsIn++;
    // Anything from the peer shows it is alive (keepalive, RFC 1122 4.2.3.6).
    this.keepalive.heard(this.now);
    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'recv', t: this.now, seq: seg.seq, len: seg.payload.length, flags: seg.flags });
    switch (this._state) {
      case 'CLOSED':
      case 'LISTEN': {
        // 3.10.7.1: everything but a RST gets a RST.
        const r = rstFor(seg);
        if (r) this.output.emit(r);
        return;
      }
      case 'SYN-SENT':
        this.handshake.synSentArrives(seg);
        return;
      default:
        this.synchronizedArrives(seg);
    }
  }

  /** RFC 9293 3.10.7.4: SYN-RECEIVED and every synchronized state. */
  private synchronizedArrives(seg0: TcpSegment): void {
    let seg = seg0;
    const st = this._state;
    const rcv = this.rcv;

    // A SYN on a synchronized connection.
    if (seg.flags & SYN) {
      if (st === 'SYN-RECEIVED' && (seg.seq >>> 0) === rcv.irs) {
        if (seg.flags & ACK && !(seg.flags & RST) && this.snd.acceptableAck(seg.ack)) {
          // The peer's SYN-ACK in a simultaneous open: take it as the ACK of our SYN.
          seg = { ...seg, flags: seg.flags & ~SYN, seq: seqAdd(seg.seq, 1), options: { ...seg.options, mss: undefined } };
        } else if (!(seg.flags & (RST | ACK))) {
          // Scenario 9: a retransmitted SYN gets the same SYN-ACK again.
          this.snd.resendSyn();
          return;
        }
      }
      if (seg.flags & SYN && !(seg.flags & RST)) {
        // RFC 5961 4.2 / RFC 9293 fourth step: challenge ACK whatever the sequence number.
        this.challengeAck('syn');
        return;
      }
    }

    // RFC 7323 5.3 PAWS (R1): an old TSval makes the segment unacceptable (not for RST).
    if (this.handshake.pawsRejects(seg)) {
      this.drop('paws');
      this.sendAck();
      return;
    }

    // First: sequence number acceptability.
    const segLen = segmentLength(seg);
    const wnd = rcv.offered;
    const acceptable = segmentAcceptable(seg.seq, segLen, rcv.rcvNxt, wnd);
    if (!acceptable) {
      // Zero window: still process the ACK (and RST) of a segment at RCV.NXT (RFC 9293: "special allowance").
      if (wnd === 0 && seg.seq === rcv.rcvNxt && segLen > 0) {
        seg = { ...seg, payload: EMPTY, flags: seg.flags & ~FIN };
        rcv.ackNeeded = true;
        this.drop('zero_window');
      } else {
        if (seg.flags & RST) {
          this.drop('rst_out_of_window');
          return;
        }
        // Scenario 16: a retransmitted FIN is re-ACKed and restarts the 2*MSL timer.
        if (st === 'TIME-WAIT' && seg.flags & FIN) this.closing.restartTimeWait();
        // An entirely duplicate data segment is reported with a D-SACK (RFC 2883).
        const end = seqAdd(seg.seq, seg.payload.length);
        if (seg.payload.length > 0 && rcv.covers(end)) rcv.duplicate(seg.seq, end);
        this.drop('out_of_window');
        this.sendAck();
        return;
      }
    }

    // Second: the RST bit (RFC 5961 3.2).
    if (seg.flags & RST) {
      if ((seg.seq >>> 0) !== rcv.rcvNxt) {
        this.challengeAck('rst');
        return;
      }
      this.closing.resetReceived();
      return;
    }

    // RFC 7323 5.3 R3: remember the peer's TSval.
    this.handshake.noteTsVal(seg);

    // Trim to the window (scenario 29): the in-window part is processed.
    let seq = seg.seq >>> 0;
    let payload = seg.payload;
    let fin = (seg.flags & FIN) !== 0;
    if (seqLt(seq, rcv.rcvNxt)) {
      const cut = seqDiff(rcv.rcvNxt, seq);
      if (payload.length > 0) rcv.duplicate(seq, seqAdd(seq, Math.min(cut, payload.length)));
      payload = payload.subarray(Math.min(cut, payload.length));
      seq = rcv.rcvNxt;
    }
    if (payload.length > 0 || fin) {
      const room = Math.max(0, seqDiff(rcv.rcvAdv, seq));
      if (payload.length > room) {
        payload = payload.subarray(0, room);
        fin = false;
        this.drop('trimmed_right');
      }
    }

    // Fifth: the ACK field.
    if (!(seg.flags & ACK)) {
      this.drop('no_ack');
      return;
    }
    if (!this.ackArrives(seg)) return;
    if (this._state === 'CLOSED') return;

    // Seventh: segment text; eighth: FIN.
    if (payload.length > 0 || fin) this.processText(seq, payload, fin);
  }

  /** RFC 9293 3.10.7.4 fifth step. Returns false when the segment must be dropped. */
  private ackArrives(seg: TcpSegment): boolean {
    const ack = seg.ack >>> 0;
    const snd = this.snd;
    const scale = this.handshake.sndScale;
    if (this._state === 'SYN-RECEIVED') {
      if (!snd.acceptableAck(ack)) {
        // Scenario 6: unacceptable ACK in SYN-RECEIVED -> <SEQ=SEG.ACK><CTL=RST>.
        this.output.emit(this.output.bareSeg(ack, RST));
        this.drop('syn_received_bad_ack');
        return false;
      }
      if (this.childLink && !this.childLink.canEstablish(this)) {
        // Scenario 46: accept queue full -> ignore the ACK; the SYN-ACK timer stays armed.
        this.drop('accept_queue_full');
        return false;
      }
      snd.setWindow(seg.window * scale, seg.seq >>> 0, ack);
      this.handshake.establish();
    }

    // RFC 5961 5.2: acceptable ACKs are in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (seqGt(ack, snd.sndNxt)) {
      // Scenario 23: ACK for data never sent -> ACK and drop.
      this.drop('ack_unsent');
      this.sendAck();
      return false;
    }
    if (snd.tooOld(ack)) {
      this.drop('ack_too_old');
      this.sendAck();
      return false;
    }

    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'ack', t: this.now, ack, window: seg.window * scale, sack: seg.options.sack });

    snd.onAcceptableAck(seg, ack, scale);

    // State transitions driven by the ACK of our FIN.
    return this.closing.afterAck(seg);
  }

  /** Seventh and eighth steps: text and FIN, in sequence or into reassembly. */
  /** @internal */
  processText(seq: number, payload: Buffer, fin: boolean): void {
    if (!RECEIVING.has(this._state)) {
      // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent FIN; ignore text.
      if (fin && this._state !== 'TIME-WAIT') this.rcv.ackNeeded = true;
      return;
    }
    if (this.closing.userClosed && payload.length > 0) {
      // The application closed fully: new data can never be read (RFC 1122 4.2.2.13, Linux).
      this.sendRst();
      this.enterClosed('ECONNRESET');
      return;
    }
    if (this.rcv.acceptText(seq, payload, fin)) this.closing.finArrives();
  }

  // =====================================================================================
  // Output
  // =====================================================================================

  /** Collects pending output (data, retransmissions, ACKs) and emits user events. */
  private flush(): void {
    const rcv = this.rcv;
    if (SENDING.has(this._state)) this.snd.trySend();
    this.held = false;
    const owed = (rcv.ackNeeded || rcv.ackSoon) && SYNCHRONIZED.has(this._state) && this._state !== 'SYN-RECEIVED';
    if (owed && this.ackMayAwaitEvents()) this.ackDeferred = true; // rcv's flags stay set: a segment that leaves first carries it
    else {
      if (owed) this.sendAck();
      rcv.ackNeeded = false;
      rcv.ackSoon = false;
    }
    this.output.emitEvents();
  }

  /**
   * The owed ACK (in-order data, a FIN, the SYN-ACK) may wait until the events of this flush
   * reached the application (the driver calls releaseDeferredAck after them), so a reply
   * written in the handler carries it, as Linux holds the handshake's ACK while a write is
   * pending (a read in the handler, before its reply, keeps it waiting). Only in states where
   * the application can answer; SACK information never waits.
   */
  private ackMayAwaitEvents(): boolean {
    const st = this._state;
    if (!this.ackAfterEvents || (st !== 'ESTABLISHED' && st !== 'CLOSE-WAIT')) return false;
    if (this.outOfOrderBytes > 0 || this.rcv.dsackPending !== undefined || !this.rcv.ackMayWait) return false;
    return this.ackDeferred || this.output.evReadable || this.output.evEstablished;
  }

  /** @internal The application had its turn: an owed ACK no segment carried leaves now. */
  releaseDeferredAck(now: number): void {
    this.ackDeferred = false;
    this.now = now;
    this.flushSafely(); // sends it, unless new events defer it again
  }

  private flushSafely(): void {
    try {
      this.flush();
    } catch (err) {
      this.caught(err);
    }
  }

  /**
   * An exception escaped an entry point's work. It is a bug, never a reaction to input: it
   * is counted (internal_error) so tests and metrics see it, and with `config.debugRethrow`
   * it propagates to the caller. Otherwise the connection is aborted (a RST to the peer, the
   * user's error ECONNABORTED): its state may be half-updated (an ACK that moved nothing, a
   * timer never re-armed), and a connection left so can stall for ever with data in flight.
   */
  private caught(err: unknown): void {
    this.drop('internal_error');
    if (this.config.debugRethrow) throw err;
    if (this._state === 'CLOSED' || this.aborting) return;
    this.aborting = true;
    this.closing.userClosed = true;
    try {
      if (SYNCHRONIZED.has(this._state) && this._state !== 'TIME-WAIT') this.sendRst();
    } catch {
      // Broken beyond sending a RST: the peer learns of the abort from its next segment.
    }
    try {
      this.enterClosed('ECONNABORTED');
    } catch {
      // An observer (the trace hook) threw again: enterClosed changes the state last, so the
      // connection is closed, its timers cleared and the close event queued all the same.
    }
  }

  /** @internal Whether our FIN may leave with the data (the user half-closed and we are past the handshake). */
  get finMaySend(): boolean {
    const st = this._state;
    return st === 'FIN-WAIT-1' || st === 'LAST-ACK' || st === 'CLOSING';
  }

  /** @internal Whether data or our FIN may still be transmitted in this state. */
  get canSend(): boolean {
    return SENDING.has(this._state);
  }

  private sendAck(): void {
    if (this._state === 'CLOSED' || this._state === 'SYN-SENT' || this._state === 'LISTEN') return;
    this.output.emit(this.output.ownSeg(this.snd.sndNxt, ACK, EMPTY));
  }

  /** @internal */
  sendRst(): void {
    this.output.emit(this.output.ownSeg(this.snd.sndNxt, RST | ACK, EMPTY));
  }

  /** RFC 5961 7: challenge ACKs are rate limited per connection. */
  private challengeAck(why: 'syn' | 'rst'): void {
    if (this.now - this.challengeAckAt < CHALLENGE_ACK_INTERVAL_MS) {
      countDrop(this.events, why === 'syn' ? 'challenge_ack_limited_syn' : 'challenge_ack_limited_rst');
      return;
    }
    this.challengeAckAt = this.now;
    countDrop(this.events, why === 'syn' ? 'challenge_ack_syn' : 'challenge_ack_rst');
    this.sendAck();
  }

  // =====================================================================================
  // State helpers
  // =====================================================================================

  /** @internal */
  setState(to: TcpState): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'state', t: this.now, from, to });
  }

  /** @internal */
  enterClosed(err: TcpErrorCode | undefined): void {
    if (this._state === 'CLOSED') return;
    if (err) this._error = err;
    this.timers.clearAll();
    this.snd.clearQueue();
    this.rcv.reasm.clear();
    this.snd.sendQ.clear();
    this.output.evClosed = true;
    if (this.rcv.finReceived || err) this.output.evReadable = true;
    this.setState('CLOSED'); // last: its trace observer runs once the connection is closed
  }

  /** allowHalfOpen false: once the reader has seen EOF, our side ends too (node's semantics). */
  private maybeAutoShutdown(): void {
    if (!this.config.allowHalfOpen && this.rcv.finReceived && this._state === 'CLOSE-WAIT' && !this.snd.finQueued) {
      this.shutdown(this.now);
    }
  }

  /** @internal Runs a cc call and traces a change of cwnd/ssthresh with its reason. */
  ccCall(reason: CwndReason, fn: () => void): void {
    const cc = this.cc;
    const c0 = cc.cwnd;
    const s0 = cc.ssthresh;
    fn();
    this.traceCwnd(reason, c0, s0);
  }

  /** @internal The `cwnd` trace event when a call moved cwnd or ssthresh from (c0, s0). */
  traceCwnd(reason: CwndReason, c0: number, s0: number): void {
    const tr = this.hooks.onTrace;
    const cc = this.cc;
    if (tr && (cc.cwnd !== c0 || cc.ssthresh !== s0)) {
      tr({ type: 'cwnd', t: this.now, cwnd: cc.cwnd, ssthresh: cc.ssthresh, reason, inFlight: this.snd.flightSize() });
    }
  }

  /** @internal Counts a drop or refusal by its typed reason. */
  drop(reason: ConnectionDropReason): void {
    countDrop(this.drops, reason);
    this.hooks.onDrop?.(reason);
  }
}
