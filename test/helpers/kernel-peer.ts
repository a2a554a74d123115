/**
 * The Linux kernel's TCP as a test peer, with the project's own tools (tools/kernel-peer):
 * FOU (fou.sh: an ipip tunnel with FOU encapsulation, no process in the data path) where the
 * kernel has it, the TUN bridge (tun-bridge.py) otherwise, and kernel-tcp.py as the kernel's
 * TCP endpoint. Everything runs in a private network namespace (`unshare --net`) that dies
 * with its last process. Used by the interop tests and bench/linux; the product never needs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest ancestor of this file with overlay-tcp's package.json. */
export function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'overlay-tcp') return d;
      } catch {
        // not ours; keep climbing
      }
    }
    d = dirname(d);
  }
  throw new Error('cannot find the overlay-tcp project root');
}

/** tools/kernel-peer in this repository (KERNEL_PEER_DIR overrides it, to test the skip path). */
export function kernelPeerDir(): string {
  return process.env.KERNEL_PEER_DIR ?? join(projectRoot(), 'tools', 'kernel-peer');
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export type KernelPeerMode = 'fou' | 'bridge';

/** How the kernel can be a peer here, or why not; `notes` say why a path was not taken. */
export interface KernelPeerPlan {
  mode?: KernelPeerMode;
  skip?: string;
  notes: string[];
}

/**
 * Picks FOU where the kernel has it (fou.sh check), the TUN bridge otherwise, or says why
 * neither works. KERNEL_PEER_MODE=bridge|fou forces one path (the other is then not tried).
 */
export function planKernelPeer(): KernelPeerPlan {
  const notes: string[] = [];
  if (process.platform !== 'linux') return { skip: 'not Linux', notes };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { skip: 'not root (network namespaces, FOU and TUN need it)', notes };
  for (const c of ['python3', 'ip', 'unshare']) if (!hasCommand(c)) return { skip: `no ${c} on PATH`, notes };
  const dir = kernelPeerDir();
  for (const f of ['fou.sh', 'tun-bridge.py', 'kernel-tcp.py']) {
    if (!existsSync(join(dir, f))) return { skip: `${join(dir, f)} not found`, notes };
  }
  const forced = process.env.KERNEL_PEER_MODE;
  if (forced !== 'bridge') {
    const r = spawnSync('sh', [join(dir, 'fou.sh'), 'check'], { encoding: 'utf8', timeout: 15_000 });
    if (r.status === 0) return { mode: 'fou', notes };
    notes.push(`FOU not used: ${(r.stdout + r.stderr).trim().replace(/^fou\.sh: /, '') || `fou.sh check exited ${r.status}`}`);
    if (forced === 'fou') return { skip: notes[0]!, notes };
  }
  if (!existsSync('/dev/net/tun')) return { skip: `${notes.length ? notes[0] + '; ' : ''}and no /dev/net/tun for the bridge`, notes };
  return { mode: 'bridge', notes };
}

/**
 * Spawns `cmd args` in a fresh private network namespace with `lo` up; KERNEL_PEER_NETNS=1
 * and KERNEL_PEER_MODE are set inside. The namespace disappears with its last process.
 */
export function spawnInNetns(mode: KernelPeerMode, cmd: string, args: string[], stdio: 'pipe' | 'inherit-stderr' = 'pipe'): ChildProcess {
  return spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', cmd, ...args], {
    stdio: ['ignore', 'pipe', stdio === 'pipe' ? 'pipe' : 'inherit'],
    env: { ...process.env, KERNEL_PEER_NETNS: '1', KERNEL_PEER_MODE: mode },
  });
}

export type Fields = Record<string, string>;

export function fields(line: string): Fields {
  const out: Fields = {};
  for (const w of line.split(' ')) {
    const i = w.indexOf('=');
    if (i > 0) out[w.slice(0, i)] = w.slice(i + 1);
  }
  return out;
}

export interface Tool {
  proc: ChildProcess;
  /** The READY line's fields; rejects if the tool exits first. */
  ready: Promise<Fields>;
  /** Exit status and the RESULT line's fields. */
  done: Promise<{ code: number | null; result?: Fields; stderr: string }>;
}

/** Starts one of tools/kernel-peer's programs (`.py` through python3, `.sh` through sh). */
export function startTool(script: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Tool {
  const path = join(kernelPeerDir(), script);
  const proc = script.endsWith('.py')
    ? spawn('python3', ['-B', path, ...args], { stdio: [stdin, 'pipe', 'pipe'] })
    : spawn('sh', [path, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let gotReady: (f: Fields) => void = () => {};
  const readyLine = new Promise<Fields>((resolve) => (gotReady = resolve));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    if (line.startsWith('READY ')) gotReady(fields(line));
  });
  const done = new Promise<{ code: number | null; result?: Fields; stderr: string }>((resolve) =>
    proc.on('close', (code) => {
      const r = lines.find((l) => l.startsWith('RESULT '));
      resolve({ code, ...(r ? { result: fields(r) } : {}), stderr });
    }),
  );
  const ready = Promise.race([
    readyLine,
    done.then(({ code }) => {
      throw new Error(`${script} exited with ${code} before READY: ${stderr.trim()}`);
    }),
  ]);
  ready.catch(() => {});
  return { proc, ready, done };
}

export interface KernelSideOptions {
  /** The kernel's overlay address (default 10.77.0.1) and the overlay network behind it. */
  kernelIp?: string;
  net?: string;
  /** Where the kernel sends: the overlay host's (or a proxy's) UDP port on 127.0.0.1. */
  peerPort?: number;
  /** Bridge only: learn overlay address -> UDP source from what arrives (instead of peerPort). */
  learn?: boolean;
  /** Largest inner IPv4 packet the kernel sends (TUN or tunnel MTU; default 1500). */
  mtu?: number;
  /** FOU only: the UDP port the kernel receives on (default: random). */
  fouPort?: number;
}

/** The kernel's end of the overlay, set up in the current (private) namespace. */
export interface KernelSide {
  mode: KernelPeerMode;
  /** The UDP endpoint overlay packets for the kernel go to. */
  udp: { address: string; port: number };
  /** The bridge process (bridge mode), for cleanup bookkeeping. */
  proc?: ChildProcess;
  stop(): Promise<void>;
}

/** A name no parallel run uses: prefix + pid-derived + random hex, at most 15 characters. */
export function uniqueIfName(prefix: string): string {
  return `${prefix}${(process.pid % 10000).toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 15);
}

/** A port for the kernel's FOU socket (the namespace is private: nothing else binds there). */
export function randomFouPort(): number {
  return 20000 + Math.floor(Math.random() * 40000);
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

/**
 * Sets up the kernel's end: `fou.sh up` (FOU) or tun-bridge.py (bridge). Must run inside a
 * private namespace (spawnInNetns). stop() undoes it.
 */
export async function startKernelSide(mode: KernelPeerMode, o: KernelSideOptions): Promise<KernelSide> {
  const kernelIp = o.kernelIp ?? '10.77.0.1';
  const net = o.net ?? '10.77.0.0/16';
  const mtu = o.mtu ?? 1500;
  if (mode === 'fou') {
    if (o.peerPort === undefined) throw new Error('FOU needs the peer UDP port');
    const dev = uniqueIfName('fou');
    const fouPort = o.fouPort ?? randomFouPort();
    const common = ['--dev', dev, '--fou-port', String(fouPort)];
    const up = await run('sh', [join(kernelPeerDir(), 'fou.sh'), 'up', ...common, '--kernel-ip', kernelIp, '--net', net, '--peer', `127.0.0.1:${o.peerPort}`, '--mtu', String(mtu)]);
    if (up.code !== 0) {
      await run('sh', [join(kernelPeerDir(), 'fou.sh'), 'down', ...common]);
      throw new Error(`fou.sh up failed: ${up.out.trim()}`);
    }
    return {
      mode,
      udp: { address: '127.0.0.1', port: fouPort },
      stop: async () => void (await run('sh', [join(kernelPeerDir(), 'fou.sh'), 'down', ...common])),
    };
  }
  const args = ['--tun', uniqueIfName('kp'), '--kernel-ip', kernelIp, '--net', net, '--listen', '127.0.0.1:0', '--mtu', String(mtu)];
  if (o.peerPort !== undefined) args.push('--peer', `127.0.0.1:${o.peerPort}`);
  if (o.learn) args.push('--learn');
  // Its stdin is a pipe from us: if this process dies, however, the bridge sees EOF and exits.
  const bridge = startTool('tun-bridge.py', [...args, '--exit-on-stdin-eof'], 'pipe');
  const f = await Promise.race([
    bridge.ready,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('tun-bridge.py: no READY in 10 s')), 10_000).unref()),
  ]).catch((err: Error) => {
    bridge.proc.kill('SIGKILL');
    throw err;
  });
  const port = Number(f.listen?.split(':').pop());
  return {
    mode,
    udp: { address: '127.0.0.1', port },
    proc: bridge.proc,
    stop: async () => {
      if (bridge.proc.exitCode !== null || bridge.proc.signalCode !== null) return;
      bridge.proc.kill('SIGTERM');
      const t = setTimeout(() => bridge.proc.kill('SIGKILL'), 5000);
      await bridge.done;
      clearTimeout(t);
    },
  };
}

/** kernel-tcp.py's `--mode source --seed S --bytes N` stream. */
export function sourceStream(seed: string, n: number): Buffer {
  const blocks: Buffer[] = [];
  for (let k = 0; k * 65536 < n; k++) {
    blocks.push(createHash('shake128', { outputLength: 65536 }).update(`${seed}:${k}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, n);
}

/** One interop case as kernel-run.ts prints it (a JSON line) and kernel.test.ts asserts it. */
export interface CaseResult {
  case: string;
  ok: boolean;
  bytes?: number;
  expectedSha256?: string;
  gotSha256?: string;
  seconds?: number;
  detail?: string;
}
