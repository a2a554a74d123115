/**
 * The send side: the send buffer (bytes from SND.UNA on, written by the user and not yet
 * acknowledged), the retransmission queue with per-segment state (the RFC 6675 scoreboard,
 * RACK and delivery-rate fields live on each segment), and the decisions of how much new data
 * may leave now: Nagle (RFC 896 / RFC 1122 4.2.3.4) and sender silly-window avoidance.
 */
import { summableArea } from '../wire/checksum.js';
import { SEND_APART_MIN } from '../wire/tcp.js';
import { allocPacket } from '../util/slab.js';
import { seqAdd } from './seq.js';
import type { RetransmitKind } from './types.js';
import { widen, widenFirst } from '../util/wide.js';

/**
 * The memory the stream socket copies written bytes into (`copyForSend`): blocks of
 * SEND_BLOCK bytes, each reused once the peer has acknowledged every byte copied into it,
 * instead of a fresh buffer per `write()`. A fresh buffer of 256 KiB costs its allocation
 * and, above malloc's mmap threshold, a page fault per 4 KiB page and an munmap when it is
 * collected: about 0.19 CPU-s per GiB written, most of it in the kernel, against 0.02-0.05
 * for the copy into memory already mapped. Consecutive writes land next to each other in a
 * block, so the send queue holds them as one chunk (ByteQueue.push joins them) and a
 * segment spans two chunks (and is joined by a copy) only at a block's end.
 *
 * One pool per process, shared by every connection: a block returns to the free list when
 * the send queues have released (ByteQueue.consume/clear) every byte copied into it. A
 * block whose bytes are never released (a socket destroyed with a write still held) is not
 * reused; the garbage collector frees it with its last view.
 *
 * The first blocks lie in the checksum's WebAssembly memory (summableArea), where the
 * checksum of a payload is summed in place instead of being copied there first; further
 * blocks, and every block where WebAssembly SIMD is missing, are ordinary buffers. The area's
 * blocks are a gap apart, so copies in two of them are never contiguous (ByteQueue.push
 * joins only copies in one block).
 */
export const SEND_BLOCK = 1024 * 1024;
/** Writes shorter than this are copied as before (Buffer.from takes them from node's own pool). */
export const SEND_POOL_MIN = 4096;
/** Free blocks kept for reuse (beyond them a released block is left to the garbage collector). */
const SEND_POOL_FREE_MAX = 4;

/** Distance between the area's blocks: a block and a gap. */
const AREA_STRIDE = SEND_BLOCK + 4096;

/**
 * A block that held bytes of a send queue cleared before the peer acknowledged them (an
 * aborted connection) is reused only after this many more bytes went through the pool: such
 * bytes may have been handed to node:dgram for a send that libuv still queues (the socket
 * buffer was full), and overwriting them before it goes out could send another payload under
 * their checksum. Acknowledged bytes have no such send outstanding that matters: a queued
 * retransmission of them is old data to the peer, whatever it carries.
 */
const SEND_POOL_QUARANTINE = 64 * 1024 * 1024;

interface SendBlock {
  readonly buf: Buffer;
  /** Bytes copied into the block and not yet released. */
  live: number;
  /** A block of summableArea (always kept for reuse). */
  readonly inArea: boolean;
  /** Bytes of it were abandoned (ByteQueue.clear) since it was last reused. */
  tainted: boolean;
  /** When tainted and free: reusable once takenBytes reaches this. */
  reusableAt: number;
}
/** A send-pool block. */
function sendBlock(buf: Buffer, inArea: boolean): SendBlock {
  return widenBlock({ buf, live: 0, inArea, tainted: false, reusableAt: 0 });
}
/** `reusableAt` is a byte count of the pool, past 2^31 after 2 GiB (src/util/wide.ts). */
const widenBlock = widenFirst(['reusableAt']);

class SendPool {
  private readonly blocks = new WeakMap<ArrayBufferLike, SendBlock>();
  private readonly free: SendBlock[] = [];
  /** Free blocks of the area: taken before any other. */
  private readonly freeInArea: SendBlock[] = [];
  /** Free tainted blocks, oldest first, waiting for SEND_POOL_QUARANTINE more bytes. */
  private readonly quarantine: SendBlock[] = [];
  /** The area's blocks made so far, by index. */
  private readonly areaBlocks: SendBlock[] = [];
  private readonly areaCount: number;
  /** The block new copies go into, and where its unused space begins. */
  private fill: SendBlock | undefined;
  private fillAt = 0;
  /** Blocks allocated, and bytes handed out (tests read them). */
  allocated = 0;
  takenBytes = 0;

  constructor(private readonly area: Buffer | undefined) {
    widen(this, ['takenBytes']); // past 2^31 after 2 GiB written (src/util/wide.ts)
    this.areaCount = area === undefined ? 0 : Math.floor((area.length + AREA_STRIDE - SEND_BLOCK) / AREA_STRIDE);
  }

  /** n bytes of pooled memory (SEND_POOL_MIN <= n <= SEND_BLOCK), counted live until released. */
  take(n: number): Buffer {
    let blk = this.fill;
    if (blk === undefined || this.fillAt + n > SEND_BLOCK) {
      if (blk !== undefined && blk.live === 0) this.recycle(blk); // (a tainted block is not refilled in place)
      blk = this.freeInArea.pop() ?? this.fromQuarantine() ?? this.free.pop() ?? this.newBlock();
      blk.tainted = false;
      this.fill = blk;
      this.fillAt = 0;
    }
    const at = this.fillAt;
    this.fillAt = at + n;
    blk.live += n;
    this.takenBytes += n;
    return blk.buf.subarray(at, at + n);
  }

  private fromQuarantine(): SendBlock | undefined {
    const q = this.quarantine;
    return q.length > 0 && this.takenBytes >= q[0]!.reusableAt ? q.shift() : undefined;
  }

  private newBlock(): SendBlock {
    this.allocated++;
    const area = this.area;
    const i = this.areaBlocks.length;
    if (area !== undefined && i < this.areaCount) {
      const blk = sendBlock(area.subarray(i * AREA_STRIDE, i * AREA_STRIDE + SEND_BLOCK), true);
      this.areaBlocks.push(blk);
      return blk;
    }
    const blk = sendBlock(Buffer.allocUnsafeSlow(SEND_BLOCK), false);
    this.blocks.set(blk.buf.buffer, blk);
    return blk;
  }

  /** The block `b` lies in, if pooled. */
  blockOf(b: Buffer): object | undefined {
    return this.block(b);
  }

  private block(b: Buffer): SendBlock | undefined {
    const area = this.area;
    if (area !== undefined && b.buffer === area.buffer) return this.areaBlocks[Math.floor((b.byteOffset - area.byteOffset) / AREA_STRIDE)];
    return this.blocks.get(b.buffer);
  }

  /**
   * The send queue no longer needs `b` (a whole chunk it held): the peer acknowledged it, or
   * (`abandoned`) the queue was cleared before it did.
   */
  release(b: Buffer, abandoned = false): void {
    const blk = this.block(b);
    if (blk === undefined) return;
    if (abandoned) blk.tainted = true;
    blk.live -= b.length;
    if (blk.live > 0) return;
    if (blk !== this.fill) this.recycle(blk);
    else if (!blk.tainted) this.fillAt = 0; // nothing in it is needed: fill it again from the start
  }

  /** A block nothing needs any more (not the fill block) goes where it can be taken again. */
  private recycle(blk: SendBlock): void {
    if (blk.tainted) {
      blk.reusableAt = this.takenBytes + SEND_POOL_QUARANTINE;
      if (blk.inArea || this.quarantine.length < SEND_POOL_FREE_MAX) this.quarantine.push(blk);
    } else if (blk.inArea) this.freeInArea.push(blk);
    else if (this.free.length < SEND_POOL_FREE_MAX) this.free.push(blk);
  }

  /** Whether `b` lies in pooled memory. */
  holds(b: Buffer): boolean {
    return this.block(b) !== undefined;
  }

  /** Whether `b` lies in the area the checksum sums in place. */
  inArea(b: Buffer): boolean {
    return this.block(b)?.inArea === true;
  }
}

export const sendPool = new SendPool(summableArea);

/**
 * A copy of `chunks` (together `total` bytes) that the send buffer may keep until the peer
 * acknowledges it: in the send pool's memory when the size suits it, else a fresh buffer.
 */
export function copyForSend(chunks: readonly Buffer[], total: number): Buffer {
  if (total < SEND_POOL_MIN || total > SEND_BLOCK) return chunks.length === 1 ? Buffer.from(chunks[0]!) : Buffer.concat(chunks, total);
  const out = sendPool.take(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Payloads the send queue joined from two chunks (a segment across two send-pool blocks)
 * into a packet buffer of their own: the driver hands each to the host to give back once
 * sent (takeJoined), so the join reuses warm slab memory. A fresh buffer per join cost a
 * malloc at the heap's top, and its pages faulted in again after every trim: 0.7 page faults
 * per segment sent at MTU 65000 (one segment in 16 spans two blocks).
 */
const joined = new WeakSet<Buffer>();
let joins = 0;

/** @internal Tests: payloads joined so far in this process. */
export function joinCount(): number {
  return joins;
}

/** Whether `payload` is such a join (then the caller may give it back, once); forgets it. */
export function takeJoined(payload: Buffer): boolean {
  // Only payloads sent apart are ever joined: no set lookup for every other segment.
  return payload.length >= SEND_APART_MIN && joined.delete(payload);
}

/** A FIFO of bytes stored as the chunks the user wrote; sliced by offset without copying when possible. */
export class ByteQueue {
  /**
   * @param releases the queue gives whole chunks back to the send pool once consumed
   *   (the send buffer; a receive queue holds no pooled memory).
   */
  constructor(private readonly releases = false) {}

  private chunks: Buffer[] = [];
  /** Offset of chunks[0][0] from the logical start (bytes already consumed from chunks[0]). */
  private headSkip = 0;
  private len = 0;
  // Lookup cursor: chunk index and its logical offset, to make sequential slicing O(1).
  private curIdx = 0;
  private curOff = 0;

  get length(): number {
    return this.len;
  }

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.len += b.length;
    // Bytes that continue the last chunk in memory (consecutive copies into a send block)
    // extend it: a segment then spans two chunks only where the memory is not contiguous.
    const last = this.chunks.length - 1;
    if (last >= 0) {
      const t = this.chunks[last]!;
      if (t.buffer === b.buffer && t.byteOffset + t.length === b.byteOffset) {
        this.chunks[last] = Buffer.from(t.buffer, t.byteOffset, t.length + b.length);
        return;
      }
    }
    this.chunks.push(b);
  }

  /** Removes n bytes from the front. The lookup cursor moves with the data (no rescan). */
  consume(n: number): void {
    n = Math.min(n, this.len);
    this.len -= n;
    let left = n;
    let removed = 0;
    while (left > 0 && this.chunks.length > 0) {
      const avail = this.chunks[0]!.length - this.headSkip;
      if (left < avail) {
        this.headSkip += left;
        left = 0;
      } else {
        left -= avail;
        const gone = this.chunks.shift()!; // O(1) in V8 (left-trim)
        if (this.releases) sendPool.release(gone);
        this.headSkip = 0;
        removed++;
      }
    }
    // Logical offsets all drop by n; the cursor's chunk index by the chunks removed. When the
    // cursor is (or was) on the first chunk, that chunk starts at logical offset 0.
    this.curIdx -= removed;
    if (this.curIdx <= 0) {
      this.curIdx = 0;
      this.curOff = 0;
    } else {
      this.curOff -= n;
    }
  }

  /** Bytes [offset, offset+n) (n clipped to what is there). */
  slice(offset: number, n: number): Buffer {
    n = Math.max(0, Math.min(n, this.len - offset));
    if (n === 0) return Buffer.alloc(0);
    // Position the cursor at the chunk holding `offset`.
    if (offset < this.curOff) {
      this.curIdx = 0;
      this.curOff = 0;
    }
    while (this.curIdx < this.chunks.length) {
      const clen = this.chunks[this.curIdx]!.length - (this.curIdx === 0 ? this.headSkip : 0);
      if (offset < this.curOff + clen) break;
      this.curOff += clen;
      this.curIdx++;
    }
    let idx = this.curIdx;
    let pos = offset - this.curOff;
    // The common case: the range lies inside one chunk (a view, no copy, no allocation).
    const c0 = this.chunks[idx]!;
    const start0 = (idx === 0 ? this.headSkip : 0) + pos;
    if (start0 + n <= c0.length) return start0 === 0 && n === c0.length ? c0 : c0.subarray(start0, start0 + n); // a whole chunk is itself
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0 && idx < this.chunks.length) {
      const c = this.chunks[idx]!;
      const start = (idx === 0 ? this.headSkip : 0) + pos;
      const take = Math.min(left, c.length - start);
      parts.push(c.subarray(start, start + take));
      left -= take;
      pos = 0;
      idx++;
    }
    if (parts.length === 1) return parts[0]!;
    if (!this.releases || n < SEND_APART_MIN) return Buffer.concat(parts, n);
    // The send queue's payload sent apart from its headers: a join the driver gives back.
    const out = allocPacket(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    joined.add(out);
    joins++;
    return out;
  }

  /**
   * Takes up to n bytes from the front, copying only when they span chunks. When the front
   * chunk alone holds at least `wholeChunk` bytes, only (up to n of) those are taken: a large
   * chunk is handed on as it is instead of being copied together with its neighbour.
   */
  shift(n: number, wholeChunk = Infinity): Buffer {
    if (this.chunks.length > 0) {
      const front = this.chunks[0]!.length - this.headSkip;
      if (front >= wholeChunk) n = Math.min(n, front);
    }
    const b = this.slice(0, n);
    this.consume(b.length);
    return b;
  }

  clear(): void {
    if (this.releases) for (const c of this.chunks) sendPool.release(c, true);
    this.chunks = [];
    this.headSkip = 0;
    this.len = 0;
    this.curIdx = 0;
    this.curOff = 0;
  }
}

/** One transmitted segment on the retransmission queue. */
export interface TxSegment {
  seq: number;
  /** Data bytes. */
  len: number;
  syn: boolean;
  fin: boolean;
  /** Last transmission time and first transmission time, ms. */
  xmitTime: number;
  firstXmitTime: number;
  /** Number of retransmissions. */
  retransmits: number;
  /** TSval of the last transmission (RFC 7323), for RACK/DSACK disambiguation. */
  tsVal?: number;
  /** RFC 6675 scoreboard: SACKed by the peer; deemed lost and awaiting retransmission. */
  sacked: boolean;
  lost: boolean;
  /** Why it is marked lost: the retransmission will be counted under this kind. */
  lostKind?: RetransmitKind;
  // Delivery-rate sampling state at the last transmission (draft-cheng-iccrg-delivery-rate-estimation 3.2).
  delivered: number;
  deliveredTime: number;
  firstSentTime: number;
  appLimited: boolean;
  /** A packetization-layer PMTUD probe (larger than the current MSS; src/tcp/pmtu.ts). */
  pmtuProbe?: boolean;
}

/**
 * A segment about to be transmitted for the first time at `now`: `reuse` (an entry that left
 * the retransmission queue and that nothing refers to any more) reset to exactly that, or a
 * new one.
 */
export function newTxSegment(seq: number, len: number, syn: boolean, fin: boolean, now: number, reuse?: TxSegment): TxSegment {
  if (reuse !== undefined) {
    const s = reuse;
    s.seq = seq;
    s.len = len;
    s.syn = syn;
    s.fin = fin;
    s.xmitTime = now;
    s.firstXmitTime = now;
    s.retransmits = 0;
    if (s.tsVal !== undefined) s.tsVal = undefined;
    s.sacked = false;
    s.lost = false;
    if (s.lostKind !== undefined) s.lostKind = undefined;
    s.delivered = 0;
    s.deliveredTime = 0;
    s.firstSentTime = 0;
    s.appLimited = false;
    if (s.pmtuProbe !== undefined) s.pmtuProbe = undefined;
    return s;
  }
  const s: TxSegment = {
    seq,
    len,
    syn,
    fin,
    xmitTime: now,
    firstXmitTime: now,
    retransmits: 0,
    sacked: false,
    lost: false,
    delivered: 0,
    deliveredTime: 0,
    firstSentTime: 0,
    appLimited: false,
  };
  return widenTx(s);
}

/** A sequence number and a byte count (src/util/wide.ts). */
const widenTx = widenFirst(['seq', 'delivered']);

/** What the scoreboard and RACK read of the retransmission queue (a TxQueue, or an array in tests). */
export interface SegQueue {
  readonly length: number;
  at(i: number): TxSegment | undefined;
}

/**
 * The retransmission queue: segments in sequence order in a ring buffer, so the front leaves
 * in O(1) however long the queue is. (An array's shift() moves every element whenever V8
 * cannot left-trim it, e.g. while the garbage collector is marking: with 2,700 segments in
 * flight at MTU 1472 that was 4% of the bulk sender's CPU.)
 */
export class TxQueue implements SegQueue {
  private ring: (TxSegment | undefined)[];
  private mask: number;
  private head = 0;
  private n = 0;

  constructor(segs: readonly TxSegment[] = []) {
    let cap = 16;
    while (cap < segs.length) cap *= 2;
    this.ring = new Array<TxSegment | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    for (const s of segs) this.push(s);
  }

  get length(): number {
    return this.n;
  }

  /** The i-th segment from the front (0 <= i < length), else undefined. */
  at(i: number): TxSegment | undefined {
    return i >= 0 && i < this.n ? this.ring[(this.head + i) & this.mask] : undefined;
  }

  push(s: TxSegment): void {
    if (this.n === this.ring.length) this.grow();
    this.ring[(this.head + this.n) & this.mask] = s;
    this.n++;
  }

  /** Removes and returns the front segment. */
  shift(): TxSegment | undefined {
    if (this.n === 0) return undefined;
    const s = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.n--;
    return s;
  }

  toArray(): TxSegment[] {
    const out: TxSegment[] = [];
    for (let i = 0; i < this.n; i++) out.push(this.ring[(this.head + i) & this.mask]!);
    return out;
  }

  *[Symbol.iterator](): IterableIterator<TxSegment> {
    for (let i = 0; i < this.n; i++) yield this.ring[(this.head + i) & this.mask]!;
  }

  private grow(): void {
    const segs = this.toArray();
    this.ring = new Array<TxSegment | undefined>(this.ring.length * 2).fill(undefined);
    this.mask = this.ring.length - 1;
    this.head = 0;
    for (let i = 0; i < segs.length; i++) this.ring[i] = segs[i];
  }
}

/** SEG.LEN of a queued segment: data plus SYN and FIN. */
export function txSpan(s: TxSegment): number {
  return s.len + (s.syn ? 1 : 0) + (s.fin ? 1 : 0);
}

export function txEnd(s: TxSegment): number {
  return seqAdd(s.seq, txSpan(s));
}

/**
 * How many new data bytes may be sent now (RFC 1122 4.2.3.4 sender SWS avoidance, with
 * Nagle as its "D" condition), given:
 *   usable  = min(peer window, cwnd room) left for new data
 *   queued  = unsent bytes in the send buffer
 *   mss     = effective send MSS
 * Returns 0 when the sender must wait. Plain arguments, not an object: it runs per segment.
 */
export function sendableNow(usable: number, queued: number, mss: number, maxSndWnd: number, inFlight: boolean, noDelay: boolean, finQueued: boolean): number {
  if (queued <= 0 || usable <= 0) return 0;
  const d = Math.min(usable, queued, mss);
  if (d >= mss) return d; // a full segment
  // All the rest of the queued data fits: Nagle holds it while data is unacknowledged,
  // except the final piece before a FIN (the FIN must not wait: RFC 896 is about small
  // interactive writes, and a closing sender has nothing more to coalesce).
  if (d === queued && (noDelay || !inFlight || finQueued)) return d;
  // At least half the largest window the peer ever offered (Fs = 1/2).
  if (d >= maxSndWnd / 2 && d > 0 && (noDelay || !inFlight)) return d;
  return 0;
}
