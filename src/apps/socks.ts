/**
 * A SOCKS5 server (RFC 1928, CONNECT only) whose targets are overlay hosts, with optional
 * username/password authentication (RFC 1929). Clients are real TCP connections (curl
 * --socks5-hostname, browsers, ssh -o ProxyCommand='nc -X 5 ...'); each CONNECT opens
 * an overlay TCP connection and the two are pumped (./pump.ts).
 *
 *   client -> server  greeting   VER=5 NMETHODS METHODS...
 *   server -> client  choice     VER=5 METHOD (0 none, 2 username/password, 0xFF none acceptable)
 *   [RFC 1929]        VER=1 ULEN UNAME PLEN PASSWD  ->  VER=1 STATUS (0 = success)
 *   client -> server  request    VER=5 CMD RSV ATYP DST.ADDR DST.PORT
 *   server -> client  reply      VER=5 REP RSV ATYP=1 BND.ADDR BND.PORT
 *
 * Targets: an IPv4 address the overlay can reach, or a domain name from the hosts map
 * (the /etc/hosts format, see parseHostsFile). Refusals use RFC 1928's reply codes:
 * a name not in the map 4 (host unreachable), an IPv4 address outside the overlay 3
 * (network unreachable), IPv6 8 (address type not supported), BIND / UDP ASSOCIATE 7
 * (command not supported), a refused overlay connection 5, a timeout 4, a bad password
 * ends the connection after RFC 1929's failure status.
 */
import { timingSafeEqual } from 'node:crypto';
import * as realNet from 'node:net';
import { isIPv4 } from 'node:net';
import type { HostLike } from '../index.js';
import { connect as overlayConnect } from '../net.js';
import type { OverlayTcpOptions } from './forward.js';
import { pump, type Pump, type PumpResult } from './pump.js';

export const SOCKS_VERSION = 5;
export const AUTH_NONE = 0x00;
export const AUTH_USERPASS = 0x02;
export const AUTH_NO_ACCEPTABLE = 0xff;
export const CMD_CONNECT = 1;
export const CMD_BIND = 2;
export const CMD_UDP_ASSOCIATE = 3;
export const ATYP_IPV4 = 1;
export const ATYP_DOMAIN = 3;
export const ATYP_IPV6 = 4;

/** RFC 1928 section 6 reply codes. */
export const REP = {
  succeeded: 0,
  generalFailure: 1,
  notAllowed: 2,
  networkUnreachable: 3,
  hostUnreachable: 4,
  connectionRefused: 5,
  ttlExpired: 6,
  commandNotSupported: 7,
  addressTypeNotSupported: 8,
} as const;

export class SocksProtocolError extends Error {}

/** A parse result: the value and the bytes it used, or undefined when more bytes are needed. */
type Parsed<T> = { value: T; used: number } | undefined;

export function parseGreeting(b: Buffer): Parsed<number[]> {
  if (b.length < 2) return undefined;
  if (b[0] !== SOCKS_VERSION) throw new SocksProtocolError(`not SOCKS5 (version byte ${b[0]})`);
  const n = b[1]!;
  if (n === 0) throw new SocksProtocolError('greeting offers no methods');
  if (b.length < 2 + n) return undefined;
  return { value: [...b.subarray(2, 2 + n)], used: 2 + n };
}

export function parseUserPass(b: Buffer): Parsed<{ user: string; pass: string }> {
  if (b.length < 2) return undefined;
  if (b[0] !== 1) throw new SocksProtocolError(`bad username/password version ${b[0]}`);
  const ulen = b[1]!;
  if (b.length < 3 + ulen) return undefined;
  const plen = b[2 + ulen]!;
  if (b.length < 3 + ulen + plen) return undefined;
  return {
    value: { user: b.subarray(2, 2 + ulen).toString('utf8'), pass: b.subarray(3 + ulen, 3 + ulen + plen).toString('utf8') },
    used: 3 + ulen + plen,
  };
}

export interface SocksRequest {
  cmd: number;
  atyp: number;
  /** Dotted IPv4, a domain name, or IPv6 in hex groups. */
  address: string;
  port: number;
}

export function parseRequest(b: Buffer): Parsed<SocksRequest> {
  if (b.length < 5) return undefined;
  if (b[0] !== SOCKS_VERSION) throw new SocksProtocolError(`bad request version ${b[0]}`);
  const cmd = b[1]!;
  const atyp = b[3]!;
  let addrLen: number;
  let start = 4;
  if (atyp === ATYP_IPV4) addrLen = 4;
  else if (atyp === ATYP_IPV6) addrLen = 16;
  else if (atyp === ATYP_DOMAIN) {
    addrLen = b[4]!;
    start = 5;
  } else return { value: { cmd, atyp, address: '', port: 0 }, used: b.length };
  const end = start + addrLen;
  if (b.length < end + 2) return undefined;
  const raw = b.subarray(start, end);
  let address: string;
  if (atyp === ATYP_IPV4) address = [...raw].join('.');
  else if (atyp === ATYP_IPV6) address = [...Array(8).keys()].map((i) => raw.readUInt16BE(i * 2).toString(16)).join(':');
  else address = raw.toString('latin1');
  return { value: { cmd, atyp, address, port: b.readUInt16BE(end) }, used: end + 2 };
}

/** A reply with an IPv4 bound address (0.0.0.0:0 when there is none). */
export function encodeReply(rep: number, address = '0.0.0.0', port = 0): Buffer {
  const out = Buffer.alloc(10);
  out[0] = SOCKS_VERSION;
  out[1] = rep;
  out[3] = ATYP_IPV4;
  const parts = isIPv4(address) ? address.split('.').map(Number) : [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) out[4 + i] = parts[i]!;
  out.writeUInt16BE(port, 8);
  return out;
}

/** /etc/hosts format: `ADDRESS NAME [NAME...]`, `#` comments. Only IPv4 lines count. Names are case-insensitive. */
export function parseHostsFile(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [addr, ...names] = line.split(/\s+/);
    if (!addr || !isIPv4(addr)) continue;
    for (const n of names) if (!map.has(n.toLowerCase())) map.set(n.toLowerCase(), addr);
  }
  return map;
}

/** `USER:PASSWORD` per line (the password may contain ':'), `#` comments. */
export function parseAuthFile(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i <= 0) throw new SocksProtocolError(`auth file line '${line.slice(0, 40)}' is not USER:PASSWORD`);
    map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The reply code for an overlay connect error. */
export function replyForError(code: string | undefined): number {
  switch (code) {
    case 'ECONNREFUSED':
      return REP.connectionRefused;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return REP.hostUnreachable;
    case 'ENETUNREACH':
      return REP.networkUnreachable;
    default:
      return REP.generalFailure;
  }
}

export interface SocksEvent {
  client: string;
  /** What the client asked for ("name:port" or "addr:port"), and the overlay address used. */
  target: string;
  reply: number;
  result?: PumpResult;
  ms: number;
}

export interface SocksServerOptions {
  host: HostLike;
  /** Names to overlay addresses (parseHostsFile). */
  hosts?: Map<string, string>;
  /** Users and passwords (parseAuthFile); when given, RFC 1929 is required. */
  users?: Map<string, string>;
  /** Whether an IPv4 address is in the overlay (default: the host's own address only). */
  reachable?: (address: string) => boolean;
  tcp?: OverlayTcpOptions;
  /** Milliseconds a client has to finish the greeting and request (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Called once per client that sent a request (after its connection finished, or at once when refused). */
  onRequest?: (ev: SocksEvent) => void;
}

export interface SocksServer {
  readonly server: realNet.Server;
  readonly active: number;
  close(): Promise<void>;
}

/** Serves SOCKS5 on a real listening socket (call listen() on `server`). */
export function createSocksServer(opts: SocksServerOptions): SocksServer {
  const pumps = new Set<Pump>();
  const pending = new Set<realNet.Socket>();
  const server = realNet.createServer({ allowHalfOpen: true }, (client) => {
    pending.add(client);
    client.once('close', () => pending.delete(client));
    handle(client, opts, (p) => {
      pending.delete(client);
      pumps.add(p);
      void p.done.then(() => pumps.delete(p));
    });
  });
  return {
    server,
    get active() {
      return pumps.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else server.close(() => resolve());
        for (const p of pumps) p.close();
        for (const c of pending) c.destroy();
      });
    },
  };
}

type Stage = 'greeting' | 'auth' | 'request' | 'connecting';

function handle(client: realNet.Socket, opts: SocksServerOptions, started: (p: Pump) => void): void {
  const t0 = Date.now();
  const clientName = `${client.remoteAddress}:${client.remotePort}`;
  let stage: Stage = 'greeting';
  let buf: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => client.destroy(), opts.handshakeTimeoutMs ?? 10_000);
  timer.unref();
  const report = (target: string, reply: number, result?: PumpResult): void =>
    opts.onRequest?.({ client: clientName, target, reply, ms: Date.now() - t0, ...(result ? { result } : {}) });
  const refuse = (target: string, rep: number): void => {
    clearTimeout(timer);
    client.off('data', onData);
    report(target, rep);
    client.end(encodeReply(rep));
    client.resume();
    // The client should close now; do not keep a half-open socket if it does not.
    setTimeout(() => client.destroy(), 5000).unref();
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    try {
      step();
    } catch {
      // Malformed: nothing sensible to answer; close.
      clearTimeout(timer);
      client.destroy();
    }
  };
  const step = (): void => {
    for (let i = 0; i < 4; i++) {
      if (stage === 'greeting') {
        const g = parseGreeting(buf);
        if (!g) return;
        buf = buf.subarray(g.used);
        const want = opts.users ? AUTH_USERPASS : AUTH_NONE;
        if (!g.value.includes(want)) {
          clearTimeout(timer);
          client.off('data', onData);
          client.end(Buffer.from([SOCKS_VERSION, AUTH_NO_ACCEPTABLE]));
          return;
        }
        client.write(Buffer.from([SOCKS_VERSION, want]));
        stage = opts.users ? 'auth' : 'request';
      } else if (stage === 'auth') {
        const a = parseUserPass(buf);
        if (!a) return;
        buf = buf.subarray(a.used);
        const expected = opts.users!.get(a.value.user);
        const ok = expected !== undefined && sameSecret(expected, a.value.pass);
        if (!ok) {
          clearTimeout(timer);
          client.off('data', onData);
          client.end(Buffer.from([1, 1]));
          return;
        }
        client.write(Buffer.from([1, 0]));
        stage = 'request';
      } else if (stage === 'request') {
        const r = parseRequest(buf);
        if (!r) return;
        buf = buf.subarray(r.used);
        stage = 'connecting';
        request(r.value);
        return;
      } else return;
    }
  };
  const request = (req: SocksRequest): void => {
    const asked = `${req.atyp === ATYP_IPV6 ? `[${req.address}]` : req.address}:${req.port}`;
    if (req.cmd !== CMD_CONNECT) return refuse(asked, REP.commandNotSupported);
    if (req.atyp !== ATYP_IPV4 && req.atyp !== ATYP_DOMAIN) return refuse(asked, REP.addressTypeNotSupported);
    let address = req.address;
    if (req.atyp === ATYP_DOMAIN && !isIPv4(address)) {
      const found = opts.hosts?.get(address.toLowerCase());
      if (found === undefined) return refuse(asked, REP.hostUnreachable);
      address = found;
    }
    const reachable = opts.reachable ?? ((a: string) => a === opts.host.addressString);
    if (!reachable(address)) return refuse(asked, REP.networkUnreachable);
    if (req.port === 0) return refuse(asked, REP.hostUnreachable);
    client.pause();
    client.off('data', onData);
    const ov = overlayConnect({ ...opts.tcp, via: opts.host, host: address, port: req.port, allowHalfOpen: true });
    const onFail = (e: Error & { code?: string }): void => {
      if (client.destroyed) return;
      refuse(asked, replyForError(e.code));
    };
    ov.once('error', onFail);
    // The client may give up while we connect.
    const onClientGone = (): void => {
      ov.destroy();
    };
    client.once('close', onClientGone);
    ov.once('connect', () => {
      clearTimeout(timer);
      ov.off('error', onFail);
      client.off('close', onClientGone);
      client.write(encodeReply(REP.succeeded, ov.localAddress, ov.localPort ?? 0));
      // Bytes the client sent after its request (optimistic data) go first.
      if (buf.length) client.unshift(buf);
      const p = pump(client, ov);
      started(p);
      void p.done.then((result) => report(asked === `${address}:${req.port}` ? asked : `${asked}=${address}`, REP.succeeded, result));
      client.resume();
    });
  };
  client.on('data', onData);
  client.on('error', () => {
    clearTimeout(timer);
  });
}
