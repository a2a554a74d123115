/**
 * Server: the node:net look-alike listening socket on one overlay host.
 *
 * Events: 'listening', 'connection'(socket), 'error', 'close' (after close() once every
 * accepted connection has ended). `maxConnections` refuses connections beyond it with an
 * RST, like node:net (which closes them at accept).
 */
import { EventEmitter } from 'node:events';
import type { HostLike } from '../host/types.js';
import { makeError } from '../util/errors.js';
import { TcpStack, type TcpConn, type TcpListenerHandle, type TcpOptionsOverride } from '../tcp/driver.js';
import { ON_CLOSE_FOR_SERVER, Socket } from './socket.js';

export interface ServerOptions extends TcpOptionsOverride {
  /** The overlay host to listen on (required). */
  host: HostLike;
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused: nothing is read until resume(). */
  pauseOnConnect?: boolean;
  /** Accept-queue length (default 511, like node:net). */
  backlog?: number;
}

export interface ListenOptions {
  port?: number;
  /** The local overlay address: the host's own, or '0.0.0.0' (default). */
  host?: string;
  backlog?: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export class Server extends EventEmitter {
  readonly via: HostLike;
  /** Refuse (RST) connections beyond this many (undefined: no limit). */
  maxConnections: number | undefined;
  private readonly options: ServerOptions;
  private listener: TcpListenerHandle | undefined;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  /** Each accepted socket's options (one object for all of them; fromAccepted only reads it). */
  private readonly acceptedOptions: { allowHalfOpen: boolean };

  constructor(options: ServerOptions, connectionListener?: (socket: Socket) => void) {
    super();
    if (!options || !options.host) throw makeError('EINVAL', 'createServer', { message: 'options.host (the overlay Host) is required' });
    this.via = options.host;
    this.options = options;
    this.acceptedOptions = { allowHalfOpen: options.allowHalfOpen ?? false };
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.listener !== undefined;
  }

  /**
   * listen(port[, host][, backlog][, cb]) or listen({ port, host, backlog }[, cb]).
   * Port 0 (or none) picks an ephemeral port. Errors are emitted as 'error'.
   */
  listen(port?: number, host?: string, backlog?: number, cb?: () => void): this;
  listen(port: number, host: string, cb?: () => void): this;
  listen(port: number, cb?: () => void): this;
  listen(options: ListenOptions, cb?: () => void): this;
  listen(cb?: () => void): this;
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let opts: ListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) opts = args[0] as ListenOptions;
    else {
      opts = {};
      if (args[0] !== undefined) opts.port = args[0] as number;
      if (typeof args[1] === 'string') opts.host = args[1];
      const b = typeof args[1] === 'number' ? args[1] : args[2];
      if (typeof b === 'number') opts.backlog = b;
    }
    if (cb) this.once('listening', cb);
    if (this.listener) {
      const err = makeError('ERR_SERVER_ALREADY_LISTEN', 'listen', { message: 'listen method has been called more than once without closing' });
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      const err = makeError('ERR_INVALID_ARG_VALUE', 'listen', { message: `bad port ${String(port)}` });
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    const { host: _h, allowHalfOpen: _a, pauseOnConnect: _p, backlog: _b, ...tcp } = this.options;
    try {
      this.listener = TcpStack.for(this.via).listen(
        { port, address: opts.host, backlog: opts.backlog ?? this.options.backlog ?? 511, config: tcp },
        (conn) => this.onAccept(conn),
      );
    } catch (e) {
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    this.closing = false;
    process.nextTick(() => {
      if (this.listener) this.emit('listening');
    });
    return this;
  }

  private onAccept(conn: TcpConn): void {
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      conn.abort();
      return;
    }
    const socket = Socket.fromAccepted(conn, this.via, this.acceptedOptions, this.options.pauseOnConnect ?? false);
    this.sockets.add(socket);
    // Told on close before the socket's 'close' listeners, as a listener added here was: a
    // method bound once per server, not a once() wrapper and a closure per socket.
    socket[ON_CLOSE_FOR_SERVER] = this.socketClosed;
    this.emit('connection', socket);
  }

  private readonly socketClosed = (socket: Socket): void => {
    this.sockets.delete(socket);
    this.maybeClosed();
  };

  /** Stops accepting; 'close' follows once every accepted connection has closed. */
  close(cb?: (err?: Error) => void): this {
    if (!this.listener) {
      const err = makeError('ERR_SERVER_NOT_RUNNING', 'close', { message: 'server is not running' });
      if (cb) process.nextTick(() => cb(err));
      return this;
    }
    if (cb) this.once('close', cb);
    this.listener.close();
    this.listener = undefined;
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  address(): AddressInfo | null {
    const l = this.listener;
    return l ? { address: l.address, family: 'IPv4', port: l.port } : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.listener) return;
    await new Promise<void>((resolve) => this.close(() => resolve()));
  }
}
