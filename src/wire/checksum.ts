/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * The sum is taken over 32-bit big-endian words where possible: a float64 holds the
 * running sum exactly up to 2^53, so for any packet below 2^21 words (8 MiB) nothing is
 * lost, and the carries are folded once at the end. The one's-complement sum of 32-bit
 * words folds to the same 16-bit value as the sum of 16-bit words.
 */

/** One's-complement sum of `buf[start, end)` added to `initial`, not folded, not inverted. */
export function sumWords(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
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
