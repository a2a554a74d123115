/**
 * The node:net look-alike entry point for overlay TCP.
 *
 *   import { createServer, connect } from 'overlay-tcp/net';
 *   const server = createServer({ host }, (s) => s.pipe(s)).listen(7);
 *   const sock = connect({ via: host, host: '10.77.0.3', port: 7 }, () => sock.end('hi'));
 *
 * The only difference from node:net: every socket lives on an overlay Host, given as
 * `createServer({ host })` and `connect({ via: host, ... })` (or `connect(port, addr, host)`).
 * `host` in connect options is the remote overlay address, as in node:net.
 */
import { isIPv4 } from 'node:net';
import type { HostLike } from './host/types.js';
import { Server, type ServerOptions } from './socket/server.js';
import { Socket, type SocketConnectOptions } from './socket/socket.js';

export { Server, Socket };
export type { AddressInfo, ListenOptions, ServerOptions } from './socket/server.js';
export type { ReadyState, SocketConnectOptions, SocketOptions } from './socket/socket.js';
export { TcpStack } from './tcp/driver.js';

export function createServer(options: ServerOptions, connectionListener?: (socket: Socket) => void): Server {
  return new Server(options, connectionListener);
}

/**
 * connect(options[, connectListener]) where options = { via: Host, host: 'A.B.C.D', port, ... },
 * or connect(port, remoteAddress, via[, connectListener]).
 */
export function connect(options: SocketConnectOptions, connectListener?: () => void): Socket;
export function connect(port: number, host: string, via: HostLike, connectListener?: () => void): Socket;
export function connect(
  a: SocketConnectOptions | number,
  b?: string | (() => void),
  via?: HostLike,
  listener?: () => void,
): Socket {
  if (typeof a === 'number') {
    const opts: SocketConnectOptions = { port: a, host: b as string };
    if (via) opts.via = via;
    return new Socket({ ...(via ? { via } : {}) }).connect(opts, listener);
  }
  const { allowHalfOpen } = a;
  const s = new Socket({ allowHalfOpen: allowHalfOpen ?? false, via: a.via });
  return s.connect(a, typeof b === 'function' ? b : undefined);
}

export const createConnection = connect;

/** 4 for a dotted IPv4 address, else 0 (the overlay is IPv4 only). */
export function isIP(input: string): 0 | 4 {
  return isIPv4(input) ? 4 : 0;
}

export { isIPv4 };

export function isIPv6(_input: string): false {
  return false;
}
