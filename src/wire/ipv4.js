/**
 * IPv4 header (RFC 791). We write a 20-byte header (IHL 5) with DF set; on receive we
 * accept options (IHL > 5, skipped) and drop, naming the reason, anything malformed.
 * Fragments are dropped: the overlay never fragments (a datagram over the MTU fails with
 * EMSGSIZE at the sender), so there is no reassembly.
 */
import { get16, get32, put16, put32 } from './bytes.js';
import { internetChecksum } from './checksum.js';
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPV4_HEADER_LEN = 20;
export const DEFAULT_TTL = 64;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
/** Decodes and validates an IPv4 packet. Never throws. */
export function decodeIpv4(buf) {
    if (buf.length < IPV4_HEADER_LEN)
        return { ok: false, reason: 'ip_truncated' };
    const vihl = buf[0];
    if (vihl >> 4 !== 4)
        return { ok: false, reason: 'ip_bad_version' };
    const ihl = (vihl & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN || ihl > buf.length)
        return { ok: false, reason: 'ip_bad_ihl' };
    const totalLength = get16(buf, 2);
    if (totalLength < ihl || totalLength > buf.length)
        return { ok: false, reason: 'ip_bad_length' };
    if (internetChecksum(buf, 0, ihl) !== 0)
        return { ok: false, reason: 'ip_bad_checksum' };
    const fragWord = get16(buf, 6);
    if ((fragWord & FLAG_MF) !== 0 || (fragWord & 0x1fff) !== 0)
        return { ok: false, reason: 'ip_fragment' };
    return {
        ok: true,
        header: {
            src: get32(buf, 12),
            dst: get32(buf, 16),
            protocol: buf[9],
            ttl: buf[8],
            id: get16(buf, 4),
            tos: buf[1],
            headerLength: ihl,
            totalLength,
            dontFragment: (fragWord & FLAG_DF) !== 0,
        },
        // Trailing bytes beyond totalLength (link padding) are ignored.
        payload: buf.subarray(ihl, totalLength),
    };
}
/** Writes a 20-byte IPv4 header at `buf[0..20)` for a packet of `totalLength` bytes. */
export function writeIpv4Header(buf, f, totalLength) {
    writeIpv4HeaderAt(buf, 0, f.src, f.dst, f.protocol, f.id, totalLength, f.ttl ?? DEFAULT_TTL, f.tos ?? 0);
}
/**
 * The same with the fields as arguments (no object on the per-packet path), at `off`.
 * The checksum (RFC 791 3.1) is summed from the field values, not re-read from the buffer.
 */
export function writeIpv4HeaderAt(buf, off, src, dst, protocol, id, totalLength, ttl, tos) {
    if (totalLength > 0xffff || totalLength < IPV4_HEADER_LEN)
        throw new RangeError(`IPv4 total length ${totalLength} out of range`);
    src >>>= 0;
    dst >>>= 0;
    id &= 0xffff;
    tos &= 0xff;
    ttl &= 0xff;
    protocol &= 0xff;
    buf[off] = 0x45;
    buf[off + 1] = tos;
    put16(buf, off + 2, totalLength);
    put16(buf, off + 4, id);
    put16(buf, off + 6, FLAG_DF);
    buf[off + 8] = ttl;
    buf[off + 9] = protocol;
    put32(buf, off + 12, src);
    put32(buf, off + 16, dst);
    let sum = (0x4500 | tos) + (totalLength & 0xffff) + id + FLAG_DF + ((ttl << 8) | protocol) +
        (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    const ck = ~sum & 0xffff;
    put16(buf, off + 10, ck);
}
/** A whole IPv4 packet around an already-encoded transport payload. */
export function encodeIpv4(f, payload) {
    const buf = Buffer.allocUnsafe(IPV4_HEADER_LEN + payload.length);
    writeIpv4Header(buf, f, buf.length);
    buf.set(payload, IPV4_HEADER_LEN);
    return buf;
}
