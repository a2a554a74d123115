/** UDP header (RFC 768) with the IPv4 pseudo-header checksum. */
import { fold, internetChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { IPPROTO_UDP, IPV4_HEADER_LEN, writeIpv4Header, type Ipv4Fields } from './ipv4.js';

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
  buf.writeUInt16BE(d.srcPort, start);
  buf.writeUInt16BE(d.dstPort, start + 2);
  buf.writeUInt16BE(length, start + 4);
  buf.writeUInt16BE(0, start + 6);
  buf.set(d.payload, start + UDP_HEADER_LEN);
  let sum = ~fold(sumWords(buf, start, start + length, pseudoHeaderSum(src, dst, IPPROTO_UDP, length))) & 0xffff;
  // A computed 0 is transmitted as all ones (RFC 768); 0 on the wire means "no checksum".
  if (sum === 0) sum = 0xffff;
  buf.writeUInt16BE(sum, start + 6);
}

export function encodeUdp(d: UdpDatagram, src: number, dst: number): Buffer {
  const buf = Buffer.allocUnsafe(UDP_HEADER_LEN + d.payload.length);
  writeUdp(buf, 0, d, src, dst);
  return buf;
}

export function encodeUdpPacket(ip: Omit<Ipv4Fields, 'protocol'>, d: UdpDatagram): Buffer {
  const buf = Buffer.allocUnsafe(IPV4_HEADER_LEN + UDP_HEADER_LEN + d.payload.length);
  writeIpv4Header(buf, { ...ip, protocol: IPPROTO_UDP }, buf.length);
  writeUdp(buf, IPV4_HEADER_LEN, d, ip.src, ip.dst);
  return buf;
}
