/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation): every transmitted
 * segment remembers the connection's delivered count and times when it left; when it is
 * delivered, the rate over the interval since is one sample. The result feeds
 * cc.onRateSample (BBR) and TcpInfo.deliveryRate.
 */
import type { RateSample } from './cc/types.js';
import { txSpan, type TxSegment } from './send.js';
import { widen } from '../util/wide.js';

export class RateSampler {
  /** C.delivered, C.delivered_time, C.first_sent_time, C.app_limited (draft 3.1). */
  delivered = 0;
  deliveredTime = 0;
  firstSentTime = 0;
  appLimited = 0;
  lost = 0;
  private lostAtLast = 0;
  /** Latest delivery rate, bytes/s. */
  lastRate = 0;
  // Per-ACK sample in construction (draft 3.3, "rs").
  private rsPriorDelivered = 0;
  private rsPriorTime = 0;
  private rsSendElapsed = 0;
  private rsAckElapsed = 0;
  private rsRtt = -1;
  private rsAppLimited = false;
  private rsXmitTime = -Infinity;
  private rsHave = false;

  constructor() {
    widen(this, ['delivered', 'appLimited', 'lost', 'rsPriorDelivered']); // byte counts past 2^31 (src/util/wide.ts)
  }

  /** Draft 3.2 SendPacket: stamps a segment as it leaves. */
  onSend(s: TxSegment, now: number, inFlightBefore: number): void {
    if (inFlightBefore === 0) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    s.firstSentTime = this.firstSentTime;
    s.deliveredTime = this.deliveredTime;
    s.delivered = this.delivered;
    s.appLimited = this.appLimited !== 0;
  }

  /** Draft 3.3: the application had nothing to send with cwnd room left. */
  markAppLimited(inFlight: number): void {
    this.appLimited = Math.max(this.delivered + inFlight, 1);
  }

  /**
   * Draft 3.3 UpdateRateSample: one segment was delivered (acked or SACKed) now. Call it
   * exactly once per segment: a segment SACKed earlier and cumulatively acknowledged later
   * was already delivered (counting it again inflates C.delivered, and all of those bytes land
   * in the sample of the ACK that fills the hole, which then claims several times the path's
   * rate). `rttValid` says whether now - xmitTime is a Karn-safe RTT: false for a retransmitted
   * segment unless the timestamp echo identifies this transmission (RFC 6298 3 / RFC 7323 4).
   */
  onDelivered(s: TxSegment, now: number, rttValid: boolean): void {
    this.delivered += txSpan(s);
    this.deliveredTime = now;
    if (!this.rsHave || s.delivered > this.rsPriorDelivered || (s.delivered === this.rsPriorDelivered && s.xmitTime > this.rsXmitTime)) {
      this.rsHave = true;
      this.rsPriorDelivered = s.delivered;
      this.rsPriorTime = s.deliveredTime;
      this.rsAppLimited = s.appLimited;
      this.rsSendElapsed = s.xmitTime - s.firstSentTime;
      this.rsAckElapsed = now - s.deliveredTime;
      this.rsXmitTime = s.xmitTime;
      this.rsRtt = rttValid ? now - s.xmitTime : -1;
      this.firstSentTime = s.xmitTime;
    }
  }

  onLost(bytes: number): void {
    this.lost += bytes;
  }

  /**
   * Draft 3.3 GenerateRateSample at the end of an ACK; undefined when no valid sample, or when
   * `want` is false (nobody takes the sample object: the sampler's state moves all the same).
   */
  finish(now: number, priorInFlight: number, inFlight: number, minRtt: number, want = true): RateSample | undefined {
    if (this.appLimited && this.delivered > this.appLimited) this.appLimited = 0;
    if (!this.rsHave) return undefined;
    this.rsHave = false;
    const interval = Math.max(this.rsSendElapsed, this.rsAckElapsed);
    const delivered = this.delivered - this.rsPriorDelivered;
    // An interval shorter than min_RTT is unreliable (ACK compression).
    if (!(interval > 0) || (Number.isFinite(minRtt) && interval < minRtt)) return undefined;
    const deliveryRate = (delivered * 1000) / interval;
    if (!this.rsAppLimited || deliveryRate > this.lastRate) this.lastRate = deliveryRate;
    const lost = this.lost - this.lostAtLast;
    this.lostAtLast = this.lost;
    void this.rsPriorTime;
    if (!want) return undefined;
    return {
      now,
      deliveryRate,
      delivered,
      interval,
      rtt: this.rsRtt,
      lost,
      priorInFlight,
      inFlight,
      isAppLimited: this.rsAppLimited,
      totalDelivered: this.delivered,
    };
  }
}
