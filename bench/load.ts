/**
 * Load and soak: N concurrent connections through the chaos proxy at 1% loss, each sending
 * a continuous stream for the whole run, every byte checked (per-connection sha256 at both
 * ends), memory sampled as the run goes.
 *
 *   node <out>/bench/load.js [--connections 1000] [--seconds 300] [--loss 0.01] [--sample 5]
 *
 * Hosts A (clients, 10.77.0.2) and B (servers, 10.77.0.3) live in this process; the proxy
 * is a separate `overlay proxy` process (router mode, static routes, --loss on both
 * directions), so it has its own CPU. Prints one table: a row per memory sample (heap and
 * RSS should stay flat after warm-up), then the 'total' row (set-up rate, goodput, bad
 * connections and lost bytes, which must be zero). Exit status 1 if any byte was wrong. `run(opts)` returns the same rows for the orchestrator.
 *
 * Not part of `npm test`: a soak takes minutes. Every loop here is bounded by the run time.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Host } from '../src/host/host.js';
import { connect, createServer, type Socket } from '../src/net.js';
import type { Row } from './main.js';
import { isMain, numberArg, runStandalone } from './lib/cli.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5100;
const MiB = 1024 * 1024;

export interface LoadOptions {
  connections?: number;
  seconds?: number;
  /** Loss probability on every link direction of the proxy. */
  loss?: number;
  /** Memory sample interval, s. */
  sample?: number;
  /** Printed progress (stderr) while running. */
  verbose?: boolean;
}

interface ConnState {
  sock: Socket;
  sent: number;
  hash: ReturnType<typeof createHash>;
  result?: { ok: boolean; lost: number };
}

/** A running `overlay proxy`; resolves once it printed READY. */
async function startProxy(a: Host, b: Host, loss: number): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [CLI, 'proxy', '--listen', '127.0.0.1:0', '--learn=false', '--seed', '1', '--loss', String(loss),
      '--peer', `${A_ADDR}/32=127.0.0.1:${a.endpoint.port}`, '--peer', `${B_ADDR}/32=127.0.0.1:${b.endpoint.port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /READY proxy listen=[\d.]+:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`proxy exited (${code}): ${err.trim()}`)));
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      await gone;
    },
  };
}

/** The stream each client writes: slices of one random block at moving offsets. */
const BLOCK = randomBytes(256 * 1024);
function chunkAt(offset: number, size: number): Buffer {
  const start = offset % (BLOCK.length - size);
  return BLOCK.subarray(start, start + size);
}

export async function run(opts: LoadOptions = {}): Promise<Row[]> {
  const n = opts.connections ?? 1000;
  const seconds = opts.seconds ?? 300;
  const loss = opts.loss ?? 0.01;
  const sampleS = opts.sample ?? 5;
  const log = (s: string): void => {
    if (opts.verbose) process.stderr.write(s + '\n');
  };
  const a = await Host.create({ address: A_ADDR, recvBufferSize: 16 * MiB, sendBufferSize: 16 * MiB });
  const b = await Host.create({ address: B_ADDR, recvBufferSize: 16 * MiB, sendBufferSize: 16 * MiB });
  const proxy = await startProxy(a, b, loss);
  a.addPeer('10.77.0.0/16', { address: '127.0.0.1', port: proxy.port });
  b.addPeer('10.77.0.0/16', { address: '127.0.0.1', port: proxy.port });
  // Moderate buffers: 1000 connections x 4 MiB defaults would be 8 GiB of potential buffering.
  const tcp = { rcvBuf: 256 * 1024, sndBuf: 256 * 1024 };

  let serverBytes = 0;
  const server = createServer({ host: b, ...tcp, backlog: 4096 }, (s) => {
    const h = createHash('sha256');
    let got = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      got += d.length;
      serverBytes += d.length;
    });
    s.on('end', () => s.end(`${got} ${h.digest('hex')}`));
    s.on('error', () => {});
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen({ port: PORT, backlog: 4096 }, r));

  // ---- set-up: open all connections at once ----
  const t0 = performance.now();
  const conns: ConnState[] = [];
  let setupErrors = 0;
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve) => {
        const sock = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => {
          conns.push({ sock, sent: 0, hash: createHash('sha256') });
          resolve();
        });
        sock.once('error', () => {
          setupErrors++;
          resolve();
        });
      }),
    ),
  );
  const setupMs = performance.now() - t0;
  log(`${conns.length} connections up in ${(setupMs / 1000).toFixed(1)} s (${setupErrors} failed)`);

  // ---- the soak: every connection writes until the deadline, respecting backpressure ----
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const pump = (c: ConnState): void => {
    while (performance.now() < deadline) {
      const chunk = chunkAt(c.sent, 16 * 1024);
      c.hash.update(chunk);
      c.sent += chunk.length;
      if (!c.sock.write(chunk)) {
        c.sock.once('drain', () => pump(c));
        return;
      }
    }
    c.sock.end();
  };
  const finished = Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          let reply = '';
          c.sock.on('data', (d: Buffer) => (reply += d.toString()));
          c.sock.on('end', () => {
            const [count, digest] = reply.split(' ');
            const ok = digest === c.hash.digest('hex') && Number(count) === c.sent;
            c.result = { ok, lost: Math.max(0, c.sent - Number(count ?? 0)) };
            resolve();
          });
          c.sock.on('error', () => {
            c.result = { ok: false, lost: c.sent };
            resolve();
          });
          pump(c);
        }),
    ),
  );

  const rows: Row[] = [];
  let lastBytes = 0;
  let lastT = start;
  const sample = (): void => {
    const now = performance.now();
    const m = process.memoryUsage();
    const bytes = serverBytes;
    rows.push({
      phase: `t=${Math.round((now - start) / 1000)}s`,
      connections: conns.filter((c) => !c.result).length,
      'heap (MiB)': Number((m.heapUsed / MiB).toFixed(1)),
      'rss (MiB)': Number((m.rss / MiB).toFixed(1)),
      'goodput (MB/s)': Number(((bytes - lastBytes) / 1e6 / ((now - lastT) / 1000)).toFixed(2)),
    });
    log(JSON.stringify(rows[rows.length - 1]));
    lastBytes = bytes;
    lastT = now;
  };
  const timer = setInterval(sample, sampleS * 1000);
  // Bounded: the run time plus a generous drain for the last bytes under loss.
  const drainLimit = new Promise<void>((r) => setTimeout(r, seconds * 1000 + 120_000).unref());
  await Promise.race([finished, drainLimit]);
  clearInterval(timer);
  sample();
  const elapsed = (performance.now() - start) / 1000;

  const done = conns.filter((c) => c.result);
  const corrupted = done.filter((c) => c.result && !c.result.ok).length;
  const unfinished = conns.length - done.length;
  const lost = done.reduce((s, c) => s + (c.result?.lost ?? 0), 0);
  const sentTotal = conns.reduce((s, c) => s + c.sent, 0);
  rows.push({
    phase: 'total',
    connections: conns.length,
    'set-up failures': setupErrors,
    'set-up (conn/s)': Number((conns.length / (setupMs / 1000)).toFixed(1)),
    'sent (MiB)': Number((sentTotal / MiB).toFixed(1)),
    'goodput (MB/s)': Number((serverBytes / 1e6 / elapsed).toFixed(2)),
    'bad connections': corrupted + unfinished,
    'lost bytes': lost,
  });

  for (const c of conns) c.sock.destroy();
  server.close();
  await proxy.stop();
  await a.close();
  await b.close();
  return rows;
}

if (isMain(import.meta.url)) {
  runStandalone(
    'load',
    'node bench/load.js [--connections 1000] [--seconds 300] [--loss 0.01] [--sample 5]',
    (argv) =>
      run({
        connections: numberArg('load', argv, 'connections', 1000),
        seconds: numberArg('load', argv, 'seconds', 300),
        loss: numberArg('load', argv, 'loss', 0.01),
        sample: numberArg('load', argv, 'sample', 5),
        verbose: true,
      }),
    (rows) => {
      const s = rows[rows.length - 1]!;
      return s['bad connections'] === 0 && s['lost bytes'] === 0;
    },
  );
}
