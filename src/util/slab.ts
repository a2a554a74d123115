/**
 * Packet buffers carved from 64 KiB slabs.
 *
 * Buffer.allocUnsafe serves small sizes from an 8 KiB pool: five 1472-byte packets per pool,
 * then a new ArrayBuffer (a malloc, a backing-store registration, later a sweep). At 100k+
 * packets a second that was about 7% of the stack's CPU. A slab holds 44 such packets.
 * Starts are 4-byte aligned for the checksum's word loads. Large packets (MTU 65000) get
 * 1 MiB slabs: a fresh 64 KB ArrayBuffer per packet was about 10% of such a sender's CPU.
 *
 * Reuse. A packet may outlive the call that sent it (libuv queues a datagram the kernel did
 * not take at once; a tap or a capture may keep it; an in-process link may hand it to its
 * receiver), so no byte of a slab is handed out twice unless every packet carved from it
 * was given back (releasePacket) by the code that knows nothing holds it any more: the UDP
 * link, after the kernel took the datagram (at once, or from libuv's queue, seen empty
 * later), for a packet the host handed over with no tap to see it (Host.sendPacket's
 * `give`). A slab whose packets all came back is taken again for new packets, and the packet
 * taken last, given back before the next is taken (a send the kernel took at once), leaves
 * its bytes to the next. So the bulk sender keeps writing into a few warm slabs instead of
 * a fresh one every 44 packets, whose pages the kernel faults in again once glibc has
 * trimmed the freed ones (bulk5: about 9% of the sender's CPU). A packet that is never given
 * back keeps its slab out of reuse; the garbage collector frees it as before.
 */
const SLAB = 64 * 1024;
/** Larger packets come from 1 MiB slabs (16 datagrams of 64 KB at MTU 65000). */
const BIG_SLAB = 1024 * 1024;
/** Slabs kept for reuse per size class (at most 1 MiB of small ones, 4 MiB of big ones). */
const FREE_MAX_BYTES = 4 * 1024 * 1024;
/** Full slabs still waiting for packets to come back; beyond this the oldest is left to the GC. */
const WAITING_MAX = 32;

/** Whether releasePacket gives packets back (tests and benchmarks compare: setPacketReuse). */
let reuse = true;
let reused = 0;
let largeReused = 0;
let slabsReused = 0;

/** One slab and how many of the packets carved from it have not come back. */
interface Slab {
  readonly buf: Buffer;
  readonly ab: ArrayBufferLike;
  held: number;
}

function newSlab(buf: Buffer): Slab {
  return { buf, ab: buf.buffer, held: 0 };
}

class Slabs {
  private cur: Slab;
  private used = 0;
  /** The packet taken last, while it may still come back before the next is taken; where it starts. */
  private last: Buffer | undefined;
  private lastStart = 0;
  /** Full slabs with packets out, oldest first. */
  private readonly waiting: Slab[] = [];
  /** Slabs whose packets all came back. */
  private readonly free: Slab[] = [];
  private readonly freeMax: number;

  constructor(private readonly size: number) {
    this.cur = newSlab(Buffer.allocUnsafeSlow(size));
    this.freeMax = Math.max(1, Math.floor(FREE_MAX_BYTES / size) >> (size === SLAB ? 2 : 0));
  }

  take(n: number): Buffer {
    if (this.used + n > this.size) this.next();
    const start = this.used;
    const cur = this.cur;
    const b = cur.buf.subarray(start, start + n);
    cur.held++;
    this.used = (start + n + 3) & ~3;
    this.last = b;
    this.lastStart = start;
    return b;
  }

  /** The current slab is full: a free one, or a new one, takes its place. */
  private next(): void {
    const full = this.cur;
    this.last = undefined;
    if (full.held === 0) this.keep(full);
    else {
      if (this.waiting.length >= WAITING_MAX) this.waiting.shift(); // its packets are not coming back: GC
      this.waiting.push(full);
    }
    const f = this.free.pop();
    if (f) slabsReused++;
    this.cur = f ?? newSlab(Buffer.allocUnsafeSlow(this.size));
    this.used = 0;
  }

  private keep(s: Slab): void {
    if (this.free.length < this.freeMax) this.free.push(s);
  }

  /** `b` came back (see releasePacket). Returns whether it was one of this class's packets. */
  giveBack(b: Buffer): boolean {
    const cur = this.cur;
    const ab = b.buffer;
    if (ab === cur.ab) {
      cur.held--;
      if (b === this.last) {
        // Taken last: its bytes are the next packet's.
        this.last = undefined;
        this.used = this.lastStart;
      }
      return true;
    }
    const w = this.waiting;
    for (let i = w.length - 1; i >= 0; i--) {
      const s = w[i]!;
      if (s.ab !== ab) continue;
      if (--s.held === 0) {
        w.splice(i, 1);
        this.keep(s);
      }
      return true;
    }
    return false; // a slab left to the GC (or not a slab packet)
  }
}

const small = new Slabs(SLAB);
let big: Slabs | undefined; // only for hosts with a large MTU

/** An uninitialised buffer of `n` bytes for one packet. */
export function allocPacket(n: number): Buffer {
  // Each size class keeps at least 8 packets a slab, so a slab's unused tail stays small.
  if (n <= SLAB / 8) return small.take(n);
  if (n <= BIG_SLAB / 8) return (big ??= new Slabs(BIG_SLAB)).take(n);
  return Buffer.allocUnsafe(n);
}

/**
 * Gives back a packet from allocPacket that nothing holds any more, nor will (the caller
 * drops it too). Call it once per packet, and only for a packet from allocPacket: a packet
 * given back twice, or one still held, can be overwritten by a later packet.
 */
export function releasePacket(b: Buffer): void {
  if (!reuse) return;
  const n = b.length;
  const s = n <= SLAB / 8 ? small : n <= BIG_SLAB / 8 ? big : undefined;
  if (s?.giveBack(b)) {
    reused++;
    if (s === big) largeReused++;
  }
}

/** @internal Tests and benchmarks: give packets back (true, the default) or never. */
export function setPacketReuse(on: boolean): void {
  reuse = on;
}

/** @internal Tests and benchmarks: packets given back (`large`: of the 1 MiB slabs), and slabs taken again, in this process. */
export function packetReuseCount(): { packets: number; large: number; slabs: number } {
  return { packets: reused, large: largeReused, slabs: slabsReused };
}
