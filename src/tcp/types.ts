/**
 * Contracts of the TCP layer, shared by the sans-IO core (connection, listener), the
 * driver and socket API above it, congestion control beside it, and observability.
 * Times are milliseconds (float) on the caller's monotonic clock; sizes are bytes.
 */
import type { ConnectionDropReason } from './drops.js';
import type { SackBlock } from '../wire/tcp.js';

export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

export const TCP_STATES: readonly TcpState[] = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1',
  'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
];

/** Overlay addresses are uint32; ports 0..65535. */
export interface FourTuple {
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
}

export type CcName = 'tahoe' | 'reno' | 'newreno' | 'cubic' | 'bbr';
export const CC_NAMES: readonly CcName[] = ['tahoe', 'reno', 'newreno', 'cubic', 'bbr'];

export type RetransmitKind = 'rto' | 'fast' | 'tlp' | 'rack' | 'probe' | 'pmtu';
export const RETRANSMIT_KINDS: readonly RetransmitKind[] = ['rto', 'fast', 'tlp', 'rack', 'probe', 'pmtu'];

/** Why cwnd or ssthresh changed. */
export type CwndReason =
  | 'init'
  | 'slow_start'
  | 'congestion_avoidance'
  | 'fast_retransmit'
  | 'recovery'
  | 'recovery_exit'
  | 'rto'
  | 'undo'
  | 'idle_restart'
  | 'pmtu'
  | 'model';

/** Error codes a connection can end with (Node's names). */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EPIPE' | 'ECONNABORTED';

/** Per-connection events, for metrics and the msgpack trace. `t` is the connection's `now`. */
export type TcpTraceEvent =
  | { type: 'state'; t: number; from: TcpState; to: TcpState }
  | { type: 'cwnd'; t: number; cwnd: number; ssthresh: number; reason: CwndReason; inFlight: number }
  | { type: 'rtt'; t: number; sample: number; srtt: number; rttvar: number; rto: number }
  | { type: 'send'; t: number; seq: number; len: number; flags: number; retransmit?: RetransmitKind }
  | { type: 'ack'; t: number; ack: number; window: number; sack?: SackBlock[] }
  | { type: 'recv'; t: number; seq: number; len: number; flags: number };

export interface TcpConfig {
  /** Largest MSS we will announce/use: the host MTU minus 40. */
  mss: number;
  /** Path MTU to start with (the host's per-destination cache, src/host/pmtu.ts); default the host MTU. */
  pathMtu?: number;
  /** After a path-MTU search settles below the host MTU, search upward again after this many ms (default 30000). */
  pathMtuRaiseInterval?: number;
  /** Initial window in segments (RFC 6928 default 10; 1 for the classic behaviour). */
  initialWindowSegments: number;
  cc: CcName;
  /** Pace transmissions (default: on for cubic and bbr). */
  pacing?: boolean;
  sack: boolean;
  timestamps: boolean;
  windowScale: boolean;
  /** Receive buffer (the most we advertise) and send buffer, bytes. */
  rcvBuf: number;
  sndBuf: number;
  noDelay: boolean;
  /** Delayed ACK bound, ms (0 disables delayed ACKs). */
  delayedAckMs: number;
  /**
   * One ACK per receive burst instead of one per two full segments (a stretch ACK, as with
   * Linux GRO). Takes effect only where the driver delivers bursts (real UDP, not the
   * simulator); default true. false: the classic RFC 5681 every-second-segment ACK.
   */
  coalesceAcks: boolean;
  minRto: number;
  /**
   * The peer's ACK delay (ms) the tail-loss probe timeout allows before it has measured any
   * (src/tcp/recovery/rack.ts DEFAULT_PEER_MAX_ACK_DELAY, 25, like QUIC's default
   * max_ack_delay); 0: RFC 8985's PTO, max(2*SRTT, MIN_PTO), until a silence teaches it more.
   */
  peerMaxAckDelay?: number;
  maxRto: number;
  initialRto: number;
  synRetries: number;
  /** Data retransmissions before ETIMEDOUT (like tcp_retries2). */
  maxRetries: number;
  /** Overall user timeout (RFC 9293 3.8.3), ms; 0 = off. */
  userTimeout: number;
  /** Maximum segment lifetime; TIME-WAIT lasts 2*MSL. */
  msl: number;
  keepAlive: boolean;
  keepAliveIdle: number;
  keepAliveInterval: number;
  keepAliveProbes: number;
  /** Cap on out-of-order bytes held in reassembly. */
  maxOutOfOrderBytes: number;
  /** Half-open: after the peer's FIN keep the write side open. */
  allowHalfOpen: boolean;
  /**
   * Loss recovery without SACK: 'tahoe' (go-back-N), 'reno' (RFC 5681) or 'newreno'
   * (RFC 6582). Default: the congestion controller's (src/tcp/recovery/strategies.ts
   * DEFAULT_RECOVERY). With SACK negotiated, recovery is RFC 6675 with RACK-TLP.
   */
  recovery?: 'tahoe' | 'reno' | 'newreno';
  /**
   * Debugging: rethrow an exception caught inside the core (it is always counted as
   * drops.internal_error) instead of swallowing it. Default false.
   */
  debugRethrow?: boolean;
}

/** A TCP_INFO-like snapshot (what `socket.getInfo()` returns; times in ms). */
export interface TcpInfo {
  state: TcpState;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  cc: CcName;
  /** Effective send MSS (payload bytes per segment, after the path MTU and options). */
  mss: number;
  /** The path MTU in use (IPv4 packet bytes): ICMP-learned or probed (RFC 1191, RFC 4821). */
  pathMtu?: number;
  /** The path-MTU search: its state and counters. */
  pmtu?: { state: 'searching' | 'complete'; icmpApplied: number; probesSent: number; probesAcked: number; probesLost: number; blackHoles: number };
  cwnd: number;
  ssthresh: number;
  srtt: number;
  rttvar: number;
  rto: number;
  minRtt: number;
  sndUna: number;
  sndNxt: number;
  rcvNxt: number;
  /** Peer's advertised window (scaled), and the window we advertise. */
  sndWnd: number;
  rcvWnd: number;
  bytesInFlight: number;
  /** Bytes written by the user but not yet acknowledged, and received but not yet read. */
  sendQueue: number;
  recvQueue: number;
  outOfOrderBytes: number;
  retransmits: Record<RetransmitKind, number>;
  /** Tail loss probes found spurious by their ACK (Eifel, RFC 3522); absent when none. */
  spuriousTlps?: number;
  segmentsIn: number;
  segmentsOut: number;
  bytesSent: number;
  bytesReceived: number;
  bytesAcked: number;
  pacingRate?: number;
  deliveryRate?: number;
  inRecovery: boolean;
}

/** What the driver learns from a connection after an input, a user call or a timer. */
export interface ConnectionHooks {
  /** The handshake completed. */
  onEstablished?(): void;
  /** Data (or the peer's FIN) became readable. */
  onReadable?(): void;
  /** Send-buffer space was freed (acknowledged). */
  onWritable?(): void;
  /** The connection reached CLOSED; `error` when it was aborted (RST, timeout). */
  onClosed?(error?: TcpErrorCode): void;
  /** Trace/metric events; absent means tracing is off and costs nothing. */
  onTrace?(ev: TcpTraceEvent): void;
  /** Each RTT sample (ms), for the RTT histogram: far cheaper than the full trace stream. */
  onRtt?(sampleMs: number): void;
  /** A segment (or part of one) was discarded; the reason is also counted in `drops`. */
  onDrop?(reason: ConnectionDropReason): void;
}

