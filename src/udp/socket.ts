/**
 * Datagram sockets on an overlay Host, shaped like node:dgram:
 *
 *   const s = createSocket({ type: 'udp4', host });
 *   s.on('message', (msg, rinfo) => ...);
 *   s.bind(7, () => s.send('hi', 7, '10.77.0.2'));
 *
 * Events: 'listening', 'connect', 'message' (msg, {address, family, port, size}), 'error',
 * 'close'. Errors are Node-style (code, syscall). As with node:dgram, a connected socket
 * that gets ICMP port unreachable emits 'error' with ECONNREFUSED; an unconnected one
 * ignores ICMP errors.
 */
import { EventEmitter } from 'node:events';
import type { Host } from '../host/host.js';
import { inventory, type UdpSocketSnapshot } from '../observe/inventory.js';
import { makeError, type NodeStyleError } from '../util/errors.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { ICMP_DEST_UNREACH, UNREACH_PORT } from '../wire/icmp.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { encodeUdpPacket, UDP_HEADER_LEN } from '../wire/udp.js';
import { UdpStack, type UdpBinding } from './stack.js';

export interface SocketOptions {
  type: 'udp4';
  host: Host;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;
export type SendCallback = (error: Error | null, bytes?: number) => void;
type Msg = Buffer | Uint8Array | string | ReadonlyArray<Buffer | Uint8Array | string>;

const ANY = '0.0.0.0';

export class Socket extends EventEmitter {
  readonly host: Host;
  private readonly stack: UdpStack;
  private binding: (UdpBinding & { port: number }) | undefined;
  private boundAddress = ANY;
  private remote: { address: number; port: number } | undefined;
  private closed = false;
  private unregister: (() => void) | undefined;
  private readonly counters = { datagramsIn: 0, datagramsOut: 0, bytesIn: 0, bytesOut: 0 };
  // One-entry caches of address text <-> number, so that a stream of datagrams to or from
  // one peer does not parse or format an address per datagram.
  private dstText = '';
  private dstAddr = 0;
  private srcAddr = -1;
  private srcText = '';

  constructor(options: SocketOptions, listener?: MessageListener) {
    super();
    if (!options || options.type !== 'udp4') {
      throw makeError('ERR_INVALID_ARG_VALUE', 'createSocket', { message: "type must be 'udp4'" });
    }
    this.host = options.host;
    this.stack = UdpStack.of(options.host);
    if (listener) this.on('message', listener);
  }

  // ---- bind ----

  bind(port?: number | { port?: number; address?: string }, address?: string | (() => void), cb?: () => void): this {
    this.healthCheck();
    let p = 0;
    let a: string | undefined;
    let done: (() => void) | undefined;
    if (typeof port === 'object' && port !== null) {
      p = port.port ?? 0;
      a = port.address;
      done = typeof address === 'function' ? address : cb;
    } else if (typeof port === 'function') {
      done = port as () => void;
    } else {
      p = port ?? 0;
      if (typeof address === 'function') done = address;
      else {
        a = address;
        done = cb;
      }
    }
    if (this.binding) throw makeError('EINVAL', 'bind', { message: 'socket is already bound' });
    if (!Number.isInteger(p) || p < 0 || p > 65535) {
      throw makeError('ERR_INVALID_ARG_VALUE', 'bind', { message: `port ${String(p)} is out of range 0..65535` });
    }
    if (done) this.once('listening', done);
    try {
      this.bindNow(p, a);
    } catch (e) {
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  private bindNow(port: number, address: string | undefined): void {
    const addr = address === undefined || address === '' ? ANY : address;
    if (addr !== ANY && addr !== this.host.addressString) {
      throw makeError('EADDRNOTAVAIL', 'bind', { address: addr, port });
    }
    this.binding = this.stack.bind(port, (bound) => ({
      port: bound,
      remote: undefined as { address: number; port: number } | undefined,
      deliver: (payload: Buffer, src: number, srcPort: number) => this.deliver(payload, src, srcPort),
      icmpError: (type: number, code: number, dst: number, dstPort: number) => this.icmpError(type, code, dst, dstPort),
    }));
    this.boundAddress = addr;
    this.unregister = inventory.add({ udpSockets: () => [this.snapshot()] });
  }

  /** Binds to a random port on first send/connect, as node:dgram does. */
  private ensureBound(): void {
    if (!this.binding) {
      this.bindNow(0, undefined);
      process.nextTick(() => this.emit('listening'));
    }
  }

  // ---- connect ----

  connect(port: number, address?: string | (() => void), cb?: () => void): void {
    this.healthCheck();
    const done = typeof address === 'function' ? address : cb;
    const a = typeof address === 'string' ? address : this.host.addressString;
    if (this.remote) throw makeError('EISCONN', 'connect');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw makeError('ERR_INVALID_ARG_VALUE', 'connect', { message: `port ${String(port)} is out of range 1..65535` });
    }
    const dst = parseIpv4(a);
    if (dst === undefined) throw makeError('ERR_INVALID_ARG_VALUE', 'connect', { message: `'${a}' is not an IPv4 address` });
    this.ensureBound();
    this.remote = { address: dst, port };
    (this.binding as { remote: unknown }).remote = this.remote;
    if (done) this.once('connect', done);
    process.nextTick(() => this.emit('connect'));
  }

  disconnect(): void {
    this.healthCheck();
    if (!this.remote) throw makeError('ENOTCONN', 'disconnect');
    this.remote = undefined;
    if (this.binding) (this.binding as { remote: unknown }).remote = undefined;
  }

  // ---- send ----

  send(msg: Msg, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Msg, port?: number, callback?: SendCallback): void;
  send(msg: Msg, callback?: SendCallback): void;
  send(msg: Msg, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Msg, offset: number, length: number, callback?: SendCallback): void;
  send(msg: Msg, ...args: unknown[]): void {
    this.healthCheck();
    let cb: SendCallback | undefined;
    while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as SendCallback;
    let data = toBuffer(msg);
    // (msg, offset, length, [port, address]) when msg is a single buffer and two numbers follow.
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && !Array.isArray(msg) && typeof msg !== 'string') {
      const offset = args.shift() as number;
      const length = args.shift() as number;
      if (offset < 0 || length < 0 || offset + length > data.length) {
        throw makeError('ERR_INVALID_ARG_VALUE', 'send', { message: 'offset/length out of range' });
      }
      data = data.subarray(offset, offset + length);
    } else if (typeof args[0] === 'number' && typeof args[1] === 'number' && typeof msg === 'string') {
      const offset = args.shift() as number;
      const length = args.shift() as number;
      data = data.subarray(offset, offset + length);
    }
    let port = args[0] as number | undefined;
    const address = args[1] as string | undefined;
    let dst: number;
    if (this.remote) {
      if (port !== undefined) throw makeError('EISCONN', 'send');
      port = this.remote.port;
      dst = this.remote.address;
    } else {
      if (port === undefined) throw makeError('ENOTCONN', 'send', { message: 'no destination: call connect() or pass a port' });
      const dstText = address ?? this.host.addressString;
      if (dstText !== this.dstText) {
        const a = parseIpv4(dstText);
        if (a === undefined) throw makeError('ERR_INVALID_ARG_VALUE', 'send', { message: `'${dstText}' is not an IPv4 address` });
        this.dstText = dstText;
        this.dstAddr = a;
      }
      dst = this.dstAddr;
    }
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw makeError('ERR_INVALID_ARG_VALUE', 'send', { message: `port ${String(port)} is out of range 1..65535` });
    }
    this.ensureBound();
    const err = this.transmit(data, dst, port);
    if (err) {
      if (cb) process.nextTick(cb, err);
      else process.nextTick(() => this.emit('error', err));
      return;
    }
    if (cb) process.nextTick(cb, null, data.length);
  }

  /** Encodes and sends one datagram; returns the error instead of throwing. */
  private transmit(data: Buffer, dst: number, port: number): NodeStyleError | undefined {
    const size = IPV4_HEADER_LEN + UDP_HEADER_LEN + data.length;
    if (size > this.host.mtu) {
      return makeError('EMSGSIZE', 'send', {
        address: formatIpv4(dst),
        port,
        message: `datagram of ${data.length} bytes exceeds the MTU ${this.host.mtu} (max payload ${this.host.mtu - IPV4_HEADER_LEN - UDP_HEADER_LEN})`,
      });
    }
    const packet = encodeUdpPacket(
      { src: this.host.address, dst, id: this.host.nextIpId() },
      { srcPort: this.binding!.port, dstPort: port, payload: data },
    );
    try {
      // Handed over (`give`): the packet (from the slabs) comes back for reuse once sent.
      if (!this.host.sendPacket(packet, dst, true)) return makeError('EHOSTUNREACH', 'send', { address: formatIpv4(dst), port });
    } catch (e) {
      return e as NodeStyleError;
    }
    this.counters.datagramsOut++;
    this.counters.bytesOut += data.length;
    return undefined;
  }

  // ---- receive ----

  private deliver(payload: Buffer, src: number, srcPort: number): void {
    this.counters.datagramsIn++;
    this.counters.bytesIn += payload.length;
    // No copy: the payload is a view into a buffer of this packet alone (node:dgram
    // allocates one per datagram; the host copies packets it loops back to itself).
    const msg = payload;
    if (src !== this.srcAddr) {
      this.srcAddr = src;
      this.srcText = formatIpv4(src);
    }
    const rinfo: RemoteInfo = { address: this.srcText, family: 'IPv4', port: srcPort, size: msg.length };
    try {
      this.emit('message', msg, rinfo);
    } catch (e) {
      // A throwing user listener must not break the host's receive path; surface it later.
      process.nextTick(() => {
        throw e;
      });
    }
  }

  private icmpError(type: number, code: number, dst: number, dstPort: number): void {
    const r = this.remote;
    if (!r || r.address !== dst || r.port !== dstPort) return; // unconnected sockets ignore ICMP errors
    const refused = type === ICMP_DEST_UNREACH && code === UNREACH_PORT;
    const err = makeError(refused ? 'ECONNREFUSED' : 'EHOSTUNREACH', 'recvmsg', { address: formatIpv4(dst), port: dstPort });
    process.nextTick(() => {
      if (!this.closed) this.emit('error', err);
    });
  }

  // ---- info and lifecycle ----

  address(): AddressInfo {
    this.healthCheck();
    if (!this.binding) throw makeError('EINVAL', 'getsockname', { message: 'socket is not bound' });
    return { address: this.boundAddress, family: 'IPv4', port: this.binding.port };
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    if (!this.remote) throw makeError('ENOTCONN', 'getpeername');
    return { address: formatIpv4(this.remote.address), family: 'IPv4', port: this.remote.port };
  }

  close(cb?: () => void): this {
    this.healthCheck();
    this.closed = true;
    if (this.binding) this.stack.unbind(this.binding);
    this.unregister?.();
    if (cb) this.once('close', cb);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  snapshot(): UdpSocketSnapshot {
    const s: UdpSocketSnapshot = {
      localAddress: this.boundAddress === ANY ? this.host.addressString : this.boundAddress,
      localPort: this.binding?.port ?? 0,
      ...this.counters,
    };
    if (this.remote) {
      s.remoteAddress = formatIpv4(this.remote.address);
      s.remotePort = this.remote.port;
    }
    return s;
  }

  private healthCheck(): void {
    if (this.closed) throw makeError('ERR_SOCKET_DGRAM_NOT_RUNNING', undefined, { message: 'Not running' });
  }
}

function toBuffer(msg: Msg): Buffer {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (Buffer.isBuffer(msg)) return msg;
  if (msg instanceof Uint8Array) return Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (Array.isArray(msg)) return Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
  throw makeError('ERR_INVALID_ARG_VALUE', 'send', { message: 'msg must be a Buffer, Uint8Array, string or an array of them' });
}

/** node:dgram's createSocket on an overlay host. */
export function createSocket(options: SocketOptions, listener?: MessageListener): Socket {
  return new Socket(options, listener);
}
