/**
 * TCP header and options (RFC 9293 section 3.1, RFC 7323, RFC 2018).
 * Pure encode/decode: no state. Decoding never throws; it names a drop reason instead.
 */
import { fold, internetChecksum, pseudoHeaderSum, SIMD_CHECKSUM, SIMD_MIN, sumWords } from './checksum.js';
import { DEFAULT_TTL, IPPROTO_TCP, IPV4_HEADER_LEN, writeIpv4HeaderAt, type Ipv4Fields } from './ipv4.js';
import { allocPacket } from '../util/slab.js';
import { get16, get32, put16, put32 } from './bytes.js';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_OPTIONS = 40;

export const OPT_EOL = 0;
export const OPT_NOP = 1;
export const OPT_MSS = 2;
export const OPT_WSCALE = 3;
export const OPT_SACK_PERMITTED = 4;
export const OPT_SACK = 5;
export const OPT_TIMESTAMP = 8;

/** A SACK block [left, right) in sequence space. */
export interface SackBlock {
  left: number;
  right: number;
}

export interface TcpOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  sack?: SackBlock[];
  /** TSval / TSecr (RFC 7323). */
  ts?: { val: number; ecr: number };
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field (unscaled). */
  window: number;
  urgent: number;
  options: TcpOptions;
  payload: Buffer;
}

export type TcpDropReason = 'tcp_truncated' | 'tcp_bad_offset' | 'tcp_bad_checksum' | 'tcp_bad_option';

export type TcpDecoded = { ok: true; segment: TcpSegment } | { ok: false; reason: TcpDropReason };

const EMPTY = Buffer.alloc(0);

/** SEG.LEN: payload bytes plus one for SYN and one for FIN. */
export function segmentLength(seg: TcpSegment): number {
  return seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
}

/** Parses the options area; returns undefined when a length is malformed. */
export function decodeOptions(buf: Buffer, start: number, end: number): TcpOptions | undefined {
  const o: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return undefined;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return undefined;
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return undefined;
        o.mss = get16(buf, i + 2);
        break;
      case OPT_WSCALE:
        if (len !== 3) return undefined;
        o.wscale = buf[i + 2]!;
        break;
      case OPT_SACK_PERMITTED:
        if (len !== 2) return undefined;
        o.sackPermitted = true;
        break;
      case OPT_SACK: {
        if ((len - 2) % 8 !== 0 || len === 2) return undefined;
        const blocks: SackBlock[] = [];
        for (let j = i + 2; j < i + len; j += 8) {
          blocks.push({ left: get32(buf, j), right: get32(buf, j + 4) });
        }
        o.sack = blocks;
        break;
      }
      case OPT_TIMESTAMP:
        if (len !== 10) return undefined;
        o.ts = { val: get32(buf, i + 2), ecr: get32(buf, i + 6) };
        break;
      default:
        // Unknown option: skipped by its length (RFC 9293 3.1, RFC 1122 4.2.2.5).
        break;
    }
    i += len;
  }
  return o;
}

/**
 * Decodes a TCP segment. When `src`/`dst` are given, the checksum (with the IPv4
 * pseudo-header) is verified.
 */
export function decodeTcp(buf: Buffer, src?: number, dst?: number): TcpDecoded {
  const r = decodeTcpAt(buf, 0, buf.length, src, dst);
  return typeof r === 'string' ? { ok: false, reason: r } : { ok: true, segment: r };
}

/**
 * decodeTcp of the segment at buf[start, end) (a received packet past its IP header), without
 * a result wrapper or a view of the segment: the segment, or the drop reason. The segment
 * is new (callers keep it); its payload is a view of `buf`.
 */
export function decodeTcpAt(buf: Buffer, start: number, end: number, src?: number, dst?: number): TcpSegment | TcpDropReason {
  const len = end - start;
  if (len < TCP_HEADER_LEN) return 'tcp_truncated';
  const offset = (buf[start + 12]! >> 4) * 4;
  if (offset < TCP_HEADER_LEN || offset > len) return 'tcp_bad_offset';
  if (src !== undefined && dst !== undefined) {
    const sum = internetChecksum(buf, start, end, pseudoHeaderSum(src, dst, IPPROTO_TCP, len));
    if (sum !== 0) return 'tcp_bad_checksum';
  }
  const options = offset > TCP_HEADER_LEN ? decodeOptions(buf, start + TCP_HEADER_LEN, start + offset) : {};
  if (!options) return 'tcp_bad_option';
  return {
    srcPort: get16(buf, start),
    dstPort: get16(buf, start + 2),
    seq: get32(buf, start + 4),
    ack: get32(buf, start + 8),
    flags: buf[start + 13]!,
    window: get16(buf, start + 14),
    urgent: get16(buf, start + 18),
    options,
    payload: offset === len ? EMPTY : buf.subarray(start + offset, end),
  };
}

/** Writes options at buf[start..); returns the end offset (padded with NOPs/EOL to 4). */
export function encodeOptions(o: TcpOptions, buf: Buffer, start: number): number {
  let i = start;
  if (o.mss !== undefined) {
    buf[i++] = OPT_MSS;
    buf[i++] = 4;
    put16(buf, i, o.mss & 0xffff);
    i += 2;
  }
  if (o.sackPermitted && o.ts) {
    buf[i++] = OPT_SACK_PERMITTED;
    buf[i++] = 2;
  } else if (o.sackPermitted) {
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_SACK_PERMITTED;
    buf[i++] = 2;
  }
  if (o.ts) {
    if (!o.sackPermitted) {
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_NOP;
    }
    buf[i++] = OPT_TIMESTAMP;
    buf[i++] = 10;
    put32(buf, i, o.ts.val >>> 0);
    put32(buf, i + 4, o.ts.ecr >>> 0);
    i += 8;
  }
  if (o.wscale !== undefined) {
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_WSCALE;
    buf[i++] = 3;
    buf[i++] = o.wscale;
  }
  if (o.sack && o.sack.length > 0) {
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_SACK;
    buf[i++] = 2 + 8 * o.sack.length;
    for (const b of o.sack) {
      put32(buf, i, b.left >>> 0);
      put32(buf, i + 4, b.right >>> 0);
      i += 8;
    }
  }
  while ((i - start) & 3) buf[i++] = OPT_EOL;
  return i;
}

/** Exact encoded options length (the layout above, NOP-padded where it pads). */
export function encodedOptionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.sackPermitted) n += o.ts ? 2 : 4;
  if (o.ts) n += o.sackPermitted ? 10 : 12;
  if (o.wscale !== undefined) n += 4;
  if (o.sack && o.sack.length > 0) n += 4 + 8 * o.sack.length;
  return (n + 3) & ~3;
}

/**
 * From this many payload bytes on, a segment is sent as two buffers (its headers, and the
 * payload where it is: writeTcpHeader, HostLike.sendParts) instead of being copied into one
 * packet. Env OVERLAY_SEND_APART_MIN overrides it (for A/B runs of the bench).
 */
export const SEND_APART_MIN = Number(process.env['OVERLAY_SEND_APART_MIN'] ?? 4096);

/** Writes the TCP header + payload at buf[start..] and its checksum. Returns the end. */
export function writeTcp(buf: Buffer, start: number, seg: TcpSegment, src: number, dst: number): number {
  const optEnd = writeTcpFields(buf, start, seg);
  const payload = seg.payload;
  buf.set(payload, optEnd);
  const end = optEnd + payload.length;
  putTcpChecksum(buf, start, optEnd, seg, src, dst, SIMD_CHECKSUM && payload.length >= SIMD_MIN ? payload : undefined);
  return end;
}

/**
 * Writes the TCP header (with options) at buf[start..] and the checksum of the whole
 * segment, header and `seg.payload`, without copying the payload: for a packet sent as two
 * buffers, this header and the payload where it already is (Host.sendParts). Returns the
 * header's end.
 */
export function writeTcpHeader(buf: Buffer, start: number, seg: TcpSegment, src: number, dst: number): number {
  const optEnd = writeTcpFields(buf, start, seg);
  putTcpChecksum(buf, start, optEnd, seg, src, dst, seg.payload);
  return optEnd;
}

/** The header's fields and options, checksum field 0; returns the options' end. */
function writeTcpFields(buf: Buffer, start: number, seg: TcpSegment): number {
  put16(buf, start, seg.srcPort);
  put16(buf, start + 2, seg.dstPort);
  put32(buf, start + 4, seg.seq);
  put32(buf, start + 8, seg.ack);
  const optEnd = encodeOptions(seg.options, buf, start + TCP_HEADER_LEN);
  buf[start + 12] = ((optEnd - start) / 4) << 4;
  buf[start + 13] = seg.flags & 0xff;
  put16(buf, start + 14, seg.window);
  put16(buf, start + 16, 0);
  put16(buf, start + 18, seg.urgent);
  return optEnd;
}

/**
 * The checksum of the segment whose header is buf[start, optEnd): with `apart` (the payload,
 * wherever it is) the header and the payload are summed apart, else the payload follows the
 * header in `buf` and the whole range is summed.
 */
function putTcpChecksum(buf: Buffer, start: number, optEnd: number, seg: TcpSegment, src: number, dst: number, apart: Buffer | undefined): void {
  const hdrLen = optEnd - start;
  const len = hdrLen + seg.payload.length;
  const pseudo = pseudoHeaderSum(src, dst, IPPROTO_TCP, len);
  let sum: number;
  if (apart !== undefined) {
    // The header and the payload view are summed apart (no view of the packet; the header is
    // a multiple of 4 bytes, so the payload's 16-bit words stay those of the segment). The
    // fixed header's words are summed from the fields just written, not read back: as many
    // additions as words, against a byte loop that cost as much per segment as the SIMD sum
    // of 1420 payload bytes. The checksum field counts as 0.
    const seq = seg.seq >>> 0;
    const ack = seg.ack >>> 0;
    const fixed =
      (seg.srcPort & 0xffff) + (seg.dstPort & 0xffff) + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) +
      (((hdrLen / 4) << 12) | (seg.flags & 0xff)) + (seg.window & 0xffff) + (seg.urgent & 0xffff);
    sum = sumWords(apart, 0, apart.length, sumWords(buf, start + TCP_HEADER_LEN, optEnd, pseudo + fixed));
  } else {
    sum = sumWords(buf, start, start + len, pseudo);
  }
  put16(buf, start + 16, ~fold(sum) & 0xffff);
}

/** The TCP segment alone (header, options, payload) with its checksum. */
export function encodeTcp(seg: TcpSegment, src: number, dst: number): Buffer {
  const buf = Buffer.allocUnsafe(TCP_HEADER_LEN + encodedOptionsLength(seg.options) + seg.payload.length);
  writeTcp(buf, 0, seg, src, dst);
  return buf;
}

/** A whole IPv4 packet carrying `seg`, built in one buffer (one copy of the payload). */
export function encodeTcpPacket(ip: Omit<Ipv4Fields, 'protocol'>, seg: TcpSegment): Buffer {
  const tcpLen = TCP_HEADER_LEN + encodedOptionsLength(seg.options) + seg.payload.length;
  const buf = allocPacket(IPV4_HEADER_LEN + tcpLen);
  writeIpv4HeaderAt(buf, 0, ip.src, ip.dst, IPPROTO_TCP, ip.id, buf.length, ip.ttl ?? DEFAULT_TTL, ip.tos ?? 0);
  writeTcp(buf, IPV4_HEADER_LEN, seg, ip.src, ip.dst);
  return buf;
}

/** tcpdump-like flags text: "S." for SYN-ACK, "F." for FIN-ACK, "." for a bare ACK. */
export function flagsToString(flags: number): string {
  let s = '';
  if (flags & SYN) s += 'S';
  if (flags & FIN) s += 'F';
  if (flags & RST) s += 'R';
  if (flags & PSH) s += 'P';
  if (flags & URG) s += 'U';
  if (flags & ECE) s += 'E';
  if (flags & CWR) s += 'W';
  if (flags & ACK) s += '.';
  return s || 'none';
}
