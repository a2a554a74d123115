/**
 * Big-endian loads and stores on the packet hot paths. Buffer's readUInt32BE and friends
 * check their range on every call and are looked up on each buffer's prototype (a
 * megamorphic load when buffers come from different allocators); the decoders here have
 * already checked their lengths, so plain byte arithmetic does.
 */
export function get16(buf, i) {
    return (buf[i] << 8) | buf[i + 1];
}
export function get32(buf, i) {
    return ((buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]) >>> 0;
}
/** Stores the low 16 bits of `v`. */
export function put16(buf, i, v) {
    buf[i] = (v >>> 8) & 0xff;
    buf[i + 1] = v & 0xff;
}
/** Stores `v` as an unsigned 32-bit value. */
export function put32(buf, i, v) {
    buf[i] = v >>> 24;
    buf[i + 1] = (v >>> 16) & 0xff;
    buf[i + 2] = (v >>> 8) & 0xff;
    buf[i + 3] = v & 0xff;
}
