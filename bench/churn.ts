/**
 * Connection churn: open, transfer, close, as fast as possible, for a while.
 *
 *   node <out>/bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000] [--mode both|one|two] [--mtu N] [--no-pin] [--no-kernel] [--unconnected]
 *
 * `--parallel` workers each loop: connect to an echo server, send `--bytes`, read the echo
 * back (checked byte for byte), end, wait for the close. Host A (client) and host B (server)
 * talk over real UDP on loopback, in one of two set-ups, both printed by default:
 *
 *  - `one process`: A and B share this process (one core does both ends' work: the figure
 *    is the stack's total cost per handshake);
 *  - `two processes`: A and B in two child processes pinned to different CPUs, as the TCP
 *    bench runs sender and receiver, and as a real client and server run (on this 2-core
 *    machine the other engineers' load shares those CPUs);
 *  - `kernel TCP`: the same two-process workload over the kernel's TCP (node:net on
 *    127.0.0.1, same pinning, same 16 KiB echo, the client closing first), right after the
 *    overlay's: the reference the two-process figure is a ratio of (`vs kernel TCP`).
 *    `--no-kernel` leaves it out.
 *
 * `--mtu N` sets both hosts' link MTU. Without it, one process runs at the default MTU 1472
 * and two processes run the overlay twice, at 1472 and at 65000 (the loopback MTU the
 * kernel-TCP row effectively has: lo's 65536 lets the kernel send the 16 KiB echo as one
 * segment, where the overlay at 1472 sends 12); with it, only that MTU. Each overlay row's
 * label and `MTU` column say which, beside its datagrams per handshake.
 *
 * Host A has one peer, host B, and sends to it through a connected UDP socket (Host.create's
 * `connectPeer`, as the TCP bench's sender does: no address resolution and route lookup per
 * datagram); `--unconnected` sends through the host's one unconnected socket instead. The
 * server, host B, always answers through its unconnected socket, as a server with many
 * clients would. Each total row says which (`client UDP`).
 *
 * The client closes first, so TIME-WAIT (2 x MSL) piles up on A: its count is sampled every
 * second and must stay bounded by about handshake rate x 2 x MSL (`--msl` shortens the MSL so
 * ephemeral ports are not exhausted, as a busy Linux client would need tcp_tw_reuse). Prints
 * one row per second (handshakes/s, TIME-WAIT count, live connections, heap) and a total row
 * per set-up, with the CPU time and the datagrams per handshake (both ends). `run(opts)`
 * returns the rows.
 *
 * Not part of `npm test`. Bounded by --seconds (and a time-out on each child).
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MTU, Host, MAX_MTU, MIN_MTU } from '../src/host/host.js';
import { inventory } from '../src/metrics/inventory.js';
import { connect, createServer, TcpStack, type Socket } from '../src/net.js';
import type { Row } from './main.js';
import { isMain, numberArg, runStandalone } from './lib/cli.js';
import { killChildren, pinnableCpus, spawnRole, withTimeout } from './lib/child.js';
import { arg, runRoleIfMain, say, StdinLines } from './lib/measure.js';

const SELF = fileURLToPath(import.meta.url);
const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5200;
const MiB = 1024 * 1024;

export type ChurnMode = 'one' | 'two' | 'both';

export interface ChurnOptions {
  seconds?: number;
  parallel?: number;
  bytes?: number;
  /** Maximum segment lifetime, ms (TIME-WAIT lasts 2 x MSL). */
  msl?: number;
  /** Which set-up(s) to run (default both: one process, then two processes). */
  mode?: ChurnMode;
  /** Two processes: leave them unpinned (default: pinned to CPUs 0 and 1 where taskset works). */
  noPin?: boolean;
  /** Two processes: leave out the kernel-TCP (node:net) reference row. */
  noKernel?: boolean;
  /**
   * Host A (the client, one peer) sends through an unconnected UDP socket, as before
   * 2026-12-05. By default it uses Host.create's connectPeer, as the TCP bench's sender does.
   */
  unconnected?: boolean;
  /**
   * Both hosts' link MTU. Default: 1472 (DEFAULT_MTU) in one process; in two processes, one
   * overlay run at 1472 and one at 65000 (CHURN_MTUS). Given, only this MTU.
   */
  mtu?: number;
  verbose?: boolean;
}

/** The MTUs of the two-process overlay runs when no `--mtu` is given: the default, and about loopback's. */
export const CHURN_MTUS: readonly number[] = [DEFAULT_MTU, 65000];

type LoopOptions = Required<Omit<ChurnOptions, 'mode' | 'noPin' | 'noKernel'>>;

/** The total row's `client UDP` column: whether host A's link really sends through a connected socket. */
function linkKind(a: Host): string {
  return a.link.connectedPeer() ? 'connected' : 'unconnected';
}

/** TCP segments (each one UDP datagram) sent so far by every stack in this process. */
function segmentsOut(): number {
  let n = 0;
  for (const src of inventory.sources()) n += src.tcpTotals?.().segmentsOut ?? 0;
  return n;
}

/** What a cycle needs of a socket: the overlay's Socket and node:net's alike. */
interface CycleSocket {
  end(data: Buffer): unknown;
  on(ev: 'data', fn: (d: Buffer) => void): unknown;
  on(ev: 'close', fn: () => void): unknown;
  on(ev: 'error', fn: (e: NodeJS.ErrnoException) => void): unknown;
}

/** Opens one connection; `onConnect` runs once it is established. */
type Opener = (onConnect: () => void) => CycleSocket;

/** One open-transfer-close cycle; resolves true when the echo matched, else why not (an error code, or 'echo'). */
function cycle(open: Opener, payload: Buffer): Promise<true | string> {
  return new Promise((resolve) => {
    let got = 0;
    let ok = true;
    let settled = false;
    const done = (v: true | string): void => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    const sock = open(() => sock.end(payload));
    sock.on('data', (d: Buffer) => {
      if (!d.equals(payload.subarray(got, got + d.length))) ok = false;
      got += d.length;
    });
    sock.on('close', () => done(ok && got === payload.length ? true : 'echo'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

/** Connections from host A to the echo server on host B (overlay TCP). */
function overlayOpener(a: Host, msl: number): Opener {
  const tcp = tcpOptions(msl);
  return (onConnect) => connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, onConnect) as Socket;
}

/** Connections to a kernel-TCP echo server on 127.0.0.1:port (node:net). */
function kernelOpener(port: number): Opener {
  return (onConnect) => net.connect({ host: '127.0.0.1', port }, onConnect);
}

/** The sampled columns of each second's row: the overlay host's TIME-WAIT and live connections. */
interface Sampler {
  timeWait(): number;
  live(): number;
}

function overlaySampler(a: Host): Sampler {
  const stack = TcpStack.for(a);
  // The stack's own count: the inventory's list (`overlay ss`) would build a TCP_INFO for
  // every TIME-WAIT record each second, thousands of them, on the measured client's CPU.
  return { timeWait: () => stack.timeWaitCount, live: () => stack.connectionCount };
}

function tcpOptions(msl: number): Record<string, number> {
  return { msl, rcvBuf: 256 * 1024, sndBuf: 256 * 1024 };
}

/** Host B's echo server on PORT. */
async function echoServer(b: Host, msl: number): Promise<{ close(): void }> {
  const server = createServer({ host: b, ...tcpOptions(msl) }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen({ port: PORT, backlog: 1024 }, r));
  return server;
}

/** The kernel-TCP echo server (node:net) on 127.0.0.1, an ephemeral port. */
async function kernelEchoServer(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, r));
  return server;
}

interface LoopResult {
  rows: Row[];
  completed: number;
  failed: number;
  /** Failures by reason ("EADDRNOTAVAIL 3, echo 1"), empty when none. */
  why: string;
  elapsed: number;
  peakTimeWait: number;
  peakRate: number;
  /** CPU seconds of this process over the loop. */
  cpu: number;
  /** TCP segments sent by this process's stacks over the loop. */
  segments: number;
}

/** The workers for `seconds`, with one row per second (TIME-WAIT and live from `sample`, or '-'). */
async function clientLoop(open: Opener, sample: Sampler | undefined, label: string, opts: LoopOptions, onRow: (r: Row) => void): Promise<LoopResult> {
  const payload = randomBytes(opts.bytes);
  let completed = 0;
  let failed = 0;
  const reasons = new Map<string, number>();
  const cpu0 = process.cpuUsage();
  const seg0 = segmentsOut();
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  const workers = Array.from({ length: opts.parallel }, async () => {
    while (performance.now() < deadline) {
      const r = await cycle(open, payload);
      if (r === true) completed++;
      else {
        failed++;
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
        // A failed connect settles on the next tick: without a turn of the event loop here,
        // the workers would spin through failures and starve the timers (TIME-WAIT expiry
        // among them) until the deadline.
        await new Promise((r) => setImmediate(r));
      }
    }
  });
  const rows: Row[] = [];
  let last = 0;
  let peakTimeWait = 0;
  let peakRate = 0;
  const timer = setInterval(() => {
    const tw = sample ? sample.timeWait() : 0;
    peakTimeWait = Math.max(peakTimeWait, tw);
    const row: Row = {
      phase: `${label} t=${Math.round((performance.now() - start) / 1000)}s`,
      'handshakes/s': completed + failed - last,
      'TIME-WAIT': sample ? tw : '-',
      'live (A)': sample ? sample.live() : '-',
      'heap (MiB)': Number((process.memoryUsage().heapUsed / MiB).toFixed(1)),
    };
    rows.push(row);
    onRow(row);
    peakRate = Math.max(peakRate, completed + failed - last);
    last = completed + failed;
  }, 1000);
  await Promise.all(workers);
  clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  const segments = segmentsOut() - seg0;
  const why = [...reasons].map(([k, v]) => `${k} ${v}`).join(', ');
  return { rows, completed, failed, why, elapsed: (performance.now() - start) / 1000, peakTimeWait, peakRate, cpu: (cpu.user + cpu.system) / 1e6, segments };
}

/** A set-up's total row; `live` undefined for kernel TCP (its TIME-WAIT and datagrams are the kernel's, not counted). */
function totalRow(label: string, r: LoopResult, msl: number, live: number | undefined, extra: Row = {}, heapMiB = process.memoryUsage().heapUsed / MiB): Row {
  const n = r.completed + r.failed;
  const kernel = live === undefined;
  return {
    phase: `${label} total`,
    'handshakes/s': Number((n / r.elapsed).toFixed(1)),
    'TIME-WAIT': kernel ? '-' : `peak ${r.peakTimeWait} (bound: peak rate x 2 x MSL = ${Math.round(r.peakRate * 2 * (msl / 1000))})`,
    'live (A)': kernel ? '-' : live,
    'heap (MiB)': Number(heapMiB.toFixed(1)),
    completed: r.completed,
    failed: r.why ? `${r.failed} (${r.why})` : r.failed,
    // CPU per handshake (both ends) is steadier than the rate on a shared machine.
    'CPU us/handshake': Math.round((r.cpu * 1e6) / Math.max(1, n)),
    // Datagrams per handshake (both ends), the other load-independent figure.
    'datagrams/handshake': kernel ? '-' : Number((r.segments / Math.max(1, n)).toFixed(2)),
    ...extra,
  };
}

/** Both hosts in this process (the original set-up). */
async function runOne(o: LoopOptions): Promise<Row[]> {
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 8 * MiB, mtu: o.mtu });
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 8 * MiB, mtu: o.mtu, connectPeer: !o.unconnected, peers: [{ prefix: `${B_ADDR}/32`, endpoint: b.endpoint }] });
  b.addPeer(`${A_ADDR}/32`, a.endpoint);
  const server = await echoServer(b, o.msl);
  const label = `one process, MTU ${o.mtu}`;
  const r = await clientLoop(overlayOpener(a, o.msl), overlaySampler(a), label, o, (row) => o.verbose && process.stderr.write(JSON.stringify(row) + '\n'));
  const rows = [...r.rows, totalRow(label, r, o.msl, TcpStack.for(a).connectionCount, { MTU: o.mtu, 'client UDP': linkKind(a) })];
  server.close();
  await a.close();
  await b.close();
  return rows;
}

/**
 * Host B in a child on one CPU, host A in another child on the other CPU; with `kernel`, the
 * same two children over node:net instead (the reference row).
 */
async function runTwo(o: LoopOptions, noPin: boolean, kernel = false): Promise<Row[]> {
  const pins = noPin ? undefined : pinnableCpus();
  const common = ['--msl', String(o.msl), '--mtu', String(o.mtu), ...(kernel ? ['--kernel'] : []), ...(o.unconnected ? ['--unconnected'] : [])];
  try {
    const srv = spawnRole(SELF, 'server', common, [], pins?.[1]);
    const { port } = await withTimeout(srv.next(), 10_000, 'churn server start');
    const cli = spawnRole(SELF, 'client', [...common, '--port', String(port), '--seconds', String(o.seconds), '--parallel', String(o.parallel), '--bytes', String(o.bytes)], [], pins?.[0]);
    const rows: Row[] = [];
    for (;;) {
      const line = (await withTimeout(cli.next(), 20_000 + o.seconds * 1000, 'churn client')) as unknown as Row & { done?: number };
      if (line.done) {
        srv.proc.stdin!.end();
        const s = (await withTimeout(srv.next(), 10_000, 'churn server end')) as unknown as { cpu: number; segments: number };
        const r = line as unknown as LoopResult & { live: number; heapMiB: number; connected: string };
        const label = kernel ? `kernel TCP (node:net), two processes${pins ? ' (pinned)' : ''}` : `two processes${pins ? ' (pinned)' : ''}, MTU ${o.mtu}`;
        const n = Math.max(1, r.completed + r.failed);
        rows.push(
          totalRow(
            label,
            { ...r, cpu: r.cpu + s.cpu, segments: r.segments + s.segments },
            o.msl,
            kernel ? undefined : r.live,
            {
              'CPU us/handshake client/server': `${Math.round((r.cpu * 1e6) / n)}/${Math.round((s.cpu * 1e6) / n)}`,
              ...(kernel ? {} : { MTU: o.mtu, 'client UDP': r.connected }),
            },
            r.heapMiB,
          ),
        );
        return rows;
      }
      rows.push(line);
      if (o.verbose) process.stderr.write(JSON.stringify(line) + '\n');
    }
  } finally {
    killChildren();
  }
}

export async function run(opts: ChurnOptions = {}): Promise<Row[]> {
  const o = {
    seconds: opts.seconds ?? 60,
    parallel: opts.parallel ?? 32,
    bytes: opts.bytes ?? 16 * 1024,
    msl: opts.msl ?? 1000,
    unconnected: opts.unconnected ?? false,
    mtu: opts.mtu ?? DEFAULT_MTU,
    verbose: opts.verbose ?? false,
  };
  const mode = opts.mode ?? 'both';
  const rows: Row[] = [];
  if (mode !== 'two') rows.push(...(await runOne(o)));
  if (mode !== 'one') {
    const overlays: Row[] = [];
    for (const mtu of opts.mtu === undefined ? CHURN_MTUS : [opts.mtu]) {
      const two = await runTwo({ ...o, mtu }, opts.noPin ?? false);
      rows.push(...two);
      overlays.push(two[two.length - 1]!);
    }
    if (!opts.noKernel) {
      // Right after the overlay's runs, on the same CPUs: the in-run reference.
      const ref = await runTwo(o, opts.noPin ?? false, true);
      rows.push(...ref);
      const kernel = ref[ref.length - 1]!;
      for (const overlay of overlays) overlay['vs kernel TCP'] = Number((Number(overlay['handshakes/s']) / Math.max(1e-9, Number(kernel['handshakes/s']))).toFixed(2));
    }
  }
  return rows;
}

// ---- the children of the two-process set-up ----

/** Host B and its echo server; prints its UDP port, and its CPU seconds and segments sent when stdin ends. */
async function serverRole(): Promise<void> {
  if (process.argv.includes('--kernel')) return kernelServerRole();
  const stdin = new StdinLines();
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 8 * MiB, mtu: Number(arg('mtu')), learn: true });
  const server = await echoServer(b, Number(arg('msl')));
  const cpu0 = process.cpuUsage();
  const seg0 = segmentsOut();
  say({ port: b.endpoint.port });
  await stdin.ended;
  const cpu = process.cpuUsage(cpu0);
  say({ cpu: (cpu.user + cpu.system) / 1e6, segments: segmentsOut() - seg0 });
  server.close();
  await b.close();
}

/** The kernel-TCP echo server: prints its TCP port, then its CPU seconds when stdin ends. */
async function kernelServerRole(): Promise<void> {
  const stdin = new StdinLines();
  const server = await kernelEchoServer();
  const cpu0 = process.cpuUsage();
  say({ port: (server.address() as net.AddressInfo).port });
  await stdin.ended;
  const cpu = process.cpuUsage(cpu0);
  say({ cpu: (cpu.user + cpu.system) / 1e6, segments: 0 });
  server.close();
}

/** Host A and the workers; prints each second's row, then the totals with `done: 1`. */
async function clientRole(): Promise<void> {
  const unconnected = process.argv.includes('--unconnected');
  const o: LoopOptions = { seconds: Number(arg('seconds')), parallel: Number(arg('parallel')), bytes: Number(arg('bytes')), msl: Number(arg('msl')), mtu: Number(arg('mtu')), unconnected, verbose: false };
  const port = Number(arg('port'));
  const done = (r: LoopResult, live: number, connected: string): void =>
    say({ done: 1, completed: r.completed, failed: r.failed, why: r.why, elapsed: r.elapsed, peakTimeWait: r.peakTimeWait, peakRate: r.peakRate, cpu: r.cpu, segments: r.segments, live, heapMiB: process.memoryUsage().heapUsed / MiB, connected });
  if (process.argv.includes('--kernel')) {
    // No overlay stack in this process: no TIME-WAIT sample and no datagrams counted.
    done(await clientLoop(kernelOpener(port), undefined, 'kernel TCP, two processes', o, (row) => say(row)), 0, '-');
    return;
  }
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 8 * MiB, mtu: o.mtu, connectPeer: !unconnected, peers: [{ prefix: `${B_ADDR}/32`, endpoint: { address: '127.0.0.1', port } }] });
  done(await clientLoop(overlayOpener(a, o.msl), overlaySampler(a), `two processes, MTU ${o.mtu}`, o, (row) => say(row)), TcpStack.for(a).connectionCount, linkKind(a));
  await a.close();
}

runRoleIfMain(import.meta.url, { server: serverRole, client: clientRole });

if (isMain(import.meta.url) && !process.argv.includes('--role')) {
  runStandalone(
    'churn',
    'node bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000] [--mode both|one|two] [--mtu N] [--no-pin] [--no-kernel] [--unconnected]',
    (argv) => {
      const mi = argv.indexOf('--mode');
      const mode = (mi >= 0 ? argv[mi + 1] : 'both') as ChurnMode;
      if (!['both', 'one', 'two'].includes(mode)) {
        process.stderr.write('churn: --mode needs both, one or two\n');
        process.exit(2);
      }
      const mtu = argv.includes('--mtu') ? numberArg('churn', argv, 'mtu', DEFAULT_MTU, MIN_MTU) : undefined;
      if (mtu !== undefined && (mtu > MAX_MTU || !Number.isInteger(mtu))) {
        process.stderr.write(`churn: --mtu needs an integer from ${MIN_MTU} to ${MAX_MTU}\n`);
        process.exit(2);
      }
      return run({
        seconds: numberArg('churn', argv, 'seconds', 60, 1),
        parallel: numberArg('churn', argv, 'parallel', 32, 1),
        bytes: numberArg('churn', argv, 'bytes', 16 * 1024, 1),
        msl: numberArg('churn', argv, 'msl', 1000, 1),
        mode,
        mtu,
        noPin: argv.includes('--no-pin'),
        noKernel: argv.includes('--no-kernel'),
        unconnected: argv.includes('--unconnected'),
        verbose: true,
      });
    },
    (rows) => rows.filter((r) => String(r['phase']).endsWith('total')).every((r) => r['failed'] === 0),
  );
}
