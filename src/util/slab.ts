/**
 * Packet buffers carved from 64 KiB slabs.
 *
 * Buffer.allocUnsafe serves small sizes from an 8 KiB pool: five 1472-byte packets per pool,
 * then a new ArrayBuffer (a malloc, a backing-store registration, later a sweep). At 100k+
 * packets a second that was about 7% of the stack's CPU. A slab holds 44 such packets.
 * Slices are never reused: a packet may outlive the send call (libuv queues it when the
 * socket buffer is full; a tap may keep it), so a slab is freed by the garbage collector
 * once its last packet is gone. Starts are 4-byte aligned for the checksum's word loads.
 */
const SLAB = 64 * 1024;
/** Larger packets get their own buffer (they would waste most of a slab's tail). */
const MAX_FROM_SLAB = SLAB / 8;

let slab = Buffer.allocUnsafeSlow(SLAB);
let used = 0;

/** An uninitialised buffer of `n` bytes for one packet. */
export function allocPacket(n: number): Buffer {
  if (n > MAX_FROM_SLAB) return Buffer.allocUnsafe(n);
  if (used + n > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    used = 0;
  }
  const b = slab.subarray(used, used + n);
  used = (used + n + 3) & ~3;
  return b;
}
