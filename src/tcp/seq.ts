/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4). Every comparison of sequence
 * numbers in the stack goes through these: a plain `<` is wrong across the wrap.
 */

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** a - b as a signed 32-bit distance. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo <= x < hi, modulo 2^32. */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLe(lo, x) && seqLt(x, hi);
}

/** lo <= x < lo + wnd, modulo 2^32. */
export function seqInWindow(x: number, lo: number, wnd: number): boolean {
  return seqInRange(x, lo, seqAdd(lo, wnd));
}

/**
 * RFC 9293 3.10.7.4, the four cases: whether a segment of `segLen` sequence numbers at `seq`
 * is acceptable to a receive window of `wnd` bytes at RCV.NXT.
 */
export function segmentAcceptable(seq: number, segLen: number, rcvNxt: number, wnd: number): boolean {
  if (segLen === 0) return wnd === 0 ? seq === rcvNxt : seqInWindow(seq, rcvNxt, wnd);
  return wnd > 0 && (seqInWindow(seq, rcvNxt, wnd) || seqInWindow(seqAdd(seq, segLen - 1), rcvNxt, wnd));
}
