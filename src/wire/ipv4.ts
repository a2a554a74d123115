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

export interface Ipv4Header {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  id: number;
  tos: number;
  /** Bytes of the header as received (20 + options). */
  headerLength: number;
  totalLength: number;
  dontFragment: boolean;
}

export type Ipv4DropReason =
  | 'ip_truncated'
  | 'ip_bad_version'
  | 'ip_bad_ihl'
  | 'ip_bad_length'
  | 'ip_bad_checksum'
  | 'ip_fragment';

export type Ipv4Decoded =
  | { ok: true; header: Ipv4Header; payload: Buffer }
  | { ok: false; reason: Ipv4DropReason };

/** Decodes and validates an IPv4 packet. Never throws. */
export function decodeIpv4(buf: Buffer): Ipv4Decoded {
  const header = newIpv4Header();
  const reason = decodeIpv4Into(buf, header);
  if (reason !== undefined) return { ok: false, reason };
  // Trailing bytes beyond totalLength (link padding) are ignored.
  return { ok: true, header, payload: buf.subarray(header.headerLength, header.totalLength) };
}

/** A header for decodeIpv4Into to fill (a receive path reuses one). */
export function newIpv4Header(): Ipv4Header {
  return { src: 0, dst: 0, protocol: 0, ttl: 0, id: 0, tos: 0, headerLength: 0, totalLength: 0, dontFragment: false };
}

/**
 * decodeIpv4 without its result objects: validates `buf` and fills `h` (every field), or
 * returns the drop reason (then `h` is partly filled or untouched). The payload is
 * buf[h.headerLength, h.totalLength). Never throws.
 */
export function decodeIpv4Into(buf: Buffer, h: Ipv4Header): Ipv4DropReason | undefined {
  if (buf.length < IPV4_HEADER_LEN) return 'ip_truncated';
  const vihl = buf[0]!;
  if (vihl >> 4 !== 4) return 'ip_bad_version';
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN || ihl > buf.length) return 'ip_bad_ihl';
  const totalLength = get16(buf, 2);
  if (totalLength < ihl || totalLength > buf.length) return 'ip_bad_length';
  if (internetChecksum(buf, 0, ihl) !== 0) return 'ip_bad_checksum';
  const fragWord = get16(buf, 6);
  if ((fragWord & FLAG_MF) !== 0 || (fragWord & 0x1fff) !== 0) return 'ip_fragment';
  h.src = get32(buf, 12);
  h.dst = get32(buf, 16);
  h.protocol = buf[9]!;
  h.ttl = buf[8]!;
  h.id = get16(buf, 4);
  h.tos = buf[1]!;
  h.headerLength = ihl;
  h.totalLength = totalLength;
  h.dontFragment = (fragWord & FLAG_DF) !== 0;
  return undefined;
}

export interface Ipv4Fields {
  src: number;
  dst: number;
  protocol: number;
  id: number;
  ttl?: number;
  tos?: number;
}

/** Writes a 20-byte IPv4 header at `buf[0..20)` for a packet of `totalLength` bytes. */
export function writeIpv4Header(buf: Buffer, f: Ipv4Fields, totalLength: number): void {
  writeIpv4HeaderAt(buf, 0, f.src, f.dst, f.protocol, f.id, totalLength, f.ttl ?? DEFAULT_TTL, f.tos ?? 0);
}

/**
 * The same with the fields as arguments (no object on the per-packet path), at `off`.
 * The checksum (RFC 791 3.1) is summed from the field values, not re-read from the buffer.
 */
export function writeIpv4HeaderAt(
  buf: Uint8Array,
  off: number,
  src: number,
  dst: number,
  protocol: number,
  id: number,
  totalLength: number,
  ttl: number,
  tos: number,
): void {
  if (totalLength > 0xffff || totalLength < IPV4_HEADER_LEN) throw new RangeError(`IPv4 total length ${totalLength} out of range`);
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
  let sum =
    (0x4500 | tos) + (totalLength & 0xffff) + id + FLAG_DF + ((ttl << 8) | protocol) +
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const ck = ~sum & 0xffff;
  put16(buf, off + 10, ck);
}

/** A whole IPv4 packet around an already-encoded transport payload. */
export function encodeIpv4(f: Ipv4Fields, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(IPV4_HEADER_LEN + payload.length);
  writeIpv4Header(buf, f, buf.length);
  buf.set(payload, IPV4_HEADER_LEN);
  return buf;
}
