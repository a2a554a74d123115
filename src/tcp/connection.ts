/**
 * The sans-IO TCP connection: the RFC 9293 state machine (segment arrival per 3.10.7, user
 * calls per 3.10.1-3.10.6), reliable ordered delivery, flow control, timers and loss recovery.
 *
 * Sans-IO: every entry point takes `now` (ms on the caller's clock); segments to transmit are
 * collected and taken with takeOutput(); nextDeadline() says when onTimer(now) is due. The
 * connection never reads a clock, never sets a timer and never throws from input()/onTimer().
 *
 * Collaborators (one concern per file):
 *   send.ts      send buffer, retransmission-queue entries, Nagle and sender SWS
 *   receive.ts   bounded reassembly, SACK/D-SACK blocks, receiver SWS window
 *   rtt.ts       RFC 6298 estimator, Karn        timers.ts  deadlines as data
 *   recovery/    dupack (RFC 5681/3042), scoreboard (RFC 6675), rack (RFC 8985)
 *   rate.ts      delivery-rate samples           cc/        congestion control (how much)
 */
import { ACK, FIN, PSH, RST, SYN, segmentLength, type SackBlock, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { formatIpv4 } from '../wire/addr.js';
import { makeError } from '../util/errors.js';
import { createCongestionControl } from './cc/index.js';
import type { CongestionControl } from './cc/types.js';
import { DEFAULT_PEER_MSS, MIN_PEER_MSS } from './config.js';
import { defaultIsnGenerator } from './isn.js';
import { RateSampler } from './rate.js';
import { ByteQueue, newTxSegment, sendableNow, txEnd, txSize, type TxSegment } from './send.js';
import { Reassembly, receiveWindow } from './receive.js';
import { RttEstimator } from './rtt.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { Timers, type TimerKind } from './timers.js';
import { isDuplicateAck } from './recovery/dupack.js';
import { applySack, DUP_THRESH, markLostBySack, nextLost } from './recovery/scoreboard.js';
import { probeTimeout, Rack } from './recovery/rack.js';
import { rstFor } from './rst.js';
import { receivesData } from './receives-data.js';
import { canRestartAfterIdle, isIdleRestart } from './idle.js';
import { IP_TCP_HEADERS, PathMtu, reportedMtu, resegment, validateQuotedSeq, type IcmpPmtuIgnored } from './pmtu.js';
import type {
  ConnectionHooks,
  ConnectionIO,
  CwndReason,
  FourTuple,
  RetransmitKind,
  TcpConfig,
  TcpErrorCode,
  TcpInfo,
  TcpState,
} from './types.js';

export interface ConnectOptions {
  /** Initial send sequence number; default from the RFC 6528 generator. */
  iss?: number;
  hooks?: ConnectionHooks;
  /** Offset added to TSval (RFC 7323 5.4 recommends a random per-connection offset); default 0. */
  tsOffset?: number;
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

/** TCP option bytes a Timestamps option costs in every segment (10 + 2 NOPs). */
const TS_OPTION_LEN = 12;
/** RFC 5961 7: at most one challenge ACK per this many ms per connection (like Linux tcp_invalid_ratelimit). */
export const CHALLENGE_ACK_INTERVAL_MS = 500;
/** Largest window-scale shift (RFC 7323 2.3). */
const MAX_WSCALE = 14;
/** read(): a received segment at least this large is returned alone rather than concatenated. */
const WHOLE_SEGMENT_READ = 16 * 1024;
const EMPTY: Buffer = Buffer.alloc(0);

const SYNCHRONIZED: ReadonlySet<TcpState> = new Set<TcpState>([
  'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
]);
/** States in which we may still transmit data or our FIN. */
const SENDING: ReadonlySet<TcpState> = new Set<TcpState>(['ESTABLISHED', 'CLOSE-WAIT', 'FIN-WAIT-1', 'CLOSING', 'LAST-ACK']);
/** States in which received data is accepted (RFC 9293 3.10.7.4 seventh). */
const RECEIVING: ReadonlySet<TcpState> = new Set<TcpState>(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2']);

function zeroKinds(): Record<RetransmitKind, number> {
  return { rto: 0, fast: 0, tlp: 0, rack: 0, probe: 0, pmtu: 0 };
}

export class Connection implements ConnectionIO {
  hooks: ConnectionHooks = {};
  readonly tuple: FourTuple;
  readonly config: TcpConfig;
  /** Set by a Listener for the children it creates. */
  childLink?: ChildLink;

  private _state: TcpState = 'CLOSED';
  private _error?: TcpErrorCode;
  private now = 0;
  private out: TcpSegment[] = [];
  private readonly timers = new Timers();
  readonly rtt: RttEstimator;
  private cc: CongestionControl;
  private readonly rack = new Rack();
  private readonly rate = new RateSampler();

  // ---- send sequence space (RFC 9293 3.3.1) ----
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Peer's window, bytes (scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  private maxSndWnd = 0;
  private sndWscale = 0;
  /** Effective send MSS: payload bytes per segment (peer MSS, our MTU, minus TS option). */
  private sndMss: number;
  /** Path MTU: ICMP-driven and probed (src/tcp/pmtu.ts); sndMss never exceeds pmtu.mtu - 40 - options. */
  readonly pmtu: PathMtu;
  private readonly sendQ = new ByteQueue();
  /** Sequence number of the first byte in sendQ. */
  private sendBase = 0;
  private rtxQ: TxSegment[] = [];
  private finQueued = false;
  private finSent = false;
  private finSeq = 0;
  private userClosed = false;
  private passive = false;
  private synRetransmitted = false;

  // ---- receive sequence space ----
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time). */
  private rcvAdv = 0;
  private rcvWscale = 0;
  private readonly rcvQ = new ByteQueue();
  private readonly reasm: Reassembly;
  private finReceived = false;
  private dsackPending?: SackBlock;
  /** Largest payload seen from the peer (Linux rcv_mss), for the delayed-ACK rule. */
  private rcvMss: number;
  private unackedBytes = 0;
  /** An ACK must leave with this flush (out-of-order data, a hole filled, a FIN, ...). */
  private ackNeeded = false;
  /**
   * An ACK is owed for in-order data (two full segments unacknowledged) but, inside a receive
   * burst, may wait until the burst ends: one ACK then covers the whole burst (see input()).
   */
  private ackSoon = false;
  /** input() held this connection's output for the end of a receive burst (endBurst()). */
  private held = false;

  // ---- options (RFC 7323, RFC 2018) ----
  private tsOk = false;
  private wsAgreed = false;
  private sackOk = false;
  private tsRecent = 0;
  private tsRecentValid = false;
  private lastAckSent = 0;
  private readonly tsOffset: number;
  private peerMss = DEFAULT_PEER_MSS;

  // ---- loss recovery ----
  private dupAcks = 0;
  /** Non-SACK: duplicate ACKs since recovery began, each one segment that left the network (Linux sacked_out). */
  private emuSacked = 0;
  private inRecovery = false;
  /** RFC 6582 "recover". */
  private recoverSeq = 0;
  private recoverValid = false;
  private rtoCount = 0;
  private lastProgressAt = 0;
  private tlpHighSeq?: number;
  private undoPossible = false;
  private undoRetrans = 0;
  private retransRanges: SackBlock[] = [];
  /**
   * The scoreboard's tallies, kept as segments change state (a segment is SACKed, lost, or
   * in flight; never both SACKed and lost): bytes SACKed, bytes and segments lost awaiting
   * retransmission. pipe = FlightSize - sacked - lost in O(1), and the lost list is only
   * searched while something is lost (no O(queue) scans per ACK during recovery).
   */
  private sackedBytes = 0;
  private lostBytes = 0;
  private lostSegs = 0;
  /** End of the highest SACKed segment, and how far IsLost has looked (scoreboard.ts). */
  private highSackedEnd = 0;
  private readonly isLostState = { doneUpTo: 0 };
  private persistBackoff = 0;
  private persistProbes = 0;
  private nextSendTime = 0;
  /** When data (new or retransmitted) last left, for the idle restart (RFC 5681 4.1). */
  private lastDataSentAt = -Infinity;
  private challengeAckAt = -Infinity;

  // ---- keepalive ----
  private keepAliveOn: boolean;
  private keepAliveIdle: number;
  private kaProbes = 0;
  private lastRecvAt = 0;

  // ---- counters ----
  private readonly retransmits = zeroKinds();
  private segmentsIn = 0;
  private segmentsOut = 0;
  private bytesSent = 0;
  private bytesReceived = 0;
  private bytesAcked = 0;
  /** Segments dropped on arrival, by reason (bad input is dropped and counted, never thrown). */
  readonly drops: Record<string, number> = {};

  // ---- pending user events (emitted at the end of each entry point) ----
  private evEstablished = false;
  private evReadable = false;
  private evWritable = false;
  private evClosed = false;
  private closedEmitted = false;

  private constructor(tuple: FourTuple, config: TcpConfig, now: number, opts: ConnectOptions) {
    this.tuple = tuple;
    // A private copy: setNoDelay() changes it, and callers may share one config object.
    this.config = { ...config };
    this.now = now;
    if (opts.hooks) this.hooks = opts.hooks;
    this.tsOffset = (opts.tsOffset ?? 0) >>> 0;
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    this.sndMss = Math.min(config.mss, DEFAULT_PEER_MSS);
    this.pmtu = new PathMtu({ maxMtu: config.mss + IP_TCP_HEADERS, ...(config.pathMtu !== undefined ? { initialMtu: config.pathMtu } : {}), ...(config.pathMtuRaiseInterval !== undefined ? { raiseIntervalMs: config.pathMtuRaiseInterval } : {}) }, now);
    this.rcvMss = Math.min(config.mss, DEFAULT_PEER_MSS);
    this.cc = createCongestionControl(config.cc, { mss: this.sndMss, initialWindowSegments: config.initialWindowSegments, now });
    this.reasm = new Reassembly(config.maxOutOfOrderBytes);
    this.keepAliveOn = config.keepAlive;
    this.keepAliveIdle = config.keepAliveIdle;
    this.lastRecvAt = now;
    if (config.windowScale) {
      let ws = 0;
      while (ws < MAX_WSCALE && config.rcvBuf > 65535 * 2 ** ws) ws++;
      this.rcvWscale = ws;
    }
    const iss = (opts.iss ?? 0) >>> 0;
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sendBase = seqAdd(iss, 1);
  }

  /** Active open: emits a SYN on the next takeOutput(). */
  static connect(tuple: FourTuple, config: TcpConfig, now: number, opts: ConnectOptions = {}): Connection {
    const iss = opts.iss ?? defaultIsnGenerator().isn(tuple, now);
    const c = new Connection(tuple, config, now, { ...opts, iss });
    c.setState('SYN-SENT');
    c.sendSyn();
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
    c.passive = true;
    c._state = 'LISTEN';
    c.segmentsIn++;
    c.takePeerSyn(syn);
    c.setState('SYN-RECEIVED');
    c.sendSyn();
    c.flush();
    return c;
  }

  /**
   * A connection completed statelessly by a SYN cookie (RFC 4987 3.6): the ACK `ack` answered
   * our cookie SYN-ACK (ISS = SEG.ACK-1). Starts in ESTABLISHED with what the cookie restored.
   */
  static fromSynCookie(
    tuple: FourTuple,
    config: TcpConfig,
    ack: TcpSegment,
    negotiated: { mss: number; sackPermitted?: boolean; wscale?: number; ts?: boolean },
    now: number,
    opts: ConnectOptions = {},
  ): Connection {
    const iss = seqAdd(ack.ack, -1);
    const c = new Connection(tuple, config, now, { ...opts, iss });
    c.passive = true;
    c.irs = seqAdd(ack.seq, -1);
    c.rcvNxt = ack.seq >>> 0;
    c.sndUna = ack.ack >>> 0;
    c.sndNxt = ack.ack >>> 0;
    c.sendBase = ack.ack >>> 0;
    c.sackOk = !!negotiated.sackPermitted && config.sack;
    c.tsOk = !!negotiated.ts && config.timestamps && ack.options.ts !== undefined;
    if (c.tsOk && ack.options.ts) {
      c.tsRecent = ack.options.ts.val;
      c.tsRecentValid = true;
    }
    if (negotiated.wscale !== undefined && config.windowScale) c.sndWscale = Math.min(negotiated.wscale, MAX_WSCALE);
    else c.rcvWscale = 0;
    c.peerMss = clampPeerMss(negotiated.mss);
    c.applyMss();
    c.sndWnd = ack.window * 2 ** c.sndWscale;
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = ack.seq >>> 0;
    c.sndWl2 = ack.ack >>> 0;
    c.rcvAdv = seqAdd(c.rcvNxt, Math.min(config.rcvBuf, 65535 * 2 ** c.rcvWscale));
    c.lastAckSent = c.rcvNxt;
    c._state = 'LISTEN';
    c.setState('ESTABLISHED');
    c.evEstablished = true;
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
    } catch {
      this.drop('internal_error');
    }
    if (burst && receivesData(before) && this.config.coalesceAcks && this._state === before && !this.ackNeeded) {
      this.held = true;
      // Sending is not held: new data goes into flight at once (the driver transmits it at
      // the end of the burst). Held, a burst of ACKs drained FlightSize before the refill, so
      // a loss found mid-burst set ssthresh = FlightSize/2 from a half-empty pipe: Reno over
      // a 1%-loss path lost about 20% of its goodput that way.
      try {
        this.trySend();
      } catch {
        this.drop('internal_error');
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
    } catch {
      this.drop('internal_error');
    }
    this.flushSafely();
  }

  /** Absolute time (ms) at which onTimer must be called, or undefined. */
  nextDeadline(): number | undefined {
    return this.timers.next();
  }

  /** Segments to transmit now, in order (the driver encodes them); clears the queue. */
  takeOutput(): TcpSegment[] {
    const o = this.out;
    this.out = [];
    return o;
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
    if (this.finQueued || this.userClosed || this._state === 'CLOSED' || this._state === 'TIME-WAIT') {
      throw makeError('EPIPE', 'write');
    }
    const n = Math.min(data.length, this.sendBufferFree);
    if (n > 0) this.sendQ.push(n === data.length ? data : data.subarray(0, n));
    this.flushSafely();
    return n;
  }

  /** Free space in the send buffer, bytes. */
  get sendBufferFree(): number {
    return Math.max(0, this.config.sndBuf - this.sendQ.length);
  }

  /** Half-close (node's end(), RFC 9293 3.10.4 CLOSE of the sending side): FIN after all queued data. */
  shutdown(now: number): void {
    this.now = now;
    if (this.finQueued || this._state === 'CLOSED') return;
    switch (this._state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
        // Queued until ESTABLISHED (RFC 9293 3.10.4).
        this.finQueued = true;
        break;
      case 'ESTABLISHED':
        this.finQueued = true;
        this.setState('FIN-WAIT-1');
        break;
      case 'CLOSE-WAIT':
        this.finQueued = true;
        this.setState('LAST-ACK');
        break;
      default:
        return; // FIN already queued in the other states
    }
    this.flushSafely();
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
    if (this.rcvQ.length > 0 || !this.reasm.isEmpty) {
      this.abort(now);
      return;
    }
    this.userClosed = true;
    this.shutdown(now);
    this.armOrphanTimeout();
    this.flushSafely();
  }

  /**
   * Policy (like Linux tcp_fin_timeout): after close(), FIN-WAIT-2 waits at most 2*MSL for the
   * peer's FIN, so a vanished peer cannot pin the connection forever. After shutdown() alone
   * the application may still read, so FIN-WAIT-2 lasts as long as it likes.
   */
  private armOrphanTimeout(): void {
    if (this.userClosed && this._state === 'FIN-WAIT-2') this.timers.set('timeWait', this.now + 2 * this.config.msl);
  }

  /** ABORT (RFC 9293 3.10.5): RST now if synchronized, then CLOSED. */
  abort(now: number): void {
    this.now = now;
    if (this._state === 'CLOSED') return;
    if (SYNCHRONIZED.has(this._state) && this._state !== 'TIME-WAIT') this.sendRst();
    this.userClosed = true;
    this.enterClosed(undefined);
    this.flushSafely();
  }

  /**
   * RECEIVE: consumes up to `max` in-order bytes (all by default); null when none are buffered
   * (check remoteClosed for EOF). Reading opens the window; a window update is sent when the
   * offer grows by at least min(MSS, rcvBuf/2) (receiver SWS avoidance). Uses the time of the
   * last entry point for the update's TSval.
   */
  read(max?: number): Buffer | null {
    if (this.rcvQ.length === 0) {
      this.maybeAutoShutdown();
      return null;
    }
    // Segments of 16 KiB or more (large MTUs) are handed on whole, not copied together.
    const b = this.rcvQ.shift(max === undefined ? this.rcvQ.length : Math.max(0, max), WHOLE_SEGMENT_READ);
    if (b.length === 0) return null;
    if (RECEIVING.has(this._state)) {
      // A window update only when it matters to the peer (like Linux tcp_cleanup_rbuf): the
      // window it knows is at most half the largest we can offer and reading at least doubles
      // it (a zero window always reopens). An update on every read sent one extra ACK per
      // data segment on a bulk transfer whose application reads as data arrives, doubling
      // the receiver's packets for nothing: its ACKs report the new window anyway.
      const offered = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
      const maxOffer = Math.min(this.config.rcvBuf, 65535 * (1 << this.rcvWscale));
      if (2 * offered <= maxOffer) {
        const w = this.windowToOffer();
        if (w > offered && w >= 2 * offered) this.ackNeeded = true;
      }
    }
    this.flushSafely();
    return b;
  }

  /** Received in-order bytes not yet read. */
  get readableLength(): number {
    return this.rcvQ.length;
  }

  /** Bytes held in the out-of-order reassembly queue. */
  get outOfOrderBytes(): number {
    return this.reasm.size;
  }

  /** The peer's FIN has been received in sequence: EOF after the buffered data. */
  get remoteClosed(): boolean {
    return this.finReceived;
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
    this.keepAliveOn = on;
    if (idleMs !== undefined && idleMs > 0) this.keepAliveIdle = idleMs;
    this.kaProbes = 0;
    this.armKeepAlive();
  }

  getInfo(now: number): TcpInfo {
    void now;
    const inFlight = this.flightSize();
    const pacing = this.pacingRateBytesPerMs();
    const info: TcpInfo = {
      state: this._state,
      localAddress: formatIpv4(this.tuple.localAddr),
      localPort: this.tuple.localPort,
      remoteAddress: formatIpv4(this.tuple.remoteAddr),
      remotePort: this.tuple.remotePort,
      cc: this.cc.name,
      mss: this.sndMss,
      pathMtu: this.pmtu.mtu,
      pmtu: { state: this.pmtu.state, ...this.pmtu.stats },
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      minRtt: Number.isFinite(this.rtt.minRtt) ? this.rtt.minRtt : 0,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcvNxt,
      sndWnd: this.sndWnd,
      rcvWnd: Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt)),
      bytesInFlight: inFlight,
      sendQueue: this.sendQ.length,
      recvQueue: this.rcvQ.length,
      outOfOrderBytes: this.reasm.size,
      retransmits: { ...this.retransmits },
      segmentsIn: this.segmentsIn,
      segmentsOut: this.segmentsOut,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      bytesAcked: this.bytesAcked,
      inRecovery: this.inRecovery,
    };
    if (pacing !== undefined) info.pacingRate = pacing * 1000;
    if (this.rate.lastRate > 0) info.deliveryRate = this.rate.lastRate;
    return info;
  }

  /** The congestion-control instance (read-only use: tests, metrics). */
  get congestionControl(): CongestionControl {
    return this.cc;
  }

  // =====================================================================================
  // Segment arrival (RFC 9293 3.10.7)
  // =====================================================================================

  private segmentArrives(seg: TcpSegment): void {
    this.segmentsIn++;
    // Anything from the peer shows it is alive (keepalive, RFC 1122 4.2.3.6).
    this.lastRecvAt = this.now;
    this.kaProbes = 0;
    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'recv', t: this.now, seq: seg.seq, len: seg.payload.length, flags: seg.flags });
    switch (this._state) {
      case 'CLOSED':
      case 'LISTEN': {
        // 3.10.7.1: everything but a RST gets a RST.
        const r = rstFor(seg);
        if (r) this.emit(r);
        return;
      }
      case 'SYN-SENT':
        this.synSentArrives(seg);
        return;
      default:
        this.synchronizedArrives(seg);
    }
  }

  /** RFC 9293 3.10.7.3. */
  private synSentArrives(seg: TcpSegment): void {
    let ackOk = false;
    // First: check the ACK bit.
    if (seg.flags & ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndNxt)) {
        // Scenario 5: unacceptable ACK -> <SEQ=SEG.ACK><CTL=RST> unless it is a RST.
        if (!(seg.flags & RST)) this.emit(this.ownSeg(seg.ack >>> 0, 0, RST, EMPTY, {}));
        this.drop('syn_sent_bad_ack');
        return;
      }
      ackOk = true; // SND.UNA < SEG.ACK =< SND.NXT (SND.UNA = ISS here)
    }
    // Second: the RST bit (only with an acceptable ACK; RFC 5961 3: not without one).
    if (seg.flags & RST) {
      if (ackOk) this.enterClosed('ECONNREFUSED');
      else this.drop('syn_sent_rst_no_ack');
      return;
    }
    // Fourth: the SYN bit.
    if (!(seg.flags & SYN)) {
      this.drop('syn_sent_no_syn');
      return;
    }
    this.takePeerSyn(seg);
    if (ackOk) {
      this.sndWl1 = seg.seq >>> 0;
      this.sndWl2 = seg.ack >>> 0;
      this.processNewAck(seg.ack >>> 0, seg);
      this.establish();
      this.ackNeeded = true;
      // Data or FIN carried by the SYN-ACK (RFC 9293 3.10.7.3: "continue processing at the sixth step").
      if (seg.payload.length > 0 || seg.flags & FIN) {
        this.processText(seqAdd(seg.seq, 1), seg.payload, (seg.flags & FIN) !== 0);
      }
    } else {
      // Simultaneous open (scenario 8): SYN-RECEIVED and <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
      this.setState('SYN-RECEIVED');
      const syn = this.rtxQ[0];
      if (syn && syn.syn) this.retransmitSeg(syn, undefined);
    }
  }

  /** Records the peer's SYN: IRS and the options (MSS, WS, SACK-permitted, TS; RFC 7323/2018). */
  private takePeerSyn(seg: TcpSegment): void {
    const o = seg.options;
    this.irs = seg.seq >>> 0;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.lastAckSent = this.rcvNxt;
    // Window scaling only when both SYNs carry the option (RFC 7323 2.2).
    this.wsAgreed = this.config.windowScale && o.wscale !== undefined;
    if (this.wsAgreed) {
      this.sndWscale = Math.min(o.wscale ?? 0, MAX_WSCALE);
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.sackOk = this.config.sack && !!o.sackPermitted;
    this.tsOk = this.config.timestamps && o.ts !== undefined;
    if (this.tsOk && o.ts) {
      this.tsRecent = o.ts.val >>> 0;
      this.tsRecentValid = true;
    }
    this.peerMss = clampPeerMss(o.mss);
    this.applyMss();
    // The window field of a SYN is never scaled (RFC 7323 2.2).
    this.sndWnd = seg.window;
    this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
    this.sndWl1 = seg.seq >>> 0;
    this.sndWl2 = seg.ack >>> 0;
    this.rcvAdv = seqAdd(this.rcvNxt, this.synWindow());
  }

  /** RFC 9293 3.10.7.4: SYN-RECEIVED and every synchronized state. */
  private synchronizedArrives(seg0: TcpSegment): void {
    let seg = seg0;
    const st = this._state;

    // A SYN on a synchronized connection.
    if (seg.flags & SYN) {
      if (st === 'SYN-RECEIVED' && (seg.seq >>> 0) === this.irs) {
        if (seg.flags & ACK && !(seg.flags & RST) && seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndNxt)) {
          // The peer's SYN-ACK in a simultaneous open: take it as the ACK of our SYN.
          seg = { ...seg, flags: seg.flags & ~SYN, seq: seqAdd(seg.seq, 1), options: { ...seg.options, mss: undefined } };
        } else if (!(seg.flags & (RST | ACK))) {
          // Scenario 9: a retransmitted SYN gets the same SYN-ACK again.
          const syn = this.rtxQ[0];
          if (syn && syn.syn) this.retransmitSeg(syn, undefined);
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
    const ts = seg.options.ts;
    if (this.tsOk && ts && this.tsRecentValid && !(seg.flags & RST) && seqLt(ts.val, this.tsRecent)) {
      this.drop('paws');
      this.sendAck();
      return;
    }

    // First: sequence number acceptability.
    const segLen = segmentLength(seg);
    const wnd = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable = wnd === 0 ? seg.seq === this.rcvNxt : inWindow(seg.seq, this.rcvNxt, wnd);
    } else {
      acceptable =
        wnd > 0 && (inWindow(seg.seq, this.rcvNxt, wnd) || inWindow(seqAdd(seg.seq, segLen - 1), this.rcvNxt, wnd));
    }
    if (!acceptable) {
      // Zero window: still process the ACK (and RST) of a segment at RCV.NXT (RFC 9293: "special allowance").
      if (wnd === 0 && seg.seq === this.rcvNxt && segLen > 0) {
        seg = { ...seg, payload: EMPTY, flags: seg.flags & ~FIN };
        this.ackNeeded = true;
        this.drop('zero_window');
      } else {
        if (seg.flags & RST) {
          this.drop('rst_out_of_window');
          return;
        }
        if (st === 'TIME-WAIT' && seg.flags & FIN) {
          // Scenario 16: a retransmitted FIN is re-ACKed and restarts the 2*MSL timer.
          this.timers.set('timeWait', this.now + 2 * this.config.msl);
        }
        // An entirely duplicate data segment is reported with a D-SACK (RFC 2883).
        if (this.sackOk && seg.payload.length > 0 && seqLe(seqAdd(seg.seq, seg.payload.length), this.rcvNxt)) {
          this.dsackPending = { left: seg.seq >>> 0, right: seqAdd(seg.seq, seg.payload.length) };
        }
        this.drop('out_of_window');
        this.sendAck();
        return;
      }
    }

    // Second: the RST bit (RFC 5961 3.2).
    if (seg.flags & RST) {
      if ((seg.seq >>> 0) !== this.rcvNxt) {
        this.challengeAck('rst');
        return;
      }
      this.resetReceived();
      return;
    }

    // RFC 7323 5.3 R3: remember the peer's TSval.
    if (this.tsOk && ts && seqGe(ts.val, this.tsRecent) && seqLe(seg.seq, this.lastAckSent)) {
      this.tsRecent = ts.val >>> 0;
      this.tsRecentValid = true;
    }

    // Trim to the window (scenario 29): the in-window part is processed.
    let seq = seg.seq >>> 0;
    let payload = seg.payload;
    let fin = (seg.flags & FIN) !== 0;
    if (seqLt(seq, this.rcvNxt)) {
      const cut = seqDiff(this.rcvNxt, seq);
      if (this.sackOk && payload.length > 0) {
        this.dsackPending = { left: seq, right: seqAdd(seq, Math.min(cut, payload.length)) };
      }
      payload = payload.subarray(Math.min(cut, payload.length));
      seq = this.rcvNxt;
    }
    if (payload.length > 0 || fin) {
      const room = Math.max(0, seqDiff(this.rcvAdv, seq));
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

  /** The RST of an acceptable segment at exactly RCV.NXT. */
  private resetReceived(): void {
    switch (this._state) {
      case 'SYN-RECEIVED':
        // From LISTEN: back to LISTEN (the listener forgets this child); from SYN-SENT: refused.
        this.enterClosed(this.passive ? undefined : 'ECONNREFUSED');
        return;
      case 'TIME-WAIT':
        // Policy (RFC 1337 "TIME-WAIT assassination"): a RST does not end TIME-WAIT.
        this.drop('rst_in_time_wait');
        return;
      case 'CLOSING':
      case 'LAST-ACK':
        this.enterClosed(undefined);
        return;
      default:
        this.enterClosed('ECONNRESET');
    }
  }

  /**
   * RFC 9293 3.10.7.4 fifth step. Returns false when the segment must be dropped.
   */
  private ackArrives(seg: TcpSegment): boolean {
    const ack = seg.ack >>> 0;
    if (this._state === 'SYN-RECEIVED') {
      if (!(seqGt(ack, this.sndUna) && seqLe(ack, this.sndNxt))) {
        // Scenario 6: unacceptable ACK in SYN-RECEIVED -> <SEQ=SEG.ACK><CTL=RST>.
        this.emit(this.ownSeg(ack, 0, RST, EMPTY, {}));
        this.drop('syn_received_bad_ack');
        return false;
      }
      if (this.childLink && !this.childLink.canEstablish(this)) {
        // Scenario 46: accept queue full -> ignore the ACK; the SYN-ACK timer stays armed.
        this.drop('accept_queue_full');
        return false;
      }
      this.sndWnd = seg.window * (1 << this.sndWscale);
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq >>> 0;
      this.sndWl2 = ack;
      this.establish();
    }

    // RFC 5961 5.2: acceptable ACKs are in [SND.UNA - MAX.SND.WND, SND.NXT].
    if (seqGt(ack, this.sndNxt)) {
      // Scenario 23: ACK for data never sent -> ACK and drop.
      this.drop('ack_unsent');
      this.sendAck();
      return false;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.drop('ack_too_old');
      this.sendAck();
      return false;
    }

    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'ack', t: this.now, ack, window: seg.window * (1 << this.sndWscale), sack: seg.options.sack });

    const prevWnd = this.sndWnd;
    const priorInFlight = this.flightSize();
    // Bytes acknowledged by the ACK that ends recovery do not grow cwnd (RFC 6582 3.2 step 3).
    const wasInRecovery = this.inRecovery;
    const hadOutstanding = this.rtxQ.length > 0;
    // SACK information first (RFC 6675): blocks above the cumulative ACK.
    let newlySacked = 0;
    let newSackInfo = false;
    const delivered: TxSegment[] = [];
    if (this.sackOk && seg.options.sack) {
      const r = applySack(this.rtxQ, seg.options.sack, ack, this.sndNxt);
      if (this.sackedBytes === 0 && r.newly.length > 0) {
        // A fresh scoreboard: the IsLost bookkeeping starts again from SND.UNA.
        this.highSackedEnd = ack;
        this.isLostState.doneUpTo = this.sndUna;
      }
      this.sackedBytes += r.newlySacked;
      for (const s of r.newly) {
        const end = txEnd(s);
        if (seqGt(end, this.highSackedEnd)) this.highSackedEnd = end;
      }
      this.lostBytes -= r.wasLostBytes;
      this.lostSegs -= r.wasLostSegs;
      newlySacked = r.newlySacked;
      newSackInfo = r.newly.length > 0;
      delivered.push(...r.newly);
      if (r.dsack) this.onDsack(r.dsack);
    }

    let advanced = false;
    if (seqGt(ack, this.sndUna)) {
      advanced = true;
      // Segments SACKed before were delivered then (RACK and the rate sampler saw them): only
      // the ones delivered by this cumulative ACK count now.
      for (const s of this.processNewAck(ack, seg)) if (!s.sacked) delivered.push(s);
    }

    // Window update (RFC 9293 3.10.7.4: SND.WL1/SND.WL2 rule).
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === (seg.seq >>> 0) && seqLe(this.sndWl2, ack))) {
      this.sndWnd = seg.window * (1 << this.sndWscale);
      this.sndWl1 = seg.seq >>> 0;
      this.sndWl2 = ack;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
      if (this.sndWnd > 0 && this.timers.isSet('persist')) {
        this.timers.clear('persist');
        this.persistBackoff = 0;
      }
    }
    // Any acceptable ACK answers our probes (the connection stays open while they are ACKed).
    this.persistProbes = 0;

    // Loss detection and recovery.
    if (!advanced) {
      const dup = isDuplicateAck({
        seg,
        sndUna: this.sndUna,
        outstanding: hadOutstanding,
        window: seg.window * (1 << this.sndWscale),
        prevWindow: prevWnd,
        newSackInfo,
      });
      if (dup) this.onDuplicateAck();
    }
    if (this.sackOk && delivered.length > 0) this.rackOnAck(delivered, seg);

    // Rate sample and congestion control.
    if (delivered.length > 0) {
      const ecr = this.tsOk ? seg.options.ts?.ecr : undefined;
      for (const s of delivered) this.rate.onDelivered(s, this.now, karnSafe(s, ecr));
      const inFlight = this.flightSize();
      const minRtt = Number.isFinite(this.rtt.minRtt) ? this.rtt.minRtt : 0;
      const rs = this.rate.finish(this.now, priorInFlight, inFlight, minRtt || Infinity);
      const ackedBytes = newlySacked + (advanced ? this.lastAckedBytes : 0);
      const unsent = this.sendQ.length - this.unsentOffset();
      this.ccCall(this.cc.cwnd < this.cc.ssthresh ? 'slow_start' : 'congestion_avoidance', () =>
        this.cc.onAck({
          now: this.now,
          bytesAcked: ackedBytes,
          rttSample: this.lastRttSample,
          srtt: this.rtt.srtt,
          minRtt,
          priorInFlight,
          inFlight,
          inRecovery: this.inRecovery || wasInRecovery,
          appLimited: unsent <= 0 && priorInFlight + this.sndMss < this.cc.cwnd,
        }),
      );
      if (rs && this.cc.onRateSample) this.ccCall('model', () => this.cc.onRateSample!(rs));
    }
    this.lastRttSample = undefined;

    // State transitions driven by the ACK of our FIN.
    const finAcked = this.finSent && seqGt(this.sndUna, this.finSeq);
    switch (this._state) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.setState('FIN-WAIT-2');
          this.armOrphanTimeout();
        }
        break;
      case 'CLOSING':
        if (finAcked) this.enterTimeWait();
        break;
      case 'LAST-ACK':
        if (finAcked) {
          this.enterClosed(undefined);
          return false;
        }
        break;
      case 'TIME-WAIT':
        // Only a retransmitted FIN can arrive: ACK it and restart the 2*MSL timer.
        if (seg.flags & FIN) {
          this.ackNeeded = true;
          this.timers.set('timeWait', this.now + 2 * this.config.msl);
        }
        break;
      default:
        break;
    }
    return true;
  }

  private lastAckedBytes = 0;
  private lastRttSample?: number;

  /**
   * SND.UNA advances to `ack`: frees the send buffer, takes an RTT sample (Karn, or the
   * timestamp echo for a retransmitted segment), restarts the RTO and handles recovery exits.
   * Returns the segments fully acknowledged.
   */
  private processNewAck(ack: number, seg: TcpSegment): TxSegment[] {
    const acked: TxSegment[] = [];
    let bytes = 0;
    let rttSample: number | undefined;
    // Fully acknowledged segments leave the queue front with shift(): V8 left-trims the
    // array in O(1) (splice(0, k) would move the whole queue: ~6 us per ACK at 3000 segments).
    const q = this.rtxQ;
    while (q.length > 0) {
      const s = q[0]!;
      const end = txEnd(s);
      if (seqLe(end, ack)) {
        q.shift();
        this.unmark(s, txSize(s), true);
        acked.push(s);
        if (s.pmtuProbe) this.pmtuProbeAcked(); // PMTU hook
        if (!s.sacked) bytes += txSize(s);
        // Karn (RFC 6298 3), or RFC 7323 4: the echo identifies which transmission was acknowledged.
        if (karnSafe(s, this.tsOk ? seg.options.ts?.ecr : undefined)) rttSample = this.now - s.xmitTime;
        continue;
      }
      if (seqLt(s.seq, ack)) {
        // Partially acknowledged (the peer took part of a segment).
        const size0 = txSize(s);
        let consumed = seqDiff(ack, s.seq);
        if (s.syn) {
          s.syn = false;
          consumed--;
        }
        s.seq = ack;
        s.len = Math.max(0, s.len - consumed);
        bytes += consumed;
        this.unmark(s, size0 - txSize(s), false);
      }
      break;
    }
    const dataAcked = Math.max(0, Math.min(seqDiff(ack, this.sendBase), this.sendQ.length));
    if (dataAcked > 0) {
      this.sendQ.consume(dataAcked);
      this.sendBase = seqAdd(this.sendBase, dataAcked);
      this.evWritable = true;
    }
    this.bytesAcked += dataAcked;
    this.sndUna = ack;
    this.lastAckedBytes = bytes;
    this.lastProgressAt = this.now;
    this.rtoCount = 0;
    this.rtt.resetBackoff();
    if (rttSample !== undefined) {
      this.rtt.sample(rttSample);
      this.lastRttSample = rttSample;
      const tr = this.hooks.onTrace;
      if (tr) tr({ type: 'rtt', t: this.now, sample: rttSample, srtt: this.rtt.srtt, rttvar: this.rtt.rttvar, rto: this.rtt.rto });
      this.hooks.onRtt?.(rttSample);
    }
    if (this.tlpHighSeq !== undefined && seqGe(ack, this.tlpHighSeq)) this.tlpHighSeq = undefined;

    // Recovery (RFC 5681 3.2, RFC 6582, RFC 6675 5).
    if (this.inRecovery) {
      if (seqGe(ack, this.recoverSeq)) {
        this.exitRecovery();
      } else if (this.cc.recoveryStyle === 'reno' && !this.sackOk) {
        // Reno: recovery ends at the first ACK of new data (RFC 5681 3.2 step 6).
        this.exitRecovery();
      } else if (!this.sackOk) {
        // NewReno partial ACK (RFC 6582 3.2 step 3): retransmit the next hole, stay in recovery.
        this.emuSacked = Math.max(0, this.emuSacked - Math.max(0, acked.length - 1));
        const first = this.rtxQ[0];
        if (first && !first.lost && !first.sacked) {
          this.markLost(first);
          first.lostKind = 'fast';
          this.retransmitSeg(first, 'fast');
        }
      }
    } else {
      this.dupAcks = 0;
      this.emuSacked = 0;
    }
    if (this.rtxQ.length === 0) {
      this.timers.clear('retransmit');
      this.timers.clear('tlp');
      this.timers.clear('rack');
    } else {
      this.armRto(true);
      this.armTlp();
    }
    return acked;
  }

  private exitRecovery(): void {
    this.inRecovery = false;
    this.dupAcks = 0;
    this.emuSacked = 0;
    this.ccCall('recovery_exit', () => this.cc.onRecoveryExit(this.now));
  }

  /** A duplicate ACK (RFC 5681 / RFC 6675 / RFC 3042). */
  private onDuplicateAck(): void {
    this.dupAcks++;
    if (!this.sackOk) {
      const outstandingSegs = this.rtxQ.length;
      if (this.emuSacked < Math.max(0, outstandingSegs - 1)) this.emuSacked++;
    }
    if (this.inRecovery) {
      if (this.sackOk) this.markBySack();
      return;
    }
    // RFC 6582 4 / RFC 6675: no new recovery for duplicate ACKs of data sent before the last one ended.
    if (this.recoverValid && this.cc.recoveryStyle !== 'reno' && seqLt(this.sndUna, this.recoverSeq)) {
      return;
    }
    const first = this.rtxQ[0];
    if (!first) return;
    let lost = this.dupAcks >= DUP_THRESH;
    if (this.sackOk) {
      this.markBySack();
      lost = lost || first.lost;
    }
    if (!lost) return; // RFC 3042 limited transmit happens through the reduced pipe.
    if (!first.sacked) {
      if (!first.lost) this.markLost(first);
      first.lostKind = 'fast';
    }
    this.enterRecovery('fast');
  }

  /** RFC 6675 IsLost over the scoreboard. */
  private markBySack(): void {
    if (this.sackedBytes === 0) return;
    const newly = markLostBySack(this.rtxQ, this.sndMss, this.highSackedEnd, this.isLostState);
    let bytes = 0;
    for (const s of newly) {
      s.lostKind = 'fast';
      bytes += txSize(s);
    }
    this.lostBytes += bytes;
    this.lostSegs += newly.length;
    if (bytes > 0) this.rate.onLost(bytes);
  }

  /**
   * Loss detected by duplicate ACKs, SACK or RACK: tell congestion control and retransmit the
   * first lost segment at once (RFC 6675 4 step 4.3). Tahoe instead goes back to SND.UNA.
   */
  private enterRecovery(kind: 'fast' | 'rack'): void {
    const inFlight = this.flightSize();
    this.undoPossible = true;
    this.undoRetrans = 0;
    this.retransRanges = [];
    this.recoverSeq = this.sndNxt;
    this.recoverValid = true;
    this.ccCall('fast_retransmit', () => this.cc.onCongestion({ kind: 'fast', now: this.now, inFlight }));
    if (this.cc.recoveryStyle === 'tahoe') {
      // Go-back-N from SND.UNA with cwnd = 1 MSS.
      for (const s of this.rtxQ) {
        if (!s.sacked && !s.lost) {
          this.markLost(s);
          s.lostKind = kind;
        }
      }
      this.dupAcks = 0;
      this.emuSacked = 0;
    } else {
      this.inRecovery = true;
    }
    const first = nextLost(this.rtxQ);
    if (first) this.retransmitSeg(first, first.lostKind ?? kind);
    this.timers.clear('tlp');
  }

  /** RFC 8985 6.2 on every ACK that delivered something (SACK connections). */
  private rackOnAck(delivered: TxSegment[], seg: TcpSegment): void {
    const minRtt = Number.isFinite(this.rtt.minRtt) ? this.rtt.minRtt : 0;
    for (const s of delivered) this.rack.onDelivered(s, this.now, minRtt, seg.options.ts?.ecr);
    this.rackDetect();
  }

  private rackDetect(): void {
    const reo = this.rack.reoWnd(this.rtt.minRtt, this.rtt.srtt, this.inRecovery);
    const r = this.rack.detectLoss(this.rtxQ, this.now, reo);
    for (const s of r.lost) {
      s.lostKind = 'rack';
      this.lostBytes += txSize(s);
      this.lostSegs++;
    }
    if (r.timeout !== undefined) this.timers.set('rack', r.timeout);
    else this.timers.clear('rack');
    if (r.lost.length > 0) {
      this.rate.onLost(r.lost.reduce((n, s) => n + txSize(s), 0));
      if (!this.inRecovery) this.enterRecovery('rack');
    }
  }

  /** A D-SACK block (RFC 2883): count it against our retransmissions for undo (RFC 2883 5 / Linux). */
  private onDsack(b: SackBlock): void {
    if (!this.undoPossible) return;
    const ours = this.retransRanges.some((r) => seqLe(r.left, b.left) && seqLe(b.right, r.right));
    if (!ours) return;
    this.undoRetrans--;
    if (this.undoRetrans <= 0) {
      this.undoPossible = false;
      if (this.cc.onSpuriousCongestion) {
        const undo = this.cc.onSpuriousCongestion.bind(this.cc);
        this.ccCall('undo', () => undo(this.now));
      }
      if (this.inRecovery) this.inRecovery = false;
    }
  }

  /** Seventh and eighth steps: text and FIN, in sequence or into reassembly. */
  private processText(seq: number, payload: Buffer, fin: boolean): void {
    if (!RECEIVING.has(this._state)) {
      // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent FIN; ignore text.
      if (fin && this._state !== 'TIME-WAIT') this.ackNeeded = true;
      return;
    }
    if (this.userClosed && payload.length > 0) {
      // The application closed fully: new data can never be read (RFC 1122 4.2.2.13, Linux).
      this.sendRst();
      this.enterClosed('ECONNRESET');
      return;
    }
    if (seq !== this.rcvNxt) {
      // Out of order: hold it and ACK at once with SACK (scenario 30).
      const r = this.reasm.insert(seq, payload, fin);
      if (r.kind === 'duplicate' && this.sackOk) this.dsackPending = r.dsack;
      if (r.kind === 'dropped') this.drop('ooo_full');
      this.ackNeeded = true;
      return;
    }
    let gotFin = fin;
    let filledHole = false;
    if (payload.length > 0) {
      this.rcvQ.push(payload);
      this.rcvNxt = seqAdd(this.rcvNxt, payload.length);
      this.bytesReceived += payload.length;
      this.unackedBytes += payload.length;
      if (payload.length > this.rcvMss) this.rcvMss = payload.length;
      this.evReadable = true;
    }
    if (!gotFin && !this.reasm.isEmpty) {
      const d = this.reasm.drain(this.rcvNxt);
      if (d.data.length > 0 || d.fin || d.rcvNxt !== this.rcvNxt) {
        filledHole = true;
        for (const b of d.data) {
          this.rcvQ.push(b);
          this.bytesReceived += b.length;
        }
        this.rcvNxt = d.fin ? seqAdd(d.rcvNxt, -1) : d.rcvNxt;
        gotFin = d.fin;
        this.evReadable = true;
      }
    }
    if (gotFin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.finArrives();
      return;
    }
    // Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2): immediately on a hole fill or when more
    // than one full-sized segment is unacknowledged; otherwise within delayedAckMs.
    if (filledHole || this.config.delayedAckMs === 0 || !this.reasm.isEmpty) {
      this.ackNeeded = true;
    } else if (this.unackedBytes >= 2 * this.rcvMss) {
      this.ackSoon = true;
    } else if (payload.length > 0) {
      this.timers.setIfUnset('delayedAck', this.now + this.config.delayedAckMs);
    }
  }

  /** The peer's FIN in sequence (eighth step). */
  private finArrives(): void {
    this.finReceived = true;
    this.evReadable = true;
    this.ackNeeded = true;
    this.reasm.clear();
    switch (this._state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.setState('CLOSE-WAIT');
        break;
      case 'FIN-WAIT-1':
        if (this.finSent && seqGt(this.sndUna, this.finSeq)) this.enterTimeWait();
        else this.setState('CLOSING');
        break;
      case 'FIN-WAIT-2':
        this.enterTimeWait();
        break;
      default:
        break;
    }
  }

  // =====================================================================================
  // Output
  // =====================================================================================

  /** Collects pending output (data, retransmissions, ACKs) and emits user events. */
  private flush(): void {
    if (SENDING.has(this._state)) this.trySend();
    this.held = false;
    if ((this.ackNeeded || this.ackSoon) && SYNCHRONIZED.has(this._state) && this._state !== 'SYN-RECEIVED') this.sendAck();
    this.ackNeeded = false;
    this.ackSoon = false;
    this.emitEvents();
  }

  private flushSafely(): void {
    try {
      this.flush();
    } catch {
      this.drop('internal_error');
    }
  }

  private emitEvents(): void {
    const h = this.hooks;
    if (this.evEstablished) {
      this.evEstablished = false;
      // The listener learns first (accept queue), then the owner of the hooks.
      this.childLink?.established(this);
      h.onEstablished?.();
    }
    if (this.evReadable) {
      this.evReadable = false;
      h.onReadable?.();
    }
    if (this.evWritable) {
      this.evWritable = false;
      if (this._state !== 'CLOSED') h.onWritable?.();
    }
    if (this.evClosed && !this.closedEmitted) {
      this.evClosed = false;
      this.closedEmitted = true;
      this.childLink?.closed(this);
      h.onClosed?.(this._error);
    }
  }

  /** Offset of SND.NXT into the send buffer (new data starts there). */
  private unsentOffset(): number {
    return Math.max(0, seqDiff(this.sndNxt, this.sendBase));
  }

  /** Sends what loss recovery, congestion control, the peer's window, Nagle and pacing allow. */
  private trySend(): void {
    this.maybeIdleRestart();
    let inPipe = this.pipe();
    // Segments deemed lost, in sequence order (RFC 6675 NextSeg rule 1). Sending never marks
    // new ones, so one scan per call is enough (this keeps a large window O(n) per ACK).
    const lost: TxSegment[] = [];
    if (this.lostSegs > 0) {
      for (const s of this.rtxQ) {
        if (s.lost && !s.sacked) {
          lost.push(s);
          if (lost.length >= this.lostSegs) break;
        }
      }
    }
    let li = 0;
    let guard = 0;
    let sentNew = false;
    // Neither cwnd nor SRTT changes while sending, so the pacing rate is computed once.
    const rate = this.pacingRateBytesPerMs();
    while (guard++ < 100_000) {
      const cwnd = this.cc.cwnd;
      while (li < lost.length && (!lost[li]!.lost || lost[li]!.sacked)) li++;
      const s = lost[li];
      if (s) {
        if (inPipe === 0 || inPipe + txSize(s) <= cwnd) {
          this.retransmitSeg(s, s.lostKind ?? 'rto');
          inPipe += txSize(s);
          li++;
          continue;
        }
        break;
      }
      // 2. New data (NextSeg rule 2), within cwnd, the peer's window, Nagle/SWS and pacing.
      const before = this.rtxQ.length;
      if (!this.sendNew(cwnd - inPipe, false, rate)) break;
      sentNew = true;
      if (this.rtxQ.length > before) inPipe += txSize(this.rtxQ[this.rtxQ.length - 1]!);
    }
    // RFC 8985 7.2: the PTO restarts after new data is sent (once per burst: same now).
    if (sentNew) this.armTlp();
  }


  /**
   * RFC 5681 4.1 / RFC 7661: after more than one RTO without sending data and with nothing in
   * flight, cwnd restarts at min(IW, cwnd) before new data leaves (congestion controllers
   * that implement IdleRestartable; see idle.ts). Traced as reason 'idle_restart'.
   */
  private maybeIdleRestart(): void {
    if (this.rtxQ.length > 0) return; // the common case, checked first: data in flight
    const cc = this.cc;
    if (!canRestartAfterIdle(cc)) return;
    if (!isIdleRestart(this.now, this.lastDataSentAt, this.rtt.rto, false)) return;
    if (this.sendQ.length - this.unsentOffset() <= 0) return; // nothing to send: stay idle
    this.lastDataSentAt = this.now; // once per idle period
    const iw = this.config.initialWindowSegments * this.sndMss;
    this.ccCall('idle_restart', () => cc.restartAfterIdle(this.now, iw));
  }

  /** One new segment if allowed. Returns whether one was sent. */
  private sendNew(cwndRoom: number, force = false, rate = this.pacingRateBytesPerMs()): boolean {
    const off = this.unsentOffset();
    const queued = this.sendQ.length - off;
    const finPending = this.finQueued && !this.finSent && (this._state === 'FIN-WAIT-1' || this._state === 'LAST-ACK' || this._state === 'CLOSING');
    if (queued <= 0 && !finPending) {
      if (this.rtxQ.length > 0 || this.pipe() < this.cc.cwnd) this.rate.markAppLimited(this.flightSize());
      return false;
    }
    const outstanding = seqDiff(this.sndNxt, this.sndUna);
    const wndRoom = this.sndWnd - outstanding;
    let n = 0;
    if (queued > 0) {
      const usable = Math.min(wndRoom, force ? Infinity : cwndRoom);
      n = force
        ? Math.min(queued, this.sndMss, Math.max(0, wndRoom))
        : usable >= this.sndMss && queued >= this.sndMss
          ? this.sndMss // a full segment: nothing for Nagle/SWS to decide (the bulk case)
          : sendableNow({
              usable,
              queued,
              mss: this.sndMss,
              maxSndWnd: this.maxSndWnd,
              inFlight: this.rtxQ.length > 0,
              noDelay: this.config.noDelay,
              finQueued: this.finQueued,
            });
      if (n === this.sndMss && !force) n = this.pmtuProbeLen(n, queued, wndRoom); // PMTU hook
      if (n === 0) {
        // Blocked by the peer's window with nothing in flight: the persist timer probes it.
        if (wndRoom < Math.min(queued, this.sndMss) && this.rtxQ.length === 0) this.armPersist();
        return false;
      }
    } else if (!force && cwndRoom <= 0 && this.rtxQ.length > 0) {
      return false; // a bare FIN waits for cwnd like data (it will follow the ACKs)
    }
    if (!force && n > 0 && this.pacingBlocks(rate)) return false;
    const payload = n > 0 ? this.sendQ.slice(off, n) : EMPTY;
    const fin = finPending && n === queued;
    const s = newTxSegment(this.sndNxt, n, false, fin, this.now);
    if (n > this.sndMss) this.pmtuProbeSent(s); // PMTU hook
    if (this.rtxQ.length === 0) this.lastProgressAt = this.now;
    this.rate.onSend(s, this.now, this.flightSize());
    this.rtxQ.push(s);
    let flags = ACK;
    if (n > 0 && n === queued) flags |= PSH;
    if (fin) {
      flags |= FIN;
      this.finSent = true;
      this.finSeq = seqAdd(this.sndNxt, n);
    }
    this.sndNxt = txEnd(s);
    const out = this.ownSeg(s.seq, this.rcvNxt, flags, payload, {});
    s.tsVal = out.options.ts?.val;
    this.emit(out);
    this.bytesSent += n;
    if (n > 0) this.lastDataSentAt = this.now;
    if (n > 0) this.pacingSent(n, rate);
    if (this.cc.onSend) this.cc.onSend(this.now, txSize(s), this.flightSize());
    this.armRto(false);
    if (force) this.armTlp(); // trySend arms it once per burst
    return true;
  }

  /** (Re)transmits a queued segment with its original boundaries. `kind` undefined: not counted. */
  private retransmitSeg(s: TxSegment, kind: RetransmitKind | undefined): void {
    if (s.len > this.sndMss) this.pmtuSplit(s); // PMTU hook: a lost probe, or data sent before the MSS fell
    let flags = 0;
    let payload: Buffer = EMPTY;
    if (s.syn) {
      flags = SYN | (this._state === 'SYN-SENT' ? 0 : ACK);
    } else {
      flags = ACK;
      if (s.len > 0) payload = this.sendQ.slice(seqDiff(s.seq, this.sendBase), s.len);
    }
    if (s.fin) flags |= FIN;
    if (s.len > 0 && seqAdd(s.seq, s.len) === seqAdd(this.sendBase, this.sendQ.length)) flags |= PSH;
    this.rate.onSend(s, this.now, this.flightSize());
    s.xmitTime = this.now;
    if (s.len > 0) this.lastDataSentAt = this.now;
    s.retransmits++;
    if (s.lost) {
      s.lost = false;
      this.lostBytes -= txSize(s);
      this.lostSegs--;
    }
    s.lostKind = undefined;
    const seg = s.syn ? this.synSegment(flags) : this.ownSeg(s.seq, this.rcvNxt, flags, payload, {});
    s.tsVal = seg.options.ts?.val;
    this.emit(seg, kind);
    if (kind) {
      this.retransmits[kind]++;
      if (this.undoPossible) {
        this.undoRetrans++;
        if (this.retransRanges.length < 256) this.retransRanges.push({ left: s.seq, right: txEnd(s) });
      }
    }
    // A repair of the head segment restarts the RTO (as Linux does): the timer guards that
    // transmission, so a lost fast/RACK retransmission of SND.UNA gets one RTO to be found
    // lost again by RACK (RFC 8985 6.2 detects lost retransmissions after about one RTT)
    // instead of an RTO that was armed long before it and collapses cwnd to one segment.
    this.armRto((kind === 'fast' || kind === 'rack') && s === this.rtxQ[0]);
  }

  /** Active or passive SYN: queued on the retransmission queue and sent. */
  private sendSyn(): void {
    const s = newTxSegment(this.iss, 0, true, false, this.now);
    this.rtxQ.push(s);
    this.sndNxt = seqAdd(this.iss, 1);
    this.lastProgressAt = this.now;
    const seg = this.synSegment(this._state === 'SYN-SENT' ? SYN : SYN | ACK);
    s.tsVal = seg.options.ts?.val;
    this.emit(seg);
    this.armRto(false);
  }

  /** Our SYN or SYN-ACK with its options (only those the peer's SYN offered, for a SYN-ACK). */
  private synSegment(flags: number): TcpSegment {
    const o: TcpOptions = { mss: this.config.mss };
    // A SYN offers what we are configured for; a SYN-ACK only what the peer's SYN offered.
    if (flags & ACK ? this.wsAgreed : this.config.windowScale) o.wscale = this.rcvWscale;
    if (this.config.sack && (!(flags & ACK) || this.sackOk)) o.sackPermitted = true;
    if (this.config.timestamps && (!(flags & ACK) || this.tsOk)) {
      o.ts = { val: this.tsNow(), ecr: flags & ACK ? this.tsRecent : 0 };
    }
    return {
      srcPort: this.tuple.localPort,
      dstPort: this.tuple.remotePort,
      seq: this.iss,
      ack: flags & ACK ? this.rcvNxt : 0,
      flags,
      window: this.synWindow(),
      urgent: 0,
      options: o,
      payload: EMPTY,
    };
  }

  /** The window field of a SYN: never scaled (RFC 7323 2.2). */
  private synWindow(): number {
    return Math.min(this.config.rcvBuf, 65535);
  }

  /**
   * A segment from this connection. ACK segments carry RCV.NXT, the window and SACK blocks.
   * `extra` must be a fresh object: it becomes the segment's options (no copy per segment).
   */
  private ownSeg(seq: number, ack: number, flags: number, payload: Buffer, extra: TcpOptions): TcpSegment {
    const o: TcpOptions = extra;
    if (this.tsOk && !(flags & RST)) o.ts = { val: this.tsNow(), ecr: this.tsRecent };
    let window = 0;
    if (flags & ACK) {
      window = this.advertise();
      this.lastAckSent = this.rcvNxt;
      this.unackedBytes = 0;
      this.timers.clear('delayedAck');
      this.ackNeeded = false;
      this.ackSoon = false;
      if (this.sackOk && !(flags & RST) && (this.dsackPending || !this.reasm.isEmpty)) {
        const optRoom = 40 - (o.ts ? TS_OPTION_LEN : 0);
        let maxBlocks = Math.floor((optRoom - 4) / 8);
        // Data segments keep their payload: only as many blocks as fit in the MSS budget.
        if (payload.length > 0) maxBlocks = Math.min(maxBlocks, Math.floor((this.sndMss - payload.length - 4) / 8));
        const blocks: SackBlock[] = [];
        if (this.dsackPending && maxBlocks > 0) {
          blocks.push(this.dsackPending);
          this.dsackPending = undefined;
        }
        if (maxBlocks - blocks.length > 0) blocks.push(...this.reasm.sackBlocks(maxBlocks - blocks.length));
        if (blocks.length > 0) o.sack = blocks;
      }
    }
    return {
      srcPort: this.tuple.localPort,
      dstPort: this.tuple.remotePort,
      seq: seq >>> 0,
      ack: flags & ACK ? ack >>> 0 : 0,
      flags,
      window,
      urgent: 0,
      options: o,
      payload,
    };
  }

  /** The window to advertise now (receiver SWS avoidance), in bytes. */
  private windowToOffer(): number {
    const free = Math.max(0, this.config.rcvBuf - this.rcvQ.length);
    const offered = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    const max = 65535 * (1 << this.rcvWscale);
    return Math.min(max, receiveWindow({ free, offered, rcvBuf: this.config.rcvBuf, mss: this.config.mss }));
  }

  /** The scaled window field for an outgoing ACK; records the right edge offered. */
  private advertise(): number {
    const w = this.windowToOffer();
    const field = Math.min(65535, Math.ceil(w / (1 << this.rcvWscale)));
    const edge = seqAdd(this.rcvNxt, field * (1 << this.rcvWscale));
    if (seqGt(edge, this.rcvAdv) || this.rcvAdv === 0) this.rcvAdv = edge;
    return field;
  }

  private sendAck(): void {
    if (this._state === 'CLOSED' || this._state === 'SYN-SENT' || this._state === 'LISTEN') return;
    this.emit(this.ownSeg(this.sndNxt, this.rcvNxt, ACK, EMPTY, {}));
  }

  private sendRst(): void {
    this.emit(this.ownSeg(this.sndNxt, this.rcvNxt, RST | ACK, EMPTY, {}));
  }

  /** RFC 5961 7: challenge ACKs are rate limited per connection. */
  private challengeAck(why: string): void {
    if (this.now - this.challengeAckAt < CHALLENGE_ACK_INTERVAL_MS) {
      this.drop(`challenge_ack_limited_${why}`);
      return;
    }
    this.challengeAckAt = this.now;
    this.drop(`challenge_ack_${why}`);
    this.sendAck();
  }

  private emit(seg: TcpSegment, retransmit?: RetransmitKind): void {
    this.out.push(seg);
    this.segmentsOut++;
    const tr = this.hooks.onTrace;
    if (tr) {
      const ev: { type: 'send'; t: number; seq: number; len: number; flags: number; retransmit?: RetransmitKind } = {
        type: 'send',
        t: this.now,
        seq: seg.seq,
        len: seg.payload.length,
        flags: seg.flags,
      };
      if (retransmit) ev.retransmit = retransmit;
      tr(ev);
    }
  }

  private tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  // =====================================================================================
  // Timers
  // =====================================================================================

  private readonly fireTimer = (k: TimerKind): void => this.fire(k);

  private fire(k: TimerKind): void {
    switch (k) {
      case 'retransmit':
        this.onRetransmitTimeout();
        break;
      case 'persist':
        this.onPersist();
        break;
      case 'delayedAck':
        if (SYNCHRONIZED.has(this._state)) this.ackNeeded = true;
        break;
      case 'keepalive':
        this.onKeepAlive();
        break;
      case 'timeWait':
        // TIME-WAIT ends; or an orphaned FIN-WAIT-2 gives up on the peer's FIN.
        if (this._state === 'TIME-WAIT' || this._state === 'FIN-WAIT-2') this.enterClosed(undefined);
        break;
      case 'pacing':
        break; // flush() sends what is due
      case 'tlp':
        this.onTlp();
        break;
      case 'rack':
        if (this.sackOk) this.rackDetect();
        break;
    }
  }

  /** RFC 6298 5.1/5.3: (re)start the timer; `restart` forces it (new data was acknowledged). */
  private armRto(restart: boolean): void {
    if (this.rtxQ.length === 0) return;
    if (!restart && this.timers.isSet('retransmit')) return;
    let at = this.now + this.rtt.rto;
    if (this.config.userTimeout > 0) at = Math.min(at, this.lastProgressAt + this.config.userTimeout);
    this.timers.set('retransmit', Math.max(at, this.now));
  }

  /** RFC 6298 5.4-5.6 and the abort rules (synRetries, maxRetries, userTimeout). */
  private onRetransmitTimeout(): void {
    if (this.rtxQ.length === 0 || this._state === 'CLOSED' || this._state === 'TIME-WAIT') return;
    const opening = this._state === 'SYN-SENT' || this._state === 'SYN-RECEIVED';
    const limit = opening ? this.config.synRetries : this.config.maxRetries;
    const userTimedOut = this.config.userTimeout > 0 && this.now - this.lastProgressAt >= this.config.userTimeout;
    if (this.rtoCount >= limit || userTimedOut) {
      this.enterClosed('ETIMEDOUT');
      return;
    }
    this.rtoCount++;
    this.rtt.onTimeout();
    if (opening) {
      this.synRetransmitted = true;
      const syn = this.rtxQ[0]!;
      this.retransmitSeg(syn, 'rto');
      this.armRto(true);
      return;
    }
    // RFC 5681 eq. 4-5 through the congestion controller; every outstanding segment is lost.
    const inFlight = this.flightSize();
    if (!this.undoPossible || this.rtoCount === 1) {
      this.undoPossible = true;
      this.undoRetrans = 0;
      this.retransRanges = [];
    }
    this.ccCall('rto', () => this.cc.onCongestion({ kind: 'rto', now: this.now, inFlight }));
    this.inRecovery = false;
    this.dupAcks = 0;
    this.emuSacked = 0;
    this.recoverSeq = this.sndNxt; // RFC 6582 4: no fast retransmit for the old flight
    this.recoverValid = true;
    this.tlpHighSeq = undefined;
    this.timers.clear('tlp');
    this.timers.clear('rack');
    let lostBytes = 0;
    for (const s of this.rtxQ) {
      if (!s.sacked) {
        if (!s.lost) {
          lostBytes += txSize(s);
          this.markLost(s);
        }
        s.lostKind = 'rto';
      }
    }
    this.rate.onLost(lostBytes);
    this.pmtuOnRto(); // PMTU hook: black-hole detection
    const first = nextLost(this.rtxQ);
    if (first) this.retransmitSeg(first, 'rto');
    this.armRto(true);
  }

  /** Persist timer (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17) with exponential backoff. */
  private armPersist(): void {
    if (this.timers.isSet('persist')) return;
    const t = Math.min(this.rtt.baseRtoValue * 2 ** this.persistBackoff, this.config.maxRto);
    this.timers.set('persist', this.now + t);
  }

  private onPersist(): void {
    if (!SENDING.has(this._state) || this.rtxQ.length > 0) return;
    const queued = this.sendQ.length - this.unsentOffset();
    if (queued <= 0) return;
    if (this.persistProbes >= this.config.maxRetries) {
      this.enterClosed('ETIMEDOUT');
      return;
    }
    const wndRoom = this.sndWnd - seqDiff(this.sndNxt, this.sndUna);
    if (wndRoom > 0) {
      // Sender SWS override (RFC 1122 4.2.3.4): send what the small window allows.
      this.sendNew(Infinity, true);
    } else {
      // Zero-window probe: <SEQ=SND.UNA-1>, no data; the peer answers with its window.
      this.emit(this.ownSeg(seqAdd(this.sndUna, -1), this.rcvNxt, ACK, EMPTY, {}), 'probe');
      this.retransmits.probe++;
      this.persistProbes++;
      if (this.persistBackoff < 30) this.persistBackoff++;
    }
    this.armPersist();
  }

  private armKeepAlive(): void {
    if (!this.keepAliveOn || this._state === 'CLOSED') {
      this.timers.clear('keepalive');
      return;
    }
    this.timers.set('keepalive', this.lastRecvAt + this.keepAliveIdle);
  }

  /** RFC 1122 4.2.3.6: probe with SEQ = SND.NXT-1 after the idle time; abort after N unanswered. */
  private onKeepAlive(): void {
    if (!this.keepAliveOn) return;
    const st = this._state;
    if (st !== 'ESTABLISHED' && st !== 'CLOSE-WAIT' && st !== 'FIN-WAIT-2') {
      if (st !== 'CLOSED' && st !== 'TIME-WAIT') this.armKeepAlive();
      return;
    }
    const idleFor = this.now - this.lastRecvAt;
    if (this.rtxQ.length > 0 || idleFor < this.keepAliveIdle) {
      this.timers.set('keepalive', Math.max(this.now + 1, this.lastRecvAt + this.keepAliveIdle));
      return;
    }
    if (this.kaProbes >= this.config.keepAliveProbes) {
      this.sendRst();
      this.enterClosed('ETIMEDOUT');
      return;
    }
    this.kaProbes++;
    this.emit(this.ownSeg(seqAdd(this.sndNxt, -1), this.rcvNxt, ACK, EMPTY, {}));
    this.timers.set('keepalive', this.now + this.config.keepAliveInterval);
  }

  /** RFC 8985 7.2: arm the PTO after sending new data, when SACK is in use. */
  private armTlp(): void {
    if (!this.sackOk || this.inRecovery || !this.rtt.hasSample || this.tlpHighSeq !== undefined) return;
    // Also after shutdown(): the tail of a write-then-end flow is the classic TLP case.
    if (!SENDING.has(this._state)) return;
    const segs = this.rtxQ.length;
    if (segs === 0) return;
    const pto = probeTimeout(this.rtt.srtt, segs, this.rtt.rto);
    this.timers.set('tlp', this.now + pto);
  }

  /** RFC 8985 7.3: send one new segment if possible, else retransmit the last one. */
  private onTlp(): void {
    if (this.rtxQ.length === 0 || this.inRecovery || this.tlpHighSeq !== undefined) return;
    if (!SENDING.has(this._state)) return;
    const queued = this.sendQ.length - this.unsentOffset();
    const wndRoom = this.sndWnd - seqDiff(this.sndNxt, this.sndUna);
    let sent = false;
    if (queued > 0 && wndRoom >= Math.min(queued, this.sndMss)) {
      sent = this.sendNew(Infinity, true);
      if (sent) this.retransmits.tlp++;
    }
    if (!sent) {
      let last: TxSegment | undefined;
      for (let i = this.rtxQ.length - 1; i >= 0; i--) {
        if (!this.rtxQ[i]!.sacked) {
          last = this.rtxQ[i];
          break;
        }
      }
      if (!last) return;
      this.retransmitSeg(last, 'tlp');
    }
    this.tlpHighSeq = this.sndNxt;
    this.timers.clear('tlp');
    this.armRto(true);
  }

  // =====================================================================================
  // Pacing
  // =====================================================================================

  private pacingEnabled(): boolean {
    return this.config.pacing !== false && (this.config.cc === 'cubic' || this.config.cc === 'bbr' || this.config.pacing === true);
  }

  /** Pacing rate in bytes/ms, or undefined when not pacing. */
  private pacingRateBytesPerMs(): number | undefined {
    if (!this.pacingEnabled()) return undefined;
    const r = this.cc.pacingRate?.();
    if (r !== undefined && r > 0) return r / 1000;
    if (!this.rtt.hasSample) return undefined;
    const factor = this.cc.cwnd < this.cc.ssthresh ? 2 : 1.2;
    return (factor * this.cc.cwnd) / this.rtt.srtt;
  }

  /** True when the next paced release is in the future (and arms the pacing deadline). */
  private pacingBlocks(rate: number | undefined): boolean {
    if (rate === undefined) return false;
    // A release quantum of ~1 ms or two segments, like Linux's TSO autosizing.
    const quantum = Math.max(1, (2 * this.sndMss) / rate);
    const releaseAt = this.nextSendTime - quantum;
    // A small tolerance: the timer fires at exactly releaseAt, and float rounding must not
    // make the same deadline block again (a zero-progress timer loop).
    if (releaseAt <= this.now + 1e-6) return false;
    this.timers.set('pacing', releaseAt);
    return true;
  }

  private pacingSent(bytes: number, rate: number | undefined): void {
    if (rate === undefined) return;
    this.nextSendTime = Math.max(this.nextSendTime, this.now) + bytes / rate;
  }

  // =====================================================================================
  // State helpers
  // =====================================================================================

  private setState(to: TcpState): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    const tr = this.hooks.onTrace;
    if (tr) tr({ type: 'state', t: this.now, from, to });
  }

  private establish(): void {
    // RFC 6298 5.7: a lost SYN without an RTT sample leaves a 3 s RTO for the data phase.
    if (this.synRetransmitted && !this.rtt.hasSample) this.rtt.synRetransmitted();
    this.setState('ESTABLISHED');
    this.evEstablished = true;
    if (this.rcvAdv === 0 || seqLt(this.rcvAdv, this.rcvNxt)) this.rcvAdv = seqAdd(this.rcvNxt, this.synWindow());
    if (this.finQueued) this.setState('FIN-WAIT-1');
    this.armKeepAlive();
  }

  private enterTimeWait(): void {
    this.setState('TIME-WAIT');
    this.timers.clearAll();
    this.clearRtxQ();
    this.timers.set('timeWait', this.now + 2 * this.config.msl);
  }

  private enterClosed(err: TcpErrorCode | undefined): void {
    if (this._state === 'CLOSED') return;
    if (err) this._error = err;
    this.setState('CLOSED');
    this.timers.clearAll();
    this.clearRtxQ();
    this.reasm.clear();
    this.sendQ.clear();
    this.evClosed = true;
    if (this.finReceived || err) this.evReadable = true;
  }

  /** allowHalfOpen false: once the reader has seen EOF, our side ends too (node's semantics). */
  private maybeAutoShutdown(): void {
    if (!this.config.allowHalfOpen && this.finReceived && this._state === 'CLOSE-WAIT' && !this.finQueued) {
      this.shutdown(this.now);
    }
  }

  private applyMss(): void {
    const mss = Math.max(1, Math.min(this.peerMss, this.config.mss, this.pmtu.mtu - IP_TCP_HEADERS) - (this.tsOk ? TS_OPTION_LEN : 0));
    this.sndMss = mss;
    this.rcvMss = Math.max(1, this.config.mss - (this.tsOk ? TS_OPTION_LEN : 0));
    this.ccCall('init', () => this.cc.setMss(mss));
  }

  /**
   * Bytes in flight for congestion control: RFC 6675 pipe, or the dupack-adjusted flight
   * without SACK. O(1) while no segment is SACKed or lost (then pipe = FlightSize).
   */
  private pipe(): number {
    let p = this.flightSize() - this.sackedBytes - this.lostBytes;
    if (!this.sackOk && this.emuSacked > 0) p -= this.emuSacked * this.sndMss;
    return Math.max(0, p);
  }

  /** Marks an in-flight segment lost (it must be neither SACKed nor lost). */
  // ---- path MTU (src/tcp/pmtu.ts holds the logic; these are its hooks) ----

  /**
   * ICMP "fragmentation needed" about one of our segments (RFC 1191), checked against the
   * data in flight (RFC 5927). Returns undefined when applied, else why it was ignored.
   */
  onFragNeeded(quotedSeq: number, nextHopMtu: number, quotedTotalLength: number, now: number): IcmpPmtuIgnored | undefined {
    this.now = now;
    const bad = validateQuotedSeq(quotedSeq, this.sndUna, this.sndNxt);
    if (bad) return bad;
    if (this.pmtu.onIcmp(reportedMtu(nextHopMtu, quotedTotalLength), now) === undefined) return 'icmp_pmtu_not_smaller';
    this.pmtuLowered(true);
    try {
      this.trySend();
    } catch {
      this.drop('internal_error');
    }
    this.flushSafely();
    return undefined;
  }

  /** The MSS after a path-MTU change; resegments the queue. `resend`: the too-large segments were dropped on the path. */
  private pmtuLowered(resend: boolean): void {
    this.applyMss();
    const mss = this.sndMss;
    const r = resegment(this.rtxQ, mss, resend ? (p) => !p.lost && !p.sacked && this.markLost(p) : undefined);
    this.rtxQ = r.queue;
    this.lostSegs += r.addedLost;
    // Segments that were at most the new MSS but in flight still fit: only the split ones resend.
    if (resend) for (const s of this.rtxQ) if (s.lost && !s.lostKind) s.lostKind = 'pmtu';
  }

  /** New-data length: a PLPMTUD probe's when one is due and fits (data, peer window, peer MSS), else n. */
  private pmtuProbeLen(n: number, queued: number, wndRoom: number): number {
    if (this.inRecovery || this.lostSegs > 0 || this.rtxQ.length === 0) return n;
    const size = this.pmtu.probeSize(this.now);
    if (size === undefined) return n;
    const opts = this.tsOk ? TS_OPTION_LEN : 0;
    const len = Math.min(size - IP_TCP_HEADERS, this.peerMss, this.config.mss) - opts;
    return len > n && len <= queued && len <= wndRoom ? len : n;
  }

  private pmtuProbeSent(s: TxSegment): void {
    s.pmtuProbe = true;
    this.pmtu.onProbeSent(s.len + IP_TCP_HEADERS + (this.tsOk ? TS_OPTION_LEN : 0), s.seq);
  }

  private pmtuProbeAcked(): void {
    const before = this.pmtu.mtu;
    if (this.pmtu.onProbeAcked(this.now) !== before) this.applyMss();
  }

  /** A segment larger than the MSS is about to be resent: a lost probe (the search learns), or old data. */
  private pmtuSplit(s: TxSegment): void {
    if (s.pmtuProbe) {
      s.pmtuProbe = false;
      this.pmtu.onProbeLost(this.now);
    }
    const r = resegment(this.rtxQ, this.sndMss);
    this.rtxQ = r.queue;
    this.lostSegs += r.addedLost;
  }

  private pmtuOnRto(): void {
    const head = this.rtxQ[0];
    if (!head || head.syn) return;
    const size = head.len + IP_TCP_HEADERS + (this.tsOk ? TS_OPTION_LEN : 0);
    if (this.pmtu.onRto(this.rtoCount, size, this.now) !== undefined) this.pmtuLowered(false);
  }

  private markLost(s: TxSegment): void {
    s.lost = true;
    this.lostBytes += txSize(s);
    this.lostSegs++;
  }

  /**
   * `bytes` of segment s were cumulatively acknowledged (`whole`: the segment left the
   * queue; else it was trimmed at the front): update the tallies.
   */
  private unmark(s: TxSegment, bytes: number, whole: boolean): void {
    if (s.sacked) this.sackedBytes -= bytes;
    else if (s.lost) {
      this.lostBytes -= bytes;
      if (whole) this.lostSegs--;
    }
  }

  private clearRtxQ(): void {
    this.rtxQ = [];
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.lostSegs = 0;
  }

  /** Test/debug aid: the tallies agree with a scan of the queue. */
  scoreboardConsistent(): boolean {
    let sacked = 0;
    let lost = 0;
    let lostSegs = 0;
    for (const s of this.rtxQ) {
      if (s.sacked && s.lost) return false;
      if (s.sacked) sacked += txSize(s);
      else if (s.lost) {
        lost += txSize(s);
        lostSegs++;
      }
    }
    return sacked === this.sackedBytes && lost === this.lostBytes && lostSegs === this.lostSegs;
  }

  /** FlightSize (RFC 5681): SND.NXT - SND.UNA. */
  private flightSize(): number {
    return Math.max(0, seqDiff(this.sndNxt, this.sndUna));
  }

  /** Runs a cc call and traces a change of cwnd/ssthresh with its reason. */
  private ccCall(reason: CwndReason, fn: () => void): void {
    const c0 = this.cc.cwnd;
    const s0 = this.cc.ssthresh;
    fn();
    const tr = this.hooks.onTrace;
    if (tr && (this.cc.cwnd !== c0 || this.cc.ssthresh !== s0)) {
      tr({ type: 'cwnd', t: this.now, cwnd: this.cc.cwnd, ssthresh: this.cc.ssthresh, reason, inFlight: this.flightSize() });
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }
}

/**
 * Whether now - s.xmitTime is a valid RTT sample for an ACK of `s`: always for a segment sent
 * once; for a retransmitted one only when the ACK's TSecr equals the TSval of the last
 * transmission (RFC 7323 4.1; otherwise Karn's rule, RFC 6298 3, forbids it).
 */
function karnSafe(s: TxSegment, tsEcr: number | undefined): boolean {
  return s.retransmits === 0 || (tsEcr !== undefined && s.tsVal !== undefined && tsEcr === s.tsVal);
}

/** lo <= x < lo + wnd (mod 2^32). */
function inWindow(x: number, lo: number, wnd: number): boolean {
  return seqGe(x, lo) && seqLt(x, seqAdd(lo, wnd));
}

/**
 * The peer's MSS option (RFC 9293 3.7.1): absent or 0 -> 536 (RFC 1122 4.2.2.6; 0 is treated
 * as absent), tiny values raised to MIN_PEER_MSS.
 */
export function clampPeerMss(mss: number | undefined): number {
  if (mss === undefined || mss === 0) return DEFAULT_PEER_MSS;
  return Math.max(MIN_PEER_MSS, mss);
}
