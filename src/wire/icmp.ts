/** ICMP for IPv4 (RFC 792): echo, destination unreachable, time exceeded. */
import { internetChecksum } from './checksum.js';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

export const UNREACH_NET = 0;
export const UNREACH_HOST = 1;
export const UNREACH_PROTOCOL = 2;
export const UNREACH_PORT = 3;
export const UNREACH_FRAG_NEEDED = 4;

export interface IcmpMessage {
  type: number;
  code: number;
  /** The 4 bytes after the checksum: id/seq for echo, unused or next-hop MTU for errors. */
  rest: number;
  payload: Buffer;
}

export type IcmpDropReason = 'icmp_truncated' | 'icmp_bad_checksum';
export type IcmpDecoded = { ok: true; message: IcmpMessage } | { ok: false; reason: IcmpDropReason };

export function decodeIcmp(buf: Buffer): IcmpDecoded {
  if (buf.length < 8) return { ok: false, reason: 'icmp_truncated' };
  if (internetChecksum(buf) !== 0) return { ok: false, reason: 'icmp_bad_checksum' };
  return {
    ok: true,
    message: { type: buf[0]!, code: buf[1]!, rest: buf.readUInt32BE(4), payload: buf.subarray(8) },
  };
}

export function encodeIcmp(m: IcmpMessage): Buffer {
  const buf = Buffer.allocUnsafe(8 + m.payload.length);
  buf[0] = m.type;
  buf[1] = m.code;
  buf.writeUInt16BE(0, 2);
  buf.writeUInt32BE(m.rest >>> 0, 4);
  buf.set(m.payload, 8);
  buf.writeUInt16BE(internetChecksum(buf), 2);
  return buf;
}

export function echoIdSeq(m: IcmpMessage): { id: number; seq: number } {
  return { id: m.rest >>> 16, seq: m.rest & 0xffff };
}

export function echoRest(id: number, seq: number): number {
  return (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0;
}

/**
 * The quote an ICMP error carries: the offending IP header plus the first 8 bytes of its
 * payload (RFC 792), which holds the transport ports.
 */
export function errorQuote(ipPacket: Buffer, ipHeaderLength: number): Buffer {
  return ipPacket.subarray(0, Math.min(ipPacket.length, ipHeaderLength + 8));
}
