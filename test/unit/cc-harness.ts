/**
 * Test-only harnesses for congestion-control unit tests (not a product feature).
 *
 * - `ackClockRound`: one round trip of a fixed-RTT ACK clock with no bottleneck: the window
 *   at the start of the round is sent and its ACKs (one per MSS) arrive evenly spread over
 *   the next RTT.
 * - `BottleneckSim`: a tiny packet-level simulation of one sender through a drop-tail
 *   bottleneck (rate, buffer, base RTT, seeded random loss) with per-packet ACKs, RACK-like
 *   loss detection (a packet is lost when one sent after it is acknowledged), one congestion
 *   event per recovery episode, pacing, and delivery-rate samples computed as in
 *   draft-cheng-iccrg-delivery-rate-estimation. Deterministic (virtual time, seeded PRNG).
 */
import type { CongestionControl, RateSample } from '../../src/tcp/cc/types.js';

export function ackClockRound(
  cc: CongestionControl,
  start: number,
  rtt: number,
  mss: number,
  opts: { appLimited?: boolean; rttSample?: number; srtt?: number } = {},
): number {
  const n = Math.max(1, Math.floor(cc.cwnd / mss));
  let inFlight = n * mss;
  for (let i = 1; i <= n; i++) {
    const now = start + (i * rtt) / n;
    const prior = inFlight;
    inFlight -= mss;
    cc.onAck({
      now, bytesAcked: mss, rttSample: opts.rttSample ?? rtt, srtt: opts.srtt ?? rtt, minRtt: rtt,
      priorInFlight: prior, inFlight, inRecovery: false, appLimited: opts.appLimited ?? false,
    });
  }
  return start + rtt;
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pkt {
  id: number;
  sentAt: number;
  ackAt: number;
  lost: boolean;
  delivered: number;
  deliveredTime: number;
  firstSentTime: number;
}

export interface SimOptions {
  mss: number;
  /** Bottleneck rate, bytes/s. */
  rate: number;
  /** Base round-trip time, ms. */
  rtt: number;
  /** Drop-tail buffer, bytes. */
  buffer: number;
  /** Random loss probability per packet. */
  loss?: number;
  seed?: number;
  /** Use cc.pacingRate() when it returns a number. */
  pace?: boolean;
  /** Call onAck before onRateSample (as src/tcp/connection.ts does); default: sample first. */
  sampleAfterAck?: boolean;
  /** Extra one-off RTT added to every packet after this time (ms), for RTT-rise tests. */
  extraDelay?: (now: number) => number;
}

export interface SimSample {
  t: number;
  cwnd: number;
  inFlight: number;
  pacing?: number;
}

export class BottleneckSim {
  now = 0;
  delivered = 0;
  lostBytes = 0;
  readonly trace: SimSample[] = [];
  private linkFreeAt = 0;
  private nextId = 0;
  private inFlight = 0;
  private nextSendAt = 0;
  private readonly outstanding: Pkt[] = [];
  private readonly rand: () => number;
  private deliveredTime = 0;
  private firstSentTime = 0;
  private lostSinceSample = 0;
  private srtt = 0;
  private minRtt = Infinity;
  private recoveryEnd = -1;
  private inRecovery = false;
  private lastAckAt = 0;
  rtos = 0;

  constructor(readonly cc: CongestionControl, readonly o: SimOptions) {
    this.rand = prng(o.seed ?? 1);
  }

  /** Run until `until` ms; returns delivered bytes during the run. */
  run(until: number): number {
    const start = this.delivered;
    const mss = this.o.mss;
    while (this.now < until) {
      const nextAck = this.firstAckAt();
      const canSend = this.inFlight + mss <= this.cc.cwnd;
      const nextSend = canSend ? Math.max(this.now, this.nextSendAt) : Infinity;
      // Retransmission timeout: only lost packets are outstanding, no ACK will come.
      const rtoAt = !Number.isFinite(nextAck) && !canSend && this.inFlight > 0
        ? this.lastAckAt + Math.max(200, 2 * this.srtt) : Infinity;
      const t = Math.min(nextAck, nextSend, rtoAt);
      if (!Number.isFinite(t) || t >= until) {
        this.now = until;
        break;
      }
      this.now = t;
      if (t === rtoAt) this.timeout();
      else if (nextAck <= nextSend) this.ack();
      else this.send();
    }
    return this.delivered - start;
  }

  private timeout(): void {
    const lost = this.outstanding.filter((p) => p.lost).length * this.o.mss;
    this.outstanding.length = 0;
    this.cc.onCongestion({ kind: 'rto', now: this.now, inFlight: this.inFlight });
    this.inFlight = 0;
    this.lostBytes += lost;
    this.lostSinceSample += lost;
    this.inRecovery = false;
    this.lastAckAt = this.now;
    this.rtos++;
  }

  private firstAckAt(): number {
    let best = Infinity;
    for (const p of this.outstanding) if (!p.lost && p.ackAt < best) best = p.ackAt;
    return best;
  }

  private send(): void {
    const { mss, rate, rtt, buffer } = this.o;
    const now = this.now;
    if (this.inFlight === 0) this.firstSentTime = this.deliveredTime = now;
    const p: Pkt = {
      id: this.nextId++, sentAt: now, ackAt: Infinity, lost: false,
      delivered: this.delivered, deliveredTime: this.deliveredTime, firstSentTime: this.firstSentTime,
    };
    const queued = Math.max(0, this.linkFreeAt - now) * rate / 1000;
    const randomLoss = this.o.loss !== undefined && this.rand() < this.o.loss;
    if (queued + mss > buffer + mss || randomLoss) {
      p.lost = true; // dropped at the bottleneck (tail drop) or on the wire
    } else {
      this.linkFreeAt = Math.max(this.linkFreeAt, now) + (mss / rate) * 1000;
      p.ackAt = this.linkFreeAt + rtt + (this.o.extraDelay?.(now) ?? 0);
    }
    this.outstanding.push(p);
    this.inFlight += mss;
    this.cc.onSend?.(now, mss, this.inFlight);
    const pr = this.o.pace ? this.cc.pacingRate?.() : undefined;
    this.nextSendAt = pr !== undefined && pr > 0 ? now + (mss / pr) * 1000 : now;
  }

  private ack(): void {
    const mss = this.o.mss;
    const now = this.now;
    let idx = -1;
    for (let i = 0; i < this.outstanding.length; i++) {
      const q = this.outstanding[i]!;
      if (!q.lost && (idx < 0 || q.ackAt < this.outstanding[idx]!.ackAt)) idx = i;
    }
    const p = this.outstanding[idx]!;
    this.outstanding.splice(idx, 1);
    const priorInFlight = this.inFlight;
    this.inFlight -= mss;
    // RACK-like: packets sent before this one and still unacknowledged are lost.
    let newlyLost = 0;
    for (let i = this.outstanding.length - 1; i >= 0; i--) {
      const q = this.outstanding[i]!;
      if (q.lost && q.id < p.id) {
        this.outstanding.splice(i, 1);
        this.inFlight -= mss;
        newlyLost += mss;
      }
    }
    this.lostBytes += newlyLost;
    this.lostSinceSample += newlyLost;
    this.delivered += mss;
    this.deliveredTime = now;
    this.lastAckAt = now;
    const rttSample = Math.round((now - p.sentAt) * 1000) / 1000; // µs, like a real clock
    this.srtt = this.srtt === 0 ? rttSample : 0.875 * this.srtt + 0.125 * rttSample;
    this.minRtt = Math.min(this.minRtt, rttSample);
    // Delivery-rate sample.
    const sendElapsed = p.sentAt - p.firstSentTime;
    const ackElapsed = now - p.deliveredTime;
    this.firstSentTime = p.sentAt;
    const interval = Math.max(sendElapsed, ackElapsed);
    const deliveredInInterval = this.delivered - p.delivered;
    if (this.inRecovery && p.id >= this.recoveryEnd) {
      this.inRecovery = false;
      this.cc.onRecoveryExit(now);
    }
    if (newlyLost > 0 && !this.inRecovery) {
      this.inRecovery = true;
      this.recoveryEnd = this.nextId;
      this.cc.onCongestion({ kind: 'fast', now, inFlight: priorInFlight });
    }
    let rs: RateSample | undefined;
    if (interval > 0) {
      rs = {
        now, deliveryRate: (deliveredInInterval / interval) * 1000, delivered: deliveredInInterval, interval,
        rtt: rttSample, lost: this.lostSinceSample, priorInFlight, inFlight: this.inFlight,
        isAppLimited: false, totalDelivered: this.delivered,
      };
      this.lostSinceSample = 0;
    }
    if (rs && !this.o.sampleAfterAck) this.cc.onRateSample?.(rs);
    this.cc.onAck({
      now, bytesAcked: mss, rttSample, srtt: this.srtt, minRtt: this.minRtt, priorInFlight,
      inFlight: this.inFlight, inRecovery: this.inRecovery, appLimited: false,
    });
    if (rs && this.o.sampleAfterAck) this.cc.onRateSample?.(rs);
    this.trace.push({ t: now, cwnd: this.cc.cwnd, inFlight: this.inFlight, pacing: this.cc.pacingRate?.() });
  }
}
