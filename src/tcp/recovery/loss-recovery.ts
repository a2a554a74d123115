/**
 * Loss recovery: decides *what* to (re)send after a loss; congestion control (src/tcp/cc)
 * decides *how much*. One LossRecovery per connection, chosen at the handshake
 * (strategies.ts): Tahoe's go-back-N, Reno, NewReno (RFC 6582), or RFC 6675 SACK recovery
 * with RACK-TLP (RFC 8985).
 *
 * This base class owns what every strategy shares: the scoreboard over the sender's
 * retransmission queue (SACKed / lost / in flight, with O(1) tallies so pipe costs nothing
 * per ACK), duplicate-ACK counting, the RFC 6582 `recover` point, the D-SACK undo
 * bookkeeping, RACK and the tail loss probe (both only with SACK), and the RTO's marking.
 * A strategy fills in the three places where they differ: how recovery starts (enter), what
 * a partial ACK does (onPartialAck) and whether `recover` guards against a new recovery.
 */
import type { SackBlock, TcpSegment } from '../../wire/tcp.js';
import type { Connection } from '../connection.js';
import { seqGe, seqGt, seqLe, seqLt } from '../seq.js';
import { txEnd, txSpan, type SegQueue, type TxSegment } from '../send.js';
import type { RetransmitKind } from '../types.js';
import { applySack, DUP_THRESH, markLostBySack, nextLost } from './scoreboard.js';
import { DEFAULT_PEER_MAX_ACK_DELAY, MIN_PTO, probeTimeout, Rack } from './rack.js';

/** D-SACK undo: at most this many retransmitted ranges are remembered per recovery episode. */
export const MAX_UNDO_RANGES = 256;

export type RecoveryName = 'tahoe' | 'reno' | 'newreno' | 'sack';

/** What the SACK blocks of one ACK did. */
export interface SackOutcome {
  newlySacked: number;
  newSackInfo: boolean;
}

/** The outcome of an ACK without SACK blocks (shared: nothing allocated per ACK). */
const NO_SACK: SackOutcome = Object.freeze({ newlySacked: 0, newSackInfo: false });

export abstract class LossRecovery {
  abstract readonly name: RecoveryName;
  /** RFC 6582 4 / RFC 6675 5: no new recovery for duplicate ACKs below `recover`. */
  protected abstract readonly guardsRecover: boolean;

  /** In fast recovery (RFC 5681 3.2 / RFC 6675 5). */
  inRecovery = false;
  private dupAcks = 0;
  /** Non-SACK: duplicate ACKs since recovery began, each one segment that left the network (Linux sacked_out). */
  private emuSacked = 0;
  /** RFC 6582 "recover". */
  private recoverSeq = 0;
  private recoverValid = false;
  /** RFC 8985 7: a probe is outstanding up to this sequence number. */
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
  private readonly rack = new Rack();
  /** When the PTO was last armed (the last send or ACK it counts from). */
  private ptoArmedAt = 0;
  /** The outstanding probe's TSval and when its PTO was armed (for the Eifel check below). */
  private probeTsVal: number | undefined;
  private probeArmedAt = 0;
  /**
   * A floor under the PTO for the peer's ACK delay, ms: at first what the configuration assumes
   * (TcpConfig.peerMaxAckDelay, like QUIC's default max_ack_delay), then raised to twice the
   * longest silence behind a spurious probe (checkProbe) or behind a near miss, an ACK that came
   * more than MIN_PTO/2 after the PTO was armed (noteSilence).
   */
  ackDelayAllowance: number;
  /** Tail loss probes found spurious (the ACK of data sent before the probe came after it). */
  spuriousTlps = 0;

  /** `sack`: SACK was negotiated, so the scoreboard, RACK and TLP are in use. */
  constructor(
    protected readonly c: Connection,
    readonly sack: boolean,
  ) {
    this.ackDelayAllowance = c.config.peerMaxAckDelay ?? DEFAULT_PEER_MAX_ACK_DELAY;
  }

  // ---- strategy points ----

  /** Loss detected (duplicate ACKs, SACK or RACK) outside recovery: the episode starts. */
  protected abstract enter(kind: 'fast' | 'rack'): void;
  /** An ACK of new data below `recover` during recovery. */
  protected abstract onPartialAck(ackedSegs: number): void;

  // ---- the scoreboard ----

  /**
   * The SACK blocks of an ACK (RFC 6675: before the cumulative ACK is applied). Segments newly
   * SACKed are appended to `delivered`.
   */
  applySackBlocks(seg: TcpSegment, ack: number, delivered: TxSegment[]): SackOutcome {
    if (!this.sack || !seg.options.sack) return NO_SACK;
    const snd = this.c.snd;
    const r = applySack(snd.rtxQ, seg.options.sack, ack, snd.sndNxt);
    if (this.sackedBytes === 0 && r.newly.length > 0) {
      // A fresh scoreboard: the IsLost bookkeeping starts again from SND.UNA.
      this.highSackedEnd = ack;
      this.isLostState.doneUpTo = snd.sndUna;
    }
    this.sackedBytes += r.newlySacked;
    for (const s of r.newly) {
      const end = txEnd(s);
      if (seqGt(end, this.highSackedEnd)) this.highSackedEnd = end;
      delivered.push(s);
    }
    this.lostBytes -= r.wasLostBytes;
    this.lostSegs -= r.wasLostSegs;
    if (r.dsack) this.onDsack(r.dsack);
    return { newlySacked: r.newlySacked, newSackInfo: r.newly.length > 0 };
  }

  /**
   * Bytes in flight for congestion control: RFC 6675 pipe, or the dupack-adjusted flight
   * without SACK. O(1) while no segment is SACKed or lost (then pipe = FlightSize).
   */
  pipe(): number {
    let p = this.c.snd.flightSize() - this.sackedBytes - this.lostBytes;
    if (!this.sack && this.emuSacked > 0) p -= this.emuSacked * this.c.snd.sndMss;
    return Math.max(0, p);
  }

  /** No segment is SACKed (the scoreboard holds no SACK information). */
  get nothingSacked(): boolean {
    return this.sackedBytes === 0;
  }

  /** Whether any segment is marked lost and awaiting retransmission. */
  get lostCount(): number {
    return this.lostSegs;
  }

  /** The segments deemed lost, in sequence order (RFC 6675 NextSeg rule 1), appended to `out`. */
  collectLost(out: TxSegment[]): void {
    if (this.lostSegs === 0) return;
    const q = this.c.snd.rtxQ;
    for (let i = 0; i < q.length; i++) {
      const s = q.at(i)!;
      if (s.lost && !s.sacked) {
        out.push(s);
        if (out.length >= this.lostSegs) break;
      }
    }
  }

  /** Marks an in-flight segment lost (it must be neither SACKed nor lost). */
  protected markLost(s: TxSegment): void {
    s.lost = true;
    this.lostBytes += txSpan(s);
    this.lostSegs++;
  }

  /**
   * `bytes` of segment s were cumulatively acknowledged (`whole`: the segment left the
   * queue; else it was trimmed at the front): update the tallies.
   */
  unmark(s: TxSegment, bytes: number, whole: boolean): void {
    if (s.sacked) this.sackedBytes -= bytes;
    else if (s.lost) {
      this.lostBytes -= bytes;
      if (whole) this.lostSegs--;
    }
  }

  /** A segment is being (re)transmitted: it is in flight again; counts for D-SACK undo. */
  onRetransmit(s: TxSegment, kind: RetransmitKind | undefined): void {
    if (s.lost) {
      s.lost = false;
      this.lostBytes -= txSpan(s);
      this.lostSegs--;
    }
    s.lostKind = undefined;
    if (kind && this.undoPossible) {
      this.undoRetrans++;
      if (this.retransRanges.length < MAX_UNDO_RANGES) this.retransRanges.push({ left: s.seq, right: txEnd(s) });
    }
  }

  /** The queue was emptied (TIME-WAIT, CLOSED). */
  clear(): void {
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.lostSegs = 0;
  }

  /** Test/debug aid: the tallies agree with a scan of the queue. */
  consistent(): boolean {
    let sacked = 0;
    let lost = 0;
    let lostSegs = 0;
    const q = this.c.snd.rtxQ;
    for (let i = 0; i < q.length; i++) {
      const s = q.at(i)!;
      if (s.sacked && s.lost) return false;
      if (s.sacked) sacked += txSpan(s);
      else if (s.lost) {
        lost += txSpan(s);
        lostSegs++;
      }
    }
    return sacked === this.sackedBytes && lost === this.lostBytes && lostSegs === this.lostSegs;
  }

  // ---- ACK processing ----

  /**
   * SND.UNA advanced to `ack`, acknowledging `ackedSegs` whole segments (RFC 5681 3.2,
   * RFC 6582, RFC 6675 5): recovery ends at `recover`, or the strategy handles a partial ACK.
   */
  onCumulativeAck(ack: number, ackedSegs: number, tsEcr?: number): void {
    if (this.sack && this.c.timers.isSet('tlp')) this.noteSilence(this.c.now - this.ptoArmedAt);
    if (this.probeTsVal !== undefined) this.checkProbe(tsEcr);
    if (this.tlpHighSeq !== undefined && seqGe(ack, this.tlpHighSeq)) this.tlpHighSeq = undefined;
    if (this.inRecovery) {
      if (seqGe(ack, this.recoverSeq)) this.exitRecovery();
      else this.onPartialAck(ackedSegs);
    } else {
      this.dupAcks = 0;
      this.emuSacked = 0;
    }
  }

  /**
   * The first ACK of new data after a tail loss probe: Eifel detection (RFC 3522) with
   * timestamps. When its TSecr is older than the probe's TSval, the ACK was sent for data
   * that left before the probe: nothing was lost, the peer was only slow to answer (a
   * user-space receiver off the CPU for a GC pause or a time slice), and the probe was
   * spurious. The PTO then waits at least twice that silence from now on, like QUIC's PTO
   * includes the peer's max_ack_delay (RFC 9002 6.2.1); it stays capped by the RTO, and a
   * connection that never probes spuriously keeps RFC 8985's PTO. A probe costs no cwnd
   * either way (a new-data probe never did; a retransmitted one is not a congestion event).
   */
  private checkProbe(tsEcr: number | undefined): void {
    const probe = this.probeTsVal!;
    this.probeTsVal = undefined;
    if (tsEcr === undefined || !seqLt(tsEcr, probe)) return;
    this.spuriousTlps++;
    this.ackDelayAllowance = Math.max(this.ackDelayAllowance, 2 * (this.c.now - this.probeArmedAt));
  }

  /**
   * A near miss: the ACK came `silence` ms after the PTO was armed, with the probe still
   * pending. A user-space peer goes quiet for a garbage-collector pause or a time slice (5-10 ms
   * every few hundred ms for a Node receiver of 64 KB datagrams), and the sender itself may read
   * its ACKs late (timers run before I/O after its own pause); the first such silence longer
   * than MIN_PTO used to draw a spurious probe even though shorter ones had come before it.
   * Like RFC 8985's WCDelAckT (7.2) and QUIC's max_ack_delay (RFC 9002 6.2.1), the PTO then
   * leaves room for the peer's ACK delay: twice the longest silence seen, capped by
   * probeTimeout at half the RTO. Silences up to MIN_PTO/2 change nothing (the PTO is at least
   * MIN_PTO), so on a path that never stalls the PTO stays RFC 8985's.
   */
  private noteSilence(silence: number): void {
    if (silence > MIN_PTO / 2 && 2 * silence > this.ackDelayAllowance) this.ackDelayAllowance = 2 * silence;
  }

  protected exitRecovery(): void {
    this.inRecovery = false;
    this.dupAcks = 0;
    this.emuSacked = 0;
    const c = this.c;
    c.ccCall('recovery_exit', () => c.cc.onRecoveryExit(c.now));
  }

  /** NewReno's partial ACK (RFC 6582 3.2 step 3): retransmit the next hole, stay in recovery. */
  protected retransmitNextHole(ackedSegs: number): void {
    this.emuSacked = Math.max(0, this.emuSacked - Math.max(0, ackedSegs - 1));
    const first = this.c.snd.rtxQ.at(0);
    if (first && !first.lost && !first.sacked) {
      this.markLost(first);
      first.lostKind = 'fast';
      this.c.snd.retransmitSeg(first, 'fast');
    }
  }

  /** A duplicate ACK (RFC 5681 / RFC 6675 / RFC 3042). */
  onDuplicateAck(): void {
    const snd = this.c.snd;
    this.dupAcks++;
    if (!this.sack) {
      const outstandingSegs = snd.rtxQ.length;
      if (this.emuSacked < Math.max(0, outstandingSegs - 1)) this.emuSacked++;
    }
    if (this.inRecovery) {
      if (this.sack) this.markBySack();
      return;
    }
    if (this.guardsRecover && this.recoverValid && seqLt(snd.sndUna, this.recoverSeq)) return;
    const first = snd.rtxQ.at(0);
    if (!first) return;
    let lost = this.dupAcks >= DUP_THRESH;
    if (this.sack) {
      this.markBySack();
      lost = lost || first.lost;
    }
    if (!lost) return; // RFC 3042 limited transmit happens through the reduced pipe.
    if (!first.sacked) {
      if (!first.lost) this.markLost(first);
      first.lostKind = 'fast';
    }
    this.startEpisode('fast');
  }

  /** RFC 6675 IsLost over the scoreboard. */
  private markBySack(): void {
    if (this.sackedBytes === 0) return;
    const snd = this.c.snd;
    const newly = markLostBySack(snd.rtxQ, snd.sndMss, this.highSackedEnd, this.isLostState);
    let bytes = 0;
    for (const s of newly) {
      s.lostKind = 'fast';
      bytes += txSpan(s);
    }
    this.lostBytes += bytes;
    this.lostSegs += newly.length;
    if (bytes > 0) this.c.rate.onLost(bytes);
  }

  /**
   * Loss detected by duplicate ACKs, SACK or RACK: tell congestion control, let the strategy
   * start its episode, and retransmit the first lost segment at once (RFC 6675 4 step 4.3).
   */
  private startEpisode(k: 'fast' | 'rack'): void {
    const c = this.c;
    const inFlight = c.snd.flightSize();
    this.undoPossible = true;
    this.undoRetrans = 0;
    this.retransRanges = [];
    this.recoverSeq = c.snd.sndNxt;
    this.recoverValid = true;
    c.ccCall('fast_retransmit', () => c.cc.onCongestion({ kind: 'fast', now: c.now, inFlight }));
    this.enter(k);
    const first = nextLost(c.snd.rtxQ);
    if (first) c.snd.retransmitSeg(first, first.lostKind ?? k);
    c.timers.clear('tlp');
  }

  /** Tahoe: go back to SND.UNA, every outstanding segment lost, no fast recovery. */
  protected goBackN(k: 'fast' | 'rack'): void {
    const q = this.c.snd.rtxQ;
    for (let i = 0; i < q.length; i++) {
      const s = q.at(i)!;
      if (!s.sacked && !s.lost) {
        this.markLost(s);
        s.lostKind = k;
      }
    }
    this.dupAcks = 0;
    this.emuSacked = 0;
  }

  /** Fast recovery (RFC 5681 3.2 / RFC 6582 / RFC 6675). */
  protected fastRecovery(): void {
    this.inRecovery = true;
  }

  /** RFC 8985 6.2 on every ACK that delivered something (SACK connections). */
  onDelivered(delivered: readonly TxSegment[], seg: TcpSegment, n = delivered.length): void {
    if (!this.sack || n === 0) return;
    const c = this.c;
    const minRtt = Number.isFinite(c.rtt.minRtt) ? c.rtt.minRtt : 0;
    for (let i = 0; i < n; i++) this.rack.onDelivered(delivered[i]!, c.now, minRtt, seg.options.ts?.ecr);
    this.rackDetect();
  }

  /** RFC 8985 6.2 step 5, also when the reordering timer fires. */
  rackDetect(): void {
    if (!this.sack) return;
    const c = this.c;
    if (c.snd.rtxQ.length === 0) {
      // Nothing outstanding (the ping-pong case): nothing to mark, no reordering timer; no
      // result object to make for that.
      c.timers.clear('rack');
      return;
    }
    const reo = this.rack.reoWnd(c.rtt.minRtt, c.rtt.srtt, this.inRecovery);
    const r = this.rack.detectLoss(c.snd.rtxQ, c.now, reo);
    for (const s of r.lost) {
      s.lostKind = 'rack';
      this.lostBytes += txSpan(s);
      this.lostSegs++;
    }
    if (r.timeout !== undefined) c.timers.set('rack', r.timeout);
    else c.timers.clear('rack');
    if (r.lost.length > 0) {
      c.rate.onLost(r.lost.reduce((n, s) => n + txSpan(s), 0));
      if (!this.inRecovery) this.startEpisode('rack');
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
      const c = this.c;
      if (c.cc.onSpuriousCongestion) {
        const undo = c.cc.onSpuriousCongestion.bind(c.cc);
        c.ccCall('undo', () => undo(c.now));
      }
      if (this.inRecovery) this.inRecovery = false;
    }
  }

  // ---- timeouts ----

  /**
   * A retransmission timeout (RFC 5681 eq. 4-5 through the congestion controller): every
   * outstanding segment is lost (firstLost() is the one to retransmit).
   */
  onRto(rtoCount: number): void {
    const c = this.c;
    const inFlight = c.snd.flightSize();
    if (!this.undoPossible || rtoCount === 1) {
      this.undoPossible = true;
      this.undoRetrans = 0;
      this.retransRanges = [];
    }
    c.ccCall('rto', () => c.cc.onCongestion({ kind: 'rto', now: c.now, inFlight }));
    this.inRecovery = false;
    this.dupAcks = 0;
    this.emuSacked = 0;
    this.recoverSeq = c.snd.sndNxt; // RFC 6582 4: no fast retransmit for the old flight
    this.recoverValid = true;
    this.tlpHighSeq = undefined;
    this.probeTsVal = undefined;
    c.timers.clear('tlp');
    c.timers.clear('rack');
    let lostBytes = 0;
    const q = c.snd.rtxQ;
    for (let i = 0; i < q.length; i++) {
      const s = q.at(i)!;
      if (!s.sacked) {
        if (!s.lost) {
          lostBytes += txSpan(s);
          this.markLost(s);
        }
        s.lostKind = 'rto';
      }
    }
    c.rate.onLost(lostBytes);
  }

  /** RFC 6675 NextSeg rule 1: the first segment deemed lost. */
  firstLost(): TxSegment | undefined {
    return nextLost(this.c.snd.rtxQ);
  }

  /** Path MTU fell: a piece of a too-large segment must be resent (it was neither SACKed nor lost). */
  markLostForResend(s: TxSegment): void {
    this.markLost(s);
  }

  /** Resegmenting split lost segments into more pieces: the lost count follows (bytes are unchanged). */
  addLostSegments(n: number): void {
    this.lostSegs += n;
  }

  /** RFC 8985 7.2: arm the PTO after sending new data, when SACK is in use. */
  armTlp(): void {
    const c = this.c;
    if (!this.sack || this.inRecovery || !c.rtt.hasSample || this.tlpHighSeq !== undefined) return;
    // Also after shutdown(): the tail of a write-then-end flow is the classic TLP case.
    if (!c.canSend) return;
    const segs = c.snd.rtxQ.length;
    if (segs === 0) return;
    this.ptoArmedAt = c.now;
    c.timers.set('tlp', c.now + probeTimeout(c.rtt.srtt, segs, c.rtt.rto, this.ackDelayAllowance));
  }

  /** RFC 8985 7.3: send one new segment if possible, else retransmit the last one. */
  onTlp(): void {
    const c = this.c;
    const snd = c.snd;
    if (snd.rtxQ.length === 0 || this.inRecovery || this.tlpHighSeq !== undefined) return;
    if (!c.canSend) return;
    // Sending a new-data probe re-arms the PTO (sendNew): the silence began before that.
    const armedAt = this.ptoArmedAt;
    let probe: TxSegment | undefined;
    if (snd.probeWithNewData()) {
      probe = snd.rtxQ.at(snd.rtxQ.length - 1);
    } else {
      let last: TxSegment | undefined;
      for (let i = snd.rtxQ.length - 1; i >= 0; i--) {
        const s = snd.rtxQ.at(i)!;
        if (!s.sacked) {
          last = s;
          break;
        }
      }
      if (!last) return;
      snd.retransmitSeg(last, 'tlp');
      probe = last;
    }
    if (c.handshake.tsOk && probe?.tsVal !== undefined) {
      this.probeTsVal = probe.tsVal;
      this.probeArmedAt = armedAt;
    }
    this.tlpHighSeq = snd.sndNxt;
    c.timers.clear('tlp');
    snd.armRto(true);
  }
}
