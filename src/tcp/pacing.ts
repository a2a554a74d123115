/**
 * Pacing: spreads a window's segments over the RTT instead of sending them back to back.
 *
 * One unit throughout: the pacer works in bytes per millisecond, the unit of the
 * connection's clock. A congestion controller that sets its own rate (BBR's pacing_rate)
 * reports bytes per second, like Linux's sk_pacing_rate and TcpInfo.pacingRate; that is
 * converted once, in rateBytesPerMs(). Otherwise the rate is derived from cwnd and SRTT
 * (Linux's tcp_update_pacing_rate: 200% of cwnd/SRTT in slow start, 120% after), and the
 * first PACING_INITIAL_QUANTUM_SEGMENTS data segments leave unpaced.
 *
 * Whether a connection paces: `config.pacing` true or false decides; undefined leaves it to
 * the algorithm (CongestionControl.paces).
 */
import type { CongestionControl } from './cc/types.js';
import type { RttEstimator } from './rtt.js';

/** Pacing rate as a multiple of cwnd/SRTT: in slow start, and after it (Linux sysctls). */
export const PACING_SS_RATIO = 2;
export const PACING_CA_RATIO = 1.2;
/** Segments released together (~1 ms or two segments, like Linux's TSO autosizing). */
export const PACING_QUANTUM_SEGMENTS = 2;
/** Smallest release quantum, ms. */
export const PACING_MIN_QUANTUM_MS = 1;
/**
 * Segments a connection sends unpaced before its derived rate applies: Linux's fq qdisc
 * (the only place Linux paces CUBIC) gives a new flow an initial quantum of 10 packets that
 * leave without pacing, and RFC 6928 allows the 10-segment initial window as one burst.
 * Not for a controller that sets its own rate (BBR paces from its first segment).
 */
export const PACING_INITIAL_QUANTUM_SEGMENTS = 10;
/**
 * Tolerance for "the release time has come": the timer fires at exactly releaseAt, and float
 * rounding must not make the same deadline block again (a zero-progress timer loop).
 */
const RELEASE_EPSILON_MS = 1e-6;

/** Times a data segment had to wait for its release, in this process (benchmarks: pacerWaitCount). */
let waits = 0;

/** @internal Benchmarks: how many times the pacer held a segment back (armed its timer), in this process. */
export function pacerWaitCount(): number {
  return waits;
}

export class Pacer {
  /** When the next byte may leave, ms. */
  private nextSendTime = 0;
  /** Data segments sent at a known rate, counted until they reach the initial quantum. */
  private sentSegments = 0;

  constructor(
    private readonly configured: boolean | undefined,
    private readonly cc: () => CongestionControl,
    private readonly rtt: RttEstimator,
  ) {}

  get enabled(): boolean {
    return this.configured !== false && (this.configured === true || this.cc().paces);
  }

  /** The pacing rate in bytes/ms, or undefined when not pacing (or no rate is known yet). */
  rateBytesPerMs(): number | undefined {
    if (!this.enabled) return undefined;
    const cc = this.cc();
    const r = cc.pacingRate?.();
    if (r !== undefined && r > 0) return r / 1000;
    if (!this.rtt.hasSample) return undefined;
    const factor = cc.cwnd < cc.ssthresh ? PACING_SS_RATIO : PACING_CA_RATIO;
    return (factor * cc.cwnd) / this.rtt.srtt;
  }

  /**
   * The release time when the next segment must wait (the caller arms its pacing timer at
   * it), or undefined when it may leave now.
   */
  blockedUntil(rate: number | undefined, now: number, mss: number): number | undefined {
    if (rate === undefined || this.inInitialQuantum()) return undefined;
    const quantum = Math.max(PACING_MIN_QUANTUM_MS, (PACING_QUANTUM_SEGMENTS * mss) / rate);
    const releaseAt = this.nextSendTime - quantum;
    if (releaseAt <= now + RELEASE_EPSILON_MS) return undefined;
    waits++;
    return releaseAt;
  }

  /** `bytes` left at `now`: the next release moves on by bytes / rate. */
  sent(bytes: number, rate: number | undefined, now: number): void {
    if (rate === undefined) return;
    if (this.inInitialQuantum()) {
      this.sentSegments++; // fq: a flow with credit left does not advance its release time
      return;
    }
    this.nextSendTime = Math.max(this.nextSendTime, now) + bytes / rate;
  }

  /** Whether the initial quantum (derived rates only) still lets data leave unpaced. */
  private inInitialQuantum(): boolean {
    return this.sentSegments < PACING_INITIAL_QUANTUM_SEGMENTS && this.cc().pacingRate === undefined;
  }
}
