/**
 * The CLI path as users run it, against the API path, in the same run (a row of
 * `npm run bench -- tcp`):
 *
 *   CLI:  file -> `overlay cat 10.77.0.3 PORT < file` -> `overlay cat -l 0 < /dev/null > /dev/null`
 *         (the receiver's stdin is at EOF, so it half-closes at once: its end of the
 *         connection is in FIN-WAIT-2 for the whole transfer)
 *   API:  file -> fs.createReadStream().pipe(net.connect()) -> a server socket that reads and
 *         discards (its end stays ESTABLISHED)
 *
 * Both are two processes (sender on one CPU, receiver on the other when pinning works), the
 * same file, timed from the sender's start to the receiver's exit, so process start-up is in
 * both. Rounds alternate; the row shows the median CLI/API ratio and its range.
 *
 *   node <out>/bench/cli-path.js [--mib N] [--rounds N]     prints the row on its own
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Host } from '../src/host/host.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { median } from './lib/stats.js';
import { isMain } from './lib/cli.js';

const SELF = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function start(argv: string[], cpu: number | undefined, stdin: 'ignore' | number): ChildProcess {
  const cmd = cpu === undefined ? process.execPath : 'taskset';
  const args = cpu === undefined ? argv : ['-c', String(cpu), process.execPath, ...argv];
  return spawn(cmd, args, { stdio: [stdin, 'ignore', 'pipe'] });
}

/** Resolves with the first match of `re` on the child's stderr (capped at 20 s). */
function waitStderr(p: ChildProcess, re: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} within 20 s: ${buf}`)), 20_000);
    p.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    p.once('exit', () => reject(new Error(`exited before ${re}: ${buf}`)));
  });
}

async function exited(p: ChildProcess, what: string, ms = 120_000): Promise<void> {
  if (p.exitCode !== null) return;
  const timer = setTimeout(() => p.kill('SIGKILL'), ms);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${what} exited with ${code}`);
}

/** One transfer of `file` through the CLI; returns seconds. */
async function viaCli(file: string, pins: [number, number] | undefined): Promise<number> {
  const { openSync, closeSync } = await import('node:fs');
  const rx = start([CLI, 'cat', '--addr', '10.77.0.3', '--learn', '-l', '0'], pins?.[1], 'ignore');
  const m = await waitStderr(rx, /udp=([\d.]+:\d+) port=(\d+)/);
  const fd = openSync(file, 'r');
  const t0 = performance.now();
  const tx = start([CLI, 'cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}`, '10.77.0.3', m[2]!], pins?.[0], fd);
  closeSync(fd);
  await Promise.all([exited(tx, 'overlay cat (sender)'), exited(rx, 'overlay cat -l (receiver)')]);
  return (performance.now() - t0) / 1000;
}

/** The same transfer through the socket API; returns seconds. */
async function viaApi(file: string, pins: [number, number] | undefined): Promise<number> {
  const rx = start([SELF, '--role', 'api-recv'], pins?.[1], 'ignore');
  const m = await waitStderr(rx, /udp=([\d.]+:\d+)/);
  const t0 = performance.now();
  const tx = start([SELF, '--role', 'api-send', '--file', file, '--peer', m[1]!], pins?.[0], 'ignore');
  await Promise.all([exited(tx, 'API sender'), exited(rx, 'API receiver')]);
  return (performance.now() - t0) / 1000;
}

async function apiRecv(): Promise<void> {
  const host = await Host.create({ address: '10.77.0.3', learn: true });
  const server = createServer({ host }, (s: Socket) => {
    s.resume(); // read and discard, like > /dev/null
    s.on('end', () => s.end());
    s.on('close', () => {
      server.close();
      void host.close();
    });
  });
  await new Promise<void>((r) => server.listen(5001, r));
  process.stderr.write(`ready udp=${host.endpoint.address}:${host.endpoint.port}\n`);
}

async function apiSend(file: string, peer: string): Promise<void> {
  const host = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.3', endpoint: peer }] });
  const s = connect({ via: host, host: '10.77.0.3', port: 5001 });
  s.resume();
  createReadStream(file).pipe(s);
  await once(s, 'close');
  await host.close();
}

/** The table row: CLI goodput and its ratio to the API path, median of `rounds` alternating rounds. */
export async function cliPathRow(opts: { mib?: number; rounds?: number; pins?: [number, number] | undefined } = {}): Promise<Record<string, string | number>> {
  const mib = opts.mib ?? 256;
  const rounds = opts.rounds ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'overlay-bench-cli-'));
  const file = join(dir, 'file.bin');
  try {
    const chunk = randomBytes(1 << 20);
    writeFileSync(file, Buffer.alloc(0));
    const { appendFileSync } = await import('node:fs');
    for (let i = 0; i < mib; i++) appendFileSync(file, chunk);
    const ratios: number[] = [];
    const cli: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await viaApi(file, opts.pins);
      const c = await viaCli(file, opts.pins);
      cli.push((mib * 1048576) / c / 1e6);
      ratios.push(a / c);
    }
    return {
      transport: `CLI: overlay cat file -> overlay cat -l (stdin at EOF) > /dev/null, ${mib} MiB (${rounds} rounds)`,
      size: 1472,
      'MB/s': median(cli),
      'CLI / API path': median(ratios),
      'ratio range': `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const arg = (n: string): string | undefined => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const role = arg('role');
  if (role === 'api-recv') await apiRecv();
  else if (role === 'api-send') await apiSend(arg('file')!, arg('peer')!);
  else {
    const { pinnableCpus } = await import('./lib/child.js');
    const { formatTable } = await import('./main.js');
    const row = await cliPathRow({ mib: Number(arg("mib") ?? 256), rounds: Number(arg('rounds') ?? 3), pins: pinnableCpus() });
    process.stdout.write(formatTable([row]) + '\n');
    process.exit(0);
  }
}
