/**
 * A light, non-validating view of the inner IPv4 packet that rules match on. It reads
 * only the fields it needs and never throws; a datagram that is not IPv4 (relay mode
 * carries any protocol) has `ipv4 = false` and matches no header rule.
 */
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';

export interface InnerView {
  ipv4: boolean;
  protocol: number;
  src: number;
  dst: number;
  /** Offset of the transport header (the IP header length). */
  ihl: number;
  /** Bytes of the IP packet (total length, clamped to the datagram). */
  totalLength: number;
  srcPort: number;
  dstPort: number;
  /** TCP flags, or -1 when not TCP. */
  tcpFlags: number;
  /** Transport payload bytes (TCP/UDP), -1 when unknown. */
  payloadLength: number;
}

export function viewInner(buf: Buffer): InnerView {
  const v: InnerView = {
    ipv4: false,
    protocol: -1,
    src: 0,
    dst: 0,
    ihl: 0,
    totalLength: buf.length,
    srcPort: -1,
    dstPort: -1,
    tcpFlags: -1,
    payloadLength: -1,
  };
  if (buf.length < 20 || buf[0]! >> 4 !== 4) return v;
  const ihl = (buf[0]! & 0x0f) * 4;
  if (ihl < 20 || ihl > buf.length) return v;
  v.ipv4 = true;
  v.ihl = ihl;
  v.protocol = buf[9]!;
  v.src = buf.readUInt32BE(12);
  v.dst = buf.readUInt32BE(16);
  v.totalLength = Math.min(buf.readUInt16BE(2), buf.length);
  const t = ihl;
  if (v.protocol === IPPROTO_TCP && v.totalLength >= t + 20) {
    v.srcPort = buf.readUInt16BE(t);
    v.dstPort = buf.readUInt16BE(t + 2);
    v.tcpFlags = buf[t + 13]!;
    v.payloadLength = Math.max(0, v.totalLength - t - (buf[t + 12]! >> 4) * 4);
  } else if (v.protocol === IPPROTO_UDP && v.totalLength >= t + 8) {
    v.srcPort = buf.readUInt16BE(t);
    v.dstPort = buf.readUInt16BE(t + 2);
    v.payloadLength = v.totalLength - t - 8;
  }
  return v;
}
