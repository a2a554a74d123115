/**
 * Two throw-away Linux network namespaces joined by a veth pair, for tests that prove the
 * overlay crosses a real interface (not only loopback).
 *
 *   ns A (ovt-a-<pid>)                          ns B (ovt-b-<pid>)
 *   veth0 192.168.213.1/30  <---- veth ---->   veth0 192.168.213.2/30
 *
 * The /30 exists only inside these two namespaces: nothing is configured in the host's
 * namespace, so no packet can leave the machine. Both ends of the veth are created
 * directly inside their namespace. Deleting a namespace deletes its veth end, and with it
 * the pair.
 *
 * Namespaces are named `<prefix>-a-<pid>` / `<prefix>-b-<pid>`; `removeStaleNamespaces`
 * deletes those left behind by earlier runs whose process is gone (a crashed test), and
 * never those of a run that is still alive.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NETNS_PREFIX = 'ovt';

export interface NetnsPair {
  /** Namespace names. */
  readonly a: string;
  readonly b: string;
  /** The veth addresses (no prefix length) in A and in B. */
  readonly addrA: string;
  readonly addrB: string;
  /** The interface name inside both namespaces. */
  readonly dev: string;
  /** Spawns `cmd args` inside namespace `ns`. */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** RX/TX byte counters of the veth end in `ns` (from sysfs, read inside the namespace). */
  counters(ns: string): { rxBytes: number; txBytes: number };
  /** Deletes both namespaces (idempotent; never throws). */
  destroy(): void;
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)';
  const ip = findIp();
  if (!ip) return "iproute2 'ip' not found";
  try {
    execFileSync(ip, ['netns', 'list'], { stdio: 'pipe', timeout: 5000 });
  } catch (e) {
    return `'ip netns list' failed: ${firstLine(e)}`;
  }
  return undefined;
}

function findIp(): string | undefined {
  for (const p of ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']) if (existsSync(p)) return p;
  return undefined;
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: Buffer | string; message?: string };
  const text = err.stderr ? err.stderr.toString() : (err.message ?? String(e));
  return text.trim().split('\n')[0] ?? '';
}

function ipCmd(args: string[]): string {
  return execFileSync(findIp() ?? 'ip', args, { stdio: 'pipe', timeout: 10_000 }).toString();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Namespaces named `<prefix>-a|b-<pid>` whose pid is no longer running. */
export function removeStaleNamespaces(prefix = NETNS_PREFIX): string[] {
  const removed: string[] = [];
  let list: string;
  try {
    list = ipCmd(['netns', 'list']);
  } catch {
    return removed;
  }
  const re = new RegExp(`^(${prefix}-[ab]-(\\d+))\\b`);
  for (const line of list.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      ipCmd(['netns', 'delete', m[1]!]);
      removed.push(m[1]!);
    } catch {
      // Already gone.
    }
  }
  return removed;
}

/**
 * Creates the two namespaces and the veth pair with `net`.1/30 in A and `net`.2/30 in B
 * (default 192.168.213.0/30). On any failure everything created so far is deleted again.
 */
export function createNetnsPair(opts: { prefix?: string; net?: string; mtu?: number } = {}): NetnsPair {
  const prefix = opts.prefix ?? NETNS_PREFIX;
  const net = opts.net ?? '192.168.213';
  const a = `${prefix}-a-${process.pid}`;
  const b = `${prefix}-b-${process.pid}`;
  const addrA = `${net}.1`;
  const addrB = `${net}.2`;
  const dev = 'veth0';
  const ip = findIp() ?? 'ip';
  let destroyed = false;

  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of [a, b]) {
      try {
        ipCmd(['netns', 'delete', ns]);
      } catch {
        // Not created or already gone.
      }
    }
  };

  try {
    ipCmd(['netns', 'add', a]);
    ipCmd(['netns', 'add', b]);
    // Both ends are born inside their namespaces: the host namespace never sees them.
    ipCmd(['link', 'add', dev, 'netns', a, 'type', 'veth', 'peer', 'name', dev, 'netns', b]);
    for (const [ns, addr] of [
      [a, addrA],
      [b, addrB],
    ] as const) {
      ipCmd(['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev]);
      if (opts.mtu !== undefined) ipCmd(['-n', ns, 'link', 'set', dev, 'mtu', String(opts.mtu)]);
      ipCmd(['-n', ns, 'link', 'set', dev, 'up']);
      ipCmd(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    destroy();
    throw new Error(`creating namespaces failed: ${firstLine(e)}`);
  }

  return {
    a,
    b,
    addrA,
    addrB,
    dev,
    spawn(ns, cmd, args, spawnOpts = {}) {
      return spawn(ip, ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    },
    counters(ns) {
      const read = (name: string): number =>
        Number(ipCmd(['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/${name}`]).trim());
      return { rxBytes: read('rx_bytes'), txBytes: read('tx_bytes') };
    },
    destroy,
  };
}

// ---- processes (namespaced or not) ----

/** A child process whose output is collected, with a waitFor like test/helpers/proc.ts. */
export interface Tracked {
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  /** First match of `re` on stdout or stderr (already written or to come); rejects on timeout or exit. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Exit status (null when killed by a signal), once the process has exited and its pipes closed. */
  readonly exited: Promise<number | null>;
}

const tracked = new Set<ChildProcess>();

/** Collects a child's output and registers it for `killTracked`. */
export function track(proc: ChildProcess): Tracked {
  tracked.add(proc);
  const waiters = new Set<() => void>();
  const t: Tracked = {
    proc,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) =>
      proc.on('close', (code) => {
        tracked.delete(proc);
        resolve(code);
      }),
    ),
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = t.stderr.match(re) ?? t.stdout.match(re);
          if (!m) return false;
          finish();
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; stdout: ${t.stdout.slice(-500)} stderr: ${t.stderr.slice(-500)}`));
        }, timeoutMs);
        const onClose = (): void => {
          if (check()) return;
          finish();
          reject(new Error(`process exited before ${re}; stdout: ${t.stdout.slice(-500)} stderr: ${t.stderr.slice(-500)}`));
        };
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
          proc.off('close', onClose);
        };
        if (check()) return;
        waiters.add(check);
        proc.once('close', onClose);
      });
    },
  };
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    t.stdout += d;
    for (const w of [...waiters]) w();
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    t.stderr += d;
    for (const w of [...waiters]) w();
  });
  return t;
}

/** The compiled example `name` (e.g. 'udp-echo-server'), next to this build's test folder. */
export function examplePath(name: string): string {
  return fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));
}

/** Starts `node <out>/examples/<name>.js ...args` in this namespace (tracked). */
export function spawnExample(name: string, args: string[]): Tracked {
  return track(spawn(process.execPath, [examplePath(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Kills every tracked child still running and waits for them (use in after/afterEach). */
export async function killTracked(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const p of tracked) {
    if (p.exitCode === null && p.signalCode === null) {
      waits.push(new Promise((resolve) => p.once('close', resolve)));
      p.kill('SIGKILL');
    }
  }
  tracked.clear();
  await Promise.all(waits);
}

/** `n` currently free, distinct UDP ports on 127.0.0.1 (bound together, then released). */
export async function freeUdpPorts(n: number): Promise<number[]> {
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createSocket>>((resolve, reject) => {
          const s = createSocket('udp4');
          s.once('error', reject);
          s.bind(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
