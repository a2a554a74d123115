/**
 * TCP_INFO for a connection (what `socket.getInfo()` and the metrics read), gathered from
 * the parts that own each figure. A compact TIME-WAIT record (time-wait.ts) keeps the
 * figures that stop changing as its own fields (it implements InfoFigures) and builds its
 * TCP_INFO with the same `assembleInfo`.
 */
import { formatIpv4 } from '../wire/addr.js';
import type { Connection } from './connection.js';
import type { PathMtuStats, PmtuSearchState } from './pmtu.js';
import type { CcName, FourTuple, RetransmitKind, TcpInfo, TcpState } from './types.js';

/** The figures of a TCP_INFO other than the state, the addresses and the sequence-space edges. */
export interface InfoFigures {
  readonly cc: CcName;
  readonly sndMss: number;
  readonly pathMtu: number;
  readonly pmtuState: PmtuSearchState;
  /** The PMTU search's counters. */
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
  /** Retransmissions by trigger (copied into each TCP_INFO). */
  readonly retransmits: Record<RetransmitKind, number>;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly bytesAcked: number;
  /** Bytes per ms, as the core keeps it (undefined: not pacing). */
  readonly pacingRate: number | undefined;
  readonly deliveryRate: number;
  readonly spuriousTlps: number;
  readonly inRecovery: boolean;
}

/** The sequence-space edges, windows and segment counts (what TIME-WAIT still moves). */
export interface InfoEdges {
  sndUna: number;
  sndNxt: number;
  rcvNxt: number;
  sndWnd: number;
  rcvWnd: number;
  segmentsIn: number;
  segmentsOut: number;
}

/** A connection's figures now. */
export function infoFigures(c: Connection): InfoFigures {
  const { snd, rcv, rtt, cc } = c;
  return {
    cc: cc.name,
    sndMss: snd.sndMss,
    pathMtu: snd.pmtu.mtu,
    pmtuState: snd.pmtu.state,
    pmtuStats: snd.pmtu.stats,
    cwnd: cc.cwnd,
    ssthresh: cc.ssthresh,
    srtt: rtt.srtt,
    rttvar: rtt.rttvar,
    rto: rtt.rto,
    minRtt: Number.isFinite(rtt.minRtt) ? rtt.minRtt : 0,
    bytesInFlight: snd.flightSize(),
    sendQueue: snd.sendQ.length,
    recvQueue: rcv.rcvQ.length,
    outOfOrderBytes: rcv.reasm.size,
    retransmits: snd.retransmits,
    bytesSent: snd.bytesSent,
    bytesReceived: rcv.bytesReceived,
    bytesAcked: snd.bytesAcked,
    pacingRate: c.pacer.rateBytesPerMs(),
    deliveryRate: c.rate.lastRate,
    spuriousTlps: c.recovery.spuriousTlps,
    inRecovery: c.recovery.inRecovery,
  };
}

/** The TCP_INFO of `f` and `e` in `state` (its fields in TCP_INFO's order). */
export function assembleInfo(state: TcpState, tuple: FourTuple, f: InfoFigures, e: InfoEdges): TcpInfo {
  const info: TcpInfo = {
    state,
    localAddress: formatIpv4(tuple.localAddr),
    localPort: tuple.localPort,
    remoteAddress: formatIpv4(tuple.remoteAddr),
    remotePort: tuple.remotePort,
    cc: f.cc,
    mss: f.sndMss,
    pathMtu: f.pathMtu,
    pmtu: { state: f.pmtuState, ...f.pmtuStats },
    cwnd: f.cwnd,
    ssthresh: f.ssthresh,
    srtt: f.srtt,
    rttvar: f.rttvar,
    rto: f.rto,
    minRtt: f.minRtt,
    sndUna: e.sndUna,
    sndNxt: e.sndNxt,
    rcvNxt: e.rcvNxt,
    sndWnd: e.sndWnd,
    rcvWnd: e.rcvWnd,
    bytesInFlight: f.bytesInFlight,
    sendQueue: f.sendQueue,
    recvQueue: f.recvQueue,
    outOfOrderBytes: f.outOfOrderBytes,
    retransmits: { ...f.retransmits },
    segmentsIn: e.segmentsIn,
    segmentsOut: e.segmentsOut,
    bytesSent: f.bytesSent,
    bytesReceived: f.bytesReceived,
    bytesAcked: f.bytesAcked,
    inRecovery: f.inRecovery,
  };
  // Bytes per ms inside the core; TCP_INFO reports bytes per second (like Linux).
  if (f.pacingRate !== undefined) info.pacingRate = f.pacingRate * 1000;
  if (f.deliveryRate > 0) info.deliveryRate = f.deliveryRate;
  if (f.spuriousTlps > 0) info.spuriousTlps = f.spuriousTlps;
  return info;
}

export function connectionInfo(c: Connection, state: TcpState, segmentsIn: number, segmentsOut: number): TcpInfo {
  const { snd, rcv } = c;
  return assembleInfo(state, c.tuple, infoFigures(c), {
    sndUna: snd.sndUna,
    sndNxt: snd.sndNxt,
    rcvNxt: rcv.rcvNxt,
    sndWnd: snd.sndWnd,
    rcvWnd: rcv.offered,
    segmentsIn,
    segmentsOut,
  });
}
