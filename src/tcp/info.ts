/**
 * TCP_INFO for a connection (what `socket.getInfo()` and the metrics read), gathered from
 * the parts that own each figure.
 */
import { formatIpv4 } from '../wire/addr.js';
import type { Connection } from './connection.js';
import type { TcpInfo, TcpState } from './types.js';

export function connectionInfo(c: Connection, state: TcpState, segmentsIn: number, segmentsOut: number): TcpInfo {
  const { snd, rcv, rtt, cc, tuple } = c;
  const pacing = c.pacer.rateBytesPerMs();
  const info: TcpInfo = {
    state,
    localAddress: formatIpv4(tuple.localAddr),
    localPort: tuple.localPort,
    remoteAddress: formatIpv4(tuple.remoteAddr),
    remotePort: tuple.remotePort,
    cc: cc.name,
    mss: snd.sndMss,
    pathMtu: snd.pmtu.mtu,
    pmtu: { state: snd.pmtu.state, ...snd.pmtu.stats },
    cwnd: cc.cwnd,
    ssthresh: cc.ssthresh,
    srtt: rtt.srtt,
    rttvar: rtt.rttvar,
    rto: rtt.rto,
    minRtt: Number.isFinite(rtt.minRtt) ? rtt.minRtt : 0,
    sndUna: snd.sndUna,
    sndNxt: snd.sndNxt,
    rcvNxt: rcv.rcvNxt,
    sndWnd: snd.sndWnd,
    rcvWnd: rcv.offered,
    bytesInFlight: snd.flightSize(),
    sendQueue: snd.sendQ.length,
    recvQueue: rcv.rcvQ.length,
    outOfOrderBytes: rcv.reasm.size,
    retransmits: { ...snd.retransmits },
    segmentsIn,
    segmentsOut,
    bytesSent: snd.bytesSent,
    bytesReceived: rcv.bytesReceived,
    bytesAcked: snd.bytesAcked,
    inRecovery: c.recovery.inRecovery,
  };
  // Bytes per ms inside the core; TCP_INFO reports bytes per second (like Linux).
  if (pacing !== undefined) info.pacingRate = pacing * 1000;
  if (c.rate.lastRate > 0) info.deliveryRate = c.rate.lastRate;
  if (c.recovery.spuriousTlps > 0) info.spuriousTlps = c.recovery.spuriousTlps;
  return info;
}
