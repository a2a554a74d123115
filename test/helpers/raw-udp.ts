/**
 * Plain loopback UDP for link tests: a raw node:dgram socket to send datagrams from, and valid
 * IPv4 packets to send (protocol 253, reserved for experiments by RFC 3692).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { encodeIpv4 } from '../../src/wire/ipv4.js';

/** A node:dgram socket bound to 127.0.0.1 on a free port. */
export async function rawUdpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** A valid IPv4 packet of `len` bytes from `src` to `dst`, identification and payload bytes `mark`. */
export function experimentPacket(len: number, mark: number, src: number, dst: number): Buffer {
  return encodeIpv4({ src, dst, protocol: 253, id: mark }, Buffer.alloc(len - 20, mark));
}
