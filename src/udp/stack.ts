/**
 * The UDP layer of one Host (RFC 768): port bindings, demultiplexing by destination port,
 * ICMP port unreachable for a closed port (RFC 1122 4.1.3.1), and ICMP errors delivered to
 * the socket that sent the quoted datagram.
 */
import type { Host } from '../host/host.js';
import type { ProtocolHandler } from '../host/types.js';
import { makeError } from '../util/errors.js';
import { ICMP_DEST_UNREACH, UNREACH_PORT } from '../wire/icmp.js';
import { IPPROTO_UDP, type Ipv4Header } from '../wire/ipv4.js';
import { decodeUdp } from '../wire/udp.js';

export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

/** What the stack needs from a bound socket. */
export interface UdpBinding {
  /** Bound port. */
  readonly port: number;
  /** Connected peer (overlay address as uint32) or undefined. */
  readonly remote: { address: number; port: number } | undefined;
  deliver(payload: Buffer, srcAddr: number, srcPort: number): void;
  icmpError(type: number, code: number, dst: number, dstPort: number): void;
}

const stacks = new WeakMap<Host, UdpStack>();

export class UdpStack implements ProtocolHandler {
  private readonly ports = new Map<number, UdpBinding>();

  private constructor(readonly host: Host) {
    host.setProtocolHandler(IPPROTO_UDP, this);
  }

  /** The UDP layer of `host` (created on first use). */
  static of(host: Host): UdpStack {
    let s = stacks.get(host);
    if (!s) {
      s = new UdpStack(host);
      stacks.set(host, s);
    }
    return s;
  }

  /** Reserves `port` (0 = a random ephemeral port) for `make(port)`; throws EADDRINUSE. */
  bind<T extends UdpBinding>(port: number, make: (port: number) => T): T {
    const p = port === 0 ? this.ephemeralPort() : port;
    if (this.ports.has(p)) throw makeError('EADDRINUSE', 'bind', { address: this.host.addressString, port: p });
    const b = make(p);
    this.ports.set(p, b);
    return b;
  }

  unbind(b: UdpBinding): void {
    if (this.ports.get(b.port) === b) this.ports.delete(b.port);
  }

  isBound(port: number): boolean {
    return this.ports.has(port);
  }

  private ephemeralPort(): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const p = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.ports.has(p)) return p;
    }
    throw makeError('EADDRINUSE', 'bind', { address: this.host.addressString, message: 'no free ephemeral port' });
  }

  onPacket(ip: Ipv4Header, payload: Buffer, packet: Buffer): void {
    const d = decodeUdp(payload, ip.src, ip.dst);
    if (!d.ok) {
      this.host.countDrop(d.reason);
      return;
    }
    const { srcPort, dstPort } = d.datagram;
    const b = this.ports.get(dstPort);
    if (!b) {
      this.host.countDrop('udp_no_socket');
      this.host.sendIcmpError(ICMP_DEST_UNREACH, UNREACH_PORT, packet.subarray(0, ip.totalLength), ip.headerLength);
      return;
    }
    // A connected socket only receives from its peer (like connect(2) on Linux).
    if (b.remote && (b.remote.address !== ip.src || b.remote.port !== srcPort)) {
      this.host.countDrop('udp_wrong_peer');
      return;
    }
    b.deliver(d.datagram.payload, ip.src, srcPort);
  }

  onIcmpError(type: number, code: number, quoted: Ipv4Header, quotedPayload: Buffer): void {
    if (quotedPayload.length < 4) {
      this.host.countDrop('icmp_bad_quote');
      return;
    }
    const srcPort = quotedPayload.readUInt16BE(0);
    const dstPort = quotedPayload.readUInt16BE(2);
    const b = this.ports.get(srcPort);
    if (!b) return;
    b.icmpError(type, code, quoted.dst, dstPort);
  }
}
