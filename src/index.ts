/**
 * overlay-tcp's public API.
 *
 *   import { Host, net, dgram } from 'overlay-tcp';
 *   const a = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.3', endpoint: { address: '127.0.0.1', port: 40003 } }] });
 *   const sock = net.connect({ via: a, host: '10.77.0.3', port: 7 });
 *
 * Layers, top to bottom: socket APIs (`net`, `dgram`) -> TCP / UDP / ICMP -> Host (IPv4,
 * peer table, demux) -> UdpLink (one real UDP socket) -> wire formats. The chaos proxy,
 * metrics and traces sit beside them.
 */
export { Host, type HostOptions } from './host/host.js';
export type { HostLike, HostStats, PacketTap, ProtocolHandler, UdpEndpoint } from './host/types.js';
export { PeerTable } from './host/peers.js';
export { UdpLink } from './link/udp-link.js';
export { newKeyPair, publicKeyOf } from './secure/keys.js';
export { SecureLink } from './secure/secure-link.js';

export * as net from './net.js';
export * as dgram from './udp/index.js';
export * as wire from './wire/index.js';
export * as chaos from './chaos/index.js';
export * as sim from './sim/index.js';
export { createHttpAgent, createHttpsAgent, serveOverlay, OverlayHttpAgent, OverlayHttpsAgent, type OverlayAgentOptions, type OverlayHttpsAgentOptions, type ServeOverlayOptions } from './apps/http.js';
export { pump, type Pump, type PumpResult } from './apps/pump.js';
export { forwardLocal, forwardRemote, type Forwarder, type LocalForwardOptions, type RemoteForwardOptions } from './apps/forward.js';
export { createSocksServer, parseHostsFile, type SocksServer, type SocksServerOptions } from './apps/socks.js';

export { Connection } from './tcp/connection.js';
export { Listener } from './tcp/listener.js';
export { defaultTcpConfig } from './tcp/config.js';
export { createCongestionControl } from './tcp/cc/index.js';
export type { CongestionControl, AckEvent, RateSample, CongestionEvent, CcOptions } from './tcp/cc/types.js';
export type { TcpState, TcpInfo, TcpConfig, TcpTraceEvent, CcName, CwndReason, RetransmitKind, FourTuple } from './tcp/types.js';
export { CC_NAMES, TCP_STATES, RETRANSMIT_KINDS } from './tcp/types.js';

export { createMetrics, type MetricsOptions, type OverlayMetrics } from './metrics/registry.js';
export { inventory, observers } from './observe/inventory.js';
export { PcapWriter, readPcap, LINKTYPE_RAW } from './trace/pcap.js';
export { TraceWriter, readTrace, type TraceRecord } from './trace/trace.js';
export { makeError, type NodeStyleError, type ErrorCode } from './util/errors.js';
