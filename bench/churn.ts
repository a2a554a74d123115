/**
 * Connection churn: open, transfer, close, as fast as possible, for a while.
 *
 *   node <out>/bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000] [--mode both|one|two] [--no-pin]
 *
 * `--parallel` workers each loop: connect to an echo server, send `--bytes`, read the echo
 * back (checked byte for byte), end, wait for the close. Host A (client) and host B (server)
 * talk over real UDP on loopback, in one of two set-ups, both printed by default:
 *
 *  - `one process`: A and B share this process (one core does both ends' work: the figure
 *    is the stack's total cost per handshake);
 *  - `two processes`: A and B in two child processes pinned to different CPUs, as the TCP
 *    bench runs sender and receiver, and as a real client and server run (on this 2-core
 *    machine the other engineers' load shares those CPUs).
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
import { fileURLToPath } from 'node:url';
import { Host } from '../src/host/host.js';
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
  verbose?: boolean;
}

/** TIME-WAIT connections on the host with this address (from the inventory, like `overlay ss`). */
function timeWaitCount(address: string): number {
  let n = 0;
  const now = performance.now();
  for (const s of inventory.sources()) {
    for (const c of s.tcpConnections?.(now) ?? []) if (c.state === 'TIME-WAIT' && c.localAddress === address) n++;
  }
  return n;
}

/** TCP segments (each one UDP datagram) sent so far by every stack in this process. */
function segmentsOut(): number {
  let n = 0;
  for (const src of inventory.sources()) n += src.tcpTotals?.().segmentsOut ?? 0;
  return n;
}

/** One open-transfer-close cycle; resolves true when the echo matched, else why not (an error code, or 'echo'). */
function cycle(a: Host, payload: Buffer, tcp: Record<string, unknown>): Promise<true | string> {
  return new Promise((resolve) => {
    let got = 0;
    let ok = true;
    let settled = false;
    const done = (v: true | string): void => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    const sock: Socket = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => sock.end(payload));
    sock.on('data', (d: Buffer) => {
      if (!d.equals(payload.subarray(got, got + d.length))) ok = false;
      got += d.length;
    });
    sock.on('close', () => done(ok && got === payload.length ? true : 'echo'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
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

/** The workers on host A for `seconds`, with one row per second. */
async function clientLoop(a: Host, label: string, opts: Required<Omit<ChurnOptions, 'mode' | 'noPin'>>, onRow: (r: Row) => void): Promise<LoopResult> {
  const payload = randomBytes(opts.bytes);
  const tcp = tcpOptions(opts.msl);
  let completed = 0;
  let failed = 0;
  const reasons = new Map<string, number>();
  const cpu0 = process.cpuUsage();
  const seg0 = segmentsOut();
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  const workers = Array.from({ length: opts.parallel }, async () => {
    while (performance.now() < deadline) {
      const r = await cycle(a, payload, tcp);
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
    const tw = timeWaitCount(A_ADDR);
    peakTimeWait = Math.max(peakTimeWait, tw);
    const row: Row = {
      phase: `${label} t=${Math.round((performance.now() - start) / 1000)}s`,
      'handshakes/s': completed + failed - last,
      'TIME-WAIT': tw,
      'live (A)': TcpStack.for(a).connectionCount,
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

function totalRow(label: string, r: LoopResult, msl: number, live: number, extra: Row = {}, heapMiB = process.memoryUsage().heapUsed / MiB): Row {
  const n = r.completed + r.failed;
  return {
    phase: `${label} total`,
    'handshakes/s': Number((n / r.elapsed).toFixed(1)),
    'TIME-WAIT': `peak ${r.peakTimeWait} (bound: peak rate x 2 x MSL = ${Math.round(r.peakRate * 2 * (msl / 1000))})`,
    'live (A)': live,
    'heap (MiB)': Number(heapMiB.toFixed(1)),
    completed: r.completed,
    failed: r.why ? `${r.failed} (${r.why})` : r.failed,
    // CPU per handshake (both ends) is steadier than the rate on a shared machine.
    'CPU us/handshake': Math.round((r.cpu * 1e6) / Math.max(1, n)),
    // Datagrams per handshake (both ends), the other load-independent figure.
    'datagrams/handshake': Number((r.segments / Math.max(1, n)).toFixed(2)),
    ...extra,
  };
}

/** Both hosts in this process (the original set-up). */
async function runOne(o: Required<Omit<ChurnOptions, 'mode' | 'noPin'>>): Promise<Row[]> {
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 8 * MiB });
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 8 * MiB });
  a.addPeer(`${B_ADDR}/32`, b.endpoint);
  b.addPeer(`${A_ADDR}/32`, a.endpoint);
  const server = await echoServer(b, o.msl);
  const label = 'one process';
  const r = await clientLoop(a, label, o, (row) => o.verbose && process.stderr.write(JSON.stringify(row) + '\n'));
  const rows = [...r.rows, totalRow(label, r, o.msl, TcpStack.for(a).connectionCount)];
  server.close();
  await a.close();
  await b.close();
  return rows;
}

/** Host B in a child on one CPU, host A in another child on the other CPU. */
async function runTwo(o: Required<Omit<ChurnOptions, 'mode' | 'noPin'>>, noPin: boolean): Promise<Row[]> {
  const pins = noPin ? undefined : pinnableCpus();
  const common = ['--msl', String(o.msl)];
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
        const r = line as unknown as LoopResult & { live: number; heapMiB: number };
        const label = `two processes${pins ? ' (pinned)' : ''}`;
        const n = Math.max(1, r.completed + r.failed);
        rows.push(
          totalRow(
            label,
            { ...r, cpu: r.cpu + s.cpu, segments: r.segments + s.segments },
            o.msl,
            r.live,
            { 'CPU us/handshake client/server': `${Math.round((r.cpu * 1e6) / n)}/${Math.round((s.cpu * 1e6) / n)}` },
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
    verbose: opts.verbose ?? false,
  };
  const mode = opts.mode ?? 'both';
  const rows: Row[] = [];
  if (mode !== 'two') rows.push(...(await runOne(o)));
  if (mode !== 'one') rows.push(...(await runTwo(o, opts.noPin ?? false)));
  return rows;
}

// ---- the children of the two-process set-up ----

/** Host B and its echo server; prints its UDP port, and its CPU seconds and segments sent when stdin ends. */
async function serverRole(): Promise<void> {
  const stdin = new StdinLines();
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 8 * MiB, learn: true });
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

/** Host A and the workers; prints each second's row, then the totals with `done: 1`. */
async function clientRole(): Promise<void> {
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 8 * MiB, peers: [{ prefix: `${B_ADDR}/32`, endpoint: { address: '127.0.0.1', port: Number(arg('port')) } }] });
  const o = { seconds: Number(arg('seconds')), parallel: Number(arg('parallel')), bytes: Number(arg('bytes')), msl: Number(arg('msl')), verbose: false };
  const r = await clientLoop(a, 'two processes', o, (row) => say(row));
  say({ done: 1, completed: r.completed, failed: r.failed, why: r.why, elapsed: r.elapsed, peakTimeWait: r.peakTimeWait, peakRate: r.peakRate, cpu: r.cpu, segments: r.segments, live: TcpStack.for(a).connectionCount, heapMiB: process.memoryUsage().heapUsed / MiB });
  await a.close();
}

runRoleIfMain(import.meta.url, { server: serverRole, client: clientRole });

if (isMain(import.meta.url) && !process.argv.includes('--role')) {
  runStandalone(
    'churn',
    'node bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000] [--mode both|one|two] [--no-pin]',
    (argv) => {
      const mi = argv.indexOf('--mode');
      const mode = (mi >= 0 ? argv[mi + 1] : 'both') as ChurnMode;
      if (!['both', 'one', 'two'].includes(mode)) {
        process.stderr.write('churn: --mode needs both, one or two\n');
        process.exit(2);
      }
      return run({
        seconds: numberArg('churn', argv, 'seconds', 60, 1),
        parallel: numberArg('churn', argv, 'parallel', 32, 1),
        bytes: numberArg('churn', argv, 'bytes', 16 * 1024, 1),
        msl: numberArg('churn', argv, 'msl', 1000, 1),
        mode,
        noPin: argv.includes('--no-pin'),
        verbose: true,
      });
    },
    (rows) => rows.filter((r) => String(r['phase']).endsWith('total')).every((r) => r['failed'] === 0),
  );
}
