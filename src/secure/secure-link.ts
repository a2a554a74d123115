/**
 * SecureLink: the secure overlay between a Host and its UdpLink. It has the link's
 * contract (send to a UDP endpoint, deliver what arrives), so the host, TCP and UDP are
 * unchanged: IPv4 packets go down in plain text and come up in plain text, and on the
 * wire every datagram is a Noise handshake message or an AEAD-sealed packet
 * (src/secure/session.ts). The protocol is SecureCore (sans-IO); this class gives it the
 * socket, the clock and a timer.
 */
import { isIPv4 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Link, LinkOffload, LinkPacketHandler, LinkRemote, UdpLink, UdpLinkStats } from '../link/udp-link.js';
import { makeError } from '../util/errors.js';
import { decodeKey } from './keys.js';
import { secureSnapshot, type SecureSnapshot } from './host-options.js';
import { SecureCore, type SecureCoreOptions, type SecureEvent, type SecureStats } from './core.js';
import { DATA_OVERHEAD, MSG_DATA } from './session.js';
import { splitSealedTrain } from './train.js';
import type { KernelUdpStats } from '../link/kernel-udp.js';

/** Sees every outer datagram (sealed) the link sends or receives, e.g. for --pcap-outer. */
export type OuterTap = (direction: 'in' | 'out', datagram: Buffer, local: LinkRemote, remote: LinkRemote, timeMs: number) => void;

export class SecureLink implements Link {
  readonly core: SecureCore;
  private handler: LinkPacketHandler | undefined;
  private unreachableCb: ((packets: Buffer[]) => void) | undefined;
  private readonly eventCbs = new Set<(e: SecureEvent) => void>();
  private readonly outerTaps = new Set<OuterTap>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** deliver() calls under way: their datagrams are the caller's, not opened in place. */
  private injecting = 0;
  /** The last address released() found to be an IPv4 literal. */
  private literal = '';
  /** The peer UdpLink sends to through its connected socket, if any (fixed once bound). */
  private readonly connectedPort: number;
  private readonly connectedAddress: string;

  constructor(
    private readonly inner: UdpLink,
    opts: SecureCoreOptions,
  ) {
    const connected = inner.connectedPeer();
    this.connectedPort = connected?.port ?? -1;
    this.connectedAddress = connected?.address ?? '';
    this.core = new SecureCore(opts, {
      transmit: (d, port, address) => {
        if (this.outerTaps.size) {
          // A tap may keep the datagram (a pcap writer queues it): never reused.
          this.tapOuter('out', d, { address, port });
          this.inner.send(d, port, address);
          return false;
        }
        if (d[0] === MSG_DATA && this.inner.gathers(d.length)) {
          // A full-size data message waits in a train: the core gets a fresh buffer for the
          // next one, and this one (carved from the packet slabs) is handed over to the link,
          // which gives it back once sent, so its slab is used again.
          this.inner.send(d, port, address, true);
          return false;
        }
        this.inner.send(d, port, address);
        return this.released(port, address);
      },
      deliver: (packet, from) => this.handler?.(packet, from),
      unreachable: (packets) => this.unreachableCb?.(packets),
      event: (e) => {
        for (const cb of this.eventCbs) {
          try {
            cb(e);
          } catch {
            // An observer's failure must not reach the receive path.
          }
        }
      },
    });
    inner.onPacket((d, rinfo) => {
      // node:dgram gives each message a buffer of its own, exactly its size (checked, so
      // that a pooled buffer would never be written): opened in place, each datagram of a
      // GRO train in its own part of it. A datagram injected through deliver() belongs to
      // its caller.
      // (Saved and restored: a datagram injected while one is received must not change them.)
      const r = this.rinfo;
      const o = this.owned;
      this.rinfo = rinfo;
      this.owned = this.injecting === 0 && d.byteOffset === 0 && d.buffer.byteLength === d.length;
      try {
        if (!inner.readsTrains || this.injecting > 0) this.receiveOne(d);
        else inner.readCutInto(splitSealedTrain(d, this.receivePart));
      } finally {
        this.rinfo = r;
        this.owned = o;
      }
    }, true); // opened in place: what the kernel wrote is no longer the packet's bytes
    this.timer = setInterval(() => this.core.tick(performance.now()), this.core.tickIntervalMs());
    this.timer.unref();
  }

  /** The datagram being received (one of a GRO train, or the whole read): its sender, and whether it may be opened in place. */
  private rinfo: LinkRemote = { address: '', port: 0 };
  private owned = false;
  private readonly receivePart = (d: Buffer): void => this.receiveOne(d);

  private receiveOne(d: Buffer): void {
    if (this.outerTaps.size) {
      // A tap may keep the datagram: opened into a new buffer, `d` left as it came.
      this.tapOuter('in', d, this.rinfo);
      this.core.receive(d, this.rinfo, performance.now());
      return;
    }
    this.core.receive(d, this.rinfo, performance.now(), this.owned);
  }

  /**
   * Whether the datagram just handed to the UDP socket for (port, address) is no longer
   * referenced, so that its buffer may be sealed into again. node:dgram sends a datagram
   * at once when it can (uv_udp_try_send: the kernel copies it before send returns) and
   * otherwise queues the request in libuv with a reference to the buffer until it goes out
   * later (socket buffer full, or another send already queued); getSendQueueCount() counts
   * those. A send node:dgram defers in JavaScript holds the buffer without being counted
   * there: before the socket is bound (never: the link is bound first), or while it looks
   * up a name (never for an IPv4 literal: UdpLink's lookup answers those at once) or
   * connects. So: released only for an IPv4 literal on the unconnected socket with nothing
   * queued. (The socket connected to one peer, Host.create's connectPeer, is private to
   * UdpLink: datagrams to that peer are never reused.)
   */
  private released(port: number, address: string): boolean {
    if (address !== this.literal) {
      if (!isIPv4(address)) return false;
      this.literal = address;
    }
    if (port === this.connectedPort && address === this.connectedAddress) return false;
    // A full-size datagram waits in the link's train (UDP GSO) until the task ends.
    if (this.inner.gathering) return false;
    try {
      return this.inner.socket.getSendQueueCount() === 0;
    } catch {
      return false; // closed
    }
  }

  /** The UDP socket's own counters (outer datagrams). */
  get stats(): UdpLinkStats {
    return this.inner.stats;
  }

  get recvBufferGrant(): number {
    return this.inner.recvBufferGrant;
  }

  /** Outer datagrams carry the secure header and tag on top of each packet. */
  datagramCapacity(size: number): number | undefined {
    return this.inner.datagramCapacity(size + DATA_OVERHEAD);
  }

  kernelStats(): KernelUdpStats | undefined {
    return this.inner.kernelStats();
  }

  connectedPeer(): LinkRemote | undefined {
    return this.inner.connectedPeer();
  }

  /** The UDP link's trains of sealed datagrams (GSO), read whole and cut here (GRO). */
  offload(): LinkOffload {
    return this.inner.offload();
  }

  get secureStats(): SecureStats {
    return this.core.stats;
  }

  get publicKey(): Buffer {
    return this.core.publicKey;
  }

  snapshot(): SecureSnapshot {
    return secureSnapshot(this.core.publicKey, this.core.stats);
  }

  send(packet: Buffer, port: number, address: string): void {
    if (this.closed) {
      this.inner.stats.sendErrors++;
      return;
    }
    this.core.send(packet, port, address, performance.now());
  }

  /**
   * Injects one outer datagram on the receive path, as the socket would, except that it
   * is never opened in place: the caller's buffer keeps its bytes.
   */
  deliver(datagram: Buffer, rinfo: LinkRemote): void {
    this.injecting++;
    try {
      this.inner.deliver(datagram, rinfo);
    } finally {
      this.injecting--;
    }
  }

  onPacket(cb: LinkPacketHandler): void {
    this.handler = cb;
  }

  /** Adds a keyed peer at `endpoint` (again with the same key: nothing). Throws EINVAL on a bad or conflicting key. */
  addPeer(endpoint: LinkRemote, publicKey: Buffer | string): void {
    const key = typeof publicKey === 'string' ? decodeKey(publicKey) : publicKey.length === 32 ? publicKey : undefined;
    if (!key) throw makeError('EINVAL', 'host', { message: 'a peer public key is 32 bytes (base64, 44 characters)' });
    try {
      this.core.addPeer({ publicKey: key, endpoint });
    } catch (e) {
      throw makeError('EINVAL', 'host', { message: (e as Error).message });
    }
  }

  /** Called with the packets dropped when a peer's handshake gives up. */
  onUnreachable(cb: (packets: Buffer[]) => void): void {
    this.unreachableCb = cb;
  }

  /** Handshake and roaming events; returns a function that unsubscribes. */
  onEvent(cb: (e: SecureEvent) => void): () => void {
    this.eventCbs.add(cb);
    return () => {
      this.eventCbs.delete(cb);
    };
  }

  addOuterTap(tap: OuterTap): () => void {
    this.outerTaps.add(tap);
    return () => {
      this.outerTaps.delete(tap);
    };
  }

  private tapOuter(dir: 'in' | 'out', d: Buffer, remote: LinkRemote): void {
    const t = performance.now();
    let local: LinkRemote;
    try {
      local = this.inner.local();
    } catch {
      return;
    }
    for (const tap of this.outerTaps) {
      try {
        tap(dir, d, local, remote, t);
      } catch {
        // Observers never break the data path.
      }
    }
  }

  local(): LinkRemote {
    return this.inner.local();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.handler = undefined;
    await this.inner.close();
  }
}
