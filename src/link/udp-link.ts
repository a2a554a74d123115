/**
 * UdpLink: one real UDP socket that carries overlay IPv4 packets (IP-in-UDP, like Linux
 * FOU with ipproto 4: each UDP payload is exactly one IPv4 packet).
 *
 * dgram-as-promised handles the slow path (bind, close). The per-packet path uses the raw
 * node:dgram socket (`.socket`): the synchronous 'message' event for receive, and
 * `socket.send(packet, port, address)` without awaiting for send. Awaiting per packet
 * would starve timers and incoming packets (see the anchors: never await per packet).
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { once } from 'node:events';
import { lookup as dnsLookup } from 'node:dns';
import { isIPv4 } from 'node:net';
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import { releasePacket } from '../util/slab.js';
import { datagramCapacity, kernelUdpStats, type KernelUdpStats } from './kernel-udp.js';

export const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
/** While sends succeed, one in this many carries a completion callback. */
export const SEND_CHECK_EVERY = 64;

const EMPTY = Buffer.alloc(0);
/** Handed-over packets a socket remembers while libuv's queue holds them (about 6 MiB at MTU 1472). */
const MAX_QUEUED_GIVEN = 4096;

export interface UdpLinkOptions {
  address: string;
  port: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes (default 4 MiB each; the kernel may cap them). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /**
   * Also open a socket connected to this one peer, bound to the same address and port
   * (SO_REUSEADDR on both), and send to that peer through it: a connected UDP socket skips
   * the kernel's route lookup and Node's address handling per datagram (about 0.6 us, 13%
   * of a 1472-byte send here). The kernel delivers the peer's datagrams to the connected
   * socket and everything else (other, unknown or spoofed senders) to the first one; the
   * link reads both, so the host sees and counts every datagram as before. The price:
   * SO_REUSEADDR lets another local process with SO_REUSEADDR bind the same port too, so
   * use it only on machines you trust.
   */
  connect?: LinkRemote;
}

export interface LinkRemote {
  address: string;
  port: number;
}

export type LinkPacketHandler = (packet: Buffer, rinfo: LinkRemote) => void;

export interface UdpLinkStats {
  packetsIn: number;
  packetsOut: number;
  /**
   * Sends seen to fail (closed link, bad address, a kernel error such as EACCES or
   * ENETUNREACH). While sends succeed, only one in SEND_CHECK_EVERY (and the first to
   * each new destination) is checked; once one fails, every send is checked until
   * SEND_CHECK_EVERY in a row succeed. So a persisting error is counted for every send
   * from the tick after it is first seen; an isolated one may be missed.
   */
  sendErrors: number;
  /** Socket-level errors reported through the 'error' event. */
  socketErrors: number;
}

/**
 * What a host needs from its link: UdpLink itself, or a link that wraps it (the secure
 * overlay, src/secure/secure-link.ts) with the same per-packet contract.
 */
export interface Link {
  readonly stats: UdpLinkStats;
  /**
   * Sends one datagram. With `give`, the packet is from allocPacket (src/util/slab.ts) and the
   * caller hands it over: the link gives it back (releasePacket) once nothing reads it any
   * more, or never (a link that ignores `give` simply keeps that promise).
   */
  send(packet: Buffer, port: number, address: string, give?: boolean): void;
  /** send() of the datagram `head` + `body`, given as two buffers (one sendmsg); optional. `give` is for `head`. */
  sendParts?(head: Buffer, body: Buffer, port: number, address: string, give?: boolean): void;
  deliver(packet: Buffer, rinfo: LinkRemote): void;
  onPacket(cb: LinkPacketHandler): void;
  local(): LinkRemote;
  close(): Promise<void>;
  /** SO_RCVBUF as the kernel granted it (0 when unknown). */
  readonly recvBufferGrant: number;
  /** How many datagrams of `size` bytes the receive buffer holds (undefined when unknown). */
  datagramCapacity(size: number): number | undefined;
  /** The socket as the kernel sees it (/proc/net/udp), where available. */
  kernelStats(): KernelUdpStats | undefined;
  /** The one peer this link's send socket is connected to (Host.create's connectPeer), if any. */
  connectedPeer(): LinkRemote | undefined;
}

type LookupCallback = (err: Error | null, address: string, family: number) => void;

/**
 * Lookups literalLookup answered synchronously, in this process: a send whose count moved
 * went on to the socket in the same call (node:dgram queues a send in JavaScript while its
 * lookup is pending, holding the packet).
 */
let syncAnswers = 0;

/**
 * A `lookup` for node:dgram that answers IPv4 literals synchronously once `ready()` (the
 * socket is bound): node:dgram resolves the address of every unconnected send, and
 * dns.lookup answers even a literal on a later tick, a closure and a tick per packet.
 * Names still go to DNS.
 */
export function literalLookup(ready: () => boolean): NonNullable<SocketOptions['lookup']> {
  // node:dgram calls lookup(address, family, cb) with the family as a number (lookup4),
  // not with the options object its type declares.
  // The last literal seen: a sender sends to the same few peers, and isIPv4 is a regex.
  let last = '';
  const lookup = (address: string, family: number, cb: LookupCallback): void => {
    if (address === last || (ready() && isIPv4(address) && (last = address))) {
      syncAnswers++;
      cb(null, address, 4);
    } else dnsLookup(address, family, cb);
  };
  return lookup as unknown as NonNullable<SocketOptions['lookup']>;
}

export class UdpLink implements Link {
  /** The raw dgram socket (the per-packet path). */
  readonly socket: Socket;
  readonly stats: UdpLinkStats = { packetsIn: 0, packetsOut: 0, sendErrors: 0, socketErrors: 0 };
  /**
   * The receive buffer the kernel granted (SO_RCVBUF read back after setting it: on Linux
   * twice the request, capped at twice net.core.rmem_max); 0 if it could not be read.
   */
  recvBufferGrant = 0;
  private handler: LinkPacketHandler | undefined;
  private closed = false;
  // node:dgram runs a send's callback on a later tick even when the send completed at
  // once: a tick and its garbage per packet (about 10% of a sender's CPU at 1472 B). So
  // only some sends carry the callback (see UdpLinkStats.sendErrors).
  private erring = false;
  private checkIn = 0;
  private okInRow = 0;
  private lastPort = -1;
  private lastAddress = '';
  private readonly onSendDone = (err: Error | null): void => {
    if (err) {
      this.stats.sendErrors++;
      this.erring = true;
      this.okInRow = 0;
    } else if (this.erring && ++this.okInRow >= SEND_CHECK_EVERY) {
      this.erring = false;
    }
  };

  /** The socket connected to `opts.connect`, if any, and that peer. */
  private peerSocket: Socket | undefined;
  private peerPort = -1;
  private peerAddress = '';

  private constructor(private readonly promised: SocketAsPromised) {
    this.socket = promised.socket;
    // Node's rinfo already has address and port: pass it on, no per-packet allocation here.
    this.socket.on('message', (msg: Buffer, rinfo: LinkRemote) => this.deliver(msg, rinfo));
    // An unhandled 'error' would crash the process; the link counts it instead.
    this.socket.on('error', () => {
      this.stats.socketErrors++;
    });
  }

  static async bind(opts: UdpLinkOptions): Promise<UdpLink> {
    // node:dgram resolves the address of every unconnected send, and dns.lookup answers
    // even an IPv4 literal on a later tick: a closure and a tick per packet, and the send
    // itself deferred. Once bound, answer literals synchronously (names still go to DNS).
    let bound = false;
    const lookup = literalLookup(() => bound);
    const reuseAddr = opts.connect !== undefined;
    const promised = DgramAsPromised.createSocket({ type: 'udp4', lookup, reuseAddr } as Parameters<typeof DgramAsPromised.createSocket>[0]);
    const link = new UdpLink(promised);
    await promised.bind(opts.port, opts.address);
    bound = true;
    // Buffer sizes can only be set on a bound socket.
    setBuffers(promised.socket, opts);
    try {
      link.recvBufferGrant = promised.socket.getRecvBufferSize();
    } catch {
      link.recvBufferGrant = 0;
    }
    if (opts.connect) {
      try {
        await link.connectPeer(opts.connect, opts);
      } catch (e) {
        await link.close();
        throw e;
      }
    }
    return link;
  }

  private async connectPeer(peer: LinkRemote, opts: UdpLinkOptions): Promise<void> {
    const local = this.local();
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('error', () => {
      this.stats.socketErrors++;
    });
    s.on('message', (msg: Buffer, rinfo: LinkRemote) => this.deliver(msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(local.port, local.address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    setBuffers(s, opts);
    s.connect(peer.port, peer.address);
    await once(s, 'connect');
    this.peerSocket = s;
    this.peerPort = peer.port;
    this.peerAddress = peer.address;
  }

  /** Sends one packet; never awaits, never throws (errors are counted). `give`: see Link.send and out(). */
  send(packet: Buffer, port: number, address: string, give = false): void {
    this.out(packet, port, address, give ? packet : undefined);
  }

  /**
   * Sends `head` and `body` as one datagram: node:dgram takes a list of buffers and hands
   * the kernel one sendmsg with an iovec, so a large payload is not copied into a packet
   * first. The list is reused: node:dgram copies it into its own array.
   */
  sendParts(head: Buffer, body: Buffer, port: number, address: string, give = false): void {
    const parts = this.parts;
    parts[0] = head;
    parts[1] = body;
    this.out(parts, port, address, give ? head : undefined);
    parts[0] = EMPTY;
    parts[1] = EMPTY;
  }

  private readonly parts: Buffer[] = [EMPTY, EMPTY];

  /**
   * Packets handed over (`give`) that libuv queued, per socket, oldest first. libuv sends at
   * once when its queue is empty and the kernel takes the datagram (uv_udp_try_send);
   * otherwise it queues the request, counted by getSendQueueCount() until it completes on a
   * later tick, in order. So when the count is seen at 0, every packet queued before is out.
   */
  private readonly queued: Buffer[] = [];
  private readonly peerQueued: Buffer[] = [];

  /**
   * Sends; `given` is the packet handed over, to give back once nothing reads it: at once
   * when the send left synchronously, else when the socket's queue is next seen empty. A
   * send node:dgram keeps in JavaScript (a lookup still pending, a socket not bound yet) is
   * not counted by libuv, so that packet is never given back.
   */
  private out(packet: Buffer | Buffer[], port: number, address: string, given: Buffer | undefined): void {
    if (this.closed) {
      this.stats.sendErrors++;
      return;
    }
    try {
      const check = this.erring || --this.checkIn <= 0 || port !== this.lastPort || address !== this.lastAddress;
      if (check) {
        this.checkIn = SEND_CHECK_EVERY;
        this.lastPort = port;
        this.lastAddress = address;
      }
      if (port === this.peerPort && address === this.peerAddress) {
        // A connected socket sends without a lookup, so nothing waits in JavaScript.
        const s = this.peerSocket!;
        if (this.peerQueued.length > 0) this.drained(s, this.peerQueued);
        if (check) s.send(packet, this.onSendDone);
        else s.send(packet);
        this.stats.packetsOut++;
        if (given) this.sent(s, given, this.peerQueued);
      } else {
        const s = this.socket;
        if (this.queued.length > 0) this.drained(s, this.queued);
        const answers = syncAnswers;
        if (check) s.send(packet, port, address, this.onSendDone);
        else s.send(packet, port, address);
        this.stats.packetsOut++;
        if (given && syncAnswers !== answers) this.sent(s, given, this.queued);
      }
    } catch {
      this.stats.sendErrors++; // whether node:dgram kept the packet is unknown: not given back
    }
  }

  /** Gives back the packets libuv queued on `s` once its queue is empty. */
  private drained(s: Socket, q: Buffer[]): void {
    if (s.getSendQueueCount() !== 0) return;
    for (let i = 0; i < q.length; i++) releasePacket(q[i]!);
    q.length = 0;
  }

  /** `given` went to `s`: back at once if libuv sent it, else when the queue drains. */
  private sent(s: Socket, given: Buffer, q: Buffer[]): void {
    if (s.getSendQueueCount() === 0) releasePacket(given);
    else if (q.length < MAX_QUEUED_GIVEN) q.push(given);
    // (beyond that, the packet is never given back: its slab goes to the garbage collector)
  }

  /**
   * The receive path: every datagram from the socket goes through here. Public so tests
   * (and in-process links) can inject packets on exactly the code path of real ones.
   */
  deliver(packet: Buffer, rinfo: LinkRemote): void {
    this.stats.packetsIn++;
    const h = this.handler;
    if (h) h(packet, rinfo);
  }

  /** Sets the (single) receive callback. */
  onPacket(cb: LinkPacketHandler): void {
    this.handler = cb;
  }

  /**
   * How many datagrams of `size` bytes the socket's receive queue holds before the kernel
   * drops (src/link/kernel-udp.ts), or undefined when the grant is unknown.
   */
  datagramCapacity(size: number): number | undefined {
    return this.recvBufferGrant > 0 ? datagramCapacity(this.recvBufferGrant, size) : undefined;
  }

  /**
   * The kernel's counters for this link's socket(s) (receive queue, drops; summed over the
   * connected socket too), read now; undefined off Linux or once closed.
   */
  kernelStats(): KernelUdpStats | undefined {
    if (this.closed) return undefined;
    const l = this.local();
    return kernelUdpStats(l.address, l.port);
  }

  /** The peer this link sends to through a connected socket, if any. */
  connectedPeer(): LinkRemote | undefined {
    return this.peerSocket ? { address: this.peerAddress, port: this.peerPort } : undefined;
  }

  local(): LinkRemote {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Queued sends may still be read while the sockets close: never given back.
    this.queued.length = 0;
    this.peerQueued.length = 0;
    this.handler = undefined;
    const p = this.peerSocket;
    this.peerSocket = undefined;
    this.peerPort = -1;
    if (p) await new Promise<void>((r) => p.close(() => r()));
    await this.promised.close();
  }
}

function setBuffers(s: Socket, opts: UdpLinkOptions): void {
  trySetBuffer(() => s.setRecvBufferSize(opts.recvBufferSize ?? DEFAULT_SOCKET_BUFFER));
  trySetBuffer(() => s.setSendBufferSize(opts.sendBufferSize ?? DEFAULT_SOCKET_BUFFER));
}

function trySetBuffer(set: () => void): void {
  try {
    set();
  } catch {
    // The kernel may refuse (e.g. above net.core.rmem_max without privileges); keep the default.
  }
}
