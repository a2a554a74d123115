/**
 * Path MTU for one TCP connection, sans-IO (every call takes `now`; no timers inside):
 *
 *  - ICMP "fragmentation needed" (RFC 1191), accepted only when the quoted segment is one in
 *    flight (RFC 5927 5.1: SND.UNA <= quoted SEG.SEQ < SND.NXT), so a blind attacker, who
 *    does not know the sequence space, cannot shrink the connection's segments;
 *  - packetization-layer PMTUD (RFC 4821; the search follows RFC 8899's model): black-hole
 *    detection after repeated retransmission timeouts of full-size segments, falling back to
 *    the base size; then probes, one segment larger than the current size at a time, and a
 *    binary search between the largest size that got through and the smallest that did not;
 *    after the search completes, a raise timer starts a new search (the path may have grown).
 *
 * Sizes here are IPv4 packet sizes (the overlay's MTU unit); MSS = size - 40 (IPv4 + TCP
 * headers, without options).
 */
import { seqGe, seqLt } from './seq.js';
import type { TxSegment } from './send.js';

/** IPv4 + TCP headers without options. */
export const IP_TCP_HEADERS = 40;
/** The smallest path MTU used (RFC 791: every IPv4 host accepts 576-byte datagrams); also the black-hole fallback. */
export const MIN_PATH_MTU = 576;
/** The search ends when the largest passing and the smallest failing size are this close. */
export const SEARCH_RESOLUTION = 8;
/** After a completed search below the host MTU, search again after this long (RFC 8899 PMTU_RAISE_TIMER, shortened). */
export const DEFAULT_RAISE_INTERVAL_MS = 30_000;
/** Consecutive retransmission timeouts of a segment larger than MIN_PATH_MTU that declare a black hole. */
export const BLACK_HOLE_RTOS = 2;

/** Why an ICMP "fragmentation needed" was not applied (typed drop reasons). */
export type IcmpPmtuIgnored =
  | 'icmp_pmtu_no_connection'
  | 'icmp_pmtu_seq_not_in_flight'
  | 'icmp_pmtu_not_smaller'
  | 'icmp_pmtu_truncated_quote';

/**
 * RFC 5927 5.1: the quoted segment's sequence number must be within the data in flight.
 * Returns undefined when the quote is acceptable, else the reason to ignore it.
 */
export function validateQuotedSeq(quotedSeq: number, sndUna: number, sndNxt: number): IcmpPmtuIgnored | undefined {
  if (sndUna === sndNxt) return 'icmp_pmtu_seq_not_in_flight';
  return seqGe(quotedSeq, sndUna) && seqLt(quotedSeq, sndNxt) ? undefined : 'icmp_pmtu_seq_not_in_flight';
}

/** RFC 1191 7.1 plateau table (IPv4), for an ICMP from an old router that reports MTU 0. */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The next-hop MTU an ICMP reports, or (0: a pre-RFC 1191 router) the plateau below the packet that failed. */
export function reportedMtu(nextHop: number, quotedTotalLength: number): number {
  if (nextHop >= 68) return nextHop;
  for (const p of PLATEAUS) if (p < quotedTotalLength) return p;
  return 68;
}

export type PmtuSearchState = 'searching' | 'complete';

export interface PathMtuStats {
  icmpApplied: number;
  probesSent: number;
  probesAcked: number;
  probesLost: number;
  blackHoles: number;
}

export interface PathMtuOptions {
  /** The largest packet the host sends (its MTU, or a smaller MSS + 40). */
  maxMtu: number;
  /** Starting size (e.g. from the host's per-destination cache); default maxMtu. */
  initialMtu?: number;
  raiseIntervalMs?: number;
}

/**
 * A probe in flight: its packet size and the sequence number just past it (its identity: a
 * partial ACK moves a segment's start, never its end, and no other segment ends there).
 */
interface Probe {
  size: number;
  end: number;
}

/** The connection's path-MTU state machine. */
export class PathMtu {
  /** The packet size in use (PLPMTU). */
  mtu: number;
  readonly maxMtu: number;
  state: PmtuSearchState;
  /** Largest size known to get through; smallest candidate not known to fail. */
  private low: number;
  private high: number;
  private probe: Probe | undefined;
  private nextProbeAt = 0;
  private firstProbe = true;
  private readonly raiseIntervalMs: number;
  readonly stats: PathMtuStats = { icmpApplied: 0, probesSent: 0, probesAcked: 0, probesLost: 0, blackHoles: 0 };

  constructor(o: PathMtuOptions, now: number) {
    this.maxMtu = Math.max(MIN_PATH_MTU, o.maxMtu);
    this.mtu = clamp(o.initialMtu ?? this.maxMtu, MIN_PATH_MTU, this.maxMtu);
    this.raiseIntervalMs = o.raiseIntervalMs ?? DEFAULT_RAISE_INTERVAL_MS;
    this.low = this.mtu;
    this.high = this.maxMtu;
    this.state = this.mtu < this.maxMtu ? 'searching' : 'complete';
    this.nextProbeAt = now;
  }

  /** A validated ICMP "fragmentation needed" reporting `mtu`. Returns the new size, or undefined when it is not smaller. */
  onIcmp(mtu: number, now: number): number | undefined {
    const m = clamp(mtu, MIN_PATH_MTU, this.maxMtu);
    if (m >= this.mtu) return undefined;
    this.stats.icmpApplied++;
    this.mtu = m;
    this.low = m;
    this.high = m;
    this.probe = undefined;
    this.complete(now);
    return m;
  }

  /**
   * The packet size of a probe to send now with new data, or undefined. The caller sends one
   * segment of that size (if it has the data and the window) and reports it with onProbeSent.
   */
  probeSize(now: number): number | undefined {
    if (this.state === 'complete') {
      if (this.mtu >= this.maxMtu || now < this.nextProbeAt) return undefined;
      // The raise timer: the path may have grown since the last search.
      this.state = 'searching';
      this.high = this.maxMtu;
      this.firstProbe = true;
    }
    if (this.probe || now < this.nextProbeAt) return undefined;
    // The first probe of a search tries the top (a path that recovered is found at once);
    // then binary search, down to SEARCH_RESOLUTION.
    if (this.firstProbe && this.high > this.low) return this.high;
    if (this.high - this.low < SEARCH_RESOLUTION) {
      this.complete(now);
      return undefined;
    }
    return Math.ceil((this.low + this.high) / 2);
  }

  /** A probe of `size` bytes left; `end` is the sequence number just past its data. */
  onProbeSent(size: number, end: number): void {
    this.probe = { size, end };
    this.firstProbe = false;
    this.stats.probesSent++;
  }

  /**
   * A segment sent as a probe, ending at `end`, was acknowledged. When it is the probe in
   * flight, the path carries its size: returns the new size. Otherwise it returns undefined
   * and changes nothing: the search already gave that probe up (a retransmission timeout
   * counts the probe in flight as lost, and its segment may still arrive afterwards).
   */
  onProbeAcked(end: number, now: number): number | undefined {
    const p = this.probe;
    if (p === undefined || p.end !== end) return undefined;
    this.probe = undefined;
    this.stats.probesAcked++;
    this.low = Math.max(this.low, p.size);
    this.mtu = Math.max(this.mtu, p.size);
    if (this.high < this.low) this.high = this.low;
    this.nextProbeAt = now;
    if (this.high - this.low < SEARCH_RESOLUTION) this.complete(now);
    return this.mtu;
  }

  /** The probe was lost (retransmitted): the path does not carry its size (not a congestion signal for the search). */
  onProbeLost(now: number): void {
    const p = this.probe;
    if (!p) return;
    this.probe = undefined;
    this.stats.probesLost++;
    this.high = Math.max(this.low, p.size - 1);
    this.nextProbeAt = now;
    if (this.high - this.low < SEARCH_RESOLUTION) this.complete(now);
  }

  /**
   * A retransmission timeout; `consecutive` counts them without an ACK in between and
   * `headSize` is the packet size of the segment that timed out. After BLACK_HOLE_RTOS of
   * them on a segment larger than the base size, the path is taken for a black hole for
   * that size: fall back to the base size and search upward (the full size first, in case
   * it was an outage). Returns the new size if lowered.
   */
  onRto(consecutive: number, headSize: number, now: number): number | undefined {
    if (this.probe) this.onProbeLost(now);
    if (consecutive < BLACK_HOLE_RTOS || headSize <= MIN_PATH_MTU || this.mtu <= MIN_PATH_MTU) return undefined;
    this.stats.blackHoles++;
    // Fall back to the base size, and let the first probe try the full size again: when the
    // timeouts were an outage rather than a black hole, one probe restores it.
    this.high = this.maxMtu;
    this.mtu = MIN_PATH_MTU;
    this.low = MIN_PATH_MTU;
    this.state = 'searching';
    this.firstProbe = true;
    this.nextProbeAt = now;
    return this.mtu;
  }

  private complete(now: number): void {
    this.state = 'complete';
    this.mtu = Math.max(this.mtu, this.low);
    this.nextProbeAt = now + this.raiseIntervalMs;
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

/**
 * Resegments a retransmission queue for a smaller MSS: every segment with more than `mss`
 * data bytes is split into pieces of at most `mss` (the send buffer holds the bytes, so a
 * piece is only a sequence range). A piece keeps its segment's state (SACKed, lost,
 * transmission times, delivery-rate fields); SYN stays on the first piece, FIN on the last;
 * the first piece is the original object, shortened.
 * `mark(piece)` is called on each piece that came from an oversized segment. Returns the new
 * queue and how many pieces were added in all and among lost segments.
 */
export function resegment(
  q: readonly TxSegment[],
  mss: number,
  mark?: (piece: TxSegment) => void,
): { queue: TxSegment[]; added: number; addedLost: number } {
  const out: TxSegment[] = [];
  let added = 0;
  let addedLost = 0;
  for (const s of q) {
    if (s.len <= mss || mss <= 0) {
      out.push(s);
      continue;
    }
    const pieces = Math.ceil(s.len / mss);
    const wasLost = s.lost && !s.sacked;
    const orig: TxSegment = { ...s }; // pieces copy the state from before `mark` touches any of them
    const { syn, fin } = orig;
    let seq = s.seq;
    let left = s.len;
    for (let i = 0; i < pieces; i++) {
      const len = Math.min(mss, left);
      // The first piece is the segment itself (callers may hold it), shortened.
      const p: TxSegment = i === 0 ? s : { ...orig };
      p.seq = seq;
      p.len = len;
      p.syn = syn && i === 0;
      p.fin = fin && i === pieces - 1;
      delete p.pmtuProbe;
      // The SYN takes one sequence number before the first data byte.
      seq = (seq + len + (p.syn ? 1 : 0)) >>> 0;
      left -= len;
      out.push(p);
      mark?.(p);
    }
    added += pieces - 1;
    if (wasLost) addedLost += pieces - 1;
  }
  return { queue: out, added, addedLost };
}
