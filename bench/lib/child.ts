/**
 * Bench suites run their measured parts in child processes (`node SCRIPT --role NAME ...`)
 * that report one JSON object per line on stdout. This is the parent's side of that.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';

export type Report = Record<string, number>;

export interface Child {
  proc: ChildProcess;
  /** The next JSON line the child prints; rejects if it exits first. */
  next(): Promise<Report>;
}

/** Every child still running, so a suite can kill them all on its way out. */
export const children = new Set<ChildProcess>();

/**
 * CPUs to pin a sender and a receiver to, or undefined when pinning is not possible (fewer
 * than two CPUs, no taskset). Pinning both legs of a comparison the same way takes the
 * scheduler's placement out of the noise: unpinned runs on this 2-core machine came out
 * either fast or about 20% slower depending on where the processes landed.
 */
export function pinnableCpus(): [number, number] | undefined {
  if (availableParallelism() < 2 || process.platform !== 'linux') return undefined;
  const r = spawnSync('taskset', ['-c', '0', process.execPath, '-e', ''], { stdio: 'ignore' });
  return r.status === 0 ? [0, 1] : undefined;
}

export function spawnRole(script: string, role: string, args: string[] = [], nodeArgs: string[] = [], cpu?: number): Child {
  const argv = [...nodeArgs, script, '--role', role, ...args];
  const proc =
    cpu === undefined
      ? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(proc);
  const lines: Report[] = [];
  const waiters: Array<{ resolve: (v: Report) => void; reject: (e: Error) => void }> = [];
  let failed: Error | undefined;
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let v: Report;
    try {
      v = JSON.parse(line) as Report;
    } catch {
      return;
    }
    const w = waiters.shift();
    if (w) w.resolve(v);
    else lines.push(v);
  });
  proc.on('exit', () => children.delete(proc));
  // 'close', not 'exit': a child's last lines can still be in its stdout pipe when 'exit'
  // arrives, and a reader waiting for them must get them, not a failure.
  proc.on('close', (code) => {
    failed = new Error(`bench child ${role} exited with ${code}`);
    for (const w of waiters.splice(0)) w.reject(failed);
  });
  return {
    proc,
    next: () =>
      new Promise<Report>((resolve, reject) => {
        const v = lines.shift();
        if (v) return resolve(v);
        if (failed) return reject(failed);
        waiters.push({ resolve, reject });
      }),
  };
}

/** Resolves once `p` has exited (at once if it already has). */
export function exited(p: ChildProcess): Promise<unknown> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : once(p, 'exit');
}

/**
 * A busy loop at the lowest priority (nice 19) pinned to `cpu`, until killed: the CPU then
 * never goes idle, so a process woken on it finds its caches as it left them, instead of
 * after the hypervisor ran something else there (bench/latency.ts --keep-busy, a diagnosis).
 * It preempts nothing: CFS gives a nice-0 process woken on that CPU the CPU at once. It
 * exits by itself when its parent is gone, and after `maxS` seconds in any case.
 */
export function spawnSpinner(cpu: number, maxS = 900): ChildProcess {
  const loop = `const end = Date.now() + ${maxS * 1000}; const parent = process.ppid; for (let i = 0; ; i++) if ((i & 0xfffff) === 0 && (Date.now() > end || process.ppid !== parent)) break;`;
  const proc = spawn('nice', ['-n', '19', 'taskset', '-c', String(cpu), process.execPath, '-e', loop], { stdio: 'ignore' });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}

export function killChildren(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of children) p.kill(signal);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`bench: ${what} took over ${ms} ms`)), ms);
    }),
  ]);
}
