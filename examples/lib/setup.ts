/**
 * What every example program shares, so each example file can read like the lecture's
 * C or Python original: the host flags with the lecture's defaults, building the overlay
 * Host, and turning errors into one line on stderr (exit 2 for a usage error).
 *
 * The default layout of the lecture (two processes, one overlay host each):
 *
 *   server  10.77.0.3  on real UDP 127.0.0.1:40003   peer 10.77.0.2 -> 127.0.0.1:40002
 *   client  10.77.0.2  on real UDP 127.0.0.1:40002   peer 10.77.0.3 -> 127.0.0.1:40003
 */
import { hostFlagSpecs, hostFromFlags, announceListening } from '../../src/cli/common.js';
import { parseArgs, usage, type FlagSpecs, type Parsed } from '../../src/cli/args.js';
import { guardStdout } from '../../src/cli/stdout.js';
import { Host } from '../../src/host/host.js';
import { once } from 'node:events';
import type { Socket as TcpSocket } from '../../src/net.js';
import { makeError, UsageError } from '../../src/util/errors.js';

export const SERVER = { addr: '10.77.0.3', udp: '127.0.0.1:40003' } as const;
export const CLIENT = { addr: '10.77.0.2', udp: '127.0.0.1:40002' } as const;

export interface Role {
  addr: string;
  udp: string;
}

/** The host flags with `me` as defaults and, unless --peer is given, a route to `peer`. */
export function exampleFlagSpecs(me: Role, extra: FlagSpecs): FlagSpecs {
  return {
    ...hostFlagSpecs,
    addr: { ...hostFlagSpecs.addr!, default: me.addr },
    udp: { ...hostFlagSpecs.udp!, default: me.udp },
    ...extra,
  };
}

export interface ExampleHost {
  host: Host;
  flags: Parsed;
  close(): Promise<void>;
}

/**
 * Parses argv (prints help and exits 0 on --help) and returns the parsed flags. Throws
 * UsageError on a bad flag.
 */
export function parseExampleArgs(argv: string[], synopsis: string, specs: FlagSpecs): Parsed {
  const p = parseArgs(argv, specs);
  if (p.flags.help === true) {
    process.stdout.write(usage(synopsis, specs) + '\n');
    process.exit(0);
  }
  return p;
}

/**
 * Builds this process's overlay host from the flags. When no --peer was given the route
 * to the other role's default address is added, so the two lecture programs find each
 * other with no flags at all.
 */
export async function exampleHost(p: Parsed, defaultPeer: Role | undefined): Promise<ExampleHost> {
  const peers = p.flags.peer as string[];
  if (peers.length === 0 && defaultPeer) peers.push(`${defaultPeer.addr}=${defaultPeer.udp}`);
  const { host, observe } = await hostFromFlags(p);
  return {
    host,
    flags: p,
    close: async () => {
      await observe.close();
      await host.close();
    },
  };
}

/** The "listening ADDR udp=HOST:PORT port=N" line on stderr that tests wait for. */
export function announce(host: Host, overlayPort?: number): void {
  announceListening(host, overlayPort);
}

/**
 * Runs an example's main function: its resolved number is the exit status; a UsageError
 * is one line on stderr and status 2; any other error is one line and status 1.
 */
export function runExample(name: string, main: () => Promise<number | void>): void {
  guardStdout(name); // `node dist/examples/handshake.js | head` ends quietly
  main().then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err: unknown) => {
      const e = err as { message?: string; code?: string };
      process.stderr.write(`${name}: ${e?.message ?? String(err)}\n`);
      if (process.env.OVERLAY_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}

/** A positive integer flag (UsageError otherwise). */
export function intFlag(p: Parsed, name: string, min: number, max: number): number {
  const v = p.flags[name];
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`option --${name}: ${String(v)} is out of range (${min}..${max})`);
  return n;
}

/** Human-readable bytes: 1.5 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** Megabits per second from bytes and milliseconds. */
export function mbps(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 8) / 1000 / ms : 0;
}

/**
 * Two overlay hosts in this process, 10.77.0.2 (A, the client) and 10.77.0.3 (B, the
 * server), each on its own UDP port on 127.0.0.1, routed to each other directly.
 */
export async function hostPair(opts: { mtu?: number } = {}): Promise<{ a: Host; b: Host; close(): Promise<void> }> {
  const mtu = opts.mtu !== undefined ? { mtu: opts.mtu } : {};
  const a = await Host.create({ address: CLIENT.addr, udp: { address: '127.0.0.1', port: 0 }, ...mtu });
  const b = await Host.create({ address: SERVER.addr, udp: { address: '127.0.0.1', port: 0 }, ...mtu });
  a.addPeer(`${SERVER.addr}/32`, b.endpoint);
  b.addPeer(`${CLIENT.addr}/32`, a.endpoint);
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

/**
 * Waits for a connecting socket's 'connect'; rejects with its 'error' (ECONNREFUSED, ...)
 * or, after `ms`, destroys it and rejects with ETIMEDOUT (a SYN that nobody answers is
 * otherwise retried for about two minutes, like the kernel's tcp_syn_retries).
 */
export async function connected(sock: TcpSocket, ms: number, what: string): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await once(sock, 'connect', { signal: ac.signal });
  } catch (e) {
    if ((e as { name?: string }).name !== 'AbortError') throw e;
    sock.destroy();
    throw makeError('ETIMEDOUT', 'connect', { message: `no answer from ${what} within ${ms} ms (is it running, and do the --peer routes point at each other?)` });
  } finally {
    clearTimeout(timer);
  }
}
