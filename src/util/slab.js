/**
 * Packet buffers carved from 64 KiB slabs.
 *
 * Buffer.allocUnsafe serves small sizes from an 8 KiB pool: five 1472-byte packets per pool,
 * then a new ArrayBuffer (a malloc, a backing-store registration, later a sweep). At 100k+
 * packets a second that was about 7% of the stack's CPU. A slab holds 44 such packets.
 * Slices are never reused: a packet may outlive the send call (libuv queues it when the
 * socket buffer is full; a tap may keep it), so a slab is freed by the garbage collector
 * once its last packet is gone. Starts are 4-byte aligned for the checksum's word loads.
 * Large packets (MTU 65000) get 1 MiB slabs: a fresh 64 KB ArrayBuffer per packet was about
 * 10% of such a sender's CPU.
 */
const SLAB = 64 * 1024;
/** Larger packets come from 1 MiB slabs (16 datagrams of 64 KB at MTU 65000). */
const BIG_SLAB = 1024 * 1024;
class Slabs {
    size;
    slab;
    used = 0;
    constructor(size) {
        this.size = size;
        this.slab = Buffer.allocUnsafeSlow(size);
    }
    take(n) {
        if (this.used + n > this.size) {
            this.slab = Buffer.allocUnsafeSlow(this.size);
            this.used = 0;
        }
        const b = this.slab.subarray(this.used, this.used + n);
        this.used = (this.used + n + 3) & ~3;
        return b;
    }
}
const small = new Slabs(SLAB);
let big; // only for hosts with a large MTU
/** An uninitialised buffer of `n` bytes for one packet. */
export function allocPacket(n) {
    // Each size class keeps at least 8 packets a slab, so a slab's unused tail stays small.
    if (n <= SLAB / 8)
        return small.take(n);
    if (n <= BIG_SLAB / 8)
        return (big ??= new Slabs(BIG_SLAB)).take(n);
    return Buffer.allocUnsafe(n);
}
