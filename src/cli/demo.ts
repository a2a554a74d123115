/**
 * `overlay demo`: the whole system in one command. Starts, as separate processes,
 *
 *   sender 10.77.0.2 ──UDP──> chaos proxy (router) ──UDP──> receiver 10.77.0.3:5001
 *
 * (the proxy adds RTT/2 of delay each way, random loss both ways and a bottleneck with
 * one bandwidth-delay product of queue), streams random data for --duration seconds,
 * prints live progress and a summary with the SHA-256 of what was sent and received.
 * Each process serves /metrics on a fixed port (proxy 9464, receiver 9465, sender 9466;
 * --metrics-base moves them) for the provisioned Prometheus + Grafana in grafana/.
 *
 * The demo exits by itself; Ctrl-C or the death of any child stops every child, and the
 * children exit on their own if the demo process disappears (their stdin closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.js';
import { parseRate } from '../chaos/rules.js';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { CC_NAMES, RETRANSMIT_KINDS, type CcName } from '../tcp/types.js';
import { DEMO_PORT, RECEIVER_ADDR, SENDER_ADDR, runProxy, runReceiver, runSender, type SenderStatus } from './demo-roles.js';

const SPECS: FlagSpecs = {
  duration: { kind: 'number', short: 'd', description: 'seconds of streaming', default: 20 },
  cc: { kind: 'string', description: `congestion control (${CC_NAMES.join(', ')})` },
  loss: { kind: 'number', description: 'loss probability on the proxy, each direction', default: 0.01 },
  rtt: { kind: 'number', description: 'round-trip time added by the proxy, ms', default: 50 },
  rate: { kind: 'string', description: 'bottleneck rate', default: '20mbit' },
  'no-proxy': { kind: 'boolean', description: 'connect sender and receiver directly (no impairments)' },
  'metrics-base': { kind: 'number', description: 'first of the three /metrics ports (proxy, receiver, sender); 0 = none', default: 9464 },
  'metrics-host': { kind: 'string', description: 'address the /metrics servers bind (0.0.0.0 for Prometheus in Docker on Linux)', default: '127.0.0.1' },
  seed: { kind: 'number', description: 'the proxy\'s random seed (default random)' },
  trace: { kind: 'string', description: 'write the sender\'s TCP trace to FILE (for overlay plot)' },
  pcap: { kind: 'string', description: 'write the sender\'s packets to a pcap FILE' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
  // Hidden: the child roles.
  role: { kind: 'string' },
  spec: { kind: 'string' },
};
const SYNOPSIS = 'overlay demo [--duration S] [--cc NAME] [--loss P] [--rtt MS] [--rate RATE] [--no-proxy] [--metrics-base PORT]';
const PUBLIC_SPECS = Object.fromEntries(Object.entries(SPECS).filter(([k]) => k !== 'role' && k !== 'spec'));

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));

/** Distinct free UDP ports on 127.0.0.1 (bound together, then released). */
async function freeUdpPorts(n: number): Promise<number[]> {
  const socks = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createSocket>>((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

interface Child {
  role: string;
  proc: ChildProcess;
  stderrTail: string[];
  exited: boolean;
  /** The demo asked it to stop (its exit is expected). */
  stopping: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const fmtBytes = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
const fmtRate = (bytesPerS: number): string => `${((bytesPerS * 8) / 1e6).toFixed(2)} Mbit/s`;
const retransText = (r: SenderStatus['retransmits']): string => RETRANSMIT_KINDS.map((k) => `${k} ${r[k] ?? 0}`).join(', ');
const sumRetrans = (r: SenderStatus['retransmits']): number => RETRANSMIT_KINDS.reduce((a, k) => a + (r[k] ?? 0), 0);

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, SPECS);
  const role = stringFlag(p, 'role');
  if (role !== undefined) return runRole(role, p.positional, stringFlag(p, 'spec'));
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, PUBLIC_SPECS) + '\n');
    return 0;
  }
  if (p.positional.length) throw new UsageError(`unexpected argument '${p.positional[0]}'`);
  const duration = numberFlag(p, 'duration', 0.5, 86400, false)!;
  const cc = stringFlag(p, 'cc');
  if (cc !== undefined && !CC_NAMES.includes(cc as CcName)) throw new UsageError(`--cc must be one of ${CC_NAMES.join(', ')}`);
  const loss = numberFlag(p, 'loss', 0, 1, false)!;
  const rtt = numberFlag(p, 'rtt', 0, 10000, false)!;
  const rate = stringFlag(p, 'rate')!;
  const rateBps = parseRateText(rate);
  const noProxy = boolFlag(p, 'no-proxy');
  const metricsBase = numberFlag(p, 'metrics-base', 0, 65533)!;
  const metricsHost = stringFlag(p, 'metrics-host')!;
  const seed = numberFlag(p, 'seed', 0, 0xffffffff);
  const metricsAt = (i: number): string | undefined => (metricsBase ? `${metricsHost}:${metricsBase + i}` : undefined);

  const [proxyPort, recvPort, sendPort] = await freeUdpPorts(3);
  const viaFor = (peerPort: number): { address: string; port: number } => ({ address: '127.0.0.1', port: noProxy ? peerPort : proxyPort! });
  const children: Child[] = [];
  const out = process.stdout;
  const tty = out.isTTY === true;
  let failure: string | undefined;
  let interrupted = false;
  let wake: () => void = () => {};
  const changed = (): void => wake();

  const start = (role: string, args: string[]): Child => {
    const proc = spawn(process.execPath, [CLI, 'demo', '--role', role, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const c: Child = {
      role,
      proc,
      stderrTail: [],
      exited: false,
      stopping: false,
      exit: new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal }))),
    };
    proc.stdin!.on('error', () => {});
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(c, buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      for (const line of d.split('\n').filter(Boolean)) {
        c.stderrTail.push(line);
        if (c.stderrTail.length > 5) c.stderrTail.shift();
      }
    });
    void c.exit.then(({ code, signal }) => {
      c.exited = true;
      if (process.env.OVERLAY_DEBUG) process.stderr.write(`[demo] ${role} exited code=${code} signal=${signal} at ${performance.now().toFixed(0)} ms\n`);
      if (!c.stopping && !(code === 0 && (role === 'sender' || role === 'receiver'))) {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const last = c.stderrTail.length ? `: ${c.stderrTail[c.stderrTail.length - 1]}` : '';
        failure ??= `the ${role} process (pid ${proc.pid}) ${why}${last}`;
      }
      changed();
    });
    children.push(c);
    return c;
  };

  let proxyReady = noProxy;
  let receiverReady = false;
  let senderResult: (SenderStatus & { sha256: string; seconds: number; bytesWritten: number }) | undefined;
  let receiverResult: { bytes: number; sha256: string; seconds: number } | undefined;
  let lastStatus: SenderStatus | undefined;
  let statusCount = 0;
  const onLine = (c: Child, line: string): void => {
    const sp = line.indexOf(' ');
    const kind = sp < 0 ? line : line.slice(0, sp);
    let data: Record<string, unknown> = {};
    if (kind === 'STATUS' || kind === 'RESULT' || (kind === 'READY' && c.role !== 'proxy')) {
      try {
        data = JSON.parse(line.slice(sp + 1)) as Record<string, unknown>;
      } catch {
        return;
      }
    }
    if (kind === 'READY') {
      if (c.role === 'proxy') proxyReady = true;
      if (c.role === 'receiver') receiverReady = true;
    } else if (kind === 'STATUS' && c.role === 'sender') {
      lastStatus = data as unknown as SenderStatus;
      statusCount++;
      progress(lastStatus);
    } else if (kind === 'RESULT') {
      if (c.role === 'sender') senderResult = data as unknown as typeof senderResult;
      if (c.role === 'receiver') receiverResult = data as unknown as typeof receiverResult;
    }
    changed();
  };
  let prevAcked = 0;
  let prevT = 0;
  const progress = (s: SenderStatus): void => {
    const dt = s.t - prevT;
    const goodput = dt > 0 ? (s.bytesAcked - prevAcked) / dt : 0;
    prevAcked = s.bytesAcked;
    prevT = s.t;
    const line =
      `[${s.t.toFixed(1).padStart(5)} s] acked ${fmtBytes(s.bytesAcked).padStart(9)}  goodput ${fmtRate(goodput).padStart(13)}` +
      `  cwnd ${fmtBytes(s.cwnd).padStart(8)}  srtt ${s.srttMs.toFixed(1).padStart(6)} ms  retrans ${sumRetrans(s.retransmits)}`;
    if (tty) out.write(`\r${line}\x1b[K`);
    else if (statusCount % 2 === 0) out.write(`${line}\n`);
  };

  const stopAll = async (): Promise<void> => {
    for (const c of children) {
      c.stopping = true;
      if (!c.exited) c.proc.kill('SIGTERM');
    }
    const killer = setTimeout(() => {
      for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
    }, 3000);
    await Promise.all(children.map((c) => c.exit));
    clearTimeout(killer);
  };

  const onSignal = (): void => {
    interrupted = true;
    changed();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  /** Waits until `cond` holds, a child failed, we were interrupted, or the deadline passed. */
  const until = async (cond: () => boolean, deadlineMs: number, what: string): Promise<boolean> => {
    const end = performance.now() + deadlineMs;
    while (!cond()) {
      if (failure || interrupted) return false;
      const left = end - performance.now();
      if (left <= 0) {
        failure = `timed out after ${Math.round(deadlineMs / 1000)} s waiting for ${what}`;
        return false;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  };

  try {
    const queueBytes = Math.max(3000, Math.round((rateBps / 8) * (rtt / 1000)));
    if (!noProxy) {
      const proxyArgs = [
        '--listen', `127.0.0.1:${proxyPort}`,
        '--peer', `${RECEIVER_ADDR}=127.0.0.1:${recvPort}`,
        '--peer', `${SENDER_ADDR}=127.0.0.1:${sendPort}`,
        '--delay', String(rtt / 2),
        '--rate', rate,
        '--queue', `${queueBytes}b`,
        ...(loss > 0 ? ['--loss', String(loss)] : []),
        ...(seed !== undefined ? ['--seed', String(seed)] : []),
        // The control API lets the proxy's live page change loss, delay, rate... (forwarded by its metrics port).
        ...(metricsAt(0) ? ['--metrics', metricsAt(0)!, '--api', '127.0.0.1:0'] : []),
      ];
      const c = start('proxy', ['--', ...proxyArgs]);
      out.write(
        `proxy     pid ${c.proc.pid}  router on udp 127.0.0.1:${proxyPort}: RTT ${rtt} ms, loss ${loss * 100}% each way, ` +
          `bottleneck ${rate} with ${queueBytes} B queue (1 BDP)${metricsAt(0) ? `, metrics http://${metricsAt(0)}/metrics, live http://${metricsAt(0)}/` : ''}\n`,
      );
    }
    const roleSpec = (udpPort: number, peerPort: number, route: string, i: number, extra: object = {}): string[] => [
      '--spec',
      JSON.stringify({ udpPort, via: viaFor(peerPort), route, ...(metricsAt(i) ? { metrics: metricsAt(i) } : {}), ...extra }),
    ];
    const r = start('receiver', roleSpec(recvPort!, sendPort!, SENDER_ADDR, 1));
    out.write(`receiver  pid ${r.proc.pid}  ${RECEIVER_ADDR}:${DEMO_PORT} on udp 127.0.0.1:${recvPort}${metricsAt(1) ? `, metrics http://${metricsAt(1)}/metrics, live http://${metricsAt(1)}/` : ''}\n`);
    if (!(await until(() => proxyReady && receiverReady, 15000, 'the proxy and receiver to start'))) return await finish();
    const extra: Record<string, unknown> = { durationS: duration };
    if (cc) extra.cc = cc;
    const trace = stringFlag(p, 'trace');
    if (trace) extra.trace = trace;
    const pcap = stringFlag(p, 'pcap');
    if (pcap) extra.pcap = pcap;
    const s = start('sender', roleSpec(sendPort!, recvPort!, RECEIVER_ADDR, 2, extra));
    out.write(
      `sender    pid ${s.proc.pid}  ${SENDER_ADDR} on udp 127.0.0.1:${sendPort}, ${duration} s of random data${cc ? ` with ${cc}` : ''}` +
        `${metricsAt(2) ? `, metrics http://${metricsAt(2)}/metrics, live http://${metricsAt(2)}/` : ''}\n`,
    );
    if (metricsBase) out.write(`live view: open http://${metricsAt(2)}/ (sender)${noProxy ? '' : ` and http://${metricsAt(0)}/ (proxy controls)`} in a browser\n`);
    if (metricsBase) out.write(`dashboards: docker compose -f grafana/docker-compose.yml up -d, then http://localhost:3000 (docs/observability.md)\n`);
    await until(() => senderResult !== undefined && receiverResult !== undefined && s.exited && r.exited, duration * 1000 + 60000, 'the transfer to finish');
    return await finish();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  async function finish(): Promise<number> {
    if (tty && statusCount > 0) out.write('\n');
    await stopAll();
    if (interrupted) {
      process.stderr.write('overlay demo: interrupted; all child processes stopped\n');
      return 130;
    }
    if (failure) {
      process.stderr.write(`overlay demo: ${failure}; stopped the others\n`);
      return 1;
    }
    const sr = senderResult!;
    const rr = receiverResult!;
    const match = sr.sha256 === rr.sha256 && sr.bytesWritten === rr.bytes;
    const lines = [
      '',
      'summary',
      `  bytes            sent ${sr.bytesWritten} (${fmtBytes(sr.bytesWritten)}), received ${rr.bytes} (${fmtBytes(rr.bytes)})`,
      `  time             ${sr.seconds.toFixed(2)} s`,
      `  goodput          ${fmtRate(rr.bytes / Math.max(sr.seconds, 1e-3))}`,
      `  retransmissions  ${sumRetrans(sr.retransmits)} (${retransText(sr.retransmits)})`,
      `  final cwnd ${fmtBytes(sr.cwnd)}, srtt ${sr.srttMs.toFixed(1)} ms`,
      `  sha256 sent      ${sr.sha256}`,
      `  sha256 received  ${rr.sha256}`,
      `  sha256 ${match ? 'MATCH' : 'MISMATCH'}`,
    ];
    out.write(lines.join('\n') + '\n');
    return match ? 0 : 1;
  }
}

function parseRateText(text: string): number {
  try {
    return parseRate(text);
  } catch (e) {
    throw new UsageError(`--rate: ${(e as Error).message}`);
  }
}

async function runRole(role: string, positional: string[], spec: string | undefined): Promise<number> {
  if (role === 'proxy') return runProxy(positional);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(spec ?? '') as Record<string, unknown>;
  } catch {
    throw new UsageError('--role needs --spec JSON');
  }
  if (role === 'receiver') return runReceiver(o as unknown as Parameters<typeof runReceiver>[0]);
  if (role === 'sender') return runSender(o as unknown as Parameters<typeof runSender>[0]);
  throw new UsageError(`unknown role '${role}'`);
}
