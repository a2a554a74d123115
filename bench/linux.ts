/**
 * overlay-tcp's congestion control against the Linux kernel's, over the SAME impaired path
 * (see bench/lib/kernel-path.ts):
 *
 *   kernel TCP 10.77.0.1 <-> FOU tunnel, or the project's TUN bridge <-> chaos proxy (loss p
 *   both directions, 10 ms delay each way, seeded) <-> overlay host 10.77.0.2;  RTT 20 ms, MSS 1432
 *
 * For each loss rate and each algorithm X (the same name on both stacks):
 *   - overlay -> kernel: an overlay sender (cc X) into kernel-tcp.py --mode sink. Goodput =
 *     bytes the kernel acknowledged (our bytesAcked) over D seconds from the handshake;
 *   - kernel -> overlay: kernel-tcp.py --mode source (cc X) into an overlay server. Goodput =
 *     bytes our receiver read over D seconds from the accept. The kernel's algorithm is set
 *     with sysctl net.ipv4.tcp_congestion_control (per netns) and, because a non-initial
 *     namespace may only default to algorithms in the global tcp_allowed_congestion_control
 *     (here "reno bbr": cubic gets EPERM), also per socket with TCP_CONGESTION; `ss -tin`
 *     confirms what the kernel socket actually ran;
 *   - overlay/Linux = the first over the second: our sender against Linux's, each with the
 *     other stack as receiver, on the same path;
 *   - the Mathis et al. bound for a Reno flow, MSS/RTT * sqrt(3/2) / sqrt(p);
 *   - retransmitted segments as a share of data segments sent, and retransmission timeouts,
 *     for both senders (ours from getInfo(), the kernel's from `ss -tin` and the
 *     namespace's TcpExt TCPTimeouts).
 *
 *   node <out>/bench/linux.js [--seconds D] [--loss 0.001,0.01,0.03] [--cc cubic,reno,bbr]
 *                             [--seed N] [--runs R]     (R runs per cell, medians shown)
 *
 * Needs root, python3, iproute2, unshare, sysctl, and FOU in the kernel or /dev/net/tun (the
 * tools are the repository's own, tools/kernel-peer). It re-executes itself in a private
 * network namespace when it is not already inside one (KERNEL_PEER_NETNS), says which path
 * it uses and why not FOU; without the prerequisites it prints why and returns no rows. Not
 * part of `npm test`. `npm run bench:linux` regenerates the README's table.
 */
import { isMain } from './lib/cli.js';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from '../src/cli/args.js';
import type { Host } from '../src/host/host.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { CC_NAMES, type CcName, type TcpInfo } from '../src/tcp/types.js';
import { UsageError } from '../src/util/errors.js';
import { planKernelPeer, spawnInNetns, type KernelPeerMode, type KernelSide } from '../test/helpers/kernel-peer.js';
import { median } from './lib/stats.js';
import {
  KERNEL,
  OVERLAY,
  PATH_MTU,
  bounded,
  createOverlayHost,
  kernelTcpInfo,
  killAll,
  prime,
  setKernelCc,
  startBridge,
  startPath,
  stop,
  tcpExt,
  kernelEcho,
  type KernelTcpInfo,
} from './lib/kernel-path.js';
import { formatTable, type Row } from './main.js';

export interface LinuxBenchOptions {
  /** Seconds per transfer (default 30). */
  seconds?: number;
  /** Loss probabilities, each applied to both directions (default 0.001, 0.01, 0.03). */
  losses?: number[];
  /** Algorithms, the same name on both stacks (default cubic, reno, bbr). */
  algorithms?: string[];
  /** Base seed of the proxy's loss draws; transfer i uses seed + i (default 1). */
  seed?: number;
  /** Runs per (loss, algorithm, direction); the table shows medians (default 1). */
  runs?: number;
}

const DEFAULT_LOSSES = [0.001, 0.01, 0.03];
const DEFAULT_ALGORITHMS = ['cubic', 'reno', 'bbr'];
/** Linux offers these; overlay-tcp has them too. */
const KERNEL_ALGORITHMS = new Set(['cubic', 'reno', 'bbr']);
const ONE_WAY_DELAY_MS = 10;
const RTT_S = (2 * ONE_WAY_DELAY_MS) / 1000;
const MSS = PATH_MTU - 40;
const MB = 1e6;
/** Handshake, priming and teardown allowance per transfer, beyond its D seconds. */
const SETUP_MS = 20_000;

/** Mathis et al. (1997): a Reno flow's goodput limit under random loss p. */
export function mathisBound(mss: number, rttS: number, p: number): number {
  return (mss / rttS) * Math.sqrt(1.5) / Math.sqrt(p);
}

interface Transfer {
  bytes: number;
  seconds: number;
  /** Retransmitted data segments / data segments sent by the sender. */
  retxShare?: number;
  rtos?: number;
  error?: string;
}

const progress = (line: string): void => void process.stderr.write(`bench/linux: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let nextPort = 20000 + Math.floor(Math.random() * 20000);
/** A port not used before in this run (the kernel's TIME_WAIT lasts 60 s). */
const freshPort = (): number => nextPort++;

function sumRetransmits(info: TcpInfo): number {
  return Object.values(info.retransmits).reduce((a, b) => a + b, 0);
}

/** Our sender (cc) -> kernel-tcp.py sink. */
async function overlayToKernel(host: Host, cc: CcName, seconds: number): Promise<Transfer> {
  const port = freshPort();
  const kernel = kernelEcho(cc, ['--mode', 'sink', '--listen', `${KERNEL}:${port}`, '--timeout', String(seconds + SETUP_MS / 1000)]);
  let s: Socket | undefined;
  try {
    await bounded(kernel.ready, 10_000, 'kernel-tcp sink READY');
    const sock = connect({ via: host, host: KERNEL, port, cc });
    s = sock;
    sock.on('error', () => {}); // the RST we send at the end, or a failure reported below
    await bounded(once(sock, 'connect'), 10_000, 'overlay connect to the kernel');
    const t0 = performance.now();
    const chunk = Buffer.alloc(256 * 1024, 0x5a);
    let stopped = false;
    const pump = (): void => {
      while (!stopped && sock.writable && sock.write(chunk));
    };
    sock.on('drain', pump);
    pump();
    await sleep(seconds * 1000);
    stopped = true;
    const elapsed = (performance.now() - t0) / 1000;
    const info = sock.getInfo();
    if (!info) throw new Error('no TCP info on the overlay socket');
    const k = await kernelTcpInfo(sock.localPort ?? 0);
    if (k?.cc && k.cc !== cc) throw new Error(`the kernel socket ran ${k.cc}, not ${cc}`);
    if (k?.bytesReceived !== undefined) {
      progress(`  cross-check: kernel received ${k.bytesReceived} B, we count ${info.bytesAcked} B acked; our min RTT ${info.minRtt.toFixed(1)} ms, srtt ${info.srtt.toFixed(1)} ms, cwnd ${info.cwnd} B; our retransmits ${JSON.stringify(info.retransmits)} of ${info.segmentsOut} segments`);
    }
    return {
      bytes: info.bytesAcked,
      seconds: elapsed,
      retxShare: info.segmentsOut > 0 ? sumRetransmits(info) / info.segmentsOut : 0,
      rtos: info.retransmits.rto,
    };
  } finally {
    s?.resetAndDestroy();
    await stop(kernel.proc);
  }
}

/** kernel-tcp.py source (the namespace's cc) -> our server. */
async function kernelToOverlay(host: Host, cc: CcName, seconds: number): Promise<Transfer> {
  const port = freshPort();
  const server = createServer({ host, cc });
  server.on('error', () => {});
  let accepted: Socket | undefined;
  let received = 0;
  let t0 = 0;
  const connection = new Promise<Socket>((resolve) =>
    server.once('connection', (s: Socket) => {
      t0 = performance.now();
      s.on('error', () => {});
      s.on('data', (d: Buffer) => (received += d.length));
      resolve(s);
    }),
  );
  await new Promise<void>((resolve) => server.listen(port, resolve));
  await prime(host);
  const before = tcpExt();
  // More than the path can carry in D seconds, so the kernel never runs out.
  const bytes = Math.ceil(300 * MB * seconds);
  const kernel = kernelEcho(cc, ['--connect', `${OVERLAY}:${port}`, '--mode', 'source', '--bytes', String(bytes), '--seed', '1', '--timeout', String(seconds + SETUP_MS / 1000)]);
  try {
    accepted = await bounded(connection, 10_000, 'kernel connection to the overlay server');
    await sleep(seconds * 1000);
    const got = received;
    const elapsed = (performance.now() - t0) / 1000;
    const k: KernelTcpInfo | undefined = await kernelTcpInfo(port);
    const after = tcpExt();
    if (k?.cc && k.cc !== cc) throw new Error(`the kernel socket ran ${k.cc}, not ${cc}`);
    if (k) progress(`  kernel sender: ${k.cc ?? '?'} cwnd ${k.cwnd ?? '?'} segments, rtt ${k.rttMs ?? '?'} ms`);
    return {
      bytes: got,
      seconds: elapsed,
      ...(k?.totalRetrans !== undefined && k.dataSegsOut ? { retxShare: k.totalRetrans / k.dataSegsOut } : {}),
      rtos: (after.TCPTimeouts ?? 0) - (before.TCPTimeouts ?? 0),
    };
  } finally {
    accepted?.resetAndDestroy();
    server.close();
    await stop(kernel.proc);
  }
}

const sysctlRefused = new Set<string>();
/** FOU or the bridge (set by runHere from KERNEL_PEER_MODE); the bridge runs for the whole run. */
let kernelMode: KernelPeerMode = 'bridge';
let bridge: KernelSide | undefined;

/** One transfer on a fresh proxy (fresh seeded loss stream) and a fresh overlay host. */
async function measure(
  dir: 'overlay->kernel' | 'kernel->overlay',
  cc: CcName,
  loss: number,
  seconds: number,
  seed: number,
): Promise<Transfer> {
  let path: { stop: () => Promise<void> } | undefined;
  let host: Host | undefined;
  try {
    if (!(await setKernelCc(cc)) && !sysctlRefused.has(cc)) {
      sysctlRefused.add(cc);
      progress(`sysctl may not make ${cc} this namespace's default (not in tcp_allowed_congestion_control); kernel-tcp.py sets it per socket (TCP_CONGESTION)`);
    }
    const p = await startPath(kernelMode, bridge, loss, ONE_WAY_DELAY_MS, seed);
    path = p;
    host = await createOverlayHost(p.proxy.port);
    const t = dir === 'overlay->kernel' ? overlayToKernel(host, cc, seconds) : kernelToOverlay(host, cc, seconds);
    t.catch(() => {}); // if the bound below fires first, a later rejection must not go unhandled
    return await bounded(t, seconds * 1000 + SETUP_MS, `${dir} ${cc} loss ${loss}`);
  } catch (err) {
    return { bytes: 0, seconds, error: (err as Error).message };
  } finally {
    await host?.close().catch(() => {});
    await path?.stop().catch(() => {});
  }
}

const pct = (p: number): string => `${+(p * 100).toFixed(3)}%`;
const rate = (t: Transfer): number => t.bytes / t.seconds;
const fmtRate = (t: Transfer): string => (t.error ? `error (${t.error})` : `${(rate(t) / MB).toFixed(3)} MB/s`);

/** The median, or undefined when every run failed. */
function medianOf(xs: number[]): number | undefined {
  return xs.length === 0 ? undefined : median(xs);
}

/** Medians over the runs that did not fail. */
function summarize(ts: Transfer[]): { rate?: number; retxShare?: number; rtos?: number; errors: string[] } {
  const ok = ts.filter((t) => !t.error);
  const out: { rate?: number; retxShare?: number; rtos?: number; errors: string[] } = { errors: ts.flatMap((t) => (t.error ? [t.error] : [])) };
  const r = medianOf(ok.map(rate));
  const x = medianOf(ok.flatMap((t) => (t.retxShare !== undefined ? [t.retxShare] : [])));
  const o = medianOf(ok.flatMap((t) => (t.rtos !== undefined ? [t.rtos] : [])));
  if (r !== undefined) out.rate = r;
  if (x !== undefined) out.retxShare = x;
  if (o !== undefined) out.rtos = o;
  return out;
}

const num = (v: number | undefined, scale: number, digits: number): number | string => (v === undefined ? '-' : +(v * scale).toFixed(digits));

/** Runs every (loss, algorithm) pair `runs` times inside this network namespace. */
async function runHere(o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  kernelMode = process.env.KERNEL_PEER_MODE === 'fou' ? 'fou' : 'bridge';
  progress(`kernel peer via ${kernelMode === 'fou' ? 'FOU' : "the project's TUN bridge"}`);
  if (kernelMode === 'bridge') bridge = await startBridge();
  let i = 0;
  try {
    for (const loss of o.losses) {
      for (const cc of o.algorithms) {
        const ours: Transfer[] = [];
        const linux: Transfer[] = [];
        // The two directions alternate, so both see the machine in the same state.
        for (let r = 0; r < o.runs; r++) {
          const t1 = await measure('overlay->kernel', cc, loss, o.seconds, o.seed + i++);
          progress(`loss ${pct(loss)} ${cc} run ${r + 1} overlay->kernel ${fmtRate(t1)}`);
          ours.push(t1);
          const t2 = await measure('kernel->overlay', cc, loss, o.seconds, o.seed + i++);
          progress(`loss ${pct(loss)} ${cc} run ${r + 1} kernel->overlay ${fmtRate(t2)}`);
          linux.push(t2);
        }
        const a = summarize(ours);
        const b = summarize(linux);
        const row: Row = {
          loss: pct(loss),
          algorithm: cc,
          'overlay->kernel MB/s': num(a.rate, 1 / MB, 3),
          'kernel->overlay MB/s': num(b.rate, 1 / MB, 3),
          'overlay/Linux': a.rate !== undefined && b.rate ? +(a.rate / b.rate).toFixed(2) : '-',
          'Mathis MB/s': loss > 0 ? +(mathisBound(MSS, RTT_S, loss) / MB).toFixed(2) : '-',
          'overlay retx %': num(a.retxShare, 100, 2),
          'Linux retx %': num(b.retxShare, 100, 2),
          'overlay RTOs': num(a.rtos, 1, 1),
          'Linux RTOs': num(b.rtos, 1, 1),
        };
        const errors = [...a.errors.map((e) => `overlay->kernel: ${e}`), ...b.errors.map((e) => `kernel->overlay: ${e}`)];
        if (errors.length) row.note = errors.join('; ');
        rows.push(row);
      }
    }
  } finally {
    await bridge?.stop();
  }
  return rows;
}

/** FOU or the bridge, or why this benchmark cannot run here. */
function plan(): { mode?: KernelPeerMode; why?: string } {
  const p = planKernelPeer();
  for (const n of p.notes) progress(n);
  if (!p.mode) return { why: p.skip ?? 'no kernel peer' };
  if (spawnSync('sh', ['-c', 'command -v sysctl'], { stdio: 'ignore' }).status !== 0) return { why: 'no sysctl on PATH' };
  return { mode: p.mode };
}

interface Options {
  seconds: number;
  losses: number[];
  algorithms: CcName[];
  seed: number;
  runs: number;
}

function checkOptions(opts: LinuxBenchOptions): Options {
  const seconds = opts.seconds ?? 30;
  if (!(seconds > 0 && seconds <= 600)) throw new UsageError(`seconds must be in (0, 600], got ${seconds}`);
  const losses = opts.losses ?? DEFAULT_LOSSES;
  for (const p of losses) if (!(p >= 0 && p < 1)) throw new UsageError(`a loss rate must be in [0, 1), got ${p}`);
  const algorithms = (opts.algorithms ?? DEFAULT_ALGORITHMS) as CcName[];
  for (const a of algorithms) {
    if (!CC_NAMES.includes(a) || !KERNEL_ALGORITHMS.has(a)) throw new UsageError(`algorithm '${a}' is not one of ${[...KERNEL_ALGORITHMS].join(', ')}`);
  }
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff - 1000) throw new UsageError(`bad seed ${seed}`);
  const runs = opts.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1 || runs > 9) throw new UsageError(`runs must be an integer 1..9, got ${runs}`);
  return { seconds, losses, algorithms, seed, runs };
}

function optionArgs(o: Options): string[] {
  return ['--seconds', String(o.seconds), '--loss', o.losses.join(','), '--cc', o.algorithms.join(','), '--seed', String(o.seed), '--runs', String(o.runs)];
}

/**
 * The suite entry (bench/main.ts): one row per (loss, algorithm). Outside a kernel-peer
 * namespace it re-runs this file in a private one and collects the rows it prints as JSON.
 */
export async function run(opts: LinuxBenchOptions = {}): Promise<Row[]> {
  const o = checkOptions(opts);
  if (process.env.KERNEL_PEER_NETNS === '1') {
    try {
      return await runHere(o);
    } finally {
      killAll();
    }
  }
  const { mode, why } = plan();
  if (!mode) {
    process.stderr.write(`bench/linux: skipped: ${why}\n`);
    return [];
  }
  const transfers = o.losses.length * o.algorithms.length * 2 * o.runs;
  const limitMs = transfers * (o.seconds * 1000 + SETUP_MS) + 30_000;
  const child = spawnInNetns(mode, process.execPath, [fileURLToPath(import.meta.url), '--json', ...optionArgs(o)], 'inherit-stderr');
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await bounded(
    new Promise<number | null>((resolve) => child.once('close', resolve)),
    limitMs,
    'the benchmark in its network namespace',
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw err;
  });
  const json = out.split('\n').reverse().find((l) => l.startsWith('['));
  if (code !== 0 || !json) throw new Error(`bench/linux in its network namespace exited with ${code}`);
  return JSON.parse(json) as Row[];
}

const FLAGS: FlagSpecs = {
  seconds: { kind: 'number', description: 'seconds per transfer', default: 30 },
  loss: { kind: 'string', description: 'loss rates, comma-separated, each on both directions', default: DEFAULT_LOSSES.join(',') },
  cc: { kind: 'string', description: 'algorithms, comma-separated (cubic, reno, bbr)', default: DEFAULT_ALGORITHMS.join(',') },
  seed: { kind: 'number', description: 'base seed of the proxy loss draws', default: 1 },
  runs: { kind: 'number', description: 'runs per cell; the table shows medians', default: 1 },
  json: { kind: 'boolean', description: 'print the rows as one JSON line (used by the re-exec)' },
  help: { kind: 'boolean', short: 'h', description: 'this help' },
};

async function main(argv: string[]): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage('node <out>/bench/linux.js [options]', FLAGS) + '\n');
    return 0;
  }
  if (p.positional.length) throw new UsageError(`unexpected argument '${p.positional[0]}'`);
  const list = (name: string): string[] => (stringFlag(p, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const losses = list('loss').map((s) => {
    const n = Number(s);
    if (s === '' || !Number.isFinite(n)) throw new UsageError(`option --loss: '${s}' is not a number`);
    return n;
  });
  const seconds = numberFlag(p, 'seconds', 0.1, 600, false)!;
  const seed = numberFlag(p, 'seed', 0, 0xffffffff - 1000)!;
  const runs = numberFlag(p, 'runs', 1, 9)!;
  const rows = await run({ seconds, losses, algorithms: list('cc'), seed, runs });
  if (boolFlag(p, 'json')) process.stdout.write(JSON.stringify(rows) + '\n');
  else if (rows.length) process.stdout.write(formatTable(rows) + '\n');
  return 0;
}

if (isMain(import.meta.url)) {
  const onSignal = (): void => {
    killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      killAll();
      process.stderr.write(`bench/linux: ${err.message}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
