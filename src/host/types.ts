/**
 * The contract of an overlay host as the transports (UDP, ICMP, TCP) and tools see it.
 * Implemented by `Host` in ./host.ts.
 */
import type { PathMtuCache } from './pmtu.js';
import type { Ipv4Header } from '../wire/ipv4.js';

export interface UdpEndpoint {
  address: string;
  port: number;
}

/** A transport protocol's entry points on a host. */
export interface ProtocolHandler {
  /**
   * A valid IPv4 packet for this protocol addressed to this host. Must not throw. `ip` is
   * valid during the call only (the host decodes every packet into one header object).
   */
  onPacket(ip: Ipv4Header, payload: Buffer, packet: Buffer): void;
  /**
   * Taken instead of onPacket when present: the same packet, its payload being
   * packet[ip.headerLength, ip.totalLength) (no view made for it). `ip` as for onPacket.
   */
  onPacketAt?(ip: Ipv4Header, packet: Buffer): void;
  /**
   * An ICMP error (unreachable, time exceeded) quoting a packet this host sent with
   * this protocol: `quoted` is the quoted IP header, `quotedPayload` its first bytes, `rest`
   * the ICMP header's second word (for fragmentation needed, the next-hop MTU in its low 16 bits).
   */
  onIcmpError?(type: number, code: number, quoted: Ipv4Header, quotedPayload: Buffer, from: number, rest?: number): void;
  /** The host is closing: stop reporting to observers (its sockets no longer exist for them). Must not throw. */
  onHostClose?(): void;
}

export type PacketDirection = 'in' | 'out';
/** Sees every IPv4 packet the host sends or accepts (for pcap capture). */
export type PacketTap = (direction: PacketDirection, packet: Buffer, timeMs: number) => void;

export interface HostStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Drops by reason: ip_bad_checksum, tcp_bad_checksum, no_route, spoofed, ... */
  drops: Map<string, number>;
}

export interface HostLike {
  /** This host's overlay address (uint32) and its dotted form. */
  readonly address: number;
  readonly addressString: string;
  /** Largest IPv4 packet this host emits. */
  readonly mtu: number;
  /** Per-destination path MTU learned from ICMP (src/host/pmtu.ts); optional for test hosts. */
  readonly pmtu?: PathMtuCache;
  /** Registers the handler for an IP protocol number (1, 6, 17). */
  setProtocolHandler(protocol: number, handler: ProtocolHandler): void;
  /**
   * Sends a complete IPv4 packet (header already written) to its destination through
   * the peer table. Returns false and counts a drop when there is no route; throws an
   * EMSGSIZE error when the packet exceeds the MTU. With `give`, the caller hands over a
   * packet from allocPacket (src/util/slab.ts) and never touches it again: unless a tap saw
   * it, the link gives it back for reuse once nothing reads it any more (Link.send's `give`).
   */
  sendPacket(packet: Buffer, dst: number, give?: boolean): boolean;
  /**
   * sendPacket of the packet `head` followed by `body` (the IP header's total length counts
   * both), without joining them where the link can send two buffers as one datagram (one
   * sendmsg with two iovecs): a large payload goes out from where it is instead of being
   * copied into a packet first. Neither buffer may change afterwards (a queued send reads
   * them later). Optional: where it is missing, callers build one packet. `give`: as
   * sendPacket's, for `head`; `giveBody` the same for `body` (a packet of its own).
   */
  sendParts?(head: Buffer, body: Buffer, dst: number, give?: boolean, giveBody?: boolean): boolean;
  /** A fresh IPv4 identification value. */
  nextIpId(): number;
  /** Counts a drop by reason (transports use it for their own drop reasons). */
  countDrop(reason: string): void;
  readonly stats: HostStats;
  addTap(tap: PacketTap): () => void;
  /** Monotonic clock in ms used by everything on this host. */
  now(): number;
  /**
   * TCP payload bytes the host's UDP socket can queue in full-size packets before the
   * kernel drops (see Host.receiveCapacity); undefined when unknown (no real socket).
   * The TCP receive buffer is clamped to it: never advertise more than the socket holds.
   */
  receiveCapacity?(): number | undefined;
}
