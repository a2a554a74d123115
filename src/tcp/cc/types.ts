/**
 * The congestion-control interface. Congestion control decides *how much* may be in
 * flight (cwnd, pacing rate); loss recovery (src/tcp/recovery) decides *what* to send and
 * tells the algorithm about congestion through these events. One file per algorithm.
 *
 * The connection compares cwnd/ssthresh before and after each call and emits a
 * `cwnd` trace event with the reason, so algorithms do not emit events themselves.
 */
import type { CcName } from '../types.js';

/**
 * One ACK's event. The connection refills one object per ACK: it is valid only during
 * `onAck`, and an algorithm that keeps it for later (BBR waiting for the rate sample) keeps
 * a copy.
 */
export interface AckEvent {
  now: number;
  /** Bytes newly cumulatively acknowledged or SACKed by this ACK. */
  bytesAcked: number;
  /** RTT sample from this ACK, ms (absent under Karn's rule). */
  rttSample?: number;
  /** Smoothed RTT / minimum RTT known to the connection, ms (0 before any sample). */
  srtt: number;
  minRtt: number;
  /** Bytes in flight before and after this ACK. */
  priorInFlight: number;
  inFlight: number;
  /** The connection is in fast recovery (RFC 5681/6675) right now. */
  inRecovery: boolean;
  /**
   * cwnd did not limit the flight, so it must not grow on this ACK (RFC 7661): the application
   * had nothing more to send, or cwnd is already twice the peer's largest window (Sender).
   */
  appLimited: boolean;
}

/** A delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation). */
export interface RateSample {
  now: number;
  /** Bytes per second delivered over the sample interval. */
  deliveryRate: number;
  /** Bytes delivered in the interval, and the interval, ms. */
  delivered: number;
  interval: number;
  /** RTT of the most recently delivered packet, ms. */
  rtt: number;
  /** Bytes marked lost since the previous sample. */
  lost: number;
  priorInFlight: number;
  inFlight: number;
  isAppLimited: boolean;
  /** Total bytes delivered on the connection so far (C.delivered). */
  totalDelivered: number;
}

export type CongestionKind = 'fast' | 'rto';

export interface CongestionEvent {
  kind: CongestionKind;
  now: number;
  /** FlightSize when loss was detected (RFC 5681 eq. 4). */
  inFlight: number;
}

export interface CongestionControl {
  readonly name: CcName;
  /** Congestion window, bytes. */
  readonly cwnd: number;
  /** Slow-start threshold, bytes (Infinity until the first loss). */
  readonly ssthresh: number;
  /**
   * Whether the algorithm wants its transmissions paced (CUBIC and BBR do, like Linux with
   * the fq qdisc); `TcpConfig.pacing` overrides it either way. Loss recovery (what to
   * retransmit) is not the algorithm's business: see src/tcp/recovery/.
   */
  readonly paces: boolean;
  /** Pacing rate in bytes/s, or undefined to let the connection derive it from cwnd/srtt. */
  pacingRate?(): number | undefined;
  onAck(ev: AckEvent): void;
  /** Loss detected (fast: 3 dupacks / SACK / RACK; rto: retransmission timeout). */
  onCongestion(ev: CongestionEvent): void;
  onRecoveryExit(now: number): void;
  /** DSACK or timestamps showed the last reduction was spurious: undo it. */
  onSpuriousCongestion?(now: number): void;
  onRateSample?(s: RateSample): void;
  /** A packet was sent (bytes, inFlight after sending); BBR and HyStart use it. */
  onSend?(now: number, bytes: number, inFlight: number): void;
  /** The MSS changed (after the handshake). */
  setMss(mss: number): void;
}

export interface CcOptions {
  mss: number;
  /** Initial window in segments. */
  initialWindowSegments: number;
  now: number;
}
