/**
 * A compact TIME-WAIT (like Linux's inet_timewait_sock): once a connection has reached
 * TIME-WAIT and its socket is gone, all it still does is answer segments for its 4-tuple for
 * 2*MSL. A whole Connection (send and receive queues, congestion control, loss recovery,
 * timers) held that long made churn's TIME-WAIT population (rate x 2*MSL, thousands) the
 * bulk of the heap and of the collector's work. This record keeps what TIME-WAIT needs:
 * SND.NXT, RCV.NXT and the window edge, the timestamp state (PAWS, TSecr), the SACK D-SACK
 * state, the RFC 5961 challenge-ACK clock, the deadline, and the figures of the connection's
 * last TCP_INFO for the inventory (`overlay ss`, metrics), which keeps listing it as
 * TIME-WAIT: as plain fields of the record, the TCP_INFO built only when asked for. (A copy
 * of the whole TCP_INFO, with its two address strings and nested objects, was about a third
 * of each record's bytes, all of it promoted to the old generation with the record.)
 *
 * It answers every segment as Connection.input does in TIME-WAIT (RFC 9293 3.10.7.4, the
 * same order of checks), emitting the same segments: a retransmitted FIN is re-ACKed and
 * restarts the 2*MSL timer; a SYN gets a (rate-limited) challenge ACK (RFC 5961 4); a RST
 * does not end it (RFC 1337); out-of-window segments are ACKed. test/unit/time-wait.test.ts
 * feeds the same segments to a Connection and to its record and compares the output.
 *
 * A record also decides when its 4-tuple may serve a new incarnation before 2*MSL is over
 * (the driver acts on it; test/unit/time-wait-reuse.test.ts):
 * - passive (synIsNew): a SYN that is provably new, RFC 6191 with timestamps (its TSval above
 *   TS.Recent, or equal with a sequence number above RCV.NXT), RFC 1122 4.2.2.13 / RFC 9293
 *   3.10.7.4 without (its sequence number above RCV.NXT). Any other SYN gets the challenge ACK.
 * - active (reusableAt, Linux's tcp_twsk_unique): the record saw timestamps and, for a local
 *   port the stack chose, the last one arrived more than TIME_WAIT_REUSE_DELAY_MS ago (for a
 *   local port the caller named, as Linux's bind() then connect(), timestamps are enough).
 *   The same rule lets a TIME-WAIT connection not compacted (its socket still holds it, or a
 *   tracer watches it) give way (heldReusable): the driver makes a record of it and closes it.
 * Either way the new incarnation starts its ISN above SND.NXT plus a window (nextIss) and, on
 * the active side, its TSvals above every TSval this one sent (nextTsOffset) and the old
 * connection's TS.Recent as its own (reuseOptions), so the peer's sequence and PAWS checks
 * tell the old duplicates from the new connection's segments, and its own PAWS check too.
 */
import { ACK, FIN, RST, SYN, segmentLength, type SackBlock, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { CHALLENGE_ACK_INTERVAL_MS, type Connection, type ConnectOptions } from './connection.js';
import type { ConnectionDropReason } from './drops.js';
import { TIMER_KINDS } from './timers.js';
import { MAX_WINDOW_FIELD } from './receiver.js';
import { receiveWindow } from './receive.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, segmentAcceptable } from './seq.js';
import type { CcName, FourTuple, RetransmitKind, TcpInfo } from './types.js';
import type { PathMtuStats } from './pmtu.js';
import { assembleInfo, type InfoFigures } from './info.js';
import { defaultIsnGenerator } from './isn.js';
import { TimeQueue } from '../util/time-queue.js';

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * An active open may reuse a record's 4-tuple once the peer's last timestamp is this old
 * (Linux tcp_twsk_unique: one second): its segments still in flight are then PAWS-old.
 */
export const TIME_WAIT_REUSE_DELAY_MS = 1000;
/** What a new incarnation's ISN keeps above the old SND.NXT (Linux: tw_snd_nxt + 65535 + 2). */
export const REUSE_ISN_GAP = 65535 + 2;
const NONE: readonly TcpSegment[] = Object.freeze([]);

/**
 * Linux's tcp_twsk_unique: a TIME-WAIT that saw timestamps may give its 4-tuple to an active
 * open; when the stack picks the port (tcp_tw_reuse), only once TS.Recent (stored at `at`) is
 * more than TIME_WAIT_REUSE_DELAY_MS old; when the caller named it (`bound`: bind() then
 * connect(), __inet_check_established with no twp), at once.
 */
function reuseAllowed(tsOk: boolean, tsRecentValid: boolean, at: number, now: number, bound: boolean): boolean {
  return tsOk && tsRecentValid && (bound || now - at > TIME_WAIT_REUSE_DELAY_MS);
}

export class TimeWait implements InfoFigures {
  readonly tuple: FourTuple;
  /** When 2*MSL is over (restarted by a retransmitted FIN). */
  deadline: number;
  private readonly twoMsl: number;
  private readonly sndNxt: number;
  private readonly sndUna: number;
  private maxSndWnd: number;
  private sndWnd: number;
  private sndWl1: number;
  private sndWl2: number;
  private readonly sndScale: number;
  private readonly rcvNxt: number;
  private rcvAdv: number;
  private readonly rcvWscale: number;
  private readonly rcvBuf: number;
  private readonly mss: number;
  private readonly tsOk: boolean;
  /** (tsNow - floor(now)) mod 2^32: our TSval at any time. */
  private readonly tsBase: number;
  private tsRecent: number;
  private tsRecentValid: boolean;
  /** When TS.Recent last changed (ms, floored; at the latest the connection's last segment). */
  private tsRecentAt: number;
  private lastAckSent: number;
  private readonly sackOk: boolean;
  private dsackPending: SackBlock | undefined;
  private challengeAckAt: number;
  // The connection's last TCP_INFO figures (InfoFigures, info.ts), as the record's own fields:
  // one object more per record would cost its header and a slot array (the heap bound in
  // time-wait-compact.test.ts).
  readonly cc: CcName;
  readonly sndMss: number;
  readonly pathMtu: number;
  readonly pmtuState: 'searching' | 'complete';
  /** The PMTU search's counters (the connection's own object: nothing changes it any more). */
  readonly pmtuStats: PathMtuStats;
  readonly cwnd: number;
  readonly ssthresh: number;
  readonly srtt: number;
  readonly rttvar: number;
  readonly rto: number;
  readonly minRtt: number;
  readonly bytesInFlight: number;
  readonly sendQueue: number;
  readonly recvQueue: number;
  readonly outOfOrderBytes: number;
  /** Retransmissions the connection made in its life (its own counters; the stack's totals keep them). */
  readonly retransmits: Record<RetransmitKind, number>;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly bytesAcked: number;
  readonly pacingRate: number | undefined;
  readonly deliveryRate: number;
  readonly spuriousTlps: number;
  readonly inRecovery: boolean;
  private segmentsIn: number;
  private segmentsOut: number;
  /** Segments to send (an ACK), made when there is one: most records never send anything. */
  private out: TcpSegment[] | undefined;
  /** Drops, counted as the connection counted them (the driver passes them to the host). */
  onDrop: ((reason: ConnectionDropReason) => void) | undefined;
  /** Refused by the host's connection limit (holds no slot): from the TcpConn. */
  overLimit = false;
  /** RFC 5961 challenge ACKs sent and rate-limited (Connection.events). */
  challengeAcks = 0;
  challengeAcksLimited = 0;

  /**
   * Whether `c` may be replaced by a record without any difference on the wire: TIME-WAIT,
   * nothing unread or reassembling, an open window (as always after a FIN: the zero-window
   * allowance never applies), and no trace hook (traces keep their per-segment events).
   */
  static canCompact(c: Connection): boolean {
    const deadline = c.timers.get('timeWait');
    return (
      c.state === 'TIME-WAIT' &&
      deadline !== undefined &&
      TIMER_KINDS.every((k) => k === 'timeWait' || !c.timers.isSet(k)) && // TIME-WAIT cleared the others
      c.readableLength === 0 &&
      c.outOfOrderBytes === 0 &&
      c.rcv.offered > 0 &&
      !c.rcv.ackNeeded &&
      !c.rcv.ackSoon &&
      !c.holding &&
      !c.hooks.onTrace &&
      c.childLink === undefined
    );
  }

  constructor(c: Connection) {
    const { snd, rcv, handshake: hs } = c;
    this.tuple = c.tuple;
    this.deadline = c.timers.get('timeWait')!;
    this.twoMsl = 2 * c.config.msl;
    this.sndNxt = snd.sndNxt;
    this.sndUna = snd.sndUna;
    this.maxSndWnd = snd.maxSndWnd;
    this.sndWnd = snd.sndWnd;
    this.sndWl1 = snd.sndWl1;
    this.sndWl2 = snd.sndWl2;
    this.sndScale = hs.sndScale;
    this.rcvNxt = rcv.rcvNxt;
    this.rcvAdv = rcv.rcvAdv;
    this.rcvWscale = hs.rcvWscale;
    this.rcvBuf = c.config.rcvBuf;
    this.mss = c.config.mss;
    this.tsOk = hs.tsOk;
    const then = c.now;
    this.tsBase = (hs.tsNow() - Math.floor(then)) >>> 0;
    this.tsRecent = hs.tsRecent;
    this.tsRecentValid = hs.tsRecentValid;
    this.tsRecentAt = Math.floor(hs.tsRecentValid ? hs.tsRecentAt : then);
    this.lastAckSent = hs.lastAckSent;
    this.sackOk = hs.sackOk;
    this.dsackPending = rcv.dsackPending;
    this.challengeAckAt = c.challengeAckAt;
    const { cc, rtt } = c;
    this.cc = cc.name;
    this.sndMss = snd.sndMss;
    this.pathMtu = snd.pmtu.mtu;
    this.pmtuState = snd.pmtu.state;
    this.pmtuStats = snd.pmtu.stats;
    this.cwnd = cc.cwnd;
    this.ssthresh = cc.ssthresh;
    this.srtt = rtt.srtt;
    this.rttvar = rtt.rttvar;
    this.rto = rtt.rto;
    this.minRtt = Number.isFinite(rtt.minRtt) ? rtt.minRtt : 0;
    this.bytesInFlight = snd.flightSize();
    this.sendQueue = snd.sendQ.length;
    this.recvQueue = rcv.rcvQ.length;
    this.outOfOrderBytes = rcv.reasm.size;
    this.retransmits = snd.retransmits;
    this.segmentsIn = c.segmentsIn;
    this.segmentsOut = c.output.segmentsOut;
    this.bytesSent = snd.bytesSent;
    this.bytesReceived = rcv.bytesReceived;
    this.bytesAcked = snd.bytesAcked;
    this.pacingRate = c.pacer.rateBytesPerMs();
    this.deliveryRate = c.rate.lastRate;
    this.spuriousTlps = c.recovery.spuriousTlps;
    this.inRecovery = c.recovery.inRecovery;
  }

  /** TCP_INFO as the connection would report it (state TIME-WAIT). */
  getInfo(): TcpInfo {
    return assembleInfo('TIME-WAIT', this.tuple, this, {
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcvNxt,
      sndWnd: this.sndWnd,
      rcvWnd: this.offered,
      segmentsIn: this.segmentsIn,
      segmentsOut: this.segmentsOut,
    });
  }

  /** Segments to transmit, in order; clears the queue. */
  takeOutput(): readonly TcpSegment[] {
    const o = this.out;
    if (o === undefined) return NONE;
    this.out = undefined;
    return o;
  }

  private get offered(): number {
    return Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
  }

  private drop(reason: ConnectionDropReason): void {
    this.onDrop?.(reason);
  }

  /** A segment for this 4-tuple (Connection.input in TIME-WAIT). */
  input(seg: TcpSegment, now: number): void {
    this.segmentsIn++;
    let ackNeeded = false;
    // A SYN: RFC 5961 4.2 challenge ACK, whatever the sequence number.
    if (seg.flags & SYN && !(seg.flags & RST)) {
      this.challengeAck(now);
      return;
    }
    // RFC 7323 5.3 PAWS.
    const ts = seg.options.ts;
    if (this.tsOk && ts !== undefined && this.tsRecentValid && !(seg.flags & RST) && seqLt(ts.val, this.tsRecent)) {
      this.drop('paws');
      this.sendAck(now);
      return;
    }
    // First: sequence number acceptability (the window is open, see canCompact).
    const segLen = segmentLength(seg);
    const wnd = this.offered;
    const acceptable = segmentAcceptable(seg.seq, segLen, this.rcvNxt, wnd);
    if (!acceptable) {
      if (seg.flags & RST) {
        this.drop('rst_out_of_window');
        return;
      }
      // Scenario 16: a retransmitted FIN is re-ACKed and restarts the 2*MSL timer.
      if (seg.flags & FIN) this.deadline = now + this.twoMsl;
      const end = seqAdd(seg.seq, seg.payload.length);
      if (seg.payload.length > 0 && seqLe(end, this.rcvNxt)) this.duplicate(seg.seq, end);
      this.drop('out_of_window');
      this.sendAck(now);
      return;
    }
    // Second: RST (RFC 5961 3.2); at RCV.NXT it does not end TIME-WAIT (RFC 1337).
    if (seg.flags & RST) {
      if (seg.seq >>> 0 !== this.rcvNxt) this.challengeAck(now);
      else this.drop('rst_in_time_wait');
      return;
    }
    // RFC 7323 5.3 R3.
    if (this.tsOk && ts && seqGe(ts.val, this.tsRecent) && seqLe(seg.seq, this.lastAckSent)) {
      this.tsRecentAt = Math.floor(now); // each store, as Linux stamps tw_ts_recent_stamp
      this.tsRecent = ts.val >>> 0;
      this.tsRecentValid = true;
    }
    // Trimming to the window: only its D-SACK and its drop count are visible in TIME-WAIT.
    let seq = seg.seq >>> 0;
    let len = seg.payload.length;
    if (seqLt(seq, this.rcvNxt)) {
      const cut = seqDiff(this.rcvNxt, seq);
      if (len > 0) this.duplicate(seq, seqAdd(seq, Math.min(cut, len)));
      len -= Math.min(cut, len);
      seq = this.rcvNxt;
    }
    if (len > 0 && len > Math.max(0, seqDiff(this.rcvAdv, seq))) this.drop('trimmed_right');
    // Fifth: the ACK field.
    if (!(seg.flags & ACK)) {
      this.drop('no_ack');
      return;
    }
    const ack = seg.ack >>> 0;
    if (seqGt(ack, this.sndNxt)) {
      this.drop('ack_unsent');
      this.sendAck(now);
      return;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.drop('ack_too_old');
      this.sendAck(now);
      return;
    }
    // The window update rule (SND.WL1/SND.WL2), for TCP_INFO's sndWnd.
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq >>> 0 && seqLe(this.sndWl2, ack))) {
      this.sndWnd = seg.window * this.sndScale;
      this.sndWl1 = seg.seq >>> 0;
      this.sndWl2 = ack;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
    }
    // A (retransmitted) FIN in the window: ACK it and restart 2*MSL. Text is ignored.
    if (seg.flags & FIN) {
      ackNeeded = true;
      this.deadline = now + this.twoMsl;
    }
    if (ackNeeded) this.sendAck(now);
  }

  /**
   * Whether `seg` is a SYN provably from a new incarnation, which may open a connection on
   * this 4-tuple now (RFC 6191 2; RFC 1122 4.2.2.13). With timestamps on both sides: its
   * TSval above TS.Recent, or equal to it with a sequence number above RCV.NXT. Without (the
   * old connection had none, or the SYN carries none): its sequence number above RCV.NXT. A
   * SYN with an older TSval is PAWS-old whatever its sequence number.
   */
  synIsNew(seg: TcpSegment): boolean {
    if ((seg.flags & (SYN | ACK | RST)) !== SYN) return false;
    const ts = seg.options.ts;
    if (this.tsOk && this.tsRecentValid && ts !== undefined) {
      const val = ts.val >>> 0;
      return seqGt(val, this.tsRecent) || (val === this.tsRecent && seqGt(seg.seq, this.rcvNxt));
    }
    return seqGt(seg.seq, this.rcvNxt);
  }

  /**
   * Whether an active open may take this 4-tuple at `now` (Linux tcp_twsk_unique with
   * tcp_tw_reuse): only when the connection used timestamps, and the peer's last one is more
   * than TIME_WAIT_REUSE_DELAY_MS old, or at once when the caller named the local port
   * (`bound`). Without timestamps nothing would tell the peer's old duplicates from the new
   * connection's segments, and the record runs its course.
   */
  reusableAt(now: number, bound = false): boolean {
    return reuseAllowed(this.tsOk, this.tsRecentValid, this.tsRecentAt, now, bound);
  }

  /** The same rule for a connection in TIME-WAIT that was not compacted (the driver's held connections). */
  static heldReusable(c: Connection, now: number, bound = false): boolean {
    const hs = c.handshake;
    return c.state === 'TIME-WAIT' && reuseAllowed(hs.tsOk, hs.tsRecentValid, hs.tsRecentAt, now, bound);
  }

  /**
   * How the connection that reuses this 4-tuple opens: ISN (nextIss, from the RFC 6528
   * generator's), TSval offset (nextTsOffset), and this TS.Recent with its time as its own
   * (Linux copies ts_recent and ts_recent_stamp): its PAWS check drops the old incarnation's
   * segments until the peer's SYN-ACK brings a newer TSval.
   */
  reuseOptions(tuple: FourTuple, now: number): ConnectOptions {
    const o: ConnectOptions = { iss: this.nextIss(defaultIsnGenerator().isn(tuple, now)), tsOffset: this.nextTsOffset() };
    if (this.tsOk && this.tsRecentValid) o.tsRecent = { tsRecent: this.tsRecent, at: this.tsRecentAt };
    return o;
  }

  /**
   * The ISN of a new incarnation: `candidate` (the ISN generator's, RFC 6528) when it is at
   * least REUSE_ISN_GAP above our SND.NXT, else SND.NXT + REUSE_ISN_GAP (RFC 1122 4.2.2.13:
   * above every sequence number the old connection used, by more than a window).
   */
  nextIss(candidate: number): number {
    const floor = seqAdd(this.sndNxt, REUSE_ISN_GAP);
    return seqGe(candidate, floor) ? candidate >>> 0 : floor;
  }

  /**
   * The TSval offset (RFC 7323 5.4) for a new incarnation opened from this record: one above
   * the old connection's on the same millisecond clock, so its every TSval is above every
   * TSval the old connection (or this record) sent: the peer's TS.Recent of the old one.
   */
  nextTsOffset(): number {
    return (this.tsBase + 1) >>> 0;
  }

  private duplicate(left: number, right: number): void {
    if (this.sackOk) this.dsackPending = { left: left >>> 0, right: right >>> 0 };
  }

  private challengeAck(now: number): void {
    if (now - this.challengeAckAt < CHALLENGE_ACK_INTERVAL_MS) {
      this.challengeAcksLimited++;
      return;
    }
    this.challengeAckAt = now;
    this.challengeAcks++;
    this.sendAck(now);
  }

  /** The ACK Output.ownSeg builds: timestamps, the window (receiver.advertise), a pending D-SACK. */
  private sendAck(now: number): void {
    const o: TcpOptions = {};
    if (this.tsOk) o.ts = { val: (Math.floor(now) + this.tsBase) >>> 0, ecr: this.tsRecent };
    const shift = this.rcvWscale;
    const offer = Math.min(MAX_WINDOW_FIELD * (1 << shift), receiveWindow({ free: this.rcvBuf, offered: this.offered, rcvBuf: this.rcvBuf, mss: this.mss }));
    const field = Math.min(MAX_WINDOW_FIELD, Math.ceil(offer / (1 << shift)));
    const edge = seqAdd(this.rcvNxt, field * (1 << shift));
    if (seqGt(edge, this.rcvAdv) || this.rcvAdv === 0) this.rcvAdv = edge;
    this.lastAckSent = this.rcvNxt;
    if (this.sackOk && this.dsackPending) {
      o.sack = [this.dsackPending];
      this.dsackPending = undefined;
    }
    this.segmentsOut++;
    (this.out ??= []).push({
      srcPort: this.tuple.localPort,
      dstPort: this.tuple.remotePort,
      seq: this.sndNxt >>> 0,
      ack: this.rcvNxt,
      flags: ACK,
      window: field,
      urgent: 0,
      options: o,
      payload: EMPTY,
    });
  }
}

/**
 * The table key of a port pair: (localPort << 16 | remotePort) as a signed 32-bit integer,
 * which V8 keeps as a small integer (hashed inline). localPort * 65536 + remotePort is above
 * 2^31 for every ephemeral port: a heap number, hashed on a slower path on every lookup.
 * Remote addresses are keyed as `addr | 0` for the same reason.
 */
export function portKey(localPort: number, remotePort: number): number {
  return (localPort << 16) | remotePort;
}

/**
 * A stack's compact TIME-WAIT records by 4-tuple, with their deadlines under one timer (a
 * restarted deadline is re-queued when its old one comes up). `onExpired` runs for each
 * record whose 2*MSL is over, after it left the table.
 */
/** The one timer a TimeWaitTable uses (Node's by default; a virtual clock in tests). */
export interface TimerHost {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMERS: TimerHost = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class TimeWaitTable {
  /**
   * By portKey: the record itself, or (when records of several remote addresses share the
   * port pair, which a churning client seldom makes) a Map of them by remote address. A
   * Map per record was about 180 of each record's bytes.
   */
  private readonly byPorts = new Map<number, TimeWait | Map<number, TimeWait>>();
  private readonly queue = new TimeQueue<TimeWait>();
  private timer: unknown;
  private armedFor = Infinity;
  private count = 0;

  constructor(
    private readonly now: () => number,
    private readonly onExpired: (tw: TimeWait) => void,
    private readonly timers: TimerHost = NODE_TIMERS,
  ) {}

  get size(): number {
    return this.count;
  }

  lookup(localPort: number, remotePort: number, remoteAddr: number): TimeWait | undefined {
    if (this.count === 0) return undefined;
    const v = this.byPorts.get(portKey(localPort, remotePort));
    if (v === undefined) return undefined;
    if (v instanceof TimeWait) return (v.tuple.remoteAddr | 0) === (remoteAddr | 0) ? v : undefined;
    return v.get(remoteAddr | 0);
  }

  add(tw: TimeWait): void {
    const t = tw.tuple;
    const key = portKey(t.localPort, t.remotePort);
    const v = this.byPorts.get(key);
    if (v === undefined || v === tw) this.byPorts.set(key, tw);
    else if (v instanceof TimeWait) {
      if ((v.tuple.remoteAddr | 0) === (t.remoteAddr | 0)) this.count--; // replaced, as Map.set would
      this.byPorts.set(
        key,
        new Map([
          [v.tuple.remoteAddr | 0, v],
          [t.remoteAddr | 0, tw],
        ]),
      );
    } else v.set(t.remoteAddr | 0, tw);
    this.count++;
    this.queue.push(tw.deadline, tw);
    this.arm();
  }

  /** Takes `tw` out of the table before its 2*MSL is over (its 4-tuple is reused); false if it was not in it. onExpired is not called. */
  remove(tw: TimeWait): boolean {
    return this.delete(tw);
  }

  private delete(tw: TimeWait): boolean {
    const t = tw.tuple;
    const key = portKey(t.localPort, t.remotePort);
    const v = this.byPorts.get(key);
    if (v === tw) this.byPorts.delete(key);
    else if (v instanceof Map && v.get(t.remoteAddr | 0) === tw) {
      v.delete(t.remoteAddr | 0);
      if (v.size === 1) this.byPorts.set(key, v.values().next().value!);
    } else return false;
    this.count--;
    return true;
  }

  /**
   * The record whose 2*MSL ends first, if it is to remoteAddr:remotePort and reusable at `now`
   * (TimeWait.reusableAt): the active open's fast path once every ephemeral port is taken (a
   * churning client's records are all to one server, the oldest at the head of the queue).
   * Queue entries of records already gone are dropped on the way, restarted ones re-queued.
   */
  oldestReusable(remoteAddr: number, remotePort: number, now: number): TimeWait | undefined {
    const q = this.queue;
    for (let i = 0; i < 64; i++) {
      const at = q.peekTime();
      if (at === Infinity) return undefined;
      const tw = q.pop()!;
      const t = tw.tuple;
      if (this.lookup(t.localPort, t.remotePort, t.remoteAddr) !== tw) continue; // gone: so is its entry
      q.push(tw.deadline, tw); // (a deadline a retransmitted FIN restarted is re-queued at its place)
      if (tw.deadline > at) continue;
      return (t.remoteAddr | 0) === (remoteAddr | 0) && t.remotePort === remotePort && tw.reusableAt(now) ? tw : undefined;
    }
    return undefined;
  }

  *values(): IterableIterator<TimeWait> {
    for (const v of this.byPorts.values()) {
      if (v instanceof TimeWait) yield v;
      else yield* v.values();
    }
  }

  /** Empties the table (each record through onExpired) and stops the timer. */
  clear(): void {
    for (const tw of [...this.values()]) if (this.delete(tw)) this.onExpired(tw);
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.queue.clear();
  }

  private arm(): void {
    const at = this.queue.peekTime();
    if (at === Infinity || (this.timer !== undefined && this.armedFor <= at)) return;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.armedFor = at;
    this.timer = this.timers.set(this.expire, Math.max(1, Math.ceil(at - this.now())));
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    const q = this.queue;
    while (q.peekTime() <= now) {
      const tw = q.pop()!;
      if (tw.deadline > now) {
        q.push(tw.deadline, tw); // restarted by a retransmitted FIN (or already gone: dropped when it comes up again)
        continue;
      }
      if (this.delete(tw)) this.onExpired(tw);
    }
    this.arm();
  };
}
