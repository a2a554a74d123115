/**
 * The impaired path between the Linux kernel's TCP and overlay-tcp, for bench/linux.ts:
 *
 *   kernel TCP (10.77.0.1, MTU 1472 -> MSS 1432)
 *     <-> FOU (ipip tunnel with FOU encapsulation) or the project's TUN bridge (tun-bridge.py --learn)
 *     <-> chaos proxy, its own process (seeded loss p + 10 ms delay, each direction)
 *     <-> overlay host 10.77.0.2 (MTU 1472, every overlay packet goes to the proxy)
 *
 * Everything here runs in a private network namespace (spawnInNetns from the interop suite's
 * helper, test/helpers/kernel-peer.ts): the tunnel or TUN, the kernel sockets and the per-netns
 * congestion-control sysctl live and die with it.
 *
 * Bridge: one bridge for the whole run, and the proxy in RELAY mode (one upstream socket per
 * client), so the bridge runs with --learn and learns 10.77.0.2 -> the proxy's upstream socket
 * from the first packet the overlay sends. Before a kernel-initiated connection the overlay
 * therefore pings the kernel once (`prime`).
 * FOU: the kernel sends to one fixed UDP port, so the proxy runs in ROUTER mode (one socket,
 * a static route 10.77.0.1 -> the kernel's FOU port, 10.77.0.2 learned) and the tunnel is
 * set up per transfer pointing at that proxy's port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Host } from '../../src/host/host.js';
import { fields, kernelPeerDir, randomFouPort, startKernelSide, type Fields, type KernelPeerMode, type KernelSide } from '../../test/helpers/kernel-peer.js';

export const KERNEL = '10.77.0.1';
export const OVERLAY = '10.77.0.2';
/** IP-in-UDP MTU on both ends: 1472 - 20 (IPv4) - 20 (TCP) = MSS 1432, like the anchors' reference. */
export const PATH_MTU = 1472;
const SOCKET_BUFFER = 4 * 1024 * 1024;

/** Rejects after `ms` with a message naming what was awaited. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Every child started through this module, so a finally block can kill them all. */
const children = new Set<ChildProcess>();

function track(proc: ChildProcess): void {
  children.add(proc);
  proc.once('close', () => children.delete(proc));
}

/** Kills one child (SIGTERM, then SIGKILL after `graceMs`) and waits for it to be gone. */
export async function stop(proc: ChildProcess | undefined, graceMs = 2000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  proc.kill('SIGTERM');
  await bounded(closed, graceMs, `pid ${proc.pid} exit`).catch(async () => {
    proc.kill('SIGKILL');
    await bounded(closed, graceMs, `pid ${proc.pid} exit after SIGKILL`).catch(() => {});
  });
}

/** Last resort (process exit paths): SIGKILL whatever is still running. */
export function killAll(): void {
  for (const p of children) p.kill('SIGKILL');
}

/** The bridge (whole run) between the kernel and UDP, learning overlay endpoints. */
export async function startBridge(): Promise<KernelSide> {
  const side = await bounded(startKernelSide('bridge', { learn: true, mtu: PATH_MTU }), 15_000, 'tun-bridge READY');
  if (side.proc) track(side.proc);
  return side;
}

export interface ProxyChild {
  proc: ChildProcess;
  port: number;
  ready: Fields;
}

/**
 * Spawns a tracked child and resolves with the fields of its `READY ...` line; rejects with
 * its stderr if it exits first.
 */
function spawnUntilReady(cmd: string, args: string[], what: string): { proc: ChildProcess; ready: Promise<Fields> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = new Promise<Fields>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(fields(line));
    });
    proc.once('close', (code) => reject(new Error(`${what} exited with ${code} before READY: ${stderr.trim()}`)));
  });
  return { proc, ready };
}

/**
 * `overlay proxy` in its own Node process (so its per-packet work does not share the overlay
 * stack's event loop): Bernoulli loss `loss` and `delayMs` on both directions, seeded. Relay
 * mode towards the bridge's UDP port, or router mode with a static route to the kernel's FOU port.
 */
export async function startProxy(loss: number, delayMs: number, seed: number, kernel: { relayTo: number } | { fouPort: number }): Promise<ProxyChild> {
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const args = [cli, 'proxy', '--listen', '127.0.0.1:0', '--seed', String(seed), '--delay', String(delayMs)];
  if ('relayTo' in kernel) args.push('--upstream', `127.0.0.1:${kernel.relayTo}`);
  else args.push('--peer', `${KERNEL}/32=127.0.0.1:${kernel.fouPort}`);
  if (loss > 0) args.push('--loss', String(loss));
  const { proc, ready } = spawnUntilReady(process.execPath, args, 'overlay proxy');
  try {
    const f = await bounded(ready, 10_000, 'overlay proxy READY');
    const port = Number(f.listen?.split(':').pop());
    if (!Number.isInteger(port) || port <= 0) throw new Error(`overlay proxy READY without a port: ${JSON.stringify(f)}`);
    return { proc, port, ready: f };
  } catch (err) {
    await stop(proc);
    throw err;
  }
}

/**
 * The kernel's end and the proxy for one transfer. Bridge: `bridge` (started once) and a relay
 * proxy towards it. FOU: a router proxy, then a tunnel pointing at it; stop() removes both.
 */
export async function startPath(mode: KernelPeerMode, bridge: KernelSide | undefined, loss: number, delayMs: number, seed: number): Promise<{ proxy: ProxyChild; stop: () => Promise<void> }> {
  if (mode === 'bridge') {
    const proxy = await startProxy(loss, delayMs, seed, { relayTo: bridge!.udp.port });
    return { proxy, stop: () => stop(proxy.proc) };
  }
  const fouPort = randomFouPort();
  const proxy = await startProxy(loss, delayMs, seed, { fouPort });
  try {
    const side = await bounded(startKernelSide('fou', { peerPort: proxy.port, fouPort, mtu: PATH_MTU }), 20_000, 'fou.sh up');
    return { proxy, stop: async () => { await side.stop(); await stop(proxy.proc); } };
  } catch (err) {
    await stop(proxy.proc);
    throw err;
  }
}

/** Overlay host 10.77.0.2 on a fresh UDP port, sending everything to the proxy. */
export function createOverlayHost(proxyPort: number): Promise<Host> {
  return Host.create({
    address: OVERLAY,
    udp: { address: '127.0.0.1', port: 0 },
    peers: [{ prefix: '10.77.0.0/16', endpoint: { address: '127.0.0.1', port: proxyPort } }],
    mtu: PATH_MTU,
    recvBufferSize: SOCKET_BUFFER,
    sendBufferSize: SOCKET_BUFFER,
  });
}

/**
 * Pings the kernel until a reply comes back: the proxy opens this host's relay session and
 * the bridge learns where 10.77.0.2 lives, so kernel-initiated packets find their way.
 * Retries because the ping crosses the lossy path too.
 */
export async function prime(host: Host, tries = 10): Promise<void> {
  let last: unknown;
  for (let seq = 1; seq <= tries; seq++) {
    try {
      await host.ping(KERNEL, { seq, timeoutMs: 500 });
      return;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no echo reply from the kernel in ${tries} pings: ${(last as Error)?.message ?? last}`);
}

/**
 * Sets this namespace's default congestion control with sysctl (net.ipv4.tcp_congestion_control
 * is per netns). Returns false when the kernel refuses: outside the initial namespace only the
 * algorithms in the global net.ipv4.tcp_allowed_congestion_control may become the default
 * (EPERM otherwise, e.g. cubic when the allowed list is "reno bbr"). kernelEcho() sets the
 * algorithm per socket as well, so the run does not depend on this succeeding.
 */
export async function setKernelCc(cc: string): Promise<boolean> {
  const proc = spawn('sysctl', ['-q', '-w', `net.ipv4.tcp_congestion_control=${cc}`], { stdio: 'ignore' });
  const code = await bounded(new Promise<number | null>((resolve) => proc.once('close', resolve)), 5000, 'sysctl');
  return code === 0 && readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim() === cc;
}

/** kernel-tcp.py with congestion control `cc` on its socket (TCP_CONGESTION); `ready` is its READY line. */
export function kernelEcho(cc: string, args: string[]): { proc: ChildProcess; ready: Promise<Fields> } {
  const script = join(kernelPeerDir(), 'kernel-tcp.py');
  const started = spawnUntilReady('python3', ['-B', script, '--cc', cc, ...args], 'kernel-tcp.py');
  started.ready.catch(() => {});
  return started;
}

/** TcpExt counters of this namespace (/proc/net/netstat is per netns), e.g. TCPTimeouts. */
export function tcpExt(): Record<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    for (let k = 1; k < names.length; k++) out[names[k]!] = Number(values[k]);
  }
  return out;
}

/** A kernel socket's TCP_INFO as `ss -tin` prints it (the fields this bench uses). */
export interface KernelTcpInfo {
  cc?: string;
  bytesAcked?: number;
  bytesReceived?: number;
  dataSegsOut?: number;
  totalRetrans?: number;
  cwnd?: number;
  rttMs?: number;
}

/** `ss -tin` for the kernel's connection with the overlay port `overlayPort`, or undefined. */
export async function kernelTcpInfo(overlayPort: number): Promise<KernelTcpInfo | undefined> {
  const proc = spawn('ss', ['-tinH', 'dst', `${OVERLAY}:${overlayPort}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await bounded(new Promise<number | null>((resolve) => proc.once('close', resolve)), 5000, 'ss').catch(() => {
    proc.kill('SIGKILL');
    return -1;
  });
  if (code !== 0 || !out.trim()) return undefined;
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const info: KernelTcpInfo = {};
  const cc = /\s(cubic|reno|bbr)\b/.exec(out)?.[1];
  if (cc) info.cc = cc;
  const set = (k: keyof Omit<KernelTcpInfo, 'cc'>, v: number | undefined): void => {
    if (v !== undefined) info[k] = v;
  };
  set('bytesAcked', num(/\bbytes_acked:(\d+)/));
  set('bytesReceived', num(/\bbytes_received:(\d+)/));
  set('dataSegsOut', num(/\bdata_segs_out:(\d+)/));
  set('totalRetrans', num(/\bretrans:\d+\/(\d+)/));
  set('cwnd', num(/\bcwnd:(\d+)/));
  set('rttMs', num(/\brtt:([\d.]+)\//));
  return info;
}
