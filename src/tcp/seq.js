/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4). Every comparison of sequence
 * numbers in the stack goes through these: a plain `<` is wrong across the wrap.
 */
export function seqAdd(a, n) {
    return (a + n) >>> 0;
}
/** a - b as a signed 32-bit distance. */
export function seqDiff(a, b) {
    return (a - b) | 0;
}
export function seqLt(a, b) {
    return ((a - b) | 0) < 0;
}
export function seqLe(a, b) {
    return ((a - b) | 0) <= 0;
}
export function seqGt(a, b) {
    return ((a - b) | 0) > 0;
}
export function seqGe(a, b) {
    return ((a - b) | 0) >= 0;
}
export function seqMax(a, b) {
    return seqGt(a, b) ? a : b;
}
export function seqMin(a, b) {
    return seqLt(a, b) ? a : b;
}
/** lo <= x < hi, modulo 2^32. */
export function seqInRange(x, lo, hi) {
    return seqLe(lo, x) && seqLt(x, hi);
}
