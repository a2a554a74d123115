/**
 * UdpLink: one real UDP socket that carries overlay IPv4 packets (IP-in-UDP, like Linux
 * FOU with ipproto 4: each UDP payload is exactly one IPv4 packet).
 *
 * dgram-as-promised handles the slow path (bind, close). The per-packet path uses the raw
 * node:dgram socket (`.socket`): the synchronous 'message' event for receive, and
 * `socket.send(packet, port, address)` without awaiting for send, or a direct sendto(2) on
 * the same socket for a single datagram (directSends, src/link/direct-send.ts). Awaiting per
 * packet would starve timers and incoming packets (see the anchors: never await per packet).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import { releasePacket } from '../util/slab.js';
import { setSumTwin } from '../wire/checksum.js';
import { BATCH, BatchReader, batchReadsUnavailable } from './batch-read.js';
import { DirectSender, SENT, USE_DGRAM } from './direct-send.js';
import { datagramCapacity, kernelUdpStats, type KernelUdpStats } from './kernel-udp.js';
import { loadLibc } from './libc.js';
import { literalLookup, syncAnswers } from './lookup.js';
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, offloadUnavailable, setGro, setGsoSize, socketFd, splitTrain } from './udp-offload.js';

export const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
/** While sends succeed, one in this many carries a completion callback. */
export const SEND_CHECK_EVERY = 64;

const EMPTY = Buffer.alloc(0);
const NO_FD = 'the socket was not found in /proc/net/udp and /proc/self/fd';
/** A datagram at least this long (a bulk transfer's) has the link read what else is queued in batches. */
const BATCH_MIN = 1024;
/** Batches read after one such datagram, at most. */
const BATCH_CALLS = 2;
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
  /**
   * UDP GSO and GRO (src/link/udp-offload.ts): consecutive datagrams of exactly `segment`
   * bytes to one destination leave in one sendmsg (a train the kernel cuts), and the sockets
   * read such trains whole (the link cuts them). Used where the platform has them; otherwise
   * `offload()` says why not. Default off here (Host.create turns it on). `gro: false` keeps
   * the reads one datagram each; `gro: 'whole'` hands a train read whole to the handler, for
   * a wrapper whose datagrams are not IPv4 packets to cut (the secure mode: src/secure/train.ts).
   */
  offload?: { segment: number; gro?: boolean | 'whole' };
  /**
   * Batched reads (src/link/batch-read.ts): when a large datagram arrives, the link reads
   * what else is queued with recvmmsg(2), each datagram copied once, instead of node:dgram's
   * one read, zeroed buffer and copy per datagram. Default off here (Host.create turns it on
   * with the offload).
   */
  batchReads?: boolean;
  /**
   * Direct sends (src/link/direct-send.ts): a single datagram leaves with one sendto(2)
   * through koffi instead of node:dgram's send path, about 1 us less per datagram. Default
   * off here (Host.create turns it on with the offload).
   */
  directSends?: boolean;
}

/** What a link's UDP offload does (UdpLink.offload()). */
export interface LinkOffload {
  /** The size of a train's datagrams (UDP_SEGMENT); 0 when trains are off. */
  segment: number;
  /** Whether the sockets read trains whole (UDP_GRO). */
  gro: boolean;
  /** Whether queued datagrams are read in batches (recvmmsg) during a bulk transfer. */
  batch: boolean;
  /** Whether single datagrams leave by direct sends (sendto through koffi). */
  direct: boolean;
  /** Why trains, GRO, batched reads or direct sends are off, when they are. */
  reason?: string;
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
   * ENETUNREACH). A direct send's failure is always counted. Through node:dgram, while sends
   * succeed, only one in SEND_CHECK_EVERY (and the first to each new destination) is
   * checked; once one fails, every send is checked until SEND_CHECK_EVERY in a row succeed.
   * So a persisting error is counted for every send from the tick after it is first seen;
   * an isolated one may be missed.
   */
  sendErrors: number;
  /** Socket-level errors reported through the 'error' event. */
  socketErrors: number;
  /** Sends of a train of two or more datagrams (UDP GSO), and the datagrams they carried. */
  trainsOut: number;
  trainPacketsOut: number;
  /** Reads that held two or more datagrams (UDP GRO), and the datagrams they held. */
  trainsIn: number;
  trainPacketsIn: number;
  /** recvmmsg calls that read datagrams (batched reads), and the datagrams they read. */
  batchReads: number;
  batchPacketsIn: number;
  /** Batched reads started after a large datagram that found nothing more queued. */
  batchEmptyReads: number;
  /** Datagrams sent by a direct send (sendto through koffi), of packetsOut. */
  directOut: number;
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
  /** send() of the datagram `head` + `body`, given as two buffers (one sendmsg); optional. `give` is for `head`, `giveBody` for `body`. */
  sendParts?(head: Buffer, body: Buffer, port: number, address: string, give?: boolean, giveBody?: boolean): void;
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
  /** UDP GSO/GRO state (UdpLink); a link without it sends one datagram per call. */
  offload?(): LinkOffload;
}

export class UdpLink implements Link {
  /** The raw dgram socket (the per-packet path). */
  readonly socket: Socket;
  readonly stats: UdpLinkStats = {
    packetsIn: 0,
    packetsOut: 0,
    sendErrors: 0,
    socketErrors: 0,
    trainsOut: 0,
    trainPacketsOut: 0,
    trainsIn: 0,
    trainPacketsIn: 0,
    batchReads: 0,
    batchPacketsIn: 0,
    batchEmptyReads: 0,
    directOut: 0,
  };
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

  /** A train failed: counted like any send error; EIO or EINVAL (the kernel cannot cut it) ends trains. */
  private readonly onTrainDone = (err: (Error & { code?: string }) | null): void => {
    this.onSendDone(err);
    if (err && (err.code === 'EIO' || err.code === 'EINVAL') && this.segment > 0) {
      this.segment = 0;
      this.offloadReason = `a train was refused (${err.code}): trains are off`;
    }
  };

  /** The socket connected to `opts.connect`, if any, and that peer. */
  private peerSocket: Socket | undefined;
  private peerPort = -1;
  private peerAddress = '';

  /** UDP offload: the train's datagram size (0: no trains), GRO on the sockets, why not. */
  private segment = 0;
  private gro = false;
  /** GRO reads go to the handler whole (its wrapper cuts them). */
  private groWhole = false;
  private offloadReason: string | undefined;
  /**
   * The train being gathered: full-size datagrams (and at most one shorter, last) to one
   * destination, sent in one call at the end of the current JavaScript task (a microtask),
   * when it is full, or before anything else is sent. `train` holds trainLen buffers: one per
   * datagram, or two for a datagram sent in parts (headers and payload, sendParts);
   * trainDatagrams counts the datagrams.
   */
  private readonly train: Buffer[] = [];
  private trainLen = 0;
  private trainDatagrams = 0;
  /** Which of the train's packets were handed over (`give`), trainGivenLen of them. */
  private readonly trainGiven: Buffer[] = [];
  private trainGivenLen = 0;
  private trainPort = -1;
  private trainAddress = '';
  private trainMax = 0;
  private trainQueued = false;
  private readonly flushTask = (): void => {
    this.trainQueued = false;
    this.flush();
  };

  /** Every datagram read from either socket; a GRO read may hold a train of them. */
  private rinfo: LinkRemote = { address: '', port: 0 };
  private readonly deliverPart = (p: Buffer): void => this.deliver(p, this.rinfo);
  private received(msg: Buffer, rinfo: LinkRemote): void {
    if (!this.gro || this.groWhole) {
      this.deliver(msg, rinfo);
      return;
    }
    this.rinfo = rinfo;
    const n = splitTrain(msg, this.deliverPart);
    if (n > 1) this.countTrainIn(n);
  }

  /** Batched readers of the socket and of the connected peer socket (batchReads). */
  private batchMain: BatchReader | undefined;
  private batchPeer: BatchReader | undefined;
  private batchReason: string | undefined;
  private readonly onMessage = (msg: Buffer, rinfo: LinkRemote): void => this.arrived(msg, rinfo, this.batchMain);
  private readonly onPeerMessage = (msg: Buffer, rinfo: LinkRemote): void => this.arrived(msg, rinfo, this.batchPeer);

  /** A datagram from node:dgram (the socket read by `r`, if batched): delivered, then maybe a batch after it. */
  private arrived(msg: Buffer, rinfo: LinkRemote, r: BatchReader | undefined): void {
    this.received(msg, rinfo);
    if (r !== undefined && msg.length >= BATCH_MIN && r.due()) this.drain(r);
  }

  /**
   * After a large datagram: reads what else the socket holds, up to BATCH_CALLS batches (so
   * timers and the other socket get their turn; libuv reads on while the socket is readable).
   */
  private drain(r: BatchReader): void {
    for (let calls = 0; calls < BATCH_CALLS && !this.closed; calls++) {
      const n = r.read();
      if (n < 0) {
        this.stats.socketErrors++;
        return;
      }
      if (n === 0) {
        if (calls === 0) {
          this.stats.batchEmptyReads++;
          r.missed();
        }
        return;
      }
      r.hit();
      this.stats.batchReads++;
      this.stats.batchPacketsIn += n;
      const { packets, from } = r;
      try {
        for (let i = 0; i < n; i++) {
          const at = this.handlerRewrites ? -1 : r.twin(i);
          if (at >= 0) setSumTwin(packets[i], at);
          this.received(packets[i]!, from[i]!);
        }
      } finally {
        setSumTwin(undefined);
      }
      if (n < BATCH) return;
    }
  }

  private countTrainIn(n: number): void {
    this.stats.trainsIn++;
    this.stats.trainPacketsIn += n;
  }

  /**
   * With `gro: 'whole'`: the handler cut a read (counted once in packetsIn by deliver()) into
   * `n` datagrams; counted as if the link had cut it.
   */
  readCutInto(n: number): void {
    if (n < 2) return;
    this.countTrainIn(n);
    this.stats.packetsIn += n - 1;
  }

  private constructor(private readonly promised: SocketAsPromised) {
    this.socket = promised.socket;
    // Node's rinfo already has address and port: pass it on, no per-packet allocation here.
    this.socket.on('message', this.onMessage);
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
    if (opts.offload) link.startOffload(opts.offload.segment, opts.offload.gro ?? true);
    if (opts.batchReads) link.startBatchReads();
    if (opts.directSends) link.startDirectSends();
    return link;
  }

  /**
   * Turns on UDP GSO (trains of `segment`-byte datagrams) and, with `gro`, GRO on the link's
   * sockets, or records why not. All or nothing: with a connected peer socket both sockets
   * get the same.
   */
  private startOffload(segment: number, gro: boolean | 'whole'): void {
    const why = offloadUnavailable();
    if (why !== undefined) {
      this.offloadReason = why;
      return;
    }
    const max = Math.min(GSO_MAX_SEGMENTS, Math.floor(GSO_MAX_BYTES / segment));
    if (max < 2) {
      this.offloadReason = `datagrams of ${segment} bytes are too large to send two in one train`;
      return;
    }
    const fds = this.fds();
    if (fds === undefined) {
      this.offloadReason = NO_FD;
      return;
    }
    for (const fd of fds) {
      if (!setGsoSize(fd, segment) || (gro && !setGro(fd, true))) {
        for (const f of fds) {
          // Back to one datagram per call on every socket, reads included.
          setGsoSize(f, 0);
          setGro(f, false);
        }
        this.offloadReason = 'the kernel refused UDP_SEGMENT or UDP_GRO (Linux 4.18 and later have both)';
        return;
      }
    }
    this.segment = segment;
    this.trainMax = max;
    this.gro = gro !== false;
    this.groWhole = gro === 'whole';
  }

  /** Turns on batched reads on the link's sockets, or records why not. */
  private startBatchReads(): void {
    const why = batchReadsUnavailable();
    if (why !== undefined) {
      this.batchReason = why;
      return;
    }
    const fds = this.fds();
    if (fds === undefined) {
      this.batchReason = NO_FD;
      return;
    }
    this.batchMain = BatchReader.of(fds[0]!);
    if (fds.length > 1) this.batchPeer = BatchReader.of(fds[1]!);
  }

  /** Turns on direct sends on the link's sockets, or records why not. */
  private startDirectSends(): void {
    const libc = loadLibc();
    if (typeof libc === 'string') {
      this.directReason = `direct sends: ${libc}`;
      return;
    }
    const fds = this.fds();
    if (fds === undefined) {
      this.directReason = `direct sends: ${NO_FD}`;
      return;
    }
    this.directMain = DirectSender.of(fds[0]!, libc, false);
    if (fds.length > 1) this.directPeer = DirectSender.of(fds[1]!, libc, true);
  }

  /**
   * The descriptors of the socket and of the connected peer socket (if any), or undefined if
   * one is not found. Looked up once (each lookup reads /proc) for the offload, the batched
   * reads and the direct sends.
   */
  private fds(): number[] | undefined {
    if (this.fdList === null) {
      const local = this.local();
      const fds = [socketFd(local.address, local.port, false)];
      if (this.peerSocket) fds.push(socketFd(local.address, local.port, true));
      this.fdList = fds.every((fd) => fd !== undefined) ? (fds as number[]) : undefined;
    }
    return this.fdList;
  }
  private fdList: number[] | undefined | null = null;

  /** Whether a read may be a train of datagrams (UDP GRO). */
  get readsTrains(): boolean {
    return this.gro;
  }

  /** Whether send() of a datagram of `length` bytes would put it in a train (a full-size one). */
  gathers(length: number): boolean {
    return this.segment > 0 && length === this.segment && !this.closed;
  }

  /** Whether a packet sent is still waiting in a train (not yet handed to node:dgram). */
  get gathering(): boolean {
    return this.trainLen > 0;
  }

  /** Whether trains and GRO are on, and why not. */
  offload(): LinkOffload {
    const o: LinkOffload = { segment: this.segment, gro: this.gro, batch: this.batchMain !== undefined, direct: this.directMain !== undefined };
    const why = [this.offloadReason, this.batchReason, this.directReason].filter((r) => r !== undefined);
    if (why.length > 0) o.reason = why.join('; ');
    return o;
  }

  private async connectPeer(peer: LinkRemote, opts: UdpLinkOptions): Promise<void> {
    const local = this.local();
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('error', () => {
      this.stats.socketErrors++;
    });
    s.on('message', this.onPeerMessage);
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
    const seg = this.segment;
    if (seg > 0 && packet.length <= seg && !this.closed) this.gather(packet, undefined, port, address, give, false);
    else {
      if (this.trainLen > 0) this.flush();
      this.outOne(packet, port, address, give ? packet : undefined);
    }
  }

  /**
   * Adds a datagram (`packet`, or `packet` then `body` in parts) to the train. A train holds
   * datagrams of exactly the segment size to one destination, then at most one shorter one,
   * which ends it (the kernel cuts a train into segment-size pieces, the last one shorter,
   * wherever the buffers of the list begin and end).
   */
  private gather(packet: Buffer, body: Buffer | undefined, port: number, address: string, give: boolean, giveBody: boolean): void {
    const length = packet.length + (body === undefined ? 0 : body.length);
    if (this.trainLen > 0 && (port !== this.trainPort || address !== this.trainAddress)) this.flush();
    if (this.trainLen === 0) {
      if (length < this.segment) {
        // A lone short packet (an ACK, a request): no train to gather, out at once.
        if (body === undefined) this.outOne(packet, port, address, give ? packet : undefined);
        else this.outList(packet, body, port, address, give ? packet : undefined, giveBody ? body : undefined);
        return;
      }
      this.trainPort = port;
      this.trainAddress = address;
    }
    // Slots are overwritten, never truncated: `length = 0` would free the arrays' storage
    // and the next push allocate it again, about 300 bytes per packet.
    this.train[this.trainLen++] = packet;
    if (give) this.trainGiven[this.trainGivenLen++] = packet;
    if (body !== undefined) {
      this.train[this.trainLen++] = body;
      if (giveBody) this.trainGiven[this.trainGivenLen++] = body;
    }
    this.trainDatagrams++;
    if (length < this.segment || this.trainDatagrams >= this.trainMax) this.flush();
    else if (!this.trainQueued) {
      this.trainQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Sends the gathered train: one datagram as before, two or more in one call. */
  flush(): void {
    const bufs = this.trainLen;
    if (bufs === 0) return;
    const n = this.trainDatagrams;
    const t = this.train;
    const given = this.trainGiven;
    const g = this.trainGivenLen;
    this.trainLen = 0;
    this.trainDatagrams = 0;
    this.trainGivenLen = 0;
    if (n === 1) {
      // One datagram: sent as it would have been alone.
      if (bufs === 1) this.outOne(t[0]!, this.trainPort, this.trainAddress, g > 0 ? given[0] : undefined);
      else this.outList(t[0]!, t[1]!, this.trainPort, this.trainAddress, g > 0 ? given[0] : undefined, g > 1 ? given[1] : undefined);
    } else {
      this.stats.trainsOut++;
      this.stats.trainPacketsOut += n;
      this.out(t.slice(0, bufs), this.trainPort, this.trainAddress, given, g, n);
    }
    for (let i = 0; i < bufs; i++) t[i] = EMPTY;
    for (let i = 0; i < g; i++) given[i] = EMPTY;
  }

  /**
   * Sends `head` and `body` as one datagram: node:dgram takes a list of buffers and hands
   * the kernel one sendmsg with an iovec, so a large payload is not copied into a packet
   * first. The list is reused: node:dgram copies it into its own array.
   */
  sendParts(head: Buffer, body: Buffer, port: number, address: string, give = false, giveBody = false): void {
    const seg = this.segment;
    // A full-size datagram in parts joins the train like any other (MTUs whose payloads TCP sends apart).
    if (seg > 0 && head.length + body.length <= seg && !this.closed) this.gather(head, body, port, address, give, giveBody);
    else {
      if (this.trainLen > 0) this.flush();
      this.outList(head, body, port, address, give ? head : undefined, giveBody ? body : undefined);
    }
  }

  /** out() of the datagram `a` + `b` through the reused two-buffer list; `givenA`, `givenB` as out()'s `given`. */
  private outList(a: Buffer, b: Buffer, port: number, address: string, givenA: Buffer | undefined, givenB: Buffer | undefined): void {
    const parts = this.parts;
    parts[0] = a;
    parts[1] = b;
    this.outOne(parts, port, address, givenA, givenB);
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

  /** out() of one datagram (`packet`, or the list of its parts) and the buffers of it handed over (`a`, `b`). */
  private outOne(packet: Buffer | Buffer[], port: number, address: string, a: Buffer | undefined, b?: Buffer): void {
    const g = this.giving;
    let n = 0;
    if (a !== undefined) g[n++] = a;
    if (b !== undefined) g[n++] = b;
    this.out(packet, port, address, g, n, 1);
    g[0] = EMPTY;
    g[1] = EMPTY;
  }

  /** outOne()'s list of the buffers handed over, reused (out() keeps the buffers, not the list). */
  private readonly giving: Buffer[] = [EMPTY, EMPTY];

  /**
   * Sends `datagrams` datagrams in one call: one (`packet`, or the list of its parts), or a
   * train of two or more (the list of their buffers, cut by the kernel). given[0, givenLen)
   * are the buffers handed over, to give back once nothing reads them: at once when the send
   * left synchronously, else when the socket's queue is next seen empty. A send node:dgram
   * keeps in JavaScript (a lookup still pending, a socket not bound yet) is not counted by
   * libuv, so those buffers are never given back.
   */
  private out(packet: Buffer | Buffer[], port: number, address: string, given: readonly Buffer[], givenLen: number, datagrams: number): void {
    if (this.closed) {
      this.stats.sendErrors++;
      return;
    }
    const train = datagrams > 1;
    const toPeer = port === this.peerPort && address === this.peerAddress;
    if (!train && !Array.isArray(packet) && this.sentDirect(packet, port, address, toPeer, given, givenLen)) return;
    try {
      // A train is checked every time: one callback per train is cheap, and a kernel that
      // cannot cut trains (EIO: a device without checksum offload) turns trains off.
      const check = train || this.erring || --this.checkIn <= 0 || port !== this.lastPort || address !== this.lastAddress;
      if (check) {
        this.checkIn = SEND_CHECK_EVERY;
        this.lastPort = port;
        this.lastAddress = address;
      }
      if (toPeer) {
        // A connected socket sends without a lookup, so nothing waits in JavaScript.
        const s = this.peerSocket!;
        this.peerViaDgram = true;
        if (this.peerQueued.length > 0) this.drained(s, this.peerQueued);
        if (train) s.send(packet, this.onTrainDone);
        else if (check) s.send(packet, this.onSendDone);
        else s.send(packet);
        this.stats.packetsOut += datagrams;
        this.sentAll(s, given, givenLen, this.peerQueued);
      } else {
        const s = this.socket;
        this.viaDgram = true;
        if (this.queued.length > 0) this.drained(s, this.queued);
        const answers = syncAnswers();
        if (train) s.send(packet, port, address, this.onTrainDone);
        else if (check) s.send(packet, port, address, this.onSendDone);
        else s.send(packet, port, address);
        this.stats.packetsOut += datagrams;
        if (syncAnswers() !== answers) this.sentAll(s, given, givenLen, this.queued);
      }
    } catch {
      this.stats.sendErrors++; // whether node:dgram kept the packet is unknown: not given back
    }
  }

  /**
   * Sends one datagram with a direct send (src/link/direct-send.ts) where the socket has one
   * and libuv holds nothing queued on it (so datagrams keep their order); false when it must
   * go through node:dgram. The kernel has copied the datagram when the call returns, so the
   * buffers handed over are given back at once, and a failure is counted then, every one.
   */
  private sentDirect(packet: Buffer, port: number, address: string, toPeer: boolean, given: readonly Buffer[], givenLen: number): boolean {
    const d = toPeer ? this.directPeer : this.directMain;
    if (d === undefined) return false;
    if (toPeer ? this.peerViaDgram : this.viaDgram) {
      // node:dgram sent on this socket since the last direct send: go on with it until libuv's queue is empty.
      if (!this.drained(toPeer ? this.peerSocket! : this.socket, toPeer ? this.peerQueued : this.queued)) return false;
      if (toPeer) this.peerViaDgram = false;
      else this.viaDgram = false;
    }
    const r = d.send(packet, port, address);
    if (r === USE_DGRAM) return false;
    if (r === SENT) {
      this.stats.packetsOut++;
      this.stats.directOut++;
    } else this.stats.sendErrors++;
    for (let i = 0; i < givenLen; i++) releasePacket(given[i]!);
    return true;
  }

  /** The direct senders of the socket and of the connected peer socket (UdpLinkOptions.directSends). */
  private directMain: DirectSender | undefined;
  private directPeer: DirectSender | undefined;
  private directReason: string | undefined;
  /** node:dgram sent on the socket (the peer socket) since its queue was last seen empty. */
  private viaDgram = false;
  private peerViaDgram = false;

  /** given[0, n) went to `s`: back at once if libuv sent them, else when its queue drains. */
  private sentAll(s: Socket, given: readonly Buffer[], n: number, q: Buffer[]): void {
    if (n === 0) return;
    // Beyond MAX_QUEUED_GIVEN queued, a packet is never given back: its slab goes to the garbage collector.
    if (s.getSendQueueCount() === 0) for (let i = 0; i < n; i++) releasePacket(given[i]!);
    else for (let i = 0; i < n && q.length < MAX_QUEUED_GIVEN; i++) q.push(given[i]!);
  }

  /** Gives back the packets libuv queued on `s` once its queue is empty; whether it is. */
  private drained(s: Socket, q: Buffer[]): boolean {
    if (s.getSendQueueCount() !== 0) return false;
    for (let i = 0; i < q.length; i++) releasePacket(q[i]!);
    q.length = 0;
    return true;
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

  /**
   * Sets the (single) receive callback. `rewrites`: it may overwrite a packet's bytes before
   * anything sums them (the secure mode opens sealed datagrams in place), so a batched read's
   * packet is never summed from its twin (setSumTwin), which keeps the bytes as read.
   */
  onPacket(cb: LinkPacketHandler, rewrites = false): void {
    this.handler = cb;
    this.handlerRewrites = rewrites;
  }
  private handlerRewrites = false;

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
    if (this.trainLen > 0) this.flush();
    this.closed = true;
    // Queued sends may still be read while the sockets close: never given back.
    this.queued.length = 0;
    this.peerQueued.length = 0;
    this.handler = undefined;
    this.batchMain = undefined;
    this.batchPeer = undefined;
    this.directMain = undefined;
    this.directPeer = undefined;
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
