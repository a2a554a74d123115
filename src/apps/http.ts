/**
 * Node's own protocols over the overlay. node:http, node:https, node:tls and libraries
 * built on them (ws, undici's connector) take any stream.Duplex as their socket, so an
 * overlay Socket works as is; these helpers remove the boilerplate:
 *
 *   const agent = createHttpAgent({ via: host, keepAlive: true });
 *   http.get({ host: '10.77.0.3', port: 80, path: '/', agent }, (res) => ...);
 *
 *   const web = http.createServer((req, res) => res.end('hi'));
 *   const listener = await serveOverlay(web, { host, port: 80 });   // also https/tls servers
 *
 * createHttpsAgent does the same for https (TLS over the overlay connection; the usual
 * https.Agent options: ca, servername, rejectUnauthorized...).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { EventEmitter } from 'node:events';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { HostLike } from '../index.js';
import { connect, createServer, type Server, type SocketOptions } from '../net.js';
import { listened } from './listen.js';

/** TCP options for the overlay connections (cc, noDelay, keepAlive...). */
type OverlayTcp = Omit<SocketOptions, 'via' | 'allowHalfOpen'>;

export interface OverlayAgentOptions extends http.AgentOptions {
  /** The overlay host whose connections the agent uses. */
  via: HostLike;
  /** Overlay TCP options for each connection. */
  tcp?: OverlayTcp;
}

export interface OverlayHttpsAgentOptions extends https.AgentOptions {
  via: HostLike;
  tcp?: OverlayTcp;
}

function overlaySocket(via: HostLike, tcp: OverlayTcp | undefined, options: { host?: string | null; hostname?: string | null; port?: number | string | null }): Duplex {
  const host = options.host ?? options.hostname ?? undefined;
  const port = Number(options.port ?? 80);
  return connect({ ...tcp, via, ...(host ? { host } : {}), port });
}

/** An http.Agent whose connections are overlay TCP connections from `via`. */
export class OverlayHttpAgent extends http.Agent {
  private readonly via: HostLike;
  private readonly tcp: OverlayTcp | undefined;

  constructor(options: OverlayAgentOptions) {
    const { via, tcp, ...rest } = options;
    super(rest);
    this.via = via;
    this.tcp = tcp;
  }

  // The Agent uses the returned socket (a callback is for sockets made asynchronously).
  override createConnection(options: http.ClientRequestArgs): Duplex {
    return overlaySocket(this.via, this.tcp, options);
  }
}

/** An https.Agent whose TLS connections run over overlay TCP connections from `via`. */
export class OverlayHttpsAgent extends https.Agent {
  private readonly via: HostLike;
  private readonly tcp: OverlayTcp | undefined;

  constructor(options: OverlayHttpsAgentOptions) {
    const { via, tcp, ...rest } = options;
    super(rest);
    this.via = via;
    this.tcp = tcp;
  }

  override createConnection(options: tls.ConnectionOptions & http.ClientRequestArgs): Duplex {
    const socket = overlaySocket(this.via, this.tcp, options);
    // SNI carries a name, never an address (RFC 6066 section 3).
    const name = options.servername ?? (options.host && !/^[\d.]+$/.test(options.host) ? options.host : undefined);
    return tls.connect({ ...options, socket, ...(name ? { servername: name } : {}) });
  }
}

export function createHttpAgent(options: OverlayAgentOptions): OverlayHttpAgent {
  return new OverlayHttpAgent(options);
}

export function createHttpsAgent(options: OverlayHttpsAgentOptions): OverlayHttpsAgent {
  return new OverlayHttpsAgent(options);
}

export interface ServeOverlayOptions {
  host: HostLike;
  /** Overlay port (0 = ephemeral; read it from the returned server's address()). */
  port: number;
  tcp?: OverlayTcp;
}

/**
 * Feeds overlay connections to a node:http / node:https / node:tls server (anything that
 * handles its 'connection' event): listens on the overlay port and emits 'connection' on
 * `server` for each accepted overlay socket. The real server need not listen anywhere.
 * Resolves with the overlay listener (close it to stop; close `server` too for keep-alive sockets).
 */
export async function serveOverlay(server: EventEmitter, opts: ServeOverlayOptions): Promise<Server> {
  const listener = createServer({ ...opts.tcp, host: opts.host }, (s) => server.emit('connection', s));
  await listened(listener, (done) => listener.listen({ port: opts.port }, done));
  return listener;
}
