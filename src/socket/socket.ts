/**
 * Socket: the node:net look-alike stream over one overlay TCP connection (a TcpConn of
 * the driver). It is a stream.Duplex: writes go into the connection's send buffer,
 * received bytes are pushed to the readable side, and the events follow node:net's
 * order: 'connect', 'ready', 'data'..., 'end' (the peer's FIN was read), 'finish' (our
 * FIN was queued after all data), 'error' (at most one), then 'close'(hadError).
 *
 * Backpressure both ways:
 *  - write: a chunk's callback runs only once the connection's send buffer took all of
 *    it; until then the rest is held and retried on the connection's onWritable. So the
 *    Writable's buffer grows and write() returns false, and 'drain' follows.
 *  - read: when push() returns false we stop taking bytes out of the connection, so its
 *    receive buffer fills and the advertised window shrinks to zero (the peer persists);
 *    _read() resumes.
 */
import { Duplex } from 'node:stream';
import type { HostLike } from '../host/types.js';
import { makeError, type ErrorCode, type NodeStyleError } from '../util/errors.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { TcpStack, type TcpConn, type TcpConnHooks, type TcpOptionsOverride } from '../tcp/driver.js';
import { copyForSend } from '../tcp/send.js';
import type { TcpInfo } from '../tcp/types.js';
import { widen } from '../util/wide.js';

export interface SocketOptions extends TcpOptionsOverride {
  /** The overlay host this socket lives on (required to connect). */
  via?: HostLike;
  /** Keep the writable side open after the peer's FIN (default false, like node:net). */
  allowHalfOpen?: boolean;
}

export interface SocketConnectOptions extends SocketOptions {
  /** Remote overlay address "A.B.C.D" (default: the host's own address). */
  host?: string;
  port: number;
  /** Local port to bind (default: a random ephemeral port). */
  localPort?: number;
  /** Local address; must be the host's own (EADDRNOTAVAIL otherwise). */
  localAddress?: string;
  /** Idle timeout (ms) as with socket.setTimeout(). */
  timeout?: number;
}

/**
 * The last remote address connect() parsed: a client connects to the same few peers, and
 * parsing the text (split, a regex per part) was about 1% of a connection's cost in churn.
 */
const lastRemote: { text: string | undefined; addr: number } = { text: undefined, addr: 0 };

/**
 * The TCP overrides among socket or connect options: every key but the socket's own
 * (`via`, `allowHalfOpen`) and connect's (`host`, `port`, `localPort`, `localAddress`,
 * `timeout`), added to `into` (a new object made only when there is one). A loop, not a rest
 * destructuring and a spread: those cost 0.3-1.6 us per socket (a runtime call each), on
 * both ends of every connection.
 */
function tcpOverrides(into: TcpOptionsOverride | undefined, from: object): TcpOptionsOverride | undefined {
  let out = into;
  for (const k in from) {
    switch (k) {
      case 'via':
      case 'allowHalfOpen':
      case 'host':
      case 'port':
      case 'localPort':
      case 'localAddress':
      case 'timeout':
        continue;
    }
    (out ??= {})[k as keyof TcpOptionsOverride] = (from as Record<string, never>)[k];
  }
  return out;
}

/**
 * What a socket learns from its connection (TcpConn's hooks): one object with the four
 * methods, instead of four closures and an object per socket.
 */
class SocketHooks implements TcpConnHooks {
  constructor(private readonly s: Socket) {}
  onEstablished(): void {
    this.s[ON_ESTABLISHED]();
  }
  onReadable(): void {
    this.s[PULL]();
  }
  onWritable(): void {
    this.s[FLUSH_HELD]();
  }
  onClosed(code?: string, syscall?: string): void {
    this.s[ON_CONN_CLOSED](code, syscall);
  }
}

// The hooks' entry points into Socket: symbols, so they stay off the public API.
const ON_ESTABLISHED = Symbol('onEstablished');
const PULL = Symbol('pullFromConnection');
const FLUSH_HELD = Symbol('flushHeld');
const ON_CONN_CLOSED = Symbol('onConnClosed');
/** @internal (server.ts) The key of the accepting server's close callback on a Socket. */
export const ON_CLOSE_FOR_SERVER = Symbol('onCloseForServer');

/** The Duplex options (read by its constructor, not kept): one object each instead of one per socket. */
const DUPLEX_OPTIONS = Object.freeze({ allowHalfOpen: false, decodeStrings: true, emitClose: false });
const DUPLEX_HALF_OPEN = Object.freeze({ allowHalfOpen: true, decodeStrings: true, emitClose: false });

/** Most bytes moved from the connection into the stream per push. */
const READ_CHUNK = 64 * 1024;

export type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

export class Socket extends Duplex {
  /** The driver's connection (set on connect, or by the server for accepted sockets). */
  private conn: TcpConn | undefined;
  private via: HostLike | undefined;
  /** TCP overrides given to the constructor or set before connect (undefined: none). */
  private tcpOptions: TcpOptionsOverride | undefined;
  connecting = false;
  private wantRead = true;
  private pushedEof = false;
  /** A write that did not fit in the send buffer yet (two fields, not an object per write). */
  private heldChunk: Buffer | undefined;
  private heldCb: ((err?: Error | null) => void) | undefined;
  /** Writes and end() made before the connection opened. */
  private pendingBeforeConnect: Array<() => void> = [];
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private _bytesRead = 0;
  private _bytesWritten = 0;
  /** The addresses, as fields rather than an object each (undefined until known). */
  private remoteAddr: string | undefined;
  private remotePortN: number | undefined;
  private localAddr: string | undefined;
  private localPortN: number | undefined;
  /** @internal Told when this socket closes, before its 'close' listeners (the Server that accepted it). */
  [ON_CLOSE_FOR_SERVER]: ((s: Socket) => void) | undefined;

  constructor(options: SocketOptions = {}) {
    // Buffers in and out; no string decoding unless the user calls setEncoding().
    super(options.allowHalfOpen ? DUPLEX_HALF_OPEN : DUPLEX_OPTIONS);
    widen(this, ['_bytesRead', '_bytesWritten']); // past 2^31 after 2 GiB (src/util/wide.ts)
    this.via = options.via;
    this.tcpOptions = tcpOverrides(undefined, options);
    // node:net sockets end their write side themselves when allowHalfOpen is false; Duplex
    // does that for us ('end' -> end()).
  }

  // ---- opening ----

  /**
   * connect(options[, listener]) or connect(port[, host][, listener]).
   * The host must be given in the constructor or as options.via.
   */
  connect(options: SocketConnectOptions, listener?: () => void): this;
  connect(port: number, host?: string, listener?: () => void): this;
  connect(port: number, listener?: () => void): this;
  connect(a: SocketConnectOptions | number, b?: string | (() => void), c?: () => void): this {
    let opts: SocketConnectOptions;
    let listener: (() => void) | undefined;
    if (typeof a === 'number') {
      opts = { port: a };
      if (typeof b === 'string') {
        opts.host = b;
        listener = c;
      } else listener = b;
    } else {
      opts = a;
      listener = typeof b === 'function' ? b : c;
    }
    if (listener) this.once('connect', listener);
    if (this.conn || this.connecting) {
      const err = makeError(this.connecting ? 'ERR_SOCKET_CONNECTING' : 'EISCONN', 'connect', {
        message: this.connecting ? 'socket is already connecting' : 'socket is already connected',
      });
      process.nextTick(() => this.destroy(err));
      return this;
    }
    if (this.destroyed) {
      process.nextTick(() => this.emit('error', makeError('ERR_SOCKET_CLOSED', 'connect', { message: 'socket is destroyed' })));
      return this;
    }
    const via = opts.via ?? this.via;
    this.via = via;
    const port = opts.port;
    const remoteText = opts.host ?? via?.addressString ?? '';
    this.connecting = true;
    const fail = (code: ErrorCode, message: string): this => {
      const err = makeError(code, 'connect', { address: remoteText, port, message });
      process.nextTick(() => this.destroy(err));
      return this;
    };
    if (!via) return fail('EINVAL', 'no overlay host: pass { via: host }');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return fail('ERR_INVALID_ARG_VALUE', `bad port ${String(port)}`);
    const remoteAddr = remoteText === lastRemote.text ? lastRemote.addr : parseIpv4(remoteText);
    if (remoteAddr === undefined) return fail('ERR_INVALID_ARG_VALUE', `'${remoteText}' is not an IPv4 address`);
    lastRemote.text = remoteText;
    lastRemote.addr = remoteAddr;
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    const stack = TcpStack.for(via);
    // Known now, so errors raised while the SYN is being sent can name the peer.
    this.remoteAddr = remoteText;
    this.remotePortN = port;
    const config = tcpOverrides(this.tcpOptions === undefined ? undefined : { ...this.tcpOptions }, opts);
    try {
      this.conn = stack.connect({ remoteAddr, remotePort: port, localPort: opts.localPort, localAddress: opts.localAddress, config }, new SocketHooks(this));
    } catch (e) {
      this.connecting = false;
      process.nextTick(() => this.destroy(e as Error));
      return this;
    }
    this.captureAddresses();
    return this;
  }

  /** Used by Server: wraps an accepted, established connection. */
  static fromAccepted(conn: TcpConn, via: HostLike, options: SocketOptions, paused: boolean): Socket {
    const s = new Socket(options);
    s.via = via;
    s.conn = conn;
    s.captureAddresses();
    conn.setHooks(new SocketHooks(s));
    if (paused) {
      s.wantRead = false;
      s.pause();
    }
    // Data may have arrived with the handshake's last ACK.
    process.nextTick(pullLater, s);
    return s;
  }

  private captureAddresses(): void {
    const t = this.conn!.tuple;
    // The local address is the host's own, already formatted; a client's remote address was
    // formatted by the caller (the text connect() parsed).
    this.localAddr = t.localAddr === this.via?.address ? this.via.addressString : formatIpv4(t.localAddr);
    this.localPortN = t.localPort;
    if (this.remoteAddr === undefined) this.remoteAddr = formatIpv4(t.remoteAddr);
    this.remotePortN = t.remotePort;
  }

  /** @internal (SocketHooks) */
  [ON_ESTABLISHED](): void {
    this.onEstablished();
  }

  /** @internal (SocketHooks) */
  [PULL](): void {
    this.pullFromConnection();
  }

  /** @internal (SocketHooks) */
  [FLUSH_HELD](): void {
    this.flushHeld();
  }

  /** @internal (SocketHooks) */
  [ON_CONN_CLOSED](code: string | undefined, syscall: string | undefined): void {
    this.onConnClosed(code, syscall);
  }

  private onEstablished(): void {
    if (!this.connecting) return;
    this.connecting = false;
    this.touch();
    this.emit('connect');
    this.emit('ready');
    const pending = this.pendingBeforeConnect;
    this.pendingBeforeConnect = [];
    for (const f of pending) f();
    this.pullFromConnection();
  }

  // ---- reading ----

  override _read(): void {
    this.wantRead = true;
    if (!this.connecting) this.pullFromConnection();
  }

  /** Moves readable bytes from the connection into the stream while it wants more. */
  private pullFromConnection(): void {
    const c = this.conn;
    if (!c || this.connecting || this.pushedEof || this.destroyed) return;
    while (this.wantRead) {
      // Bounded chunks: what the stream buffers beyond its high-water mark is at most one
      // chunk, the rest stays in the connection and keeps its window honest.
      const data = c.read(READ_CHUNK);
      if (!data) break;
      this._bytesRead += data.length;
      this.touch();
      if (!this.push(data)) this.wantRead = false;
    }
    if (this.wantRead && c.readEnded()) {
      // The peer's FIN: everything before it was read.
      this.pushedEof = true;
      this.push(null);
    }
  }

  // ---- writing ----

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // The stack keeps written bytes until the peer acknowledges them, long after this write's
    // callback, and node:net lets the caller reuse its buffer once the callback has run: so
    // the send buffer holds a copy (a kernel copies on write(2) too), in the send pool's
    // reused memory (copyForSend) rather than a fresh buffer per write.
    this.writeOwned(copyForSend([chunk], chunk.length), cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    // One contiguous copy of them all keeps the segments full-sized.
    let total = 0;
    const bufs: Buffer[] = [];
    for (const c of chunks) {
      bufs.push(c.chunk);
      total += c.chunk.length;
    }
    this.writeOwned(copyForSend(bufs, total), cb);
  }

  /** Writes a buffer nobody else holds. */
  private writeOwned(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.pendingBeforeConnect.push(() => this.writeOwned(chunk, cb));
      return;
    }
    const c = this.conn;
    if (!c) {
      cb(makeError('EPIPE', 'write', { message: 'socket is not connected' }));
      return;
    }
    this.touch();
    this.heldChunk = chunk;
    this.heldCb = cb;
    this.flushHeld();
  }

  /** Takes the held write's callback, leaving nothing held. */
  private takeHeld(): ((err?: Error | null) => void) | undefined {
    const cb = this.heldCb;
    this.heldChunk = undefined;
    this.heldCb = undefined;
    return cb;
  }

  /** Offers the held chunk to the send buffer; completes its callback once all was taken. */
  private flushHeld(): void {
    const chunk = this.heldChunk;
    const c = this.conn;
    if (!chunk || !c) return;
    let n: number;
    try {
      n = c.write(chunk);
    } catch (e) {
      this.takeHeld()!(e as Error);
      return;
    }
    this._bytesWritten += n;
    if (n >= chunk.length) {
      this.takeHeld()!();
    } else if (n > 0) {
      this.heldChunk = chunk.subarray(n);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.pendingBeforeConnect.push(() => this._final(cb));
      return;
    }
    const c = this.conn;
    if (!c) {
      cb();
      return;
    }
    // All writes were accepted (the stream calls _final after the last callback): FIN.
    c.shutdown();
    cb();
  }

  // ---- closing ----

  private onConnClosed(code: string | undefined, syscall: string | undefined): void {
    // No TCP_INFO snapshot here or in _destroy: getInfo() reads the connection when asked.
    this.clearIdle();
    if (code) {
      const err = makeError(code as ErrorCode, syscall ?? (this.connecting ? 'connect' : 'read'), {
        address: this.remoteAddr,
        port: this.remotePortN,
      });
      this.connecting = false;
      this.destroy(err);
      return;
    }
    this.connecting = false;
    // A clean close: deliver whatever is left and the EOF.
    this.wantRead = true;
    this.pullFromConnection();
    if (!this.pushedEof) {
      this.pushedEof = true;
      this.push(null);
    }
    // Writes still held can never complete.
    const cb = this.takeHeld();
    if (cb) cb(makeError('EPIPE', 'write', { address: this.remoteAddr, port: this.remotePortN }));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearIdle();
    this.connecting = false;
    const c = this.conn;
    const h = this.takeHeld();
    const done = (): void => {
      if (h) h(err ?? makeError('ERR_SOCKET_CLOSED', 'write'));
      cb(err);
      // 'close' after 'error' (emitClose is off so that hadError can be passed, like node:net).
      process.nextTick(emitClose, this, err !== null);
    };
    if (!c) {
      done();
      return;
    }
    // Like closing a kernel socket (node:net's destroy closes the fd, with or without an
    // error): a graceful FIN when everything was read and written, otherwise (unread data,
    // data still held) an RST. So a `for await` that ends on an allowHalfOpen socket (the
    // iterator destroys it with an AbortError) closes normally, as with node:net. A graceful
    // close emits 'close' once our data and FIN are acknowledged, so a process may exit on it.
    // No TCP_INFO snapshot (it was 2-3 per connection, ~1.7 KB per churn handshake on the
    // server): getInfo() keeps reading the released connection, whose state only the close
    // still moves, and which is never touched once closed or compacted into TIME-WAIT.
    if (h !== undefined || c.hasUnread()) {
      c.release(true);
      done();
    } else {
      c.release(false, done);
    }
  }

  /** Sends an RST and destroys the socket (like node:net's resetAndDestroy). */
  resetAndDestroy(): this {
    const c = this.conn;
    if (c) c.abort();
    this.destroy();
    return this;
  }

  // ---- options ----

  setNoDelay(noDelay = true): this {
    this.conn?.setNoDelay(noDelay);
    if (!this.conn) (this.tcpOptions ??= {}).noDelay = noDelay;
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    if (this.conn) this.conn.setKeepAlive(enable, initialDelay);
    else {
      const o = (this.tcpOptions ??= {});
      o.keepAlive = enable;
      if (initialDelay > 0) o.keepAliveInitialDelay = initialDelay;
    }
    return this;
  }

  /** Idle timeout: emits 'timeout' after `ms` without activity (0 disables). Never closes. */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.clearIdle();
    if (ms > 0) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        this.emit('timeout');
      }, ms);
      this.idleTimer.unref?.();
    }
    return this;
  }

  private touch(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else if (this.idleMs > 0 && !this.destroyed) this.setTimeout(this.idleMs);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ---- properties ----

  get bytesRead(): number {
    return this._bytesRead;
  }

  get bytesWritten(): number {
    return this._bytesWritten;
  }

  get remoteAddress(): string | undefined {
    return this.remoteAddr;
  }

  get remotePort(): number | undefined {
    return this.remotePortN;
  }

  get remoteFamily(): string | undefined {
    return this.remoteAddr !== undefined ? 'IPv4' : undefined;
  }

  get localAddress(): string | undefined {
    return this.localAddr;
  }

  get localPort(): number | undefined {
    return this.localPortN;
  }

  get pending(): boolean {
    return !this.conn || this.connecting;
  }

  get readyState(): ReadyState {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  address(): { address: string; family: 'IPv4'; port: number } | Record<string, never> {
    return this.localAddr !== undefined ? { address: this.localAddr, family: 'IPv4', port: this.localPortN! } : {};
  }

  /**
   * A TCP_INFO-like snapshot of the connection, built when called. After destroy() it
   * describes the released connection as its close left it (FIN-WAIT-2, TIME-WAIT, CLOSED).
   */
  getInfo(): TcpInfo | undefined {
    return this.conn?.info();
  }
}

export type { NodeStyleError };

/** fromAccepted's first read, on the next tick (no closure per socket). */
function pullLater(s: Socket): void {
  s[PULL]();
}

/** 'close' on its tick: the accepting server learns first (it counts its sockets), then the listeners. */
function emitClose(s: Socket, hadError: boolean): void {
  const f = s[ON_CLOSE_FOR_SERVER];
  if (f) {
    s[ON_CLOSE_FOR_SERVER] = undefined;
    f(s);
  }
  s.emit('close', hadError);
}
