/**
 * Driving the shared kernel-peer tools (../shared/tools/kernel-peer, beside the project):
 * tunbridge.py bridges a TUN device to IP-in-UDP, kernel-echo.py is a kernel TCP client or
 * server. Only tests use this; the product never depends on the shared directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
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

export function kernelPeerDir(): string {
  return join(projectRoot(), '..', 'shared', 'tools', 'kernel-peer');
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why the kernel interop suite cannot run here, or undefined when it can. */
export function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (TUN and network namespaces need it)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  for (const c of ['python3', 'ip', 'unshare']) if (!hasCommand(c)) return `no ${c} on PATH`;
  const dir = kernelPeerDir();
  for (const f of ['in-netns.sh', 'tunbridge.py', 'kernel-echo.py']) {
    if (!existsSync(join(dir, f))) return `shared tool ${join(dir, f)} not found`;
  }
  return undefined;
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

/** Starts tunbridge.py or kernel-echo.py from the shared tools directory. */
export function startTool(script: string, args: string[]): Tool {
  const proc = spawn('python3', ['-B', join(kernelPeerDir(), script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

/** kernel-echo.py's `--mode source --seed S --bytes N` stream. */
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
