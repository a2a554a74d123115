/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * The sum is taken over 32-bit words: a float64 holds the running sum exactly up to
 * 2^53, so for any packet below 2^21 words (8 MiB) nothing is lost, and the carries are
 * folded once at the end. The one's-complement sum of 32-bit words folds to the same
 * 16-bit value as the sum of 16-bit words. Ranges of 128 bytes and more (every full-size
 * payload the stack builds or receives) are summed by WebAssembly SIMD (checksum-simd.ts)
 * where the runtime has it; otherwise large even-aligned ranges are summed as native words
 * through a typed-array view.
 */
import { SIMD_AREA_BYTES, SIMD_AREA_START, SIMD_BATCH_BYTES, SIMD_BATCH_START, SIMD_SCRATCH, simdSum, type SimdSum } from './checksum-simd.js';

/**
 * Below this many bytes the byte loop beats creating a typed-array view. Measured by
 * instruction count (valgrind callgrind): a view costs about 1100 instructions to create
 * (and about 100 bytes of garbage), the word loop then 3.5 per byte, the byte loop 11.8 per
 * byte: they cross near 134 bytes. So ACKs and small segments (a 64-byte write is a 96-byte
 * TCP segment) take the byte loop and allocate nothing.
 */
const VIEW_MIN = 128;

/**
 * From this many bytes on, a range is summed by WebAssembly SIMD (checksum-simd.ts) where
 * the runtime has it: copying the range into the module's memory and summing it there cost
 * (best of 5 alternating runs) 98 ns against 142 ns for the JavaScript loop at 128 bytes,
 * 125 against 330 at 1440 and 2.6 against 10.2 us at 65000; below about 100 bytes the call
 * and the copy cost more than the byte loop.
 */
const SIMD_MIN = 128;
const simd = simdSum;

/**
 * One's-complement sum of `buf[start, end)` added to `initial`, not folded, not inverted.
 * Only the folded value is meaningful (`fold(sumWords(...))`); sums may be chained
 * through `initial`.
 */
export function sumWords(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  if (simd !== undefined && end - start >= SIMD_MIN) return sumSimd(simd, buf, start, end, initial);
  return sumWordsJs(buf, start, end, initial);
}

/**
 * True where sumWords takes WebAssembly SIMD for ranges of SIMD_MIN bytes and more. Then a
 * whole payload view is better summed on its own (the SIMD path copies it without making
 * a view of it) than inside the packet it was copied into.
 */
export const SIMD_CHECKSUM: boolean = simd !== undefined;
export { SIMD_MIN };

/** sumWords in JavaScript alone (where WebAssembly SIMD is missing; and the reference the SIMD sum is tested against). */
export function sumWordsJs(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  const abs = buf.byteOffset + start;
  if (end - start >= VIEW_MIN && (abs & 1) === 0) return sumAligned(buf, start, end, initial);
  let sum = initial;
  let i = start;
  const n32 = end - ((end - start) & 3);
  for (; i < n32; i += 4) {
    sum += ((buf[i]! << 24) >>> 0) + ((buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!);
  }
  if (i + 1 < end) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/**
 * The fast path for a range starting at an even memory address: sum native (little-endian)
 * 32-bit words through a Uint32Array view, one load per 4 bytes, then swap the bytes of
 * the folded sum. RFC 1071 section 2(B): the one's-complement sum is byte-order
 * independent, so summing byte-swapped 16-bit words and swapping the result gives the
 * same checksum. Two accumulators let the CPU overlap the additions.
 */
function sumAligned(buf: Uint8Array, start: number, end: number, initial: number): number {
  let i = start;
  let s = 0;
  let t = 0;
  if (((buf.byteOffset + i) & 2) !== 0) {
    s = buf[i]! | (buf[i + 1]! << 8); // one little-endian 16-bit word up to 4-byte alignment
    i += 2;
  }
  const words = (end - i) >>> 2;
  const v = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
  let u = 0;
  let w = 0;
  let k = 0;
  for (; k + 3 < words; k += 4) {
    s += v[k]!;
    t += v[k + 1]!;
    u += v[k + 2]!;
    w += v[k + 3]!;
  }
  for (; k < words; k++) s += v[k]!;
  s += t + u + w;
  i += words * 4;
  if (i + 1 < end) {
    s += buf[i]! | (buf[i + 1]! << 8);
    i += 2;
  }
  if (i < end) s += buf[i]!; // a trailing odd byte is the high byte of a big-endian word
  s = fold(s);
  return initial + (((s & 0xff) << 8) | (s >>> 8));
}

/**
 * Memory whose bytes the checksum sums where they lie, without copying them into the SIMD
 * module's scratch area: a part of the module's own memory, or undefined where WebAssembly
 * SIMD is missing. The send pool (src/tcp/send.ts) keeps written bytes there. Never grown,
 * so views of it stay valid.
 */
export const summableArea: Buffer | undefined = simd === undefined ? undefined : Buffer.from(simd.memory, SIMD_AREA_START, SIMD_AREA_BYTES);

/**
 * Memory batched reads (src/link/batch-read.ts) have the kernel write datagrams into, in the
 * checksum's WebAssembly memory; undefined where WebAssembly SIMD is missing.
 */
export const batchReadArea: Buffer | undefined = simd === undefined ? undefined : Buffer.from(simd.memory, SIMD_BATCH_START, SIMD_BATCH_BYTES);

/** Longest range summed in one call in place (the module's 32-bit lanes cannot overflow below 2 MiB). */
const IN_PLACE_MAX = 1024 * 1024;

// The twin of the packet being delivered (setSumTwin): its memory, range, and where in the module's memory its copy lies.
let twinMemory: ArrayBufferLike | undefined;
let twinFrom = 0;
let twinTo = 0;
let twinAt = 0;
let twinSums = 0;

/** @internal Tests: sums taken from a twin (setSumTwin) so far in this process. */
export function twinSumCount(): number {
  return twinSums;
}

/**
 * While a packet copied out of batchReadArea is being delivered, its bytes are still there
 * too, at `at` (an offset in batchReadArea): a sum over any part of `copy` then sums that
 * twin where it lies instead of copying the bytes into the scratch area first. The batch
 * reader calls it before each packet it delivers and with undefined after the last, before
 * the area is read into again. A buffer outside the copy's range is summed as usual.
 */
export function setSumTwin(copy: Buffer | undefined, at = 0): void {
  if (copy === undefined || simd === undefined) {
    twinMemory = undefined;
    return;
  }
  twinMemory = copy.buffer;
  twinFrom = copy.byteOffset;
  twinTo = copy.byteOffset + copy.length;
  twinAt = SIMD_BATCH_START + at;
}

/**
 * The range copied into the SIMD module's memory (any alignment) and summed there, a
 * scratch area at a time; each piece but the last has an even length, so the 16-bit word
 * boundaries stay those of the range. A range in the module's memory already (summableArea)
 * is summed where it is. The module sums little-endian words: swap the result.
 */
function sumSimd(m: SimdSum, buf: Uint8Array, start: number, end: number, initial: number): number {
  let s = 0;
  const from = buf.byteOffset + start;
  if (buf.buffer === m.memory && end - start <= IN_PLACE_MAX) s = m.sum(from, end - start);
  else if (buf.buffer === twinMemory && from >= twinFrom && buf.byteOffset + end <= twinTo) {
    s = m.sum(twinAt + (from - twinFrom), end - start);
    twinSums++;
  }
  else {
    for (let i = start; i < end; i += SIMD_SCRATCH) {
      const n = Math.min(SIMD_SCRATCH, end - i);
      m.scratch.set(n === buf.length ? buf : buf.subarray(i, i + n), 0); // a whole view is copied as it is
      s += m.sum(0, n);
    }
  }
  s = fold(s);
  return initial + (((s & 0xff) << 8) | (s >>> 8));
}

/** Folds a running sum to 16 bits (end-around carry). */
export function fold(sum: number): number {
  // Split the (up to 53-bit) sum into 16-bit pieces with arithmetic, not 32-bit bit ops.
  while (sum > 0xffff) {
    sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  }
  return sum;
}

/** RFC 1071 checksum of a byte range: the inverted, folded one's-complement sum. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return ~fold(sumWords(buf, start, end, initial)) & 0xffff;
}

/** The pseudo-header sum for TCP/UDP over IPv4 (RFC 9293 3.1, RFC 768). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), where a 16-bit field changed from m to m'.
 * Returns the new checksum.
 */
export function incrementalUpdate(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}
