/**
 * Spawning the `overlay` CLI in tests.
 *
 *   import { spawnCli, runCli, killAll } from '../helpers/proc.js';
 *   afterEach(killAll);                                   // kills every child still running
 *   const l = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.3', ...]);
 *   const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);   // stderr by default
 *   const r = await runCli(['ping', ...], { timeoutMs: 10000 });     // { code, stdout, stderr }
 *
 * The CLI is `<out>/src/cli/main.js`, found from this file's own location
 * (`<out>/test/helpers/proc.js`), so it works for any build directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliChild {
  readonly proc: ChildProcess;
  /** Everything written so far. */
  stdout: string;
  stderr: string;
  /** Resolves with the first match of `re` in the stream (already written or to come); rejects after timeoutMs or on exit. */
  waitFor(re: RegExp, opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal (default SIGTERM) if still running. */
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();

/** Starts `node main.js ...args`; stdin is a pipe (write to `proc.stdin`). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliChild {
  const proc = spawn(process.execPath, [CLI_PATH, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  live.add(proc);
  const waiters = new Set<() => void>();
  const child: CliChild = {
    proc,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        live.delete(proc);
        resolve({ code, signal });
      });
    }),
    waitFor(re, opts = {}) {
      const stream = opts.stream ?? 'stderr';
      const timeoutMs = opts.timeoutMs ?? 10_000;
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = child[stream].match(re);
          if (m) {
            finish();
            resolve(m);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} on ${stream}; stderr: ${child.stderr.slice(-500)}`));
        }, timeoutMs);
        const onExit = (): void => {
          if (check()) return;
          finish();
          reject(new Error(`process exited before ${re} appeared on ${stream}; stderr: ${child.stderr.slice(-500)}`));
        };
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check as () => void);
          proc.off('close', onExit);
        };
        if (check()) return;
        waiters.add(check as () => void);
        proc.once('close', onExit);
      });
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    child.stdout += d;
    for (const w of [...waiters]) w();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    child.stderr += d;
    for (const w of [...waiters]) w();
  });
  return child;
}

/** Runs the CLI to completion (killed after timeoutMs); `input` is written to stdin, then stdin ends. */
export async function runCli(
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const c = spawnCli(args);
  c.proc.stdin!.on('error', () => {}); // the child may exit before reading
  c.proc.stdin!.end(opts.input ?? '');
  const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  const r = await c.exited;
  clearTimeout(timer);
  // Let the pipes drain.
  await new Promise((resolve) => setImmediate(resolve));
  return { ...r, stdout: c.stdout, stderr: c.stderr };
}

/** Kills every child started by spawnCli/runCli that is still running (use in after/afterEach). */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null) {
      waits.push(new Promise((resolve) => p.once('exit', resolve)));
      p.kill('SIGKILL');
    }
  }
  live.clear();
  await Promise.all(waits);
}
