/**
 * Port forwarding between the real network and the overlay (like ssh -L / -R):
 *
 *   forwardLocal:  a real TCP listener (node:net) on BIND:PORT; each accepted connection
 *                  opens an overlay connection to DEST:DPORT and the two are pumped.
 *   forwardRemote: an overlay TCP listener on OPORT; each accepted overlay connection
 *                  opens a real TCP connection to HOST:PORT (loopback only unless
 *                  allowRemote) and the two are pumped.
 *
 * Both sides use allowHalfOpen so FINs travel separately each way; failures travel as
 * resets (./pump.ts). A refused outgoing connection resets the incoming one.
 */
import type { EventEmitter } from 'node:events';
import * as realNet from 'node:net';
import { isIPv4 } from 'node:net';
import type { HostLike } from '../index.js';
import { connect as overlayConnect, createServer as overlayCreateServer, type Server, type SocketOptions } from '../net.js';
import { listened } from './listen.js';
import { pump, resetStream, type Pump, type PumpResult } from './pump.js';

/** TCP options for the overlay side (cc, noDelay, keepAlive...). */
export type OverlayTcpOptions = Omit<SocketOptions, 'via' | 'allowHalfOpen'>;

export interface ForwardEvent {
  /** Which forwarder: 'L' (real -> overlay) or 'R' (overlay -> real). */
  kind: 'L' | 'R';
  /** "addr:port" of the accepted peer and of the target. */
  from: string;
  to: string;
  result: PumpResult;
  ms: number;
}

export interface ForwardCommon {
  host: HostLike;
  tcp?: OverlayTcpOptions;
  /** Called once per finished connection. */
  onConnection?: (ev: ForwardEvent) => void;
}

export interface LocalForwardOptions extends ForwardCommon {
  /** Real address to listen on (default 127.0.0.1) and port (0 = ephemeral). */
  bindAddress?: string;
  port: number;
  /** Overlay destination. */
  dest: string;
  destPort: number;
}

export interface RemoteForwardOptions extends ForwardCommon {
  /** Overlay port to listen on (0 = ephemeral). */
  overlayPort: number;
  /** Real target. */
  targetHost: string;
  targetPort: number;
  /** Allow non-loopback targets (default false). */
  allowRemote?: boolean;
}

export interface Forwarder {
  /** The bound port: the real one for -L, the overlay one for -R. */
  readonly port: number;
  /** Connections being pumped now. */
  readonly active: number;
  /** Stops listening and resets every connection still open. */
  close(): Promise<void>;
}

/** True for 127.0.0.0/8, ::1 and 'localhost'. */
export function isLoopbackTarget(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

function track(pumps: Set<Pump>, p: Pump, kind: 'L' | 'R', from: string, to: string, opts: ForwardCommon): void {
  const t0 = Date.now();
  pumps.add(p);
  void p.done.then((result) => {
    pumps.delete(p);
    opts.onConnection?.({ kind, from, to, result, ms: Date.now() - t0 });
  });
}

/** Listens (rejecting on a listen error); later server errors are ignored (each pump handles its connection's). */
async function listening(server: EventEmitter, listen: (done: () => void) => void): Promise<void> {
  await listened(server, listen);
  server.on('error', () => {});
}

/** The Forwarder of a listening server and its live pumps: close() stops listening and closes every pump. */
function forwarder(port: number, server: { close(cb: () => void): unknown }, pumps: Set<Pump>): Forwarder {
  return {
    port,
    get active() {
      return pumps.size;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const p of pumps) p.close();
      });
    },
  };
}

export async function forwardLocal(opts: LocalForwardOptions): Promise<Forwarder> {
  const pumps = new Set<Pump>();
  const to = `${opts.dest}:${opts.destPort}`;
  const server = realNet.createServer({ allowHalfOpen: true }, (real) => {
    const from = `${real.remoteAddress}:${real.remotePort}`;
    const ov = overlayConnect({ ...opts.tcp, via: opts.host, host: opts.dest, port: opts.destPort, allowHalfOpen: true });
    track(pumps, pump(real, ov), 'L', from, to, opts);
  });
  await listening(server, (done) => server.listen({ host: opts.bindAddress ?? '127.0.0.1', port: opts.port }, done));
  return forwarder((server.address() as realNet.AddressInfo).port, server, pumps);
}

export async function forwardRemote(opts: RemoteForwardOptions): Promise<Forwarder> {
  if (!opts.allowRemote && !isLoopbackTarget(opts.targetHost)) {
    const err = new Error(`target ${opts.targetHost} is not a loopback address (allowRemote is off)`) as Error & { code: string };
    err.code = 'EINVAL';
    throw err;
  }
  const pumps = new Set<Pump>();
  const to = `${opts.targetHost}:${opts.targetPort}`;
  const server: Server = overlayCreateServer({ ...opts.tcp, host: opts.host, allowHalfOpen: true }, (ov) => {
    const from = `${ov.remoteAddress}:${ov.remotePort}`;
    const real = realNet.connect({ host: opts.targetHost, port: opts.targetPort, allowHalfOpen: true });
    // Overlay sockets do not take the listener's per-connection options; apply them here.
    if (opts.tcp?.noDelay) ov.setNoDelay(true);
    if (opts.tcp?.keepAlive) ov.setKeepAlive(true, opts.tcp.keepAliveIdle ?? opts.tcp.keepAliveInitialDelay ?? 0);
    track(pumps, pump(ov, real), 'R', from, to, opts);
  });
  await listening(server, (done) => server.listen({ port: opts.overlayPort }, done));
  return forwarder(server.address()!.port, server, pumps);
}

export { resetStream };
