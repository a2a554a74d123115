/**
 * Direct sends: one datagram handed to the kernel with send(2) or sendto(2) through koffi,
 * on the descriptor of the socket node:dgram opened, instead of through node:dgram.
 *
 * Why. node:dgram's send validates its arguments, resolves the address (a lookup callback
 * even for a literal), makes a request object, crosses into C++ and libuv, and runs a
 * completion callback on a later tick when one is given. For one small datagram that is
 * about 1 us of JavaScript and C++ on this machine, warm, on top of the syscall itself, and
 * more when a process wakes from idle with cold caches, as each end of a request/response
 * exchange does. A direct send is the syscall alone: the kernel has copied the datagram
 * when it returns, so the packet is free again at once and needs no callback.
 *
 * What stays with node:dgram. Trains (UDP GSO, a list of buffers), datagrams in parts,
 * destinations that are not IPv4 literals, and any send while libuv still holds queued
 * sends on that socket (order is kept). When the kernel's send buffer is full (EAGAIN,
 * ENOBUFS) the caller sends through node:dgram, whose libuv queue waits for room.
 */
import { isIPv4 } from 'node:net';
import { parseIpv4 } from '../wire/addr.js';
import type { Libc } from './libc.js';

const MSG_DONTWAIT = 0x40;
const AF_INET = 2;
/** errno values of Linux (asm-generic/errno*.h) that mean "try again through node:dgram". */
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;

/** DirectSender.send()'s result when the datagram should go through node:dgram instead. */
export const USE_DGRAM = 1;
/** DirectSender.send()'s result when the kernel took the datagram. */
export const SENT = 0;

type SendTo = (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer | null, addrLen: number) => number;

const SIGNATURE = 'long sendto(int fd, const void *buf, unsigned long len, int flags, const void *addr, uint32_t addrlen)';

/** Sends single datagrams on one socket's descriptor. */
export class DirectSender {
  /** struct sockaddr_in of the last destination, and which it is. */
  private readonly name = Buffer.alloc(16);
  private namePort = -1;
  private nameAddress = '';

  private constructor(
    private readonly fd: number,
    private readonly libc: Libc,
    private readonly sendto: SendTo,
    /** The socket is connected: send(2) semantics, no destination passed. */
    private readonly connected: boolean,
  ) {
    this.name.writeUInt16LE(AF_INET, 0);
  }

  /** A sender on descriptor `fd`; `connected` for a socket connected to its only destination. */
  static of(fd: number, libc: Libc, connected: boolean): DirectSender {
    return new DirectSender(fd, libc, libc.func<SendTo>(SIGNATURE), connected);
  }

  /**
   * Sends `packet` to `address:port` (ignored on a connected socket, whose only destination
   * the caller has checked). Returns SENT, USE_DGRAM (a full send buffer, an interrupted call,
   * or an address that is not an IPv4 literal), or the negative errno of a failure the kernel
   * reported (the datagram is not sent). Never throws.
   */
  send(packet: Buffer, port: number, address: string): number {
    let r: number;
    try {
      if (this.connected) r = this.sendto(this.fd, packet, packet.length, MSG_DONTWAIT, null, 0);
      else {
        if ((port !== this.namePort || address !== this.nameAddress) && !this.aim(port, address)) return USE_DGRAM;
        r = this.sendto(this.fd, packet, packet.length, MSG_DONTWAIT, this.name, 16);
      }
    } catch {
      return USE_DGRAM;
    }
    if (r >= 0) return SENT;
    const e = this.libc.errno();
    return e === EAGAIN || e === ENOBUFS || e === EINTR ? USE_DGRAM : -e;
  }

  /** Points `name` at `address:port`; false when `address` is not an IPv4 literal as node:net's isIPv4 sees one. */
  private aim(port: number, address: string): boolean {
    const a = isIPv4(address) ? parseIpv4(address) : undefined;
    if (a === undefined || !(port > 0 && port < 65536)) return false;
    this.name.writeUInt16BE(port, 2);
    this.name.writeUInt32BE(a, 4);
    this.namePort = port;
    this.nameAddress = address;
    return true;
  }
}
