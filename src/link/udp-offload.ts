/**
 * UDP segmentation offload (GSO) and receive coalescing (GRO) for a node:dgram socket, on
 * Linux 4.18 and later.
 *
 * Every datagram through node:dgram costs one `sendmsg` and one `recvmsg`, and on this
 * machine the kernel's share of a 1472-byte send is about 3 of its 3.5 us (the syscall, the
 * route, the skb, and on loopback the delivery into the receiver's queue). Linux can take
 * many datagrams in one call: with the socket option UDP_SEGMENT set to a size S, one send
 * of n*S (+ a shorter tail) bytes leaves as n (+1) separate datagrams, cut by the kernel (or
 * the NIC) after the syscall. On the wire, and to any receiver, they are ordinary datagrams,
 * each one IPv4 packet of the overlay, so nothing about the overlay's packet format changes.
 * And a receiving socket with UDP_GRO set may be handed such a train whole, in one read,
 * where the kernel would have cut it (loopback: the sender's train itself; a NIC: datagrams of
 * one flow coalesced by GRO): the reader gets their bytes back to back and must cut them at
 * the segment size, which the link does by each packet's IPv4 total length (`splitTrain`).
 *
 * node:dgram has neither option, so they are set with setsockopt(2) through koffi (a C FFI
 * with prebuilt binaries; an optional dependency; src/link/libc.ts), on the descriptor of the socket node:dgram
 * opened, found through /proc (`socketFd`). Where any of that is missing (not Linux, koffi not
 * installed, an old kernel refusing the option) the link works as before, one datagram per
 * call, and `offloadUnavailable()` says why.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { udpSocketInodes } from './kernel-udp.js';
import { loadLibc } from './libc.js';

const SOL_UDP = 17;
/** linux/udp.h */
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
/** The kernel refuses a train of more segments than this (UDP_MAX_SEGMENTS, 64 since 4.18). */
export const GSO_MAX_SEGMENTS = 64;
/** The largest UDP payload one send may carry, GSO or not (65535 - 20 - 8). */
export const GSO_MAX_BYTES = 65507;

type SetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number) => number;

let setsockopt: SetSockOpt | undefined;

/** Why the offload cannot be used in this process, or undefined when it can be tried. */
export function offloadUnavailable(): string | undefined {
  const libc = loadLibc();
  return typeof libc === 'string' ? `UDP GSO/GRO: ${libc}` : undefined;
}

const option = Buffer.alloc(4);

function setInt(fd: number, name: number, value: number): boolean {
  const libc = loadLibc();
  if (typeof libc === 'string') return false;
  setsockopt ??= libc.func<SetSockOpt>('int setsockopt(int fd, int level, int name, const void *value, uint32_t length)');
  option.writeInt32LE(value, 0);
  try {
    return setsockopt(fd, SOL_UDP, name, option, 4) === 0;
  } catch {
    return false;
  }
}

/** Sets UDP_SEGMENT: a send longer than `size` bytes leaves as datagrams of `size` bytes. */
export function setGsoSize(fd: number, size: number): boolean {
  return setInt(fd, UDP_SEGMENT, size);
}

/** Sets UDP_GRO: the socket may read a train of same-flow datagrams as one. */
export function setGro(fd: number, on: boolean): boolean {
  return setInt(fd, UDP_GRO, on ? 1 : 0);
}

/**
 * The file descriptor of this process's IPv4 UDP socket bound to `address:port` (connected,
 * or not): the socket's inode from /proc/net/udp, then the descriptor in /proc/self/fd that
 * links to it (another process may have sockets on the same port; only ours are in our table).
 * Undefined when not found.
 */
export function socketFd(address: string, port: number, connected: boolean): number | undefined {
  const inodes = new Set(
    udpSocketInodes(address, port)
      .filter((s) => s.connected === connected)
      .map((s) => `socket:[${s.inode}]`),
  );
  if (inodes.size === 0) return undefined;
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      if (inodes.has(readlinkSync(`/proc/self/fd/${fd}`))) return Number(fd);
    } catch {
      // closed meanwhile (readdir's own descriptor, say)
    }
  }
  return undefined;
}

/**
 * Cuts what a UDP_GRO socket read into the datagrams it was: back-to-back IPv4 packets, all
 * as long as the first (the train's segment size) except a shorter last one. node:dgram does
 * not pass on the segment size the kernel reports (a control message), so the packets' own
 * headers stand in for it: the first packet's IPv4 total length is the segment size, and the
 * read is cut only if every piece then starts with an IPv4 header whose total length is the
 * piece's length. Anything else (one datagram, or one with bytes after its packet, as a
 * damaged or hostile datagram may have) is passed on whole, for the host to judge and count
 * as one datagram, exactly as without GRO. (A real train cannot fail the check: the kernel
 * merges only datagrams of one flow that passed its UDP checksum, and the overlay's senders
 * put one packet in each.) Calls `each` once per datagram, in order, with a view (no copy);
 * returns how many.
 */
export function splitTrain(buf: Buffer, each: (packet: Buffer) => void): number {
  const n = buf.length;
  const size = n >= 20 ? (buf[2]! << 8) | buf[3]! : 0;
  if (size < 20 || size >= n || !isTrain(buf, size)) {
    each(buf);
    return 1;
  }
  return cutTrain(buf, size, each);
}

/** Calls `each` with the `size`-byte pieces of `buf` (the last one shorter), as views, in order; returns how many. */
export function cutTrain(buf: Buffer, size: number, each: (piece: Buffer) => void): number {
  const n = buf.length;
  let count = 0;
  for (let off = 0; off < n; off += size) {
    each(buf.subarray(off, Math.min(n, off + size)));
    count++;
  }
  return count;
}

/** Whether every `size`-byte piece of `buf` (the last one shorter) is an IPv4 packet of exactly that length. */
function isTrain(buf: Buffer, size: number): boolean {
  const n = buf.length;
  for (let off = 0; off < n; off += size) {
    const len = Math.min(size, n - off);
    if (len < 20) return false;
    const v = buf[off]!;
    if (v >> 4 !== 4 || (v & 0xf) < 5 || ((buf[off + 2]! << 8) | buf[off + 3]!) !== len) return false;
  }
  return true;
}
