/**
 * Linux kernel TCP as the peer of overlay TCP. kernel.test.ts runs this in a private network
 * namespace (spawnInNetns in test/helpers/kernel-peer.ts), with KERNEL_PEER_MODE fou or bridge:
 *
 *   fou:    kernel sockets (10.77.0.1) <-> ipip tunnel, FOU encap <-> UDP <-> overlay host 10.77.0.2
 *   bridge: kernel sockets (10.77.0.1) <-> TUN <-> tun-bridge.py <-> UDP <-> overlay host 10.77.0.2
 *
 * Cases (one JSON line each on stdout):
 *   overlay-client-to-kernel-sink    10 MiB, sha256 equal, clean close on both sides
 *   kernel-source-to-overlay-server  10 MiB from the kernel client, sha256 equal
 *   overlay-echo-via-kernel          1 MiB echoed back by the kernel, equal
 * Exit status 0 when every case passed. Ports are random (the kernel's TIME_WAIT lasts 60 s).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { sourceStream, startKernelSide, startTool, type CaseResult, type KernelPeerMode, type KernelSide, type Tool } from '../helpers/kernel-peer.js';

const KERNEL = '10.77.0.1';
const OVERLAY = '10.77.0.2';
const MIB = 2 ** 20;

const randomPort = (): number => 20000 + Math.floor(Math.random() * 25000);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Every tool started, so none outlives the run. */
const tools = new Set<Tool>();
function tool(script: string, args: string[]): Tool {
  const t = startTool(script, args);
  tools.add(t);
  void t.done.then(() => tools.delete(t));
  return t;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Reads a socket to its end; resolves with the bytes and whether it closed without error. */
function drain(s: Socket): Promise<{ data: Buffer; clean: boolean }> {
  const chunks: Buffer[] = [];
  let err: Error | undefined;
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', (e) => (err = e));
  return new Promise((resolve) => s.on('close', () => resolve({ data: Buffer.concat(chunks), clean: !err })));
}

async function overlayClientToKernelSink(host: Host): Promise<CaseResult> {
  const port = randomPort();
  const kernel = tool('kernel-tcp.py', ['--mode', 'sink', '--listen', `${KERNEL}:${port}`, '--timeout', '30']);
  await kernel.ready;
  const data = randomBytes(10 * MIB);
  const t0 = performance.now();
  const s = connect({ via: host, host: KERNEL, port });
  let sockErr: Error | undefined;
  s.on('error', (e) => (sockErr = e));
  s.end(data);
  s.resume();
  await bounded(once(s, 'close'), 30_000, 'overlay socket close');
  const k = await bounded(kernel.done, 30_000, 'kernel-tcp exit');
  const got = k.result?.sha256;
  const ok = !sockErr && k.code === 0 && got === sha(data) && Number(k.result?.bytes) === data.length;
  return {
    case: 'overlay-client-to-kernel-sink',
    ok,
    bytes: Number(k.result?.bytes ?? 0),
    expectedSha256: sha(data),
    ...(got ? { gotSha256: got } : {}),
    seconds: (performance.now() - t0) / 1000,
    ...(ok ? {} : { detail: `socket error: ${sockErr?.message ?? 'none'}; kernel exit ${k.code}; ${k.stderr.trim()}` }),
  };
}

async function kernelSourceToOverlayServer(host: Host): Promise<CaseResult> {
  const port = randomPort();
  const n = 10 * MIB;
  const server = createServer({ host });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  const received = new Promise<{ data: Buffer; err?: Error }>((resolve) => {
    server.once('connection', (s: Socket) => {
      const chunks: Buffer[] = [];
      let err: Error | undefined;
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', (e) => (err = e));
      s.on('close', () => resolve({ data: Buffer.concat(chunks), ...(err ? { err } : {}) }));
    });
  });
  const t0 = performance.now();
  const kernel = tool('kernel-tcp.py', ['--connect', `${OVERLAY}:${port}`, '--mode', 'source', '--bytes', String(n), '--seed', '7', '--timeout', '30']);
  const r = await bounded(received, 30_000, 'overlay server received');
  const k = await bounded(kernel.done, 30_000, 'kernel-tcp exit');
  server.close();
  const expected = sha(sourceStream('7', n));
  const got = sha(r.data);
  const ok = !r.err && k.code === 0 && got === expected && k.result?.sha256 === expected;
  return {
    case: 'kernel-source-to-overlay-server',
    ok,
    bytes: r.data.length,
    expectedSha256: expected,
    gotSha256: got,
    seconds: (performance.now() - t0) / 1000,
    ...(ok ? {} : { detail: `socket error: ${r.err?.message ?? 'none'}; kernel exit ${k.code}; ${k.stderr.trim()}` }),
  };
}

async function overlayEchoViaKernel(host: Host): Promise<CaseResult> {
  const port = randomPort();
  const kernel = tool('kernel-tcp.py', ['--mode', 'echo', '--listen', `${KERNEL}:${port}`, '--timeout', '30']);
  await kernel.ready;
  const data = randomBytes(MIB);
  const t0 = performance.now();
  const s = connect({ via: host, host: KERNEL, port, noDelay: true });
  const back = drain(s);
  s.end(data);
  const r = await bounded(back, 30_000, 'echo');
  const k = await bounded(kernel.done, 30_000, 'kernel-tcp exit');
  const ok = r.data.equals(data) && k.code === 0;
  return {
    case: 'overlay-echo-via-kernel',
    ok,
    bytes: r.data.length,
    expectedSha256: sha(data),
    gotSha256: sha(r.data),
    seconds: (performance.now() - t0) / 1000,
    ...(ok ? {} : { detail: `kernel exit ${k.code}; ${k.stderr.trim()}` }),
  };
}

async function main(): Promise<number> {
  const mode = process.env.KERNEL_PEER_MODE as KernelPeerMode | undefined;
  if (process.env.KERNEL_PEER_NETNS !== '1' || (mode !== 'fou' && mode !== 'bridge')) {
    process.stderr.write('kernel-run: run me through kernel.test.ts (a private namespace, KERNEL_PEER_MODE=fou|bridge)\n');
    return 2;
  }
  const host = await Host.create({ address: OVERLAY, udp: { address: '127.0.0.1', port: 0 } });
  let side: KernelSide | undefined;
  let failed = 0;
  try {
    side = await bounded(startKernelSide(mode, { peerPort: host.endpoint.port }), 20_000, `kernel side (${mode})`);
    host.addPeer(`${KERNEL}/32`, side.udp);
    process.stderr.write(`kernel-run: kernel peer via ${mode === 'fou' ? 'FOU' : 'the TUN bridge'}\n`);
    const cases: Array<[string, (h: Host) => Promise<CaseResult>]> = [
      ['overlay-client-to-kernel-sink', overlayClientToKernelSink],
      ['kernel-source-to-overlay-server', kernelSourceToOverlayServer],
      ['overlay-echo-via-kernel', overlayEchoViaKernel],
    ];
    for (const [name, run] of cases) {
      let r: CaseResult;
      try {
        r = await run(host);
      } catch (e) {
        r = { case: name, ok: false, detail: (e as Error).message };
      }
      if (!r.ok) failed++;
      process.stdout.write(JSON.stringify(r) + '\n');
    }
  } finally {
    for (const t of tools) t.proc.kill('SIGKILL');
    await side?.stop().catch(() => side?.proc?.kill('SIGKILL'));
    await host.close();
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kernel-run: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
