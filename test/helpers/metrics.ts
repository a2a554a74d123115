/** Test data for the metrics tests. */
import type { TcpInfo } from '../../src/tcp/types.js';

/** A plausible TcpInfo of an established bulk sender, with overrides. */
export function fakeInfo(over: Partial<TcpInfo> = {}): TcpInfo {
  return {
    state: 'ESTABLISHED',
    localAddress: '10.77.0.2',
    localPort: 40000,
    remoteAddress: '10.77.0.3',
    remotePort: 5001,
    cc: 'newreno',
    mss: 1432,
    cwnd: 14320,
    ssthresh: 0xffffffff,
    srtt: 50.5,
    rttvar: 3.25,
    rto: 250,
    minRtt: 49.8,
    sndUna: 1,
    sndNxt: 1000,
    rcvNxt: 7,
    sndWnd: 65535,
    rcvWnd: 131072,
    bytesInFlight: 999,
    sendQueue: 5000,
    recvQueue: 0,
    outOfOrderBytes: 0,
    retransmits: { rto: 1, fast: 2, tlp: 0, rack: 0, probe: 0, pmtu: 0 },
    segmentsIn: 10,
    segmentsOut: 20,
    bytesSent: 28000,
    bytesReceived: 0,
    bytesAcked: 27000,
    inRecovery: false,
    ...over,
  };
}
