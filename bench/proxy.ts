/**
 * The chaos proxy's own cost: packets/s it forwards (relay and router mode, with no
 * impairment and with every stage on at light settings) as a ratio to a plain raw-dgram
 * UDP relay measured in the same run. The sender and the receiver are separate processes
 * (this file forked with a role); the relay under test runs in this process, which is
 * where the cost lands. Goal: >= 80% of the plain relay.
 *
 *   node <out>/bench/proxy.js [seconds-per-measurement]      prints a table
 */
import dgram from 'node:dgram';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createProxy, type Proxy } from '../src/chaos/proxy.js';
import { encodeUdpPacket } from '../src/wire/udp.js';
import { parseIpv4 } from '../src/wire/addr.js';
import { median } from './lib/stats.js';
import { isMain } from './lib/cli.js';

const SELF = fileURLToPath(import.meta.url);
const PAYLOAD = 1200;
const BUF = 4 * 1024 * 1024;

type Row = Record<string, string | number>;

// ------------------------------------------------------------------ child roles

function bindChild(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) =>
    s.bind(0, '127.0.0.1', () => {
      try {
        s.setRecvBufferSize(BUF);
        s.setSendBufferSize(BUF);
      } catch {
        // keep the default
      }
      resolve(s);
    }),
  );
}

/** Receiver: counts datagrams between 'start' and 'stop'. */
async function receiver(): Promise<void> {
  const s = await bindChild();
  let count = 0;
  s.on('message', () => count++);
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'start') count = 0;
    if (m.cmd === 'stop') {
      process.send!({ count });
      s.close();
      process.disconnect();
    }
  });
  process.send!({ port: s.address().port });
}

/** Sender: blasts prebuilt datagrams at the target in bursts, yielding between bursts. */
async function sender(port: number, seconds: number, router: boolean): Promise<void> {
  const s = await bindChild();
  const packet = router
    ? encodeUdpPacket({ src: parseIpv4('10.77.0.2')!, dst: parseIpv4('10.77.0.3')!, id: 1 }, { srcPort: 1, dstPort: 2, payload: Buffer.alloc(PAYLOAD - 28, 0x61) })
    : Buffer.alloc(PAYLOAD, 0x61);
  await new Promise<void>((r) => s.connect(port, '127.0.0.1', () => r()));
  const end = Date.now() + seconds * 1000;
  const burst = (): void => {
    if (Date.now() > end) {
      s.close();
      process.disconnect?.();
      return;
    }
    for (let i = 0; i < 32; i++) s.send(packet);
    setImmediate(burst);
  };
  burst();
}

// ------------------------------------------------------------------ relays under test

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** The reference: a minimal raw dgram relay (client -> upstream only). */
async function plainRelay(upstream: number): Promise<Relay> {
  const s = dgram.createSocket('udp4');
  const out = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => out.bind(0, '127.0.0.1', () => r()));
  for (const x of [s, out]) {
    x.setRecvBufferSize(BUF);
    x.setSendBufferSize(BUF);
  }
  out.connect(upstream, '127.0.0.1');
  await new Promise<void>((r) => out.once('connect', () => r()));
  s.on('message', (m) => out.send(m));
  return {
    port: s.address().port,
    close: async () => {
      s.close();
      out.close();
    },
  };
}

const LIGHT: Array<[string, Record<string, unknown>]> = [
  ['loss', { p: 0.001 }],
  ['duplicate', { p: 0.001 }],
  ['corrupt', { p: 0.001 }],
  ['mtu', { mtu: 65535 }],
  ['reorder', { p: 0.001, k: 1, maxHold: 5 }],
  ['delay', { ms: 1 }],
  ['bottleneck', { rate: '20gbit', queue: 100000 }],
];

async function chaosRelay(upstream: number, mode: 'relay' | 'router', allStages: boolean): Promise<Relay> {
  const proxy: Proxy = await createProxy(
    mode === 'relay'
      ? { listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream}`, seed: 1 }
      : { listen: '127.0.0.1:0', peers: { '10.77.0.3/32': `127.0.0.1:${upstream}` }, seed: 1 },
  );
  if (allStages) for (const [stage, params] of LIGHT) proxy.setImpairment('*', 'both', stage, params);
  return { port: proxy.address().port, close: () => proxy.close() };
}

// ------------------------------------------------------------------ driver

function child(args: string[]): ChildProcess {
  return fork(SELF, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(c: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve(m as T));
    c.once('exit', (code) => reject(new Error(`child exited (${code})`)));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Measured {
  pps: number;
  /** CPU time of this process (the relay under test) per forwarded packet, microseconds. */
  cpuUs: number;
}

async function measure(make: (upstream: number) => Promise<Relay>, router: boolean, seconds: number): Promise<Measured> {
  const recv = child(['recv']);
  let send: ChildProcess | undefined;
  let relay: Relay | undefined;
  try {
    const { port } = await nextMessage<{ port: number }>(recv);
    relay = await make(port);
    send = child(['send', String(relay.port), String(seconds + 0.6), router ? 'router' : 'relay']);
    await sleep(300); // warm-up
    recv.send({ cmd: 'start' });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const got = nextMessage<{ count: number }>(recv);
    recv.send({ cmd: 'stop' });
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const { count } = await got;
    return { pps: count / elapsed, cpuUs: count > 0 ? (cpu.user + cpu.system) / count : 0 };
  } finally {
    send?.kill('SIGKILL');
    recv.kill('SIGKILL');
    await relay?.close();
  }
}

/**
 * Runs every variant `rounds` times, interleaved (the machine is shared and noisy), and
 * reports medians. Two ratios to the plain relay: forwarded packets/s, and CPU per packet
 * in the relay's process (plain / variant; the steadier of the two on a loaded machine).
 */
export async function run(opts: { seconds?: number; rounds?: number } = {}): Promise<Row[]> {
  const seconds = Math.min(Math.max(opts.seconds ?? 1, 0.5), 20);
  const rounds = Math.min(Math.max(opts.rounds ?? 3, 1), 9);
  const variants: Array<[string, string, boolean, (u: number) => Promise<Relay>]> = [
    ['plain dgram relay', 'relay', false, plainRelay],
    ['chaos relay, no impairment', 'relay', false, (u) => chaosRelay(u, 'relay', false)],
    ['chaos relay, all stages light', 'relay', false, (u) => chaosRelay(u, 'relay', true)],
    ['chaos router, no impairment', 'router', true, (u) => chaosRelay(u, 'router', false)],
    ['chaos router, all stages light', 'router', true, (u) => chaosRelay(u, 'router', true)],
  ];
  const results = variants.map(() => [] as Measured[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const [, , router, make] = variants[i]!;
      results[i]!.push(await measure(make, router, seconds));
    }
  }
  const pps = results.map((ms) => median(ms.map((m) => m.pps)));
  const cpu = results.map((ms) => median(ms.map((m) => m.cpuUs)));
  return variants.map(([name, mode], i) => ({
    bench: 'proxy',
    variant: name,
    mode,
    payload_bytes: PAYLOAD,
    rounds,
    packets_per_s: Math.round(pps[i]!),
    ratio_to_plain: pps[0]! > 0 ? Number((pps[i]! / pps[0]!).toFixed(3)) : 0,
    cpu_us_per_packet: Number(cpu[i]!.toFixed(2)),
    cpu_ratio_to_plain: cpu[i]! > 0 ? Number((cpu[0]! / cpu[i]!).toFixed(3)) : 0,
  }));
}

// ------------------------------------------------------------------ entry

const [role, a1, a2, a3] = process.argv.slice(2);
if (isMain(import.meta.url)) {
  if (role === 'recv') {
    void receiver();
  } else if (role === 'send') {
    void sender(Number(a1), Number(a2), a3 === 'router');
  } else {
    const seconds = role !== undefined ? Number(role) : 1;
    run({ seconds: Number.isFinite(seconds) ? seconds : 1 }).then(
      (rows) => {
        const cols = Object.keys(rows[0] ?? {});
        const table = [cols, ...rows.map((r) => cols.map((c) => String(r[c])))];
        const w = cols.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
        for (const r of table) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
      },
      (err: Error) => {
        console.error(`bench failed: ${err.message}`);
        process.exitCode = 1;
      },
    );
  }
}
