/**
 * Host: one overlay IPv4 address on one real UDP socket (UdpLink). It owns the peer
 * table (which UDP endpoint carries which overlay prefix), validates every arriving
 * packet (dropping and counting the bad ones by reason), checks that the packet came
 * from the UDP endpoint its source address maps to (anti-spoofing), demultiplexes by IP
 * protocol, and answers ICMP. Several hosts can live in one process.
 *
 * The overlay never fragments: every packet is sent with DF, a packet over the MTU fails
 * with EMSGSIZE, and arriving fragments are dropped (ip_fragment).
 */
import { performance } from 'node:perf_hooks';
import { inventory, type HostSnapshot } from '../observe/inventory.js';
import { makeError, type NodeStyleError } from '../util/errors.js';
import { allocPacket, releasePacket } from '../util/slab.js';
import { formatIpv4, parseIpv4, parsePrefix } from '../wire/addr.js';
import { ICMP_ECHO_REQUEST, UNREACH_HOST, UNREACH_PORT, UNREACH_PROTOCOL, ICMP_DEST_UNREACH, echoRest } from '../wire/icmp.js';
import { decodeIpv4, decodeIpv4Into, encodeIpv4, IPPROTO_ICMP, IPPROTO_UDP, newIpv4Header, type Ipv4Header } from '../wire/ipv4.js';
import { decodeUdp } from '../wire/udp.js';
import { encodeIcmp } from '../wire/icmp.js';
import { UdpLink, type Link, type LinkOffload, type LinkRemote } from '../link/udp-link.js';
import { secureLinkFor, type SecureHostOptions, type SecureSnapshot } from '../secure/host-options.js';
import { SecureLink } from '../secure/secure-link.js';
import { IcmpModule, type EchoReply } from './icmp.js';
import { PathMtuCache } from './pmtu.js';
import { PeerTable } from './peers.js';
import { validateHostOptions, type ValidHostOptions } from './options.js';
import type { HostLike, HostStats, PacketTap, ProtocolHandler, UdpEndpoint } from './types.js';
import { widen } from '../util/wide.js';

export const DEFAULT_MTU = 1472;
/** Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
export const MAX_MTU = 65507;
export const MIN_MTU = 68;
/** At most this many /32 routes are learned (`learn: true`). */
export const MAX_LEARNED_ROUTES = 65536;

export interface HostOptions extends SecureHostOptions {
  /** The overlay address, "A.B.C.D". */
  address: string;
  /** The local UDP socket, { address, port } or 'A.B.C.D:PORT' (default 127.0.0.1:0, any port). */
  udp?: UdpEndpoint | string;
  /** `publicKey` (32 bytes or base64): reach this peer only through the secure mode (needs `key`). */
  peers?: Array<{ prefix: string; endpoint: UdpEndpoint | string; publicKey?: Buffer | string }>;
  /** Largest IPv4 packet (default 1472, at most 65507). */
  mtu?: number;
  /** Learn a /32 route to the sender of a packet whose source has no route (default false). */
  learn?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /**
   * With exactly one peer: send to it through a connected UDP socket bound to the same
   * port (about 13% less CPU per datagram sent; see UdpLinkOptions.connect for how unknown
   * and spoofed senders are still seen, and the SO_REUSEADDR caveat). Default false.
   */
  connectPeer?: boolean;
  /**
   * UDP GSO and GRO (Linux 4.18+, with the optional dependency koffi): full-size packets to
   * one peer leave in one sendmsg as a train of datagrams the kernel cuts, and a read may
   * return such a train whole, which the link cuts again. Each packet is still one datagram
   * on the wire. Default true; where the platform lacks them the host works as without, and
   * `host.offload()` says why. The secure mode sends and reads trains of sealed datagrams
   * too (src/secure/train.ts cuts them).
   */
  offload?: boolean;
  /**
   * Batched reads (src/link/batch-read.ts, with koffi): during a bulk transfer the link reads
   * queued datagrams with one recvmmsg per 16, each copied once, instead of node:dgram's read,
   * zeroed buffer and copy per datagram. Default: as `offload`.
   */
  batchReads?: boolean;
  /**
   * Direct sends (src/link/direct-send.ts, with koffi): a single datagram leaves with one
   * sendto(2) instead of node:dgram's send path, about 1 us less per datagram (more when the
   * process wakes from idle, as each end of a request/response exchange does). Trains and
   * sends while node:dgram still holds queued ones go through node:dgram. Default: as `offload`.
   */
  directSends?: boolean;
}

export interface PingOptions {
  id?: number;
  seq: number;
  /** ICMP payload bytes (default 56, like ping). */
  size?: number;
  timeoutMs: number;
}

export class Host implements HostLike {
  readonly address: number;
  readonly addressString: string;
  readonly mtu: number;
  readonly learn: boolean;
  /** (Byte counts pass 2^31 after 2 GiB: widened, src/util/wide.ts.) */
  readonly stats: HostStats = widen({ packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: new Map() }, ['bytesIn', 'bytesOut']);
  /** Datagrams that arrived on the link (each ends as exactly one packetsIn or one IP-level drop). */
  datagramsIn = 0;
  /** The header each received packet is decoded into (handlers get it for the call only), and the nesting depth of receive (a nested one decodes into its own). */
  private readonly rxHeader: Ipv4Header = newIpv4Header();
  private rxDepth = 0;
  readonly peers = new PeerTable();
  readonly icmp: IcmpModule;
  /** Per-destination path MTU learned from ICMP and probing (RFC 1191), with expiry. */
  readonly pmtu = new PathMtuCache();
  private readonly handlers: Array<ProtocolHandler | undefined> = new Array(256);
  private readonly taps = new Set<PacketTap>();
  private ipId: number;
  private readonly pingId: number;
  private closed = false;
  private learned = 0;
  private readonly unregister: () => void;
  /** UDP with no socket open: what answers until a UDP layer registers (see ClosedUdp). */
  private readonly closedUdp: ProtocolHandler;
  // One-entry caches of peer-table lookups, valid while `peers.version` is unchanged:
  // bulk traffic goes to and comes from one peer, so most packets skip the LPM probe.
  private routeVersion = -1;
  private routeDst = 0;
  private routeEp: UdpEndpoint | undefined;
  private srcVersion = -1;
  private srcAddr = 0;
  private srcEp: UdpEndpoint | undefined;

  private constructor(
    address: number,
    readonly link: Link,
    opts: HostOptions & Pick<ValidHostOptions, 'peers'>,
    /** Bytes the link adds to each packet (the secure mode's header and tag; 0 when plain). */
    readonly linkOverhead = 0,
  ) {
    this.address = address;
    this.addressString = formatIpv4(address);
    // In the secure mode `mtu` is the largest outer datagram; packets are that much smaller.
    this.mtu = (opts.mtu ?? DEFAULT_MTU) - linkOverhead;
    this.learn = opts.learn ?? false;
    this.ipId = Math.floor(Math.random() * 0x10000);
    this.pingId = Math.floor(Math.random() * 0x10000);
    for (const p of opts.peers ?? []) this.addPeer(p.prefix, p.endpoint);
    this.icmp = new IcmpModule({
      address,
      countDrop: (r) => this.countDrop(r),
      sendPacket: (p, d) => this.sendPacket(p, d),
      nextIpId: () => this.nextIpId(),
      now: () => this.now(),
      handlerFor: (proto) => this.handlers[proto],
    });
    this.handlers[IPPROTO_ICMP] = this.icmp;
    this.closedUdp = closedUdp(this);
    this.handlers[IPPROTO_UDP] = this.closedUdp;
    link.onPacket((packet, rinfo) => this.receive(packet, rinfo));
    // Packets the secure link gave up on (no handshake): host unreachable, to ourselves.
    if (link instanceof SecureLink) link.onUnreachable((ps) => {
      for (const p of ps) {
        const d = decodeIpv4(p);
        if (d.ok) this.icmp.sendError(ICMP_DEST_UNREACH, UNREACH_HOST, p.subarray(0, d.header.totalLength), d.header.headerLength);
      }
    });
    this.unregister = inventory.add({ host: () => this.snapshot() });
  }

  static async create(opts: HostOptions): Promise<Host> {
    // Every option checked at run time (src/host/options.ts): Node-style errors, no silent defaults.
    const v = validateHostOptions(opts, { min: MIN_MTU, max: MAX_MTU, default: DEFAULT_MTU });
    const { address, udp } = v;
    // Keys, peers' keys and the plain/secure choice are checked before any socket exists.
    const secure = secureLinkFor({ ...opts, peers: v.peers }, v.mtu);
    const linkOpts: Parameters<typeof UdpLink.bind>[0] = { address: udp.address, port: udp.port };
    if (v.recvBufferSize !== undefined) linkOpts.recvBufferSize = v.recvBufferSize;
    if (v.sendBufferSize !== undefined) linkOpts.sendBufferSize = v.sendBufferSize;
    if (opts.connectPeer && v.peers.length === 1) linkOpts.connect = v.peers[0]!.endpoint;
    // The secure mode's datagrams are sealed, not IPv4 packets: it cuts the trains it reads itself.
    if (opts.offload !== false) linkOpts.offload = { segment: v.mtu, gro: secure ? 'whole' : true };
    if (opts.batchReads ?? opts.offload !== false) linkOpts.batchReads = true;
    if (opts.directSends ?? opts.offload !== false) linkOpts.directSends = true;
    const link = await UdpLink.bind(linkOpts);
    const valid = { ...opts, ...v, address: opts.address };
    if (!secure) return new Host(address, link, valid);
    return new Host(address, secure.wrap(link), valid, secure.overhead);
  }

  /** Whether this host's link sends trains of datagrams (UDP GSO) and reads them (GRO), or why not. */
  offload(): LinkOffload {
    return this.link.offload?.() ?? { segment: 0, gro: false, batch: false, direct: false, reason: 'this link sends one datagram per call' };
  }

  /** The bound UDP address and port of this host's link. */
  get endpoint(): UdpEndpoint {
    return this.link.local();
  }

  /**
   * TCP payload bytes the link's UDP socket queues before the kernel drops, counting
   * full-size packets (MTU) at the kernel's real cost per datagram (src/link/kernel-udp.ts)
   * and 52 bytes of IP, TCP and timestamp headers per packet. Undefined when the kernel's
   * grant is unknown.
   */
  receiveCapacity(): number | undefined {
    const n = this.link.datagramCapacity(this.mtu);
    return n === undefined ? undefined : n * Math.max(1, this.mtu - 52);
  }

  // ---- peer table ----

  /** Routes `prefix` to `endpoint`; with `publicKey` (secure mode only) that peer is keyed. */
  addPeer(prefix: string, endpoint: UdpEndpoint, publicKey?: Buffer | string): void {
    if (publicKey !== undefined) {
      if (!(this.link instanceof SecureLink)) throw makeError('EINVAL', 'host', { message: 'a peer public key needs a host key' });
      this.link.addPeer(endpoint, publicKey);
    }
    this.peers.add(prefix, endpoint);
  }

  removePeer(prefix: string): boolean {
    return this.peers.remove(prefix);
  }

  route(dst: string | number): UdpEndpoint | undefined {
    const a = typeof dst === 'number' ? dst : parseIpv4(dst);
    return a === undefined ? undefined : this.peers.lookup(a);
  }

  // ---- HostLike ----

  setProtocolHandler(protocol: number, handler: ProtocolHandler): void {
    this.handlers[protocol & 0xff] = handler;
  }

  /** Removes a protocol handler (only if it is still `handler`, when given). */
  clearProtocolHandler(protocol: number, handler?: ProtocolHandler): void {
    const p = protocol & 0xff;
    if (handler && this.handlers[p] !== handler) return;
    // UDP falls back to "every port closed", never to "protocol unreachable".
    this.handlers[p] = p === IPPROTO_UDP ? this.closedUdp : undefined;
  }

  sendPacket(packet: Buffer, dst: number, give = false): boolean {
    this.checkMtu(packet.length);
    if (this.closed) {
      this.countDrop('host_closed');
      return false;
    }
    // A tap sees the packet and may keep it: then it is never given back.
    const tapped = this.taps.size > 0;
    if (dst === this.address) {
      // To ourselves: deliver on a later tick, like loopback, never re-entrantly.
      this.countOut(packet);
      // A copy: the caller may reuse its buffer once sendPacket returns, as with a socket.
      const copy = Buffer.from(packet);
      setImmediate(() => this.receive(copy, undefined));
      if (give && !tapped) releasePacket(packet);
      return true;
    }
    const ep = this.routeOut(dst);
    if (!ep) return false;
    this.countOut(packet);
    this.link.send(packet, ep.port, ep.address, give && !tapped);
    return true;
  }

  /** A packet over the MTU is the sender's error (EMSGSIZE), as with a socket: IPv4 here never fragments. */
  private checkMtu(length: number): void {
    if (length > this.mtu) throw makeError('EMSGSIZE', 'send', { message: `packet of ${length} bytes exceeds the MTU ${this.mtu}` });
  }

  /** The peer endpoint for `dst`, or undefined, counted as a `no_route` drop. */
  private routeOut(dst: number): UdpEndpoint | undefined {
    const ep = this.lookupRoute(dst);
    if (!ep) this.countDrop('no_route');
    return ep;
  }

  /**
   * HostLike.sendParts. The link sends the two buffers as one datagram; where something needs
   * the packet whole (a tap, delivery to ourselves, a link that cannot send parts, such as the
   * secure link, which encrypts the packet), they are joined first, as sendPacket would get them.
   */
  sendParts(head: Buffer, body: Buffer, dst: number, give = false, giveBody = false): boolean {
    const link = this.link;
    if (this.taps.size > 0 || dst === this.address || this.closed || link.sendParts === undefined) {
      const packet = allocPacket(head.length + body.length);
      packet.set(head, 0);
      packet.set(body, head.length);
      if (giveBody) releasePacket(body);
      // The joined copy is the host's own to give back (`head` is left to the garbage collector).
      return this.sendPacket(packet, dst, true);
    }
    const length = head.length + body.length;
    this.checkMtu(length);
    const ep = this.routeOut(dst);
    if (!ep) {
      if (giveBody) releasePacket(body);
      return false;
    }
    this.stats.packetsOut++;
    this.stats.bytesOut += length;
    link.sendParts(head, body, ep.port, ep.address, give, giveBody);
    return true;
  }

  /** peers.lookup(dst) through the one-entry cache. */
  private lookupRoute(dst: number): UdpEndpoint | undefined {
    if (this.routeVersion !== this.peers.version || this.routeDst !== dst) {
      this.routeEp = this.peers.lookup(dst);
      this.routeDst = dst;
      this.routeVersion = this.peers.version;
    }
    return this.routeEp;
  }

  /** peers.lookup(src) for anti-spoofing, through its own one-entry cache. */
  private lookupSource(src: number): UdpEndpoint | undefined {
    if (this.srcVersion !== this.peers.version || this.srcAddr !== src) {
      this.srcEp = this.peers.lookup(src);
      this.srcAddr = src;
      this.srcVersion = this.peers.version;
    }
    return this.srcEp;
  }

  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  countDrop(reason: string): void {
    this.stats.drops.set(reason, (this.stats.drops.get(reason) ?? 0) + 1);
  }

  addTap(tap: PacketTap): () => void {
    this.taps.add(tap);
    return () => {
      this.taps.delete(tap);
    };
  }

  now(): number {
    return performance.now();
  }

  // ---- receive path ----

  /**
   * One datagram from the link (or from ourselves when `rinfo` is undefined). Never
   * throws: every packet ends either accepted (stats.packetsIn) or dropped by one reason.
   */
  private receive(packet: Buffer, rinfo: LinkRemote | undefined): void {
    this.datagramsIn++;
    this.rxDepth++;
    try {
      this.receiveUnsafe(packet, rinfo);
    } catch {
      this.countDrop('internal_error');
    } finally {
      this.rxDepth--;
    }
  }

  private receiveUnsafe(packet: Buffer, rinfo: LinkRemote | undefined): void {
    if (this.closed) {
      this.countDrop('host_closed');
      return;
    }
    // No result objects per packet: one reused header (a receive nested in a handler's call,
    // e.g. over an in-process link, gets its own), and the payload as offsets for TCP.
    const ip = this.rxDepth === 1 ? this.rxHeader : newIpv4Header();
    const bad = decodeIpv4Into(packet, ip);
    if (bad !== undefined) {
      this.countDrop(bad);
      return;
    }
    if (ip.dst !== this.address) {
      this.countDrop('not_for_us');
      return;
    }
    if (rinfo) {
      // Anti-spoofing: the source must come from the endpoint its address routes to.
      const ep = this.lookupSource(ip.src);
      if (ep) {
        if (ep.port !== rinfo.port || ep.address !== rinfo.address) {
          this.countDrop('spoofed');
          return;
        }
      } else if (this.learn) {
        // Bounded: a flood of forged sources must not grow the table without limit.
        if (this.learned >= MAX_LEARNED_ROUTES) {
          this.countDrop('learn_table_full');
          return;
        }
        this.learned++;
        this.peers.add({ network: ip.src, length: 32 }, { address: rinfo.address, port: rinfo.port });
      } else {
        this.countDrop('unknown_endpoint');
        return;
      }
    }
    const handler = this.handlers[ip.protocol];
    if (!handler) {
      this.countDrop('no_handler');
      // RFC 1122 3.2.2.1: protocol unreachable for a transport we do not speak.
      this.icmp.sendError(ICMP_DEST_UNREACH, UNREACH_PROTOCOL, packet.subarray(0, ip.totalLength), ip.headerLength);
      return;
    }
    this.stats.packetsIn++;
    this.stats.bytesIn += ip.totalLength;
    if (this.taps.size > 0) this.tap('in', packet.subarray(0, ip.totalLength));
    if (handler.onPacketAt) handler.onPacketAt(ip, packet);
    else handler.onPacket(ip, packet.subarray(ip.headerLength, ip.totalLength), packet);
  }

  private countOut(packet: Buffer): void {
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    if (this.taps.size > 0) this.tap('out', packet);
  }

  private tap(dir: 'in' | 'out', packet: Buffer): void {
    const t = this.now();
    for (const tap of this.taps) {
      try {
        tap(dir, packet, t);
      } catch {
        this.countDrop('tap_error');
      }
    }
  }

  // ---- ICMP ----

  /**
   * Sends an ICMP error about `offendingPacket` (quoting its IP header + 8 bytes).
   * Never about an ICMP error; rate-limited. Returns whether it was sent.
   */
  sendIcmpError(type: number, code: number, offendingPacket: Buffer, ipHeaderLength: number, rest = 0): boolean {
    return this.icmp.sendError(type, code, offendingPacket, ipHeaderLength, rest);
  }

  /** One ICMP echo: resolves with the reply's RTT, TTL and size. */
  echo(dst: string | number, opts: PingOptions): Promise<EchoReply> {
    const to = typeof dst === 'number' ? dst : parseIpv4(dst);
    if (to === undefined) return Promise.reject(makeError('EINVAL', 'ping', { message: `bad address '${String(dst)}'` }));
    const id = (opts.id ?? this.pingId) & 0xffff;
    const seq = opts.seq & 0xffff;
    const size = opts.size ?? 56;
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (0x10 + i) & 0xff; // like ping's pattern
    const key = echoRest(id, seq);
    const packet = encodeIpv4(
      { src: this.address, dst: to, protocol: IPPROTO_ICMP, id: this.nextIpId() },
      encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: key, payload }),
    );
    return new Promise<EchoReply>((resolve, reject) => {
      const address = formatIpv4(to);
      const timer = setTimeout(() => {
        if (this.icmp.pending.get(key)?.resolve !== done) return;
        this.icmp.pending.delete(key);
        reject(makeError('ETIMEDOUT', 'ping', { address }));
      }, opts.timeoutMs);
      const done = (r: EchoReply): void => {
        clearTimeout(timer);
        resolve(r);
      };
      const fail = (e: Error): void => {
        clearTimeout(timer);
        reject(e);
      };
      this.icmp.expect(key, { sentAt: this.now(), dst: to, resolve: done, reject: fail });
      let sent: boolean;
      try {
        sent = this.sendPacket(packet, to);
      } catch (e) {
        this.icmp.pending.delete(key);
        fail(e as NodeStyleError);
        return;
      }
      if (!sent) {
        this.icmp.pending.delete(key);
        fail(makeError('EHOSTUNREACH', 'ping', { address }));
      }
    });
  }

  /** Sends one echo request and resolves with the round-trip time in ms. */
  async ping(dst: string | number, opts: PingOptions): Promise<number> {
    return (await this.echo(dst, opts)).rttMs;
  }

  snapshot(): HostSnapshot {
    const local = this.closed ? undefined : this.link.local();
    const kernel = this.link.kernelStats();
    const off = this.offload();
    const ls = this.link.stats;
    return {
      ...(local && {
        link: {
          localAddress: local.address,
          localPort: local.port,
          recvBuffer: this.link.recvBufferGrant,
          receiveCapacity: this.receiveCapacity() ?? 0,
          ...(kernel && { rxQueue: kernel.rxQueue, kernelDrops: kernel.drops }),
          gso: off.segment,
          gro: off.gro,
          trainsOut: ls.trainsOut,
          trainDatagramsOut: ls.trainPacketsOut,
          trainsIn: ls.trainsIn,
          trainDatagramsIn: ls.trainPacketsIn,
          batchReads: off.batch,
          batchReadCalls: ls.batchReads,
          batchDatagramsIn: ls.batchPacketsIn,
          directSends: off.direct,
          directDatagramsOut: ls.directOut,
        },
      }),
      address: this.addressString,
      packetsIn: this.stats.packetsIn,
      packetsOut: this.stats.packetsOut,
      bytesIn: this.stats.bytesIn,
      bytesOut: this.stats.bytesOut,
      drops: Object.fromEntries(this.stats.drops),
      ...(this.link instanceof SecureLink && { secure: this.link.snapshot() }),
    };
  }

  /** Total drops (all reasons). */
  totalDrops(): number {
    let n = 0;
    for (const v of this.stats.drops.values()) n += v;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    for (const h of new Set(this.handlers)) {
      try {
        h?.onHostClose?.();
      } catch {
        this.countDrop('internal_error');
      }
    }
    for (const [key, p] of this.icmp.pending) {
      this.icmp.pending.delete(key);
      p.reject(makeError('ERR_SOCKET_CLOSED', 'ping'));
    }
    await this.link.close();
  }
}

/**
 * The UDP layer of a host with no datagram socket open (RFC 1122 4.1.3.1): a valid
 * datagram is for a closed port, answered with ICMP port unreachable, as a kernel always
 * has UDP. The UDP layer (src/udp/stack.ts) replaces it when the first socket is created.
 */
function closedUdp(host: Host): ProtocolHandler {
  return {
    onPacket(ip: Ipv4Header, payload: Buffer, packet: Buffer): void {
      const d = decodeUdp(payload, ip.src, ip.dst);
      if (!d.ok) {
        host.countDrop(d.reason);
        return;
      }
      host.countDrop('udp_no_socket');
      host.sendIcmpError(ICMP_DEST_UNREACH, UNREACH_PORT, packet.subarray(0, ip.totalLength), ip.headerLength);
    },
  };
}
