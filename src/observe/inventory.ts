/**
 * The process-wide inventory of sockets and stacks: the contract between the layers that
 * own sockets (the TCP driver, the UDP sockets, the chaos proxy) and observability
 * (metrics, /connections, `overlay ss`, traces). Producers register a source; consumers
 * read snapshots at scrape time, so nothing is pushed per packet.
 */
import type { RetransmitKind, TcpInfo, TcpTraceEvent } from '../tcp/types.js';
import { widen } from '../util/wide.js';

export type TcpConnectionEvent =
  | 'active_open'
  | 'passive_open'
  | 'reset_in'
  | 'reset_out'
  | 'timeout'
  | 'refused'
  | 'syn_cookie'
  /** An active open took the 4-tuple of a TIME-WAIT record (no ephemeral port was free). */
  | 'time_wait_reused'
  /** A provably new SYN opened a connection on the 4-tuple of a TIME-WAIT record (RFC 6191). */
  | 'time_wait_reopened';

export interface TcpListenerSnapshot {
  localAddress: string;
  localPort: number;
  backlog: number;
  synQueue: number;
  acceptQueue: number;
}

export interface UdpSocketSnapshot {
  localAddress: string;
  localPort: number;
  remoteAddress?: string;
  remotePort?: number;
  /** Datagrams/bytes received and sent. */
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** Running totals of a TCP stack, including connections that have closed. */
export interface TcpStackTotals {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: Record<RetransmitKind, number>;
  events: Record<TcpConnectionEvent, number>;
}

export interface HostSnapshot {
  address: string;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: Record<string, number>;
  /** The host's UDP socket as the kernel sees it (absent once closed). */
  link?: HostLinkSnapshot;
  /** Secure mode only (src/secure): drops by reason, and handshake/rekey/roam counts. */
  secure?: { publicKey: string; drops: Record<string, number>; events: Record<string, number> };
}

export interface HostLinkSnapshot {
  localAddress: string;
  localPort: number;
  /** SO_RCVBUF as granted by the kernel (bytes of kernel memory, not payload). */
  recvBuffer: number;
  /** TCP payload bytes that fit in it in full-size packets (the receive-window clamp). */
  receiveCapacity: number;
  /** From /proc/net/udp (Linux): bytes queued now, datagrams dropped since the socket opened. */
  rxQueue?: number;
  kernelDrops?: number;
  /** UDP GSO: the size of a train's datagrams (0: one datagram per send); GRO: trains read whole. */
  gso: number;
  gro: boolean;
  /** Trains sent and read (two datagrams or more each), and the datagrams in them. */
  trainsOut: number;
  trainDatagramsOut: number;
  trainsIn: number;
  trainDatagramsIn: number;
  /** Batched reads (recvmmsg) on, the calls that read datagrams, and the datagrams they read. */
  batchReads: boolean;
  batchReadCalls: number;
  batchDatagramsIn: number;
  /** Direct sends (sendto through koffi) on, and the datagrams they sent. */
  directSends: boolean;
  directDatagramsOut: number;
}

/** One registered source: any of the fields may be absent. */
export interface InventorySource {
  host?(): HostSnapshot;
  tcpConnections?(now: number): TcpInfo[];
  tcpListeners?(): TcpListenerSnapshot[];
  tcpTotals?(): TcpStackTotals;
  udpSockets?(): UdpSocketSnapshot[];
}

const sources = new Set<InventorySource>();

export const inventory = {
  /** Registers a source; returns the function that unregisters it. */
  add(source: InventorySource): () => void {
    sources.add(source);
    return () => {
      sources.delete(source);
    };
  },
  sources(): InventorySource[] {
    return [...sources];
  },
};

/**
 * Per-connection event observers (set by observability, read by the TCP driver when it
 * creates a connection). `conn` is "LADDR:LPORT-RADDR:RPORT". When no observer is set the
 * driver installs no trace hook, so tracing costs nothing.
 */
export const observers: {
  trace?: (conn: string, ev: TcpTraceEvent) => void;
  /** RTT samples in seconds, for the RTT histogram. */
  rtt?: (seconds: number) => void;
} = {};

export function emptyTotals(): TcpStackTotals {
  const t = {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: { rto: 0, fast: 0, tlp: 0, rack: 0, probe: 0, pmtu: 0 },
    events: { active_open: 0, passive_open: 0, reset_in: 0, reset_out: 0, timeout: 0, refused: 0, syn_cookie: 0, time_wait_reused: 0, time_wait_reopened: 0 },
  };
  widen(t, ['bytesIn', 'bytesOut']); // past 2^31 after 2 GiB (src/util/wide.ts)
  return t;
}
