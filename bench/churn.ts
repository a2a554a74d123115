/**
 * Connection churn: open, transfer, close, as fast as possible, for a while.
 *
 *   node <out>/bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000]
 *
 * `--parallel` workers each loop: connect to an echo server, send `--bytes`, read the echo
 * back (checked byte for byte), end, wait for the close. Hosts A (client) and B (server)
 * live in this process on real UDP. The client closes first, so TIME-WAIT (2 x MSL) piles
 * up on A: its count is sampled every second and must stay bounded by about
 * handshake rate x 2 x MSL (`--msl` shortens the MSL so ephemeral ports are not exhausted,
 * as a busy Linux client would need tcp_tw_reuse). Prints one row per second (handshakes/s,
 * TIME-WAIT count, live connections, heap) and a total row. `run(opts)` returns the rows.
 *
 * Not part of `npm test`. Bounded by --seconds.
 */
import { randomBytes } from 'node:crypto';
import { Host } from '../src/host/host.js';
import { inventory } from '../src/metrics/inventory.js';
import { connect, createServer, TcpStack, type Socket } from '../src/net.js';
import type { Row } from './main.js';
import { isMain, numberArg, runStandalone } from './lib/cli.js';

const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5200;
const MiB = 1024 * 1024;

export interface ChurnOptions {
  seconds?: number;
  parallel?: number;
  bytes?: number;
  /** Maximum segment lifetime, ms (TIME-WAIT lasts 2 x MSL). */
  msl?: number;
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

/** One open-transfer-close cycle; resolves true when the echo matched. */
function cycle(a: Host, payload: Buffer, tcp: Record<string, unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    let ok = true;
    let settled = false;
    const done = (v: boolean): void => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    const sock: Socket = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => sock.end(payload));
    sock.on('data', (d: Buffer) => {
      if (!d.equals(payload.subarray(got, got + d.length))) ok = false;
      got += d.length;
    });
    sock.on('close', () => done(ok && got === payload.length));
    sock.on('error', () => done(false));
  });
}

export async function run(opts: ChurnOptions = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 60;
  const parallel = opts.parallel ?? 32;
  const bytes = opts.bytes ?? 16 * 1024;
  const msl = opts.msl ?? 1000;
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 8 * MiB });
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 8 * MiB });
  a.addPeer(`${B_ADDR}/32`, b.endpoint);
  b.addPeer(`${A_ADDR}/32`, a.endpoint);
  const tcp = { msl, rcvBuf: 256 * 1024, sndBuf: 256 * 1024 };
  const server = createServer({ host: b, ...tcp }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen({ port: PORT, backlog: 1024 }, r));
  const payload = randomBytes(bytes);

  let completed = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const workers = Array.from({ length: parallel }, async () => {
    while (performance.now() < deadline) {
      if (await cycle(a, payload, tcp)) completed++;
      else failed++;
    }
  });

  const rows: Row[] = [];
  let last = 0;
  let peakTimeWait = 0;
  let peakRate = 0;
  const timer = setInterval(() => {
    const tw = timeWaitCount(A_ADDR);
    peakTimeWait = Math.max(peakTimeWait, tw);
    rows.push({
      phase: `t=${Math.round((performance.now() - start) / 1000)}s`,
      'handshakes/s': completed + failed - last,
      'TIME-WAIT': tw,
      'live (A)': TcpStack.for(a).connectionCount,
      'heap (MiB)': Number((process.memoryUsage().heapUsed / MiB).toFixed(1)),
    });
    peakRate = Math.max(peakRate, completed + failed - last);
    if (opts.verbose) process.stderr.write(JSON.stringify(rows[rows.length - 1]) + '\n');
    last = completed + failed;
  }, 1000);
  await Promise.all(workers);
  clearInterval(timer);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  rows.push({
    phase: 'total',
    'handshakes/s': Number(((completed + failed) / elapsed).toFixed(1)),
    'TIME-WAIT': `peak ${peakTimeWait} (bound: peak rate x 2 x MSL = ${Math.round(peakRate * 2 * (msl / 1000))})`,
    'live (A)': TcpStack.for(a).connectionCount,
    'heap (MiB)': Number((process.memoryUsage().heapUsed / MiB).toFixed(1)),
    completed,
    failed,
    // CPU per handshake is steadier than the rate on a shared machine (both hosts are here).
    'CPU us/handshake': Math.round((cpu.user + cpu.system) / Math.max(1, completed + failed)),
  });
  server.close();
  await a.close();
  await b.close();
  return rows;
}

if (isMain(import.meta.url)) {
  runStandalone(
    'churn',
    'node bench/churn.js [--seconds 60] [--parallel 32] [--bytes 16384] [--msl 1000]',
    (argv) =>
      run({
        seconds: numberArg('churn', argv, 'seconds', 60, 1),
        parallel: numberArg('churn', argv, 'parallel', 32, 1),
        bytes: numberArg('churn', argv, 'bytes', 16 * 1024, 1),
        msl: numberArg('churn', argv, 'msl', 1000, 1),
        verbose: true,
      }),
    (rows) => Number(rows[rows.length - 1]!['failed']) === 0,
  );
}
