/**
 * BBR (draft-ietf-ccwg-bbr, the BBRv3 design), a faithful, readable simplification.
 *
 * BBR builds a model of the path from delivery-rate samples instead of reacting to loss:
 *   max_bw  = windowed max of delivery rate (2 ProbeBW cycles)        bytes/s
 *   min_rtt = windowed min of RTT (10 s)                              ms
 *   BDP     = max_bw * min_rtt
 * and sets pacing_rate = pacing_gain * bw * (1 - 1% margin) and
 * cwnd = cwnd_gain * BDP + a quantization allowance, bounded by the loss-derived bounds
 * inflight_hi (upper, learned when probing) and bw_lo/inflight_lo (lower, on loss rounds).
 *
 * States (the draft's names): Startup (pacing 2.77, cwnd 2) until the bandwidth stops
 * growing by 25% for 3 rounds (or loss is excessive); Drain (pacing 0.35) until inflight
 * <= BDP; ProbeBW cycling DOWN (0.9) -> CRUISE (1.0) -> REFILL (1.0, one round) -> UP
 * (1.25, cwnd gain 2.25) -> DOWN; ProbeRTT (cwnd 4 packets for 200 ms and one round) when
 * no lower RTT has been seen for 5 s, so min_rtt stays fresh.
 *
 * Loss (BBRv3): during bandwidth probing (REFILL/UP) a round that loses more than 2% of what
 * was in flight ends the probe and sets inflight_hi = max(inflight at round start,
 * beta * BDP) with beta = 0.7; outside probing, a round over the same 2% threshold sets
 * bw_lo = max(bw_latest, beta * bw_lo) and inflight_lo = max(inflight_latest, beta *
 * inflight_lo). Because loss below 2% of a round's flight is not a congestion signal, and
 * the lower bounds never drop below what the last round actually delivered, random loss of
 * ~1% costs little rate, while sustained congestion loss shrinks
 * the flow so it does not starve Reno/CUBIC. Probing (REFILL) clears the lower bounds.
 *
 * Simplifications, documented:
 * - Rounds: the draft ends a round when a packet sent after the round started is delivered
 *   (rs.prior_delivered >= next_round_delivered). RateSample carries no per-packet
 *   prior_delivered, so a round ends when delivered >= delivered-at-round-start +
 *   inflight-at-round-start (every byte outstanding at the start has been delivered), with
 *   `delivered` summed from AckEvent.bytesAcked.
 * - A rate sample may not claim more bytes delivered in its interval than the ACKs reported
 *   in that interval (a sanity bound that a correct estimator never hits).
 * - An ACK and its RateSample may arrive in either order (onAck then onRateSample, or the
 *   reverse); the model runs once both are in. An ACK without a sample only updates cwnd.
 *   If the connection never supplies rate samples, a crude ACK-rate estimate over one
 *   min_rtt stands in (one ACK late) so the algorithm still works.
 * - No ACK-aggregation (extra_acked) estimator, no idle restart, ProbeRTT cwnd is 4 packets
 *   (BBRv1; v3 uses BDP/2), bw_probe_wait is 2-3 s from a fixed-seed generator.
 */
import type { CcName } from '../types.js';
import type { AckEvent, CcOptions, CongestionControl, CongestionEvent, RateSample } from './types.js';
import { SlottedMaxFilter } from './minmax.js';
import { widen, widenFirst } from '../../util/wide.js';

/** A delivered-log entry's byte count passes 2^31 (src/util/wide.ts). */
const widenLogEntry = widenFirst(['d']);

export type BbrState =
  | 'Startup'
  | 'Drain'
  | 'ProbeBW_DOWN'
  | 'ProbeBW_CRUISE'
  | 'ProbeBW_REFILL'
  | 'ProbeBW_UP'
  | 'ProbeRTT';

export const BBR = {
  STARTUP_PACING_GAIN: 4 * Math.LN2, // 2.77: doubles the sending rate each round
  STARTUP_CWND_GAIN: 2,
  DRAIN_PACING_GAIN: 0.35,
  DEFAULT_CWND_GAIN: 2,
  PROBE_UP_CWND_GAIN: 2.25,
  PROBE_DOWN_PACING_GAIN: 0.9,
  PROBE_UP_PACING_GAIN: 1.25,
  PACING_MARGIN: 0.01,
  LOSS_THRESH: 0.02,
  BETA: 0.7,
  HEADROOM: 0.15,
  FULL_BW_THRESH: 1.25,
  FULL_BW_COUNT: 3,
  STARTUP_FULL_LOSS_COUNT: 6,
  MIN_PIPE_CWND_SEGMENTS: 4,
  MAX_BW_FILTER_CYCLES: 2,
  MIN_RTT_FILTER_LEN: 10_000,
  PROBE_RTT_INTERVAL: 5_000,
  PROBE_RTT_DURATION: 200,
  PROBE_WAIT_BASE: 2_000,
  PROBE_WAIT_RAND: 1_000,
  MAX_RENO_ROUNDS: 63,
} as const;

export class Bbr implements CongestionControl {
  readonly name: CcName = 'bbr';
  readonly paces = true;

  state: BbrState = 'Startup';
  pacingGain: number = BBR.STARTUP_PACING_GAIN;
  cwndGain: number = BBR.STARTUP_CWND_GAIN;

  private mss: number;
  private cwndBytes: number;
  private priorCwnd = 0;
  private pacing: number;
  private readonly initialCwnd: number;
  private pristine = true;
  private readonly iwSegments: number;

  // Model.
  private readonly maxBwFilter = new SlottedMaxFilter(BBR.MAX_BW_FILTER_CYCLES);
  private cycleCount = 0;
  maxBw = 0;
  bwLo = Infinity;
  inflightHi = Infinity;
  inflightLo = Infinity;
  private bwLatest = 0;
  private inflightLatest = 0;
  minRtt = Infinity;
  private minRttStamp = 0;
  private probeRttMinDelay = Infinity;
  private probeRttMinStamp: number;

  // Rounds.
  roundCount = 0;
  private roundStart = false;
  private nextRoundDelivered = 0;
  private roundStartInFlight = 0;
  /** Bytes delivered, summed from AckEvent.bytesAcked (newly acked or SACKed). */
  private totalDelivered = 0;

  // Startup exit.
  filledPipe = false;
  private fullBw = 0;
  private fullBwCount = 0;

  // Congestion signals of the current round.
  private lossInRound = false;
  private lostInRound = 0;
  private lossRoundTooHigh = false;

  // ProbeBW.
  private cycleStamp = 0;
  private bwProbeWait = 0;
  private roundsSinceBwProbe = 0;
  private roundsInPhase = 0;
  private probeUpRounds = 0;
  private rng = 0x2545f491;

  // ProbeRTT.
  private probeRttDoneStamp = 0;
  private probeRttRoundDone = false;

  // Recovery.
  private inRecovery = false;
  private packetConservation = false;
  private conservationEndDelivered = 0;

  // Inputs.
  private pendingSample: RateSample | undefined;
  private stashedAck: AckEvent | undefined;
  /** (time, totalDelivered) after each ACK, oldest first from logHead. */
  private readonly deliveredLog: Array<{ t: number; d: number }> = [];
  private logHead = 0;
  private gotRateSamples = false;
  private pacingInitialized = false;

  constructor(opts: CcOptions) {
    widen(this, ['nextRoundDelivered', 'totalDelivered', 'conservationEndDelivered']); // byte counts past 2^31 (src/util/wide.ts)
    this.mss = opts.mss;
    this.iwSegments = Math.max(1, Math.floor(opts.initialWindowSegments));
    this.initialCwnd = this.iwSegments * this.mss;
    this.cwndBytes = this.initialCwnd;
    this.probeRttMinStamp = opts.now;
    this.minRttStamp = opts.now;
    // BBRInitPacingRate: nominal bandwidth = InitialCwnd / 1 ms (no RTT known yet).
    this.pacing = BBR.STARTUP_PACING_GAIN * this.initialCwnd / 0.001;
  }

  get cwnd(): number {
    return Math.floor(this.cwndBytes);
  }

  get ssthresh(): number {
    // BBR has no ssthresh; report Infinity in Startup and the model's BDP after it, which is
    // what Linux shows in ss(8).
    return this.filledPipe ? Math.max(this.bdp(1), this.minPipeCwnd) : Infinity;
  }

  /** Estimated bandwidth used by the model: min(max_bw, bw_lo). */
  get bw(): number {
    return Math.min(this.maxBw, this.bwLo);
  }

  pacingRate(): number {
    return this.pacing;
  }

  private get minPipeCwnd(): number {
    return BBR.MIN_PIPE_CWND_SEGMENTS * this.mss;
  }

  /** BBRBDPMultiple / BBRInflight: gain * bw * min_rtt (InitialCwnd before any sample). */
  private bdp(gain: number): number {
    if (!Number.isFinite(this.minRtt) || this.bw === 0) return this.initialCwnd;
    return gain * this.bw * (this.minRtt / 1000);
  }

  private random(): number {
    // xorshift32, fixed seed: deterministic runs.
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x / 0x100000000;
  }

  onAck(ev: AckEvent): void {
    if (ev.bytesAcked <= 0) return;
    this.pristine = false;
    if (!this.pacingInitialized && ev.srtt > 0) {
      // BBRInitPacingRate once the handshake RTT is known: InitialCwnd / SRTT.
      this.pacingInitialized = true;
      if (this.maxBw === 0) this.pacing = BBR.STARTUP_PACING_GAIN * this.initialCwnd / (ev.srtt / 1000);
    }
    this.flushStashedAck();
    this.totalDelivered += ev.bytesAcked;
    this.logDelivered(ev.now);
    const rs = this.pendingSample;
    if (rs) {
      // The connection delivered the rate sample first.
      this.pendingSample = undefined;
      this.update(ev, rs);
    } else {
      // Wait for this ACK's rate sample (onRateSample normally follows at once).
      this.stashedAck = { ...ev }; // a copy: the connection refills its AckEvent on the next ACK
    }
  }

  onRateSample(s: RateSample): void {
    this.gotRateSamples = true;
    const ev = this.stashedAck;
    if (ev) {
      this.stashedAck = undefined;
      this.update(ev, s);
    } else {
      this.pendingSample = s;
    }
  }

  /** An ACK that got no rate sample: cwnd bookkeeping only (or the fallback estimate). */
  private flushStashedAck(): void {
    const ev = this.stashedAck;
    if (!ev) return;
    this.stashedAck = undefined;
    this.update(ev, this.gotRateSamples ? undefined : this.fallbackSample(ev));
  }

  /** BBRUpdateOnACK: the model and state from a rate sample, then the control parameters. */
  private update(ev: AckEvent, sample: RateSample | undefined): void {
    const rs = sample && this.sanitize(ev, sample);
    if (rs) {
      // BBRUpdateModelAndState
      this.updateRound(ev);
      this.updateMaxBw(rs);
      this.updateLatestDeliverySignals(rs);
      this.updateCongestionSignals(rs);
      this.checkStartupDone(rs);
      this.checkDrainDone(ev);
      this.updateProbeBwCyclePhase(ev, rs);
      this.updateMinRtt(ev);
      this.checkProbeRtt(ev);
      this.advanceLatestDeliverySignals(rs);
    }
    // BBRUpdateControlParameters
    this.setPacingRate();
    this.setCwnd(ev, rs?.lost ?? 0);
  }

  /** Remember (time, bytes delivered so far) for the windows below; ~20 s of history. */
  private logDelivered(now: number): void {
    const log = this.deliveredLog;
    const last = log[log.length - 1];
    if (last && last.t === now) last.d = this.totalDelivered;
    else log.push(widenLogEntry({ t: now, d: this.totalDelivered }));
    while (this.logHead < log.length - 1 && log[this.logHead]!.t < now - 20_000) this.logHead++;
    if (this.logHead > 4096) {
      log.splice(0, this.logHead);
      this.logHead = 0;
    }
  }

  /** Bytes delivered (per the ACKs) up to and including time t. */
  private deliveredAt(t: number): number {
    const log = this.deliveredLog;
    let lo = this.logHead;
    let hi = log.length - 1;
    if (hi < lo || log[lo]!.t > t) return this.logHead === 0 ? 0 : log[lo]!.d;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (log[mid]!.t <= t) lo = mid;
      else hi = mid - 1;
    }
    return log[lo]!.d;
  }

  /**
   * A sample cannot have delivered more in its interval than the ACKs reported over the same
   * interval (the interval is at least the ACK-side elapsed time of the draft). Holding it to
   * that is a no-op for a correct estimator and keeps one over-counting sample from inflating
   * max_bw for two whole ProbeBW cycles.
   */
  private sanitize(ev: AckEvent, rs: RateSample): RateSample {
    const cap = this.totalDelivered - this.deliveredAt(ev.now - rs.interval);
    if (rs.delivered <= cap || !(rs.interval > 0)) return rs;
    return { ...rs, delivered: cap, deliveryRate: (cap * 1000) / rs.interval };
  }

  /** Used only if the connection provides no RateSamples: ACK rate over ~one min_rtt. */
  private fallbackSample(ev: AckEvent): RateSample | undefined {
    const span = ev.minRtt > 0 ? ev.minRtt : ev.srtt > 0 ? ev.srtt : 1;
    const first = this.deliveredLog[this.logHead];
    const interval = Math.min(span, ev.now - (first?.t ?? ev.now));
    if (!(interval > 0)) return undefined;
    const delivered = this.totalDelivered - this.deliveredAt(ev.now - interval);
    return {
      now: ev.now, deliveryRate: (delivered * 1000) / interval, delivered, interval,
      rtt: ev.rttSample ?? -1, lost: 0, priorInFlight: ev.priorInFlight, inFlight: ev.inFlight,
      isAppLimited: ev.appLimited, totalDelivered: this.totalDelivered,
    };
  }

  /** Rounds are counted with our own delivered count (see the file comment). */
  private updateRound(ev: AckEvent): void {
    this.roundStart = false;
    if (this.totalDelivered >= this.nextRoundDelivered) {
      this.roundStart = true;
      this.roundCount++;
      this.roundsSinceBwProbe++;
      this.roundsInPhase++;
      this.nextRoundDelivered = this.totalDelivered + ev.inFlight;
      this.roundStartInFlight = ev.inFlight;
    }
  }

  private updateMaxBw(rs: RateSample): void {
    // Application-limited samples only count if they raise the estimate.
    if (rs.deliveryRate > 0 && (rs.deliveryRate >= this.maxBw || !rs.isAppLimited)) {
      this.maxBw = this.maxBwFilter.update(rs.deliveryRate);
    }
  }

  private updateLatestDeliverySignals(rs: RateSample): void {
    this.bwLatest = Math.max(this.bwLatest, rs.deliveryRate);
    this.inflightLatest = Math.max(this.inflightLatest, rs.delivered);
  }

  private advanceLatestDeliverySignals(rs: RateSample): void {
    if (!this.roundStart) return;
    this.bwLatest = rs.deliveryRate;
    this.inflightLatest = rs.delivered;
  }

  private isProbingBw(): boolean {
    return this.state === 'Startup' || this.state === 'ProbeBW_REFILL' || this.state === 'ProbeBW_UP';
  }

  /** BBRUpdateCongestionSignals + BBRCheckInflightTooHigh. */
  private updateCongestionSignals(rs: RateSample): void {
    if (rs.lost > 0) {
      this.lossInRound = true;
      this.lostInRound += rs.lost;
    }
    const roundFlight = Math.max(this.roundStartInFlight, this.mss);
    const tooHigh = this.lostInRound > BBR.LOSS_THRESH * roundFlight && this.lostInRound > 0;
    this.lossRoundTooHigh = tooHigh;
    if (tooHigh && (this.state === 'ProbeBW_REFILL' || this.state === 'ProbeBW_UP')) {
      // Probing found the loss threshold: remember the safe inflight and stop probing.
      if (!rs.isAppLimited) this.inflightHi = Math.max(this.roundStartInFlight, BBR.BETA * this.bdp(1));
      if (this.state === 'ProbeBW_UP') this.startProbeBwDown(rs.now);
    }
    if (this.state === 'Startup' && tooHigh && this.lostInRound >= BBR.STARTUP_FULL_LOSS_COUNT * this.mss) {
      // BBRv3 Startup exit on excessive loss.
      this.filledPipe = true;
      this.inflightHi = Math.max(this.bdp(1), this.inflightLatest);
    }
    if (!this.roundStart) return;
    // Once per round: adapt the lower bounds to a round whose loss exceeded the threshold
    // (not while probing). Linux BBRv3 reacts to any loss here; gating on LOSS_THRESH keeps
    // random loss below 2% from ratcheting the lower bounds down between probes.
    if (this.lossInRound && this.lossRoundTooHigh && !this.isProbingBw()) {
      if (!Number.isFinite(this.bwLo)) this.bwLo = this.maxBw;
      if (!Number.isFinite(this.inflightLo)) this.inflightLo = this.cwndBytes;
      this.bwLo = Math.max(this.bwLatest, BBR.BETA * this.bwLo);
      this.inflightLo = Math.max(this.inflightLatest, BBR.BETA * this.inflightLo);
    }
    this.lossInRound = false;
    this.lostInRound = 0;
  }

  private resetLowerBounds(): void {
    this.bwLo = Infinity;
    this.inflightLo = Infinity;
  }

  /** BBRCheckStartupFullBandwidth: 3 rounds without 25% growth. */
  private checkStartupDone(rs: RateSample): void {
    if (this.state !== 'Startup') return;
    if (!this.filledPipe && this.roundStart && !rs.isAppLimited) {
      if (this.maxBw >= this.fullBw * BBR.FULL_BW_THRESH) {
        this.fullBw = this.maxBw;
        this.fullBwCount = 0;
      } else if (++this.fullBwCount >= BBR.FULL_BW_COUNT) {
        this.filledPipe = true;
      }
    }
    if (this.filledPipe) this.enter('Drain', BBR.DRAIN_PACING_GAIN, BBR.STARTUP_CWND_GAIN);
  }

  private checkDrainDone(ev: AckEvent): void {
    if (this.state === 'Drain' && ev.inFlight <= this.bdp(1)) this.startProbeBwDown(ev.now);
  }

  private enter(state: BbrState, pacingGain: number, cwndGain: number): void {
    this.state = state;
    this.pacingGain = pacingGain;
    this.cwndGain = cwndGain;
    this.roundsInPhase = 0;
  }

  private startProbeBwDown(now: number): void {
    // A new ProbeBW cycle: advance the max-bandwidth filter's clock (2-cycle window).
    this.cycleCount++;
    this.maxBwFilter.advance();
    this.roundsSinceBwProbe = 0;
    this.bwProbeWait = BBR.PROBE_WAIT_BASE + this.random() * BBR.PROBE_WAIT_RAND;
    this.cycleStamp = now;
    this.enter('ProbeBW_DOWN', BBR.PROBE_DOWN_PACING_GAIN, BBR.DEFAULT_CWND_GAIN);
  }

  /** The number of rounds a Reno flow would need to grow by one BDP (capped at 63). */
  private isRenoCoexistenceProbeTime(): boolean {
    const renoRounds = Math.min(this.bdp(1) / this.mss, BBR.MAX_RENO_ROUNDS);
    return this.roundsSinceBwProbe >= renoRounds;
  }

  private isTimeToProbeBw(now: number): boolean {
    return now - this.cycleStamp > this.bwProbeWait || this.isRenoCoexistenceProbeTime();
  }

  private inflightWithHeadroom(): number {
    if (!Number.isFinite(this.inflightHi)) return Infinity;
    return Math.max((1 - BBR.HEADROOM) * this.inflightHi, this.minPipeCwnd);
  }

  private updateProbeBwCyclePhase(ev: AckEvent, rs: RateSample): void {
    if (!this.filledPipe) return;
    switch (this.state) {
      case 'ProbeBW_DOWN':
        if (this.isTimeToProbeBw(ev.now)) this.startProbeBwRefill();
        else if (ev.inFlight <= this.inflightWithHeadroom() && ev.inFlight <= this.bdp(1)) {
          this.enter('ProbeBW_CRUISE', 1, BBR.DEFAULT_CWND_GAIN);
        }
        break;
      case 'ProbeBW_CRUISE':
        if (this.isTimeToProbeBw(ev.now)) this.startProbeBwRefill();
        break;
      case 'ProbeBW_REFILL':
        // One round at the estimated bandwidth refills the pipe before probing above it.
        if (this.roundStart) {
          this.enter('ProbeBW_UP', BBR.PROBE_UP_PACING_GAIN, BBR.PROBE_UP_CWND_GAIN);
          this.probeUpRounds = 0;
          this.fullBw = this.maxBw;
          this.fullBwCount = 0;
        }
        break;
      case 'ProbeBW_UP':
        if (this.roundStart) {
          this.probeUpRounds++;
          const limitedByHi = Number.isFinite(this.inflightHi) && ev.priorInFlight >= this.inflightHi - this.mss;
          if (limitedByHi) {
            // BBRProbeInflightHiUpward: inflight_hi is what limits the probe, so raise it
            // with a slope that doubles each round (1, 2, 4 ... packets), and do not take
            // the bandwidth plateau as "pipe full" yet.
            this.inflightHi += this.mss * 2 ** Math.min(this.probeUpRounds - 1, 10);
            this.fullBw = this.maxBw;
            this.fullBwCount = 0;
          } else if (this.maxBw >= this.fullBw * BBR.FULL_BW_THRESH) {
            this.fullBw = this.maxBw;
            this.fullBwCount = 0;
          } else {
            this.fullBwCount++;
          }
        }
        // BBRIsTimeToGoDown: the estimated bandwidth has plateaued for FULL_BW_COUNT rounds
        // (the pipe is full); loss above the threshold ends the probe earlier (see
        // updateCongestionSignals).
        if (this.fullBwCount >= BBR.FULL_BW_COUNT) this.startProbeBwDown(ev.now);
        break;
      default:
        break;
    }
  }

  private startProbeBwRefill(): void {
    this.resetLowerBounds();
    this.roundsSinceBwProbe = 0;
    this.enter('ProbeBW_REFILL', 1, BBR.DEFAULT_CWND_GAIN);
  }

  private updateMinRtt(ev: AckEvent): void {
    // The ACK's RTT sample obeys Karn's rule (or comes from timestamps); rs.rtt may be
    // measured from a retransmission and read far too low, which would poison min_rtt.
    const rtt = ev.rttSample;
    const probeRttExpired = ev.now > this.probeRttMinStamp + BBR.PROBE_RTT_INTERVAL;
    if (rtt !== undefined && rtt > 0 && (rtt < this.probeRttMinDelay || probeRttExpired)) {
      this.probeRttMinDelay = rtt;
      this.probeRttMinStamp = ev.now;
    }
    const minRttExpired = ev.now > this.minRttStamp + BBR.MIN_RTT_FILTER_LEN;
    if (this.probeRttMinDelay < this.minRtt || minRttExpired) {
      this.minRtt = this.probeRttMinDelay;
      this.minRttStamp = this.probeRttMinStamp;
    }
    this.probeRttExpiredNow = probeRttExpired;
  }

  private probeRttExpiredNow = false;

  private checkProbeRtt(ev: AckEvent): void {
    if (this.state !== 'ProbeRTT' && this.probeRttExpiredNow) {
      this.priorCwnd = this.saveCwnd();
      this.enter('ProbeRTT', 1, 1);
      this.probeRttDoneStamp = 0;
    }
    if (this.state !== 'ProbeRTT') return;
    if (this.probeRttDoneStamp === 0 && ev.inFlight <= this.minPipeCwnd) {
      // Inflight is down to the ProbeRTT cwnd: hold it for 200 ms and one round.
      this.probeRttDoneStamp = ev.now + BBR.PROBE_RTT_DURATION;
      this.probeRttRoundDone = false;
      this.nextRoundDelivered = this.totalDelivered + ev.inFlight;
    } else if (this.probeRttDoneStamp !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone && ev.now > this.probeRttDoneStamp) {
        this.probeRttMinStamp = ev.now;
        this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
        this.resetLowerBounds();
        if (this.filledPipe) {
          this.startProbeBwDown(ev.now);
          this.enter('ProbeBW_CRUISE', 1, BBR.DEFAULT_CWND_GAIN);
        } else {
          this.enter('Startup', BBR.STARTUP_PACING_GAIN, BBR.STARTUP_CWND_GAIN);
        }
      }
    }
  }

  private saveCwnd(): number {
    return this.inRecovery || this.state === 'ProbeRTT' ? Math.max(this.priorCwnd, this.cwndBytes) : this.cwndBytes;
  }

  /** BBRSetPacingRate: only increases in Startup (before the pipe is known to be full). */
  private setPacingRate(): void {
    const bw = this.bw;
    if (bw <= 0) return;
    const rate = this.pacingGain * bw * (1 - BBR.PACING_MARGIN);
    if (this.filledPipe || rate > this.pacing) this.pacing = rate;
  }

  /** BBRSetCwnd with BBRModulateCwndForRecovery and the ProbeRTT / model bounds. */
  private setCwnd(ev: AckEvent, lost: number): void {
    const quantum = Math.min(Math.max(this.pacing * 0.001, 2 * this.mss), 64 * 1024);
    let maxInflight = this.bdp(this.cwndGain) + 3 * quantum;
    if (this.state === 'ProbeBW_UP') maxInflight += 2 * this.mss;

    if (lost > 0 && this.inRecovery) this.cwndBytes = Math.max(this.cwndBytes - lost, this.mss);
    if (this.packetConservation) {
      if (this.totalDelivered >= this.conservationEndDelivered) this.packetConservation = false;
      else this.cwndBytes = Math.max(this.cwndBytes, ev.inFlight + ev.bytesAcked);
    }
    if (!this.packetConservation) {
      if (this.filledPipe) this.cwndBytes = Math.min(this.cwndBytes + ev.bytesAcked, maxInflight);
      else if (this.cwndBytes < maxInflight || this.totalDelivered < this.initialCwnd) this.cwndBytes += ev.bytesAcked;
      this.cwndBytes = Math.max(this.cwndBytes, this.minPipeCwnd);
    }
    // BBRBoundCwndForProbeRTT
    if (this.state === 'ProbeRTT') this.cwndBytes = Math.min(this.cwndBytes, this.minPipeCwnd);
    // BBRBoundCwndForModel
    let cap = Infinity;
    if (this.state.startsWith('ProbeBW') && this.state !== 'ProbeBW_CRUISE') cap = this.inflightHi;
    else if (this.state === 'ProbeRTT' || this.state === 'ProbeBW_CRUISE') cap = this.inflightWithHeadroom();
    cap = Math.max(Math.min(cap, this.inflightLo), this.minPipeCwnd);
    this.cwndBytes = Math.max(Math.min(this.cwndBytes, cap), this.mss);
  }

  onCongestion(ev: CongestionEvent): void {
    this.pristine = false;
    if (ev.kind === 'rto') {
      // BBROnEnterRTO: remember the window, restart from one packet.
      this.priorCwnd = this.saveCwnd();
      this.cwndBytes = this.mss;
      this.inRecovery = false;
      this.packetConservation = false;
      return;
    }
    if (this.inRecovery) return;
    // BBROnEnterFastRecovery: packet conservation for one round.
    this.priorCwnd = this.saveCwnd();
    this.inRecovery = true;
    this.packetConservation = true;
    this.conservationEndDelivered = this.totalDelivered + ev.inFlight;
    this.cwndBytes = Math.max(Math.min(this.cwndBytes, ev.inFlight + this.mss), this.minPipeCwnd);
  }

  onRecoveryExit(_now: number): void {
    // BBRRestoreCwnd
    this.inRecovery = false;
    this.packetConservation = false;
    this.cwndBytes = Math.max(this.cwndBytes, this.priorCwnd);
  }

  onSpuriousCongestion(_now: number): void {
    this.onRecoveryExit(_now);
  }

  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    if (this.pristine) this.cwndBytes = this.iwSegments * mss;
    else this.cwndBytes = Math.max(mss, (this.cwndBytes / this.mss) * mss);
    this.mss = mss;
  }
}
