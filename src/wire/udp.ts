/** UDP header (RFC 768) with the IPv4 pseudo-header checksum. */
import { fold, internetChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { DEFAULT_TTL, IPPROTO_UDP, IPV4_HEADER_LEN, writeIpv4HeaderAt, type Ipv4Fields } from './ipv4.js';
import { allocPacket } from '../util/slab.js';

export const UDP_HEADER_LEN = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export type UdpDropReason = 'udp_truncated' | 'udp_bad_length' | 'udp_bad_checksum';
export type UdpDecoded = { ok: true; datagram: UdpDatagram } | { ok: false; reason: UdpDropReason };

/** Decodes a UDP datagram; verifies the checksum when src/dst are given and it is not 0. */
export function decodeUdp(buf: Buffer, src?: number, dst?: number): UdpDecoded {
  if (buf.length < UDP_HEADER_LEN) return { ok: false, reason: 'udp_truncated' };
  const length = buf.readUInt16BE(4);
  if (length < UDP_HEADER_LEN || length > buf.length) return { ok: false, reason: 'udp_bad_length' };
  const checksum = buf.readUInt16BE(6);
  // A received checksum of 0 means the sender computed none (RFC 768).
  if (checksum !== 0 && src !== undefined && dst !== undefined) {
    if (internetChecksum(buf, 0, length, pseudoHeaderSum(src, dst, IPPROTO_UDP, length)) !== 0) {
      return { ok: false, reason: 'udp_bad_checksum' };
    }
  }
  return {
    ok: true,
    datagram: { srcPort: buf.readUInt16BE(0), dstPort: buf.readUInt16BE(2), payload: buf.subarray(UDP_HEADER_LEN, length) },
  };
}

function writeUdp(buf: Buffer, start: number, d: UdpDatagram, src: number, dst: number): void {
  const length = UDP_HEADER_LEN + d.payload.length;
  if (length > 0xffff) throw new RangeError(`UDP length ${length} out of range`);
  buf[start] = d.srcPort >>> 8;
  buf[start + 1] = d.srcPort & 0xff;
  buf[start + 2] = d.dstPort >>> 8;
  buf[start + 3] = d.dstPort & 0xff;
  buf[start + 4] = length >>> 8;
  buf[start + 5] = length & 0xff;
  buf[start + 6] = 0;
  buf[start + 7] = 0;
  buf.set(d.payload, start + UDP_HEADER_LEN);
  let sum = ~fold(sumWords(buf, start, start + length, pseudoHeaderSum(src, dst, IPPROTO_UDP, length))) & 0xffff;
  // A computed 0 is transmitted as all ones (RFC 768); 0 on the wire means "no checksum".
  if (sum === 0) sum = 0xffff;
  buf[start + 6] = sum >>> 8;
  buf[start + 7] = sum & 0xff;
}

export function encodeUdp(d: UdpDatagram, src: number, dst: number): Buffer {
  const buf = Buffer.allocUnsafe(UDP_HEADER_LEN + d.payload.length);
  writeUdp(buf, 0, d, src, dst);
  return buf;
}

export function encodeUdpPacket(ip: Omit<Ipv4Fields, 'protocol'>, d: UdpDatagram): Buffer {
  const buf = allocPacket(IPV4_HEADER_LEN + UDP_HEADER_LEN + d.payload.length);
  writeIpv4HeaderAt(buf, 0, ip.src, ip.dst, IPPROTO_UDP, ip.id, buf.length, ip.ttl ?? DEFAULT_TTL, ip.tos ?? 0);
  writeUdp(buf, IPV4_HEADER_LEN, d, ip.src, ip.dst);
  return buf;
}
