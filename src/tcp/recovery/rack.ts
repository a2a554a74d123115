/**
 * RACK-TLP (RFC 8985): time-based loss detection and the tail loss probe.
 *
 * RACK remembers the most recently *sent* segment that has been delivered (acked or SACKed):
 * any segment sent before it that is still outstanding after RACK.rtt + RACK.reo_wnd is lost
 * (section 6.2). The reordering window is min_RTT/4 (6.2 step 4), at most SRTT, and 0 before
 * any reordering was seen while in recovery, like the RFC's suggested default.
 *
 * TLP (section 7): when the connection has data in flight and nothing else to do, after
 * PTO = 2*SRTT (+ max delayed-ACK time when only one segment is in flight; at least MIN_PTO),
 * send one new segment or retransmit the last one, so that the ACK of the probe triggers
 * RACK/SACK recovery instead of an RTO.
 */
import { seqGt, seqLt } from '../seq.js';
import { txEnd, type SegQueue, type TxSegment } from '../send.js';

/** RFC 8985 7.2: WCDelAckT, the worst-case delayed-ACK timer. */
export const WC_DEL_ACK_T = 200;

export class Rack {
  /** Transmission time and end sequence of the most recently sent delivered segment. */
  xmitTime = -Infinity;
  endSeq = 0;
  /** RTT of that segment. */
  rtt = 0;
  /** Reordering has been observed (a segment delivered below an already delivered one). */
  reorderingSeen = false;
  private haveEnd = false;

  /** RFC 8985 6.2 step 2: a segment was delivered (cumulatively acked or SACKed) at now. */
  onDelivered(s: TxSegment, now: number, minRtt: number, tsEcr?: number): void {
    const rtt = now - s.xmitTime;
    // A retransmitted segment whose ACK may be for the original (6.2 step 2): skip when the
    // measured RTT is below min_RTT, unless timestamps say the ACK is for this transmission.
    if (s.retransmits > 0) {
      const tsMatches = tsEcr !== undefined && s.tsVal !== undefined && tsEcr === s.tsVal;
      if (!tsMatches && rtt < minRtt) return;
    }
    const end = txEnd(s);
    if (this.haveEnd && seqLt(end, this.endSeq) && s.retransmits === 0) this.reorderingSeen = true;
    if (s.xmitTime > this.xmitTime || (s.xmitTime === this.xmitTime && (!this.haveEnd || seqGt(end, this.endSeq)))) {
      this.xmitTime = s.xmitTime;
      this.endSeq = end;
      this.haveEnd = true;
      this.rtt = rtt;
    }
  }

  /** RFC 8985 6.2 step 4. */
  reoWnd(minRtt: number, srtt: number, inRecovery: boolean): number {
    if (!Number.isFinite(minRtt)) return 0;
    if (!this.reorderingSeen && inRecovery) return 0;
    return Math.min(minRtt / 4, srtt);
  }

  /**
   * RFC 8985 6.2 step 5 (RACK_detect_loss): marks lost the outstanding segments sent before
   * the RACK segment whose deadline passed. Returns the newly lost and the earliest future
   * deadline (for the reordering timer), if any.
   */
  detectLoss(queue: SegQueue, now: number, reoWnd: number): { lost: TxSegment[]; timeout?: number } {
    const lost: TxSegment[] = [];
    let timeout: number | undefined;
    if (!this.haveEnd) return { lost };
    for (let i = 0; i < queue.length; i++) {
      const s = queue.at(i)!;
      // The queue is in sequence order and first transmissions in time order: past the first
      // never-retransmitted segment sent after the RACK segment nothing was sent before it.
      if (s.retransmits === 0 && (s.xmitTime > this.xmitTime || (s.xmitTime === this.xmitTime && !seqLt(txEnd(s), this.endSeq)))) break;
      if (s.sacked || s.lost) continue;
      const sentBefore = s.xmitTime < this.xmitTime || (s.xmitTime === this.xmitTime && seqLt(txEnd(s), this.endSeq));
      if (!sentBefore) continue;
      const remaining = s.xmitTime + this.rtt + reoWnd - now;
      if (remaining <= 0) {
        s.lost = true;
        lost.push(s);
      } else if (timeout === undefined || remaining < timeout) timeout = remaining;
    }
    return timeout === undefined ? { lost } : { lost, timeout: now + timeout };
  }
}

/**
 * RFC 8985 7.2: the probe timeout, at least MIN_PTO and at most the RTO. `ackDelay`: a
 * floor learned from spurious probes (LossRecovery.checkProbe; 0 until one was seen), used
 * up to half the RTO: a probe restarts the RTO, so a PTO pushed to the RTO by the floor
 * would let the RTO fire where a probe used to (both due together, the RTO runs first).
 */
export function probeTimeout(srtt: number, segmentsInFlight: number, rto: number, ackDelay = 0): number {
  let pto = 2 * srtt;
  if (segmentsInFlight === 1) pto += WC_DEL_ACK_T;
  return Math.min(Math.max(pto, MIN_PTO, Math.min(ackDelay, rto / 2)), rto);
}

/**
 * The smallest PTO, ms. RFC 8985 7.2 gives PTO = 2*SRTT and leaves the timer's granularity to
 * the implementation; at loopback RTTs (tens of microseconds) 2*SRTT is far shorter than the
 * time a user-space receiver may be off the CPU (a busy event loop, a GC pause, the scheduler
 * on a loaded host), so a lossless path probed spuriously (88 TLPs per bench run at MTU 1472,
 * 120 at MTU 65000, all with zero loss). Linux adds TCP_TIMEOUT_MIN (2 jiffies: 2 ms at
 * HZ=1000, 8 ms at HZ=250, plus up to one jiffy of timer rounding) to 2*SRTT in
 * tcp_schedule_loss_probe; Chromium's QUIC used a 10 ms minimum tail-loss-probe timeout. We
 * take 10 ms: a genuinely lost tail still costs 10 ms instead of the 200 ms minimum RTO.
 */
export const MIN_PTO = 10;

/**
 * The ACK delay the PTO allows a peer before any of its silences was measured, ms (the
 * default of TcpConfig.peerMaxAckDelay): QUIC's default max_ack_delay (RFC 9000 18.2), which
 * its PTO includes (RFC 9002 6.2.1). A TCP peer cannot announce its own; a user-space one
 * (this stack in Node) goes quiet for its garbage collector: the first mark-compacts of a
 * fresh receiver process, while its old generation still grows, took 9-17 ms in the MTU
 * 65000 bench, longer than MIN_PTO, before any shorter silence could teach the sender
 * (docs/benchmarks-bulk.md). It raises the PTO only where 2*SRTT is below it (RTTs under
 * 12.5 ms); a lost tail there is probed 25 ms after it was sent instead of 10, still far
 * ahead of the 200 ms minimum RTO.
 */
export const DEFAULT_PEER_MAX_ACK_DELAY = 25;
