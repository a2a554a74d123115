/**
 * Batched reads: up to BATCH datagrams from a link's UDP socket in one recvmmsg(2), each
 * copied once into a buffer of its own.
 *
 * Why. node:dgram reads one datagram per recvmsg into a 64 KiB buffer, then (Node 20)
 * moves it into a new zero-filled buffer of the datagram's length: a memset and a memcpy of
 * every byte received, on top of the kernel's copy. For a 65,000-byte datagram or a GRO train
 * that is about 4 us of a receiver's 26 (measured with a receiver kept busy: 16.4 us per
 * datagram through node:dgram, 12.1 this way). Here the kernel copies a batch into one
 * reused area, and each datagram is copied out once into memory nobody zeroes.
 *
 * How it fits node:dgram. The socket stays node:dgram's: its 'message' event is the
 * doorbell. When a large datagram arrives (a bulk transfer), the link reads what else is
 * queued with recvmmsg(MSG_DONTWAIT), in order after it; libuv's next recvmsg then finds the
 * queue empty. Small datagrams (requests, ACKs) never trigger a batch, so a ping-pong costs
 * no extra syscall; large ones that come one at a time make it back off (due()).
 *
 * The area and its control blocks (mmsghdr, iovec, sockaddr_in per slot) are shared by
 * every reader of the process: a read copies everything out before it returns, and nothing
 * runs in between. The layouts are those of 64-bit Linux (x86-64 and arm64 alike). The area
 * lies in the checksum's WebAssembly memory where it has one (batchReadArea): while the link
 * delivers a copy, its checksum sums the datagram where the kernel put it (`twin`, setSumTwin)
 * instead of copying it into the checksum's scratch area.
 */
import { formatIpv4 } from '../wire/addr.js';
import { batchReadArea } from '../wire/checksum.js';
import type { LinkRemote } from './udp-link.js';
import { loadLibc, type Libc } from './libc.js';

/** Datagrams per recvmmsg. */
export const BATCH = 16;
/** Most doorbells skipped after reads that found nothing (see BatchReader.due). */
const SKIP_MAX = 32;
/** Bytes per slot: any UDP payload (at most 65,507) or GRO train fits. */
const SLOT = 65536;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
/** sizeof(struct mmsghdr), sizeof(struct iovec), sizeof(struct sockaddr_in) on LP64 Linux. */
const MMSG = 64;
const IOV = 16;
const NAME = 16;
/** Offsets in struct mmsghdr: msg_hdr.msg_name, .msg_namelen, .msg_iov, .msg_iovlen, msg_len. */
const NAME_PTR = 0;
const NAME_LEN = 8;
const IOV_PTR = 16;
const IOV_LEN = 24;
const MSG_LEN = 56;

type Recvmmsg = (fd: number, vec: Buffer, vlen: number, flags: number, timeout: null) => number;

interface Area {
  recvmmsg: Recvmmsg;
  libc: Libc;
  /** BATCH mmsghdrs, then BATCH iovecs, then BATCH sockaddr_ins. */
  ctl: Buffer;
  data: Buffer;
  /** `data` is batchReadArea: a copy's checksum may sum its twin there. */
  summable: boolean;
}

let area: Area | undefined;
let reason: string | undefined;

function theArea(): Area | undefined {
  if (area !== undefined || reason !== undefined) return area;
  if (process.arch !== 'x64' && process.arch !== 'arm64') {
    reason = `batched reads know the C structures of 64-bit Linux only (this is ${process.arch})`;
    return undefined;
  }
  const libc = loadLibc();
  if (typeof libc === 'string') {
    reason = `batched reads: ${libc}`;
    return undefined;
  }
  const recvmmsg = libc.func<Recvmmsg>('int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)');
  const ctl = Buffer.alloc(BATCH * (MMSG + IOV + NAME));
  const data = batchReadArea !== undefined && batchReadArea.length >= BATCH * SLOT ? batchReadArea : Buffer.allocUnsafeSlow(BATCH * SLOT);
  const ctlAt = libc.address(ctl);
  const dataAt = libc.address(data);
  for (let i = 0; i < BATCH; i++) {
    const iov = BATCH * MMSG + i * IOV;
    const name = BATCH * (MMSG + IOV) + i * NAME;
    ctl.writeBigUInt64LE(ctlAt + BigInt(name), i * MMSG + NAME_PTR);
    ctl.writeBigUInt64LE(ctlAt + BigInt(iov), i * MMSG + IOV_PTR);
    ctl.writeBigUInt64LE(1n, i * MMSG + IOV_LEN);
    ctl.writeBigUInt64LE(dataAt + BigInt(i * SLOT), iov);
    ctl.writeBigUInt64LE(BigInt(SLOT), iov + 8);
  }
  area = { recvmmsg, libc, ctl, data, summable: data === batchReadArea };
  return area;
}

/** Why batched reads cannot be used in this process, or undefined when they can. */
export function batchReadsUnavailable(): string | undefined {
  theArea();
  return reason;
}

/** Reads one socket's queued datagrams in batches. */
export class BatchReader {
  /** The datagrams of the last read(), and who sent each (valid until the next read()). */
  readonly packets: Buffer[] = [];
  readonly from: LinkRemote[] = [];
  // The last sender, to hand on the same object while it does not change (no string per datagram).
  private lastAddr = -1;
  private lastPort = -1;
  private lastFrom: LinkRemote = { address: '', port: 0 };
  // Backoff: doorbells still to skip, and how many the next empty read makes it skip.
  private skip = 0;
  private nextSkip = 1;

  private constructor(
    private readonly fd: number,
    private readonly a: Area,
  ) {}

  /**
   * Whether to read after this doorbell. A request/response exchange of large messages
   * finds nothing queued behind each one: after a read that found nothing, the next 1, then
   * 3, 7, ... up to SKIP_MAX doorbells are skipped (one wasted syscall per SKIP_MAX messages
   * at most); a read that finds datagrams (a bulk transfer) ends the backoff.
   */
  due(): boolean {
    if (this.skip === 0) return true;
    this.skip--;
    return false;
  }

  /** The first read after a doorbell found nothing: skip the next doorbells (backoff). */
  missed(): void {
    this.skip = this.nextSkip;
    this.nextSkip = Math.min(SKIP_MAX, this.nextSkip * 2 + 1);
  }

  /** A read found datagrams: read after every doorbell again. */
  hit(): void {
    this.nextSkip = 1;
  }

  /** Where in batchReadArea the twin of packets[i] lies (-1 when the area is not there). */
  twin(i: number): number {
    return this.a.summable ? i * SLOT : -1;
  }

  /** A reader of descriptor `fd`, or undefined where batched reads are unavailable. */
  static of(fd: number): BatchReader | undefined {
    const a = theArea();
    return a === undefined ? undefined : new BatchReader(fd, a);
  }

  /**
   * Reads up to BATCH queued datagrams without waiting. Returns how many (0 when none was
   * queued, -1 on another error, such as a connected socket's pending ICMP error); they are
   * in `packets` and `from`.
   */
  read(): number {
    const { ctl, data } = this.a;
    for (let i = 0; i < BATCH; i++) ctl.writeUInt32LE(NAME, i * MMSG + NAME_LEN);
    const n = this.a.recvmmsg(this.fd, ctl, BATCH, MSG_DONTWAIT, null);
    if (n < 0) return this.a.libc.errno() === EAGAIN ? 0 : -1;
    const names = BATCH * (MMSG + IOV);
    for (let i = 0; i < n; i++) {
      const len = ctl.readUInt32LE(i * MMSG + MSG_LEN);
      const out = Buffer.allocUnsafe(len);
      data.copy(out, 0, i * SLOT, i * SLOT + len);
      this.packets[i] = out;
      const at = names + i * NAME;
      const port = (ctl[at + 2]! << 8) | ctl[at + 3]!;
      const addr = ctl.readUInt32BE(at + 4);
      if (addr !== this.lastAddr || port !== this.lastPort) {
        this.lastAddr = addr;
        this.lastPort = port;
        this.lastFrom = { address: formatIpv4(addr), port };
      }
      this.from[i] = this.lastFrom;
    }
    return n;
  }
}
