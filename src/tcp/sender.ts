/**
 * The sender: the send sequence space (RFC 9293 3.3.1), the send buffer and retransmission
 * queue, segmentation at the effective MSS, Nagle and sender SWS avoidance (send.ts), the
 * persist timer (zero-window probes), the retransmission timer (RFC 6298) and RTT samples.
 *
 * What to retransmit after a loss is the loss-recovery strategy's decision (recovery/); how
 * much may be in flight is congestion control's (cc/); when the next paced segment may
 * leave is the pacer's (pacing.ts). The sender asks them and transmits.
 *
 * `sndMss` is the one field the sender reads for the segment size: lowering it at run time
 * (path-MTU discovery) takes effect at the next segment. Nothing on the per-segment path
 * allocates beyond the segment itself and its retransmission-queue entry.
 */
import { ACK, FIN, PSH, SYN, type TcpSegment } from '../wire/tcp.js';
import { canRestartAfterIdle, isIdleRestart } from './idle.js';
import { isDuplicateAck } from './recovery/dupack.js';
import type { Connection } from './connection.js';
import { ByteQueue, newTxSegment, TxQueue, sendableNow, txEnd, txSpan, type TxSegment } from './send.js';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from './seq.js';
import type { RetransmitKind } from './types.js';
import type { AckEvent } from './cc/types.js';
import { IP_TCP_HEADERS, PathMtu, reportedMtu, resegment, validateQuotedSeq, type IcmpPmtuIgnored } from './pmtu.js';
import { TS_OPTION_LEN } from './receiver.js';
import { widen } from '../util/wide.js';

const EMPTY: Buffer = Buffer.alloc(0);
/** Sequence numbers and byte counts: 32 bits or more (src/util/wide.ts). */
const SENDER_WIDE = ['iss', 'sndUna', 'sndNxt', 'sndWl1', 'sndWl2', 'sendBase', 'finSeq', 'bytesSent', 'bytesAcked'];
/** A safety bound on segments sent by one trySend() call (a window is far smaller). */
const MAX_SEGMENTS_PER_FLUSH = 100_000;
/** Persist backoff stops doubling after this many probes (the interval is capped by maxRto anyway). */
const MAX_PERSIST_BACKOFF = 30;

/** Whether plain cumulative ACKs take the fast path (tests turn it off to compare: setAckFastPath). */
let ackFastPath = true;

let ackFastPathTaken = 0;

/** @internal Tests: run every ACK through the general path (false) or not (true, the default). */
export function setAckFastPath(on: boolean): void {
  ackFastPath = on;
}

/** @internal Tests: how many ACKs took the fast path in this process. */
export function ackFastPathCount(): number {
  return ackFastPathTaken;
}

/** Whether acknowledged queue entries are reused for new segments (tests compare: setTxReuse). */
let txReuse = true;
let txReused = 0;

/** @internal Tests: reuse acknowledged retransmission-queue entries (true, the default) or never. */
export function setTxReuse(on: boolean): void {
  txReuse = on;
}

/** @internal Tests: how many queue entries were reused in this process. */
export function txReuseCount(): number {
  return txReused;
}

export class Sender {
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Peer's window, bytes (scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Effective send MSS: payload bytes per segment (peer MSS, our MTU, minus the TS option). */
  sndMss: number;
  readonly sendQ = new ByteQueue(true);
  /** Sequence number of the first byte in sendQ. */
  sendBase = 0;
  rtxQ: TxQueue = new TxQueue();
  finQueued = false;
  finSent = false;
  finSeq = 0;
  /** RTOs in a row without progress (RFC 6298 5.5 backoff; the retry limits). */
  private rtoCount = 0;
  lastProgressAt = 0;
  /** When data (new or retransmitted) last left, for the idle restart (RFC 5681 4.1). */
  private lastDataSentAt = -Infinity;
  private persistBackoff = 0;
  /**
   * processNewAck's result: the first n slots, one array reused per ACK and cleared slot by
   * slot after it (length = 0 would free its backing store, and the next push reallocate it).
   */
  private readonly acked: (TxSegment | undefined)[] = [];
  /** Entries that left the retransmission queue, for newTxSegment to reuse (a stack of txFreeN). */
  private readonly txFree: (TxSegment | undefined)[] = new Array<TxSegment | undefined>(TX_FREE_MAX).fill(undefined);
  private txFreeN = 0;
  /** The AckEvent handed to congestion control, refilled per ACK (onDelivered). */
  private readonly ackEv: AckEvent = { now: 0, bytesAcked: 0, rttSample: undefined, srtt: 0, minRtt: 0, priorInFlight: 0, inFlight: 0, inRecovery: false, appLimited: false };
  persistProbes = 0;
  bytesSent = 0;
  bytesAcked = 0;
  readonly retransmits: Record<RetransmitKind, number> = { rto: 0, fast: 0, tlp: 0, rack: 0, probe: 0, pmtu: 0 };
  /** Path MTU: ICMP-driven and probed (src/tcp/pmtu.ts); sndMss never exceeds pmtu.mtu - 40 - options. */
  readonly pmtu: PathMtu;
  /** Of the last cumulative ACK: bytes it newly acknowledged, and its RTT sample. */
  lastAckedBytes = 0;
  lastRttSample?: number;

  constructor(
    private readonly c: Connection,
    iss: number,
    mss: number,
  ) {
    widen(this, SENDER_WIDE);
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sendBase = seqAdd(iss, 1);
    this.sndMss = mss;
    const cfg = c.config;
    this.pmtu = new PathMtu(
      {
        maxMtu: cfg.mss + IP_TCP_HEADERS,
        ...(cfg.pathMtu !== undefined ? { initialMtu: cfg.pathMtu } : {}),
        ...(cfg.pathMtuRaiseInterval !== undefined ? { raiseIntervalMs: cfg.pathMtuRaiseInterval } : {}),
      },
      c.now,
    );
  }

  /** FlightSize (RFC 5681): SND.NXT - SND.UNA. */
  flightSize(): number {
    return Math.max(0, seqDiff(this.sndNxt, this.sndUna));
  }

  /** Offset of SND.NXT into the send buffer (new data starts there). */
  unsentOffset(): number {
    return Math.max(0, seqDiff(this.sndNxt, this.sendBase));
  }

  get unsent(): number {
    return this.sendQ.length - this.unsentOffset();
  }

  /** Free space in the send buffer, bytes. */
  get bufferFree(): number {
    return Math.max(0, this.c.config.sndBuf - this.sendQ.length);
  }

  /** RFC 9293 3.10.7.4: the SND.WL1/SND.WL2 rule (an older segment must not change the window). */
  windowUpdate(seg: TcpSegment, ack: number, scale: number): void {
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === (seg.seq >>> 0) && seqLe(this.sndWl2, ack))) {
      this.setWindow(seg.window * scale, seg.seq >>> 0, ack);
      if (this.sndWnd > 0 && this.c.timers.isSet('persist')) {
        this.c.timers.clear('persist');
        this.persistBackoff = 0;
      }
    }
  }

  /** Takes the peer's window with the segment that carried it. */
  setWindow(wnd: number, wl1: number, wl2: number): void {
    this.sndWnd = wnd;
    this.sndWl1 = wl1;
    this.sndWl2 = wl2;
    if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
  }

  /**
   * RFC 9293 3.10.7.4 fifth step for an acceptable ACK (SND.UNA - MAX.SND.WND <= SEG.ACK <=
   * SND.NXT): SACK blocks first (RFC 6675), then the cumulative ACK, the window update, loss
   * detection (duplicate ACKs, RACK) and the rate sample and congestion control.
   */
  onAcceptableAck(seg: TcpSegment, ack: number, scale: number): void {
    const c = this.c;
    const rec = c.recovery;
    if (ackFastPath && seg.options.sack === undefined && !rec.inRecovery && rec.nothingSacked && seqGt(ack, this.sndUna)) {
      this.onPlainAck(seg, ack, scale);
      return;
    }
    const prevWnd = this.sndWnd;
    const priorInFlight = this.flightSize();
    // Bytes acknowledged by the ACK that ends recovery do not grow cwnd (RFC 6582 3.2 step 3).
    const wasInRecovery = rec.inRecovery;
    const hadOutstanding = this.rtxQ.length > 0;
    const tsEcr = c.handshake.tsOk ? seg.options.ts?.ecr : undefined;
    // SACK information first (RFC 6675): blocks above the cumulative ACK.
    const delivered: TxSegment[] = [];
    const sacked = rec.applySackBlocks(seg, ack, delivered);

    const advanced = seqGt(ack, this.sndUna);
    if (advanced) {
      // Segments SACKed before were delivered then (RACK and the rate sampler saw them): only
      // the ones delivered by this cumulative ACK count now.
      const n = this.processNewAck(ack, tsEcr);
      const acked = this.acked as TxSegment[];
      for (let i = 0; i < n; i++) if (!acked[i]!.sacked) delivered.push(acked[i]!);
      this.releaseAcked(n);
    }

    // Window update (RFC 9293 3.10.7.4: SND.WL1/SND.WL2 rule).
    this.windowUpdate(seg, ack, scale);
    // Any acceptable ACK answers our probes (the connection stays open while they are ACKed).
    this.persistProbes = 0;

    // Loss detection and recovery.
    if (!advanced) {
      const dup = isDuplicateAck({
        seg,
        sndUna: this.sndUna,
        outstanding: hadOutstanding,
        window: seg.window * scale,
        prevWindow: prevWnd,
        newSackInfo: sacked.newSackInfo,
      });
      if (dup) rec.onDuplicateAck();
    }
    rec.onDelivered(delivered, seg);

    // Rate sample and congestion control.
    if (delivered.length > 0) this.onDelivered(delivered, tsEcr, priorInFlight, sacked.newlySacked, advanced, wasInRecovery);
    this.lastRttSample = undefined;
  }

  /**
   * Header prediction (RFC 9293 3.10.7.4 for the common case; Linux tcp_rcv_established's
   * fast path): an ACK that only moves SND.UNA forward, with no SACK blocks, outside recovery
   * and with nothing SACKed. It does what onAcceptableAck does for such an ACK, in the same
   * order, minus the steps that cannot apply: no SACK blocks to apply, not a duplicate ACK,
   * and every segment it acknowledges was delivered by it (none was SACKed before).
   * test/unit/ack-fast-path.test.ts checks both paths give the same segments and state.
   */
  private onPlainAck(seg: TcpSegment, ack: number, scale: number): void {
    const c = this.c;
    ackFastPathTaken++;
    const priorInFlight = this.flightSize();
    const tsEcr = c.handshake.tsOk ? seg.options.ts?.ecr : undefined;
    const n = this.processNewAck(ack, tsEcr);
    const delivered = this.acked as TxSegment[];
    this.windowUpdate(seg, ack, scale);
    this.persistProbes = 0;
    c.recovery.onDelivered(delivered, seg, n);
    if (n > 0) this.onDelivered(delivered, tsEcr, priorInFlight, 0, true, false, n);
    this.lastRttSample = undefined;
    this.releaseAcked(n);
  }

  /**
   * SND.UNA advances to `ack`: frees the send buffer, takes an RTT sample (Karn, or the
   * timestamp echo for a retransmitted segment), restarts the RTO and tells loss recovery.
   * Returns how many segments it fully acknowledged: they are this.acked[0, n), valid for the
   * ACK's own processing (the next call overwrites them; releaseAcked empties the slots).
   */
  processNewAck(ack: number, tsEcr: number | undefined): number {
    const c = this.c;
    const rec = c.recovery;
    const acked = this.acked;
    let n = 0;
    let bytes = 0;
    let rttSample: number | undefined;
    // Fully acknowledged segments leave the queue front (a ring buffer: O(1) each).
    const q = this.rtxQ;
    while (q.length > 0) {
      const s = q.at(0)!;
      const end = txEnd(s);
      if (seqLe(end, ack)) {
        q.shift();
        rec.unmark(s, txSpan(s), true);
        acked[n++] = s;
        if (s.pmtuProbe) this.pmtuProbeAcked(end); // PMTU hook
        if (!s.sacked) bytes += txSpan(s);
        // Karn (RFC 6298 3), or RFC 7323 4: the echo identifies which transmission was acknowledged.
        if (karnSafe(s, tsEcr)) rttSample = c.now - s.xmitTime;
        continue;
      }
      if (seqLt(s.seq, ack)) {
        // Partially acknowledged (the peer took part of a segment).
        const size0 = txSpan(s);
        let consumed = seqDiff(ack, s.seq);
        if (s.syn) {
          s.syn = false;
          consumed--;
        }
        s.seq = ack;
        s.len = Math.max(0, s.len - consumed);
        bytes += consumed;
        rec.unmark(s, size0 - txSpan(s), false);
      }
      break;
    }
    const dataAcked = Math.max(0, Math.min(seqDiff(ack, this.sendBase), this.sendQ.length));
    if (dataAcked > 0) {
      this.sendQ.consume(dataAcked);
      this.sendBase = seqAdd(this.sendBase, dataAcked);
      c.output.evWritable = true;
    }
    this.bytesAcked += dataAcked;
    this.sndUna = ack;
    this.lastAckedBytes = bytes;
    this.lastProgressAt = c.now;
    this.rtoCount = 0;
    c.rtt.resetBackoff();
    if (rttSample !== undefined) {
      c.rtt.sample(rttSample);
      this.lastRttSample = rttSample;
      const tr = c.hooks.onTrace;
      if (tr) tr({ type: 'rtt', t: c.now, sample: rttSample, srtt: c.rtt.srtt, rttvar: c.rtt.rttvar, rto: c.rtt.rto });
      c.hooks.onRtt?.(rttSample);
    }
    rec.onCumulativeAck(ack, n, tsEcr);
    if (this.rtxQ.length === 0) {
      c.timers.clear('retransmit');
      c.timers.clear('tlp');
      c.timers.clear('rack');
    } else {
      this.armRto(true);
      rec.armTlp();
    }
    return n;
  }

  /**
   * Empties processNewAck's first n slots at the end of the ACK's processing (the reused list
   * keeps no segment alive) and keeps up to TX_FREE_MAX of those entries for newTxSegment:
   * they left the queue, and nothing else refers to a queue entry past the ACK that freed it
   * (RACK, the rate sampler and congestion control copy what they need from it).
   */
  releaseAcked(n: number): void {
    const acked = this.acked;
    for (let i = 0; i < n; i++) {
      const s = acked[i];
      acked[i] = undefined;
      if (s !== undefined && txReuse && this.txFreeN < TX_FREE_MAX) this.txFree[this.txFreeN++] = s;
    }
  }

  /** A free queue entry, or undefined. */
  private takeFree(): TxSegment | undefined {
    if (this.txFreeN === 0) return undefined;
    const s = this.txFree[--this.txFreeN];
    this.txFree[this.txFreeN] = undefined;
    txReused++;
    return s;
  }

  /**
   * Delivery-rate sample and congestion control for an ACK that delivered `delivered`
   * (newly SACKed or cumulatively acknowledged segments).
   */
  private onDelivered(delivered: TxSegment[], tsEcr: number | undefined, priorInFlight: number, newlySacked: number, advanced: boolean, wasInRecovery: boolean, n = delivered.length): void {
    const c = this.c;
    const cc = c.cc;
    for (let i = 0; i < n; i++) c.rate.onDelivered(delivered[i]!, c.now, karnSafe(delivered[i]!, tsEcr));
    const inFlight = this.flightSize();
    const minRtt = Number.isFinite(c.rtt.minRtt) ? c.rtt.minRtt : 0;
    // No RateSample object unless the algorithm takes one (BBR); the sampler's state moves the same.
    const rs = c.rate.finish(c.now, priorInFlight, inFlight, minRtt || Infinity, cc.onRateSample !== undefined);
    // One AckEvent per sender, refilled per ACK (valid only during onAck: see AckEvent), and no
    // closures through ccCall (its trace, Connection.traceCwnd, is called directly): the same
    // calls and the same cwnd traces, without per-ACK garbage.
    const ev = this.ackEv;
    ev.now = c.now;
    ev.bytesAcked = newlySacked + (advanced ? this.lastAckedBytes : 0);
    ev.rttSample = this.lastRttSample;
    ev.srtt = c.rtt.srtt;
    ev.minRtt = minRtt;
    ev.priorInFlight = priorInFlight;
    ev.inFlight = inFlight;
    ev.inRecovery = c.recovery.inRecovery || wasInRecovery;
    ev.appLimited = this.notCwndLimited(priorInFlight, cc.cwnd);
    let c0 = cc.cwnd;
    let s0 = cc.ssthresh;
    const reason = c0 < s0 ? 'slow_start' : 'congestion_avoidance';
    cc.onAck(ev);
    c.traceCwnd(reason, c0, s0);
    if (rs && cc.onRateSample) {
      c0 = cc.cwnd;
      s0 = cc.ssthresh;
      cc.onRateSample(rs);
      c.traceCwnd('model', c0, s0);
    }
  }

  /**
   * Whether cwnd must not grow on this ACK because it did not limit the flight (RFC 7661;
   * Linux's tcp_is_cwnd_limited): the application had nothing more to send, or cwnd is
   * already twice the largest window the peer has offered, beyond which it can never limit
   * what is sent (the flight never exceeds the peer's window). Without the second rule a
   * transfer held by anything but cwnd (the receive window, the send buffer, the sender's own
   * speed) grew cwnd by every byte acknowledged: past 2^31 bytes within 5 s at MTU 65000, as
   * `ss` showed. (A tighter bound, twice the largest recent flight, left a CPU-bound sender at
   * MTU 65000 in a slow, ACK-heavy regime more often: 4 rounds of 11 against 1 of 12.)
   */
  private notCwndLimited(priorInFlight: number, cwnd: number): boolean {
    if (priorInFlight + this.sndMss >= cwnd) return false; // the flight filled cwnd
    return this.unsent <= 0 || cwnd >= 2 * this.maxSndWnd;
  }

  /** Sends what loss recovery, congestion control, the peer's window, Nagle and pacing allow. */
  trySend(): void {
    const c = this.c;
    const rec = c.recovery;
    this.maybeIdleRestart();
    let inPipe = rec.pipe();
    // Segments deemed lost, in sequence order (RFC 6675 NextSeg rule 1). Sending never marks
    // new ones, so one scan per call is enough (this keeps a large window O(n) per ACK).
    // (No list at all when nothing is marked lost: collectLost would add nothing.)
    const lost: readonly TxSegment[] = rec.lostCount > 0 ? collectLost(rec) : NO_LOST;
    let li = 0;
    let guard = 0;
    let sentNew = false;
    // Neither cwnd nor SRTT changes while sending, so the pacing rate is computed once.
    const rate = c.pacer.rateBytesPerMs();
    while (guard++ < MAX_SEGMENTS_PER_FLUSH) {
      const cwnd = c.cc.cwnd;
      while (li < lost.length && (!lost[li]!.lost || lost[li]!.sacked)) li++;
      const s = lost[li];
      if (s) {
        if (inPipe === 0 || inPipe + txSpan(s) <= cwnd) {
          this.retransmitSeg(s, s.lostKind ?? 'rto');
          inPipe += txSpan(s);
          li++;
          continue;
        }
        break;
      }
      // 2. New data (NextSeg rule 2), within cwnd, the peer's window, Nagle/SWS and pacing.
      const before = this.rtxQ.length;
      if (!this.sendNew(cwnd - inPipe, false, rate)) break;
      sentNew = true;
      if (this.rtxQ.length > before) inPipe += txSpan(this.rtxQ.at(this.rtxQ.length - 1)!);
    }
    // RFC 8985 7.2: the PTO restarts after new data is sent (once per burst: same now).
    if (sentNew) rec.armTlp();
  }

  /**
   * RFC 5681 4.1 / RFC 7661: after more than one RTO without sending data and with nothing in
   * flight, cwnd restarts at min(IW, cwnd) before new data leaves (congestion controllers
   * that implement IdleRestartable; see idle.ts). Traced as reason 'idle_restart'.
   */
  private maybeIdleRestart(): void {
    if (this.rtxQ.length > 0) return; // the common case, checked first: data in flight
    const c = this.c;
    const cc = c.cc;
    if (!canRestartAfterIdle(cc)) return;
    if (!isIdleRestart(c.now, this.lastDataSentAt, c.rtt.rto, false)) return;
    if (this.unsent <= 0) return; // nothing to send: stay idle
    this.lastDataSentAt = c.now; // once per idle period
    const iw = c.config.initialWindowSegments * this.sndMss;
    c.ccCall('idle_restart', () => cc.restartAfterIdle(c.now, iw));
  }

  /** One new segment if allowed. Returns whether one was sent. */
  private sendNew(cwndRoom: number, force: boolean, rate: number | undefined): boolean {
    const c = this.c;
    const off = this.unsentOffset();
    const queued = this.sendQ.length - off;
    const finPending = this.finQueued && !this.finSent && c.finMaySend;
    if (queued <= 0 && !finPending) {
      if (this.rtxQ.length > 0 || c.recovery.pipe() < c.cc.cwnd) c.rate.markAppLimited(this.flightSize());
      return false;
    }
    const outstanding = seqDiff(this.sndNxt, this.sndUna);
    const wndRoom = this.sndWnd - outstanding;
    const mss = this.sndMss;
    let n = 0;
    if (queued > 0) {
      const usable = Math.min(wndRoom, force ? Infinity : cwndRoom);
      n = force
        ? Math.min(queued, mss, Math.max(0, wndRoom))
        : usable >= mss && queued >= mss
          ? mss // a full segment: nothing for Nagle/SWS to decide (the bulk case)
          : sendableNow(usable, queued, mss, this.maxSndWnd, this.rtxQ.length > 0, c.config.noDelay, this.finQueued);
      if (n === mss && !force) n = this.pmtuProbeLen(n, queued, wndRoom); // PMTU hook
      if (n === 0) {
        // Blocked by the peer's window with nothing in flight: the persist timer probes it.
        if (wndRoom < Math.min(queued, mss) && this.rtxQ.length === 0) this.armPersist();
        return false;
      }
    } else if (!force && cwndRoom <= 0 && this.rtxQ.length > 0) {
      return false; // a bare FIN waits for cwnd like data (it will follow the ACKs)
    }
    if (!force && n > 0) {
      const releaseAt = c.pacer.blockedUntil(rate, c.now, mss);
      if (releaseAt !== undefined) {
        c.timers.set('pacing', releaseAt);
        return false;
      }
    }
    const payload = n > 0 ? this.sendQ.slice(off, n) : EMPTY;
    const fin = finPending && n === queued;
    const s = newTxSegment(this.sndNxt, n, false, fin, c.now, this.takeFree());
    if (n > mss) this.pmtuProbeSent(s); // PMTU hook
    if (this.rtxQ.length === 0) this.lastProgressAt = c.now;
    c.rate.onSend(s, c.now, this.flightSize());
    this.rtxQ.push(s);
    let flags = ACK;
    if (n > 0 && n === queued) flags |= PSH;
    if (fin) {
      flags |= FIN;
      this.finSent = true;
      this.finSeq = seqAdd(this.sndNxt, n);
    }
    this.sndNxt = txEnd(s);
    const out = c.output.ownSeg(s.seq, flags, payload);
    s.tsVal = out.options.ts?.val;
    c.output.emit(out);
    this.bytesSent += n;
    if (n > 0) {
      this.lastDataSentAt = c.now;
      c.pacer.sent(n, rate, c.now);
    }
    if (c.cc.onSend) c.cc.onSend(c.now, txSpan(s), this.flightSize());
    this.armRto(false);
    if (force) c.recovery.armTlp(); // trySend arms it once per burst
    return true;
  }

  /** (Re)transmits a queued segment with its original boundaries. `kind` undefined: not counted. */
  retransmitSeg(s: TxSegment, kind: RetransmitKind | undefined): void {
    const c = this.c;
    if (s.len > this.sndMss) this.pmtuSplit(s); // PMTU hook: a lost probe, or data sent before the MSS fell
    let flags = 0;
    let payload: Buffer = EMPTY;
    if (s.syn) {
      flags = SYN | (c.state === 'SYN-SENT' ? 0 : ACK);
    } else {
      flags = ACK;
      if (s.len > 0) payload = this.sendQ.slice(seqDiff(s.seq, this.sendBase), s.len);
    }
    if (s.fin) flags |= FIN;
    if (s.len > 0 && seqAdd(s.seq, s.len) === seqAdd(this.sendBase, this.sendQ.length)) flags |= PSH;
    c.rate.onSend(s, c.now, this.flightSize());
    s.xmitTime = c.now;
    if (s.len > 0) this.lastDataSentAt = c.now;
    s.retransmits++;
    c.recovery.onRetransmit(s, kind);
    const seg = s.syn ? c.handshake.synSegment(flags) : c.output.ownSeg(s.seq, flags, payload);
    s.tsVal = seg.options.ts?.val;
    c.output.emit(seg, kind);
    if (kind) this.retransmits[kind]++;
    // A repair of the head segment restarts the RTO (as Linux does): the timer guards that
    // transmission, so a lost fast/RACK retransmission of SND.UNA gets one RTO to be found
    // lost again by RACK (RFC 8985 6.2 detects lost retransmissions after about one RTT)
    // instead of an RTO that was armed long before it and collapses cwnd to one segment.
    this.armRto((kind === 'fast' || kind === 'rack') && s === this.rtxQ.at(0));
  }

  /** Active or passive SYN: queued on the retransmission queue and sent. */
  sendSyn(): void {
    const c = this.c;
    const s = newTxSegment(this.iss, 0, true, false, c.now);
    this.rtxQ.push(s);
    this.sndNxt = seqAdd(this.iss, 1);
    this.lastProgressAt = c.now;
    const seg = c.handshake.synSegment(c.state === 'SYN-SENT' ? SYN : SYN | ACK);
    s.tsVal = seg.options.ts?.val;
    c.output.emit(seg);
    this.armRto(false);
  }

  /** Our SYN again (simultaneous open, a duplicate SYN in SYN-RECEIVED): not counted. */
  resendSyn(): void {
    const syn = this.rtxQ.at(0);
    if (syn && syn.syn) this.retransmitSeg(syn, undefined);
  }

  /** RFC 8985 7.3: the TLP sends new data when the window allows. Returns whether it did. */
  probeWithNewData(): boolean {
    const queued = this.unsent;
    const wndRoom = this.sndWnd - seqDiff(this.sndNxt, this.sndUna);
    if (queued > 0 && wndRoom >= Math.min(queued, this.sndMss) && this.sendNew(Infinity, true, this.c.pacer.rateBytesPerMs())) {
      this.retransmits.tlp++;
      return true;
    }
    return false;
  }

  /** RFC 6298 5.1/5.3: (re)start the timer; `restart` forces it (new data was acknowledged). */
  armRto(restart: boolean): void {
    const c = this.c;
    if (this.rtxQ.length === 0) return;
    if (!restart && c.timers.isSet('retransmit')) return;
    let at = c.now + c.rtt.rto;
    if (c.config.userTimeout > 0) at = Math.min(at, this.lastProgressAt + c.config.userTimeout);
    c.timers.set('retransmit', Math.max(at, c.now));
  }

  /**
   * RFC 6298 5.4-5.6 and the abort rules (synRetries, maxRetries, userTimeout). Returns
   * false when the connection must abort with ETIMEDOUT.
   */
  onRetransmitTimeout(opening: boolean): boolean {
    const c = this.c;
    const limit = opening ? c.config.synRetries : c.config.maxRetries;
    const userTimedOut = c.config.userTimeout > 0 && c.now - this.lastProgressAt >= c.config.userTimeout;
    if (this.rtoCount >= limit || userTimedOut) return false;
    this.rtoCount++;
    c.rtt.onTimeout();
    if (opening) {
      c.handshake.synRetransmitted = true;
      this.retransmitSeg(this.rtxQ.at(0)!, 'rto');
      this.armRto(true);
      return true;
    }
    c.recovery.onRto(this.rtoCount);
    this.pmtuOnRto(); // PMTU hook: black-hole detection
    const first = c.recovery.firstLost();
    if (first) this.retransmitSeg(first, 'rto');
    this.armRto(true);
    return true;
  }

  /** Persist timer (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17) with exponential backoff. */
  private armPersist(): void {
    const c = this.c;
    if (c.timers.isSet('persist')) return;
    const t = Math.min(c.rtt.baseRtoValue * 2 ** this.persistBackoff, c.config.maxRto);
    c.timers.set('persist', c.now + t);
  }

  /** The persist timer fired. Returns false when the probes ran out (abort with ETIMEDOUT). */
  onPersist(): boolean {
    const c = this.c;
    if (this.rtxQ.length > 0 || this.unsent <= 0) return true;
    if (this.persistProbes >= c.config.maxRetries) return false;
    const wndRoom = this.sndWnd - seqDiff(this.sndNxt, this.sndUna);
    if (wndRoom > 0) {
      // Sender SWS override (RFC 1122 4.2.3.4): send what the small window allows.
      this.sendNew(Infinity, true, c.pacer.rateBytesPerMs());
    } else {
      // Zero-window probe: <SEQ=SND.UNA-1>, no data; the peer answers with its window.
      c.output.emit(c.output.ownSeg(seqAdd(this.sndUna, -1), ACK, EMPTY), 'probe');
      this.retransmits.probe++;
      this.persistProbes++;
      if (this.persistBackoff < MAX_PERSIST_BACKOFF) this.persistBackoff++;
    }
    this.armPersist();
    return true;
  }

  // ---- path MTU (src/tcp/pmtu.ts holds the logic; these are its hooks) ----

  /**
   * ICMP "fragmentation needed" about one of our segments (RFC 1191), checked against the
   * data in flight (RFC 5927). Returns undefined when applied, else why it was ignored.
   */
  onFragNeeded(quotedSeq: number, nextHopMtu: number, quotedTotalLength: number): IcmpPmtuIgnored | undefined {
    const c = this.c;
    const bad = validateQuotedSeq(quotedSeq, this.sndUna, this.sndNxt);
    if (bad) return bad;
    if (this.pmtu.onIcmp(reportedMtu(nextHopMtu, quotedTotalLength), c.now) === undefined) return 'icmp_pmtu_not_smaller';
    this.pmtuLowered(true);
    return undefined;
  }

  private get optionBytes(): number {
    return this.c.handshake.tsOk ? TS_OPTION_LEN : 0;
  }

  /** The MSS after a path-MTU change; resegments the queue. `resend`: the too-large segments were dropped on the path. */
  private pmtuLowered(resend: boolean): void {
    const rec = this.c.recovery;
    this.c.handshake.applyMss();
    const r = resegment(this.rtxQ.toArray(), this.sndMss, resend ? (p) => !p.lost && !p.sacked && rec.markLostForResend(p) : undefined);
    this.rtxQ = new TxQueue(r.queue);
    rec.addLostSegments(r.addedLost);
    // Segments that were at most the new MSS but in flight still fit: only the split ones resend.
    if (resend) for (const s of this.rtxQ) if (s.lost && !s.lostKind) s.lostKind = 'pmtu';
  }

  /** New-data length: a PLPMTUD probe's when one is due and fits (data, peer window, peer MSS), else n. */
  private pmtuProbeLen(n: number, queued: number, wndRoom: number): number {
    const c = this.c;
    if (c.recovery.inRecovery || c.recovery.lostCount > 0 || this.rtxQ.length === 0) return n;
    const size = this.pmtu.probeSize(c.now);
    if (size === undefined) return n;
    const len = Math.min(size - IP_TCP_HEADERS, c.handshake.peerMssValue, c.config.mss) - this.optionBytes;
    return len > n && len <= queued && len <= wndRoom ? len : n;
  }

  private pmtuProbeSent(s: TxSegment): void {
    s.pmtuProbe = true;
    this.pmtu.onProbeSent(s.len + IP_TCP_HEADERS + this.optionBytes, txEnd(s));
  }

  /** A segment sent as a probe, ending at `end`, was acknowledged. */
  private pmtuProbeAcked(end: number): void {
    const before = this.pmtu.mtu;
    const mtu = this.pmtu.onProbeAcked(end, this.c.now);
    if (mtu !== undefined && mtu !== before) this.c.handshake.applyMss();
  }

  /** A segment larger than the MSS is about to be resent: a lost probe (the search learns), or old data. */
  private pmtuSplit(s: TxSegment): void {
    if (s.pmtuProbe) {
      s.pmtuProbe = false;
      this.pmtu.onProbeLost(this.c.now);
    }
    const r = resegment(this.rtxQ.toArray(), this.sndMss);
    this.rtxQ = new TxQueue(r.queue);
    this.c.recovery.addLostSegments(r.addedLost);
  }

  private pmtuOnRto(): void {
    const head = this.rtxQ.at(0);
    if (!head || head.syn) return;
    const size = head.len + IP_TCP_HEADERS + this.optionBytes;
    if (this.pmtu.onRto(this.rtoCount, size, this.c.now) !== undefined) this.pmtuLowered(false);
  }

  /** Forgets everything outstanding (TIME-WAIT, CLOSED). */
  clearQueue(): void {
    this.rtxQ = new TxQueue();
    this.c.recovery.clear();
  }

  /** Whether the ACK of our FIN has arrived. */
  get finAcked(): boolean {
    return this.finSent && seqGt(this.sndUna, this.finSeq);
  }

  /** Whether `ack` acknowledges something sent (SND.UNA < ack <= SND.NXT). */
  acceptableAck(ack: number): boolean {
    return seqGt(ack, this.sndUna) && seqLe(ack, this.sndNxt);
  }

  /** RFC 5961 5.2: ACKs below SND.UNA - MAX.SND.WND are too old to be believed. */
  tooOld(ack: number): boolean {
    return seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)));
  }
}

/**
 * Whether now - s.xmitTime is a valid RTT sample for an ACK of `s`: always for a segment sent
 * once; for a retransmitted one only when the ACK's TSecr equals the TSval of the last
 * transmission (RFC 7323 4.1; otherwise Karn's rule, RFC 6298 3, forbids it).
 */
export function karnSafe(s: TxSegment, tsEcr: number | undefined): boolean {
  return s.retransmits === 0 || (tsEcr !== undefined && s.tsVal !== undefined && tsEcr === s.tsVal);
}

const NO_LOST: readonly TxSegment[] = Object.freeze([]);

/** Free retransmission-queue entries a sender keeps (ping-pong needs one or two, bulk a few per ACK). */
const TX_FREE_MAX = 16;

/** The segments loss recovery deems lost, in a new list (trySend's NextSeg rule 1). */
function collectLost(rec: Connection['recovery']): TxSegment[] {
  const out: TxSegment[] = [];
  rec.collectLost(out);
  return out;
}
