/**
 * Secure-mode benchmark: one TCP connection's bulk goodput between two processes on
 * loopback, plain FOU against the secure mode (Noise IK sessions, ChaCha20-Poly1305 on
 * every datagram), alternating rounds in the same run. Both at an outer datagram of 1472
 * bytes: the plain host's IPv4 packets are 1472 bytes, the secure host's 1440 (32 bytes of
 * header and tag). Goodput is counted after a 1 s warm-up, like the tcp suite.
 *
 * In process it also times the secure core's seal and open per packet, and a plain and a
 * secure link's send through one UDP socket.
 *
 *   node <out>/bench/secure.js [--seconds N] [--rounds N] [--no-pin] [--cpu-prof DIR]
 *   npm run bench -- secure
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Host, type HostOptions } from '../src/host/host.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { newKeyPair } from '../src/secure/keys.js';
import { defaultAead, nodeAead, sodiumAeadImpl, type Aead } from '../src/secure/aead.js';
import { SecureCore } from '../src/secure/core.js';
import { SecureLink } from '../src/secure/secure-link.js';
import { UdpLink } from '../src/link/udp-link.js';
import { allocPacket } from '../src/util/slab.js';
import { generateKeyPair } from '../src/secure/crypto.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { exited, killChildren, pinnableCpus, spawnRole, withTimeout, type Child } from './lib/child.js';
import { median } from './lib/stats.js';
import { isMain } from './lib/cli.js';
import { arg, cpuSeconds, runRoleIfMain, say } from './lib/measure.js';

type Row = Record<string, string | number>;
const SELF = fileURLToPath(import.meta.url);
const MB = 1e6;
const GIB = 2 ** 30;
const OMIT_MS = 1000;
const MTU = 1472;

/** Process CPU time so far, µs. */
const cpuUs = (): number => cpuSeconds() * 1e6;

const BUFS = { recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024 };

/** The server (10.77.0.3:5001): counts bytes after the warm-up. Secure when --key is given. */
async function server(): Promise<void> {
  const key = arg('key', '');
  const opts: HostOptions = { address: '10.77.0.3', mtu: MTU, ...BUFS };
  if (key) {
    // The client's endpoint is not known yet: any placeholder; its first authenticated
    // handshake moves the peer to where it really is (roaming).
    opts.key = key;
    opts.peers = [{ prefix: '10.77.0.2/32', endpoint: { address: '127.0.0.1', port: 9 }, publicKey: arg('peer-key') }];
  } else {
    opts.learn = true;
  }
  const host = await Host.create(opts);
  const srv = createServer({ host }, (s: Socket) => {
    let first = -1;
    let start = -1;
    let last = 0;
    let bytes = 0;
    let total = 0;
    let cpu0 = 0;
    let cpuLast = 0;
    let cpuAt = 0;
    let cpuBytes = 0;
    s.on('data', (d: Buffer) => {
      total += d.length;
      const now = performance.now();
      if (first < 0) first = now;
      last = now;
      if (now - first < OMIT_MS) return;
      if (start < 0) {
        start = cpuAt = now;
        cpu0 = cpuLast = cpuUs();
        return;
      }
      bytes += d.length;
      // The CPU clock is read every 10 ms, not per chunk: process.cpuUsage() is a system
      // call, and per chunk it cost the receiver 0.3-0.8 us per segment (more in the mode
      // with more, smaller chunks), in the figure and in the receiver's real CPU budget.
      if (now - cpuAt >= 10) {
        cpuAt = now;
        cpuLast = cpuUs();
        cpuBytes = bytes;
      }
    });
    s.on('end', () => {
      // CPU of the measured window only (after the warm-up, up to the last CPU reading, and
      // the bytes up to it), so that the process's start and module loading do not count
      // against the slower mode.
      say({ bytes, seconds: Math.max(1e-9, (last - start) / 1000), total, cpuUs: cpuLast - cpu0, cpuBytes, kernelDrops: host.snapshot().link?.kernelDrops ?? 0 });
    });
  });
  await new Promise<void>((r) => srv.listen(5001, r));
  say({ port: host.endpoint.port });
  process.stdin.resume();
  await once(process.stdin, 'end');
  await host.close();
}

/** The client (10.77.0.2): writes for --seconds with backpressure, then ends. */
async function client(): Promise<void> {
  const key = arg('key', '');
  const port = Number(arg('port'));
  const peer: NonNullable<HostOptions['peers']>[number] = { prefix: '10.77.0.3/32', endpoint: { address: '127.0.0.1', port } };
  const opts: HostOptions = { address: '10.77.0.2', mtu: MTU, peers: [peer], ...BUFS };
  if (key) {
    opts.key = key;
    peer.publicKey = arg('peer-key');
  }
  const host = await Host.create(opts);
  const s = connect({ via: host, host: '10.77.0.3', port: 5001 });
  s.resume();
  await once(s, 'connect');
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const t0 = performance.now();
  const end = t0 + Number(arg('seconds')) * 1000;
  let cpu0 = -1;
  let written0 = 0;
  while (performance.now() < end) {
    if (cpu0 < 0 && performance.now() - t0 >= OMIT_MS) {
      cpu0 = cpuUs();
      written0 = s.bytesWritten;
    }
    if (!s.write(chunk)) await once(s, 'drain');
  }
  // The measured window: after the warm-up, until the last write was accepted.
  const cpu = cpuUs() - Math.max(0, cpu0);
  const windowBytes = s.bytesWritten - written0;
  s.end();
  await once(s, 'close');
  const info = s.getInfo();
  const rtx = Object.values(info?.retransmits ?? {}).reduce((a, b) => a + b, 0);
  // The share of data messages sealed into a datagram buffer the socket had released (secure).
  const st = host.link instanceof SecureLink ? host.link.secureStats : undefined;
  const reused = st && st.sealed ? st.datagramsReused / st.sealed : 0;
  say({ written: s.bytesWritten, windowBytes, cpuUs: cpu, retransmits: rtx, segmentsIn: info?.segmentsIn ?? 0, segmentsOut: info?.segmentsOut ?? 0, reused });
  await host.close();
}

let pins: [number, number] | undefined;

/** `--cpu-prof DIR`: each child writes a V8 CPU profile there (node --cpu-prof). */
let nodeArgs: string[] = [];

function child(role: string, args: string[], cpu?: number): Child {
  return spawnRole(SELF, role, args, nodeArgs, cpu);
}

interface Bulk {
  mbs: number;
  /** CPU time per MB moved (whole process, after the warm-up), sender and receiver. */
  txUsPerMb: number;
  rxUsPerMb: number;
  retransmits: number;
  kernelDrops: number;
  /** Segments (ACKs) the sender received per MB written: fewer, larger receive bursts mean fewer ACKs. */
  acksPerMb: number;
  /** The secure mode's AEAD implementation (sodium-native, or the node:crypto fallback). */
  aead?: string;
  /** Secure: the share of data messages sealed into a released datagram buffer. */
  reused: number;
}

async function bulk(secure: boolean, seconds: number): Promise<Bulk> {
  const a = newKeyPair();
  const b = newKeyPair();
  const rx = child('server', secure ? ['--key', b.privateKey, '--peer-key', a.publicKey] : [], pins?.[1]);
  const { port } = await rx.next();
  const tx = child('client', ['--port', String(port), '--seconds', String(seconds + OMIT_MS / 1000), ...(secure ? ['--key', a.privateKey, '--peer-key', b.publicKey] : [])], pins?.[0]);
  const r = await withTimeout(rx.next(), (seconds + 20) * 1000, `${secure ? 'secure' : 'plain'} transfer`);
  const t = await withTimeout(tx.next(), 10_000, 'sender close');
  rx.proc.stdin!.end();
  // Both children exit before the next round starts (and write their --cpu-prof profiles),
  // so that one round's processes never share the CPUs with the next one's.
  await withTimeout(Promise.all([exited(rx.proc), exited(tx.proc)]), 10_000, 'children exit');
  return {
    mbs: r.bytes! / r.seconds! / MB,
    txUsPerMb: t.cpuUs! / (t.windowBytes! / MB),
    rxUsPerMb: r.cpuUs! / (r.cpuBytes! / MB),
    retransmits: t.retransmits!,
    kernelDrops: r.kernelDrops!,
    acksPerMb: t.segmentsIn! / (t.written! / MB),
    reused: t.reused ?? 0,
    ...(secure && { aead: defaultAead.name }),
  };
}

/**
 * In process, no sockets: the secure core's cost per 1440-byte packet to seal (send) and
 * to open (receive), with each AEAD implementation, and the scavenges (young-generation
 * GCs) per 100k packets sealed and opened, which count what each packet allocates. Both
 * take the socket path's buffers: seal into the released previous datagram, open in place.
 */
async function perPacket(aead: Aead, packets = 100_000): Promise<Row> {
  const A = { address: '127.0.0.1', port: 1000 };
  const B = { address: '127.0.0.1', port: 2000 };
  const a = generateKeyPair();
  const b = generateKeyPair();
  let wire: Buffer[] = [];
  let keep = true;
  // While not keeping, transmit releases each datagram at once, as SecureLink does when
  // node:dgram sent it: the core seals the next one into the same buffer.
  const ca = new SecureCore({ privateKey: a.privateKey, peers: [{ publicKey: b.publicKey, endpoint: B }], aead }, { transmit: (d) => (keep ? (wire.push(d), false) : true), deliver: () => {} });
  const cb = new SecureCore({ privateKey: b.privateKey, peers: [{ publicKey: a.publicKey, endpoint: A }], aead }, { transmit: (d) => wire.push(d), deliver: () => {} });
  const pkt = Buffer.alloc(1440, 7);
  ca.send(pkt, B.port, B.address, 0);
  for (let i = 0; i < 4 && wire.length; i++) {
    const w = wire;
    wire = [];
    for (const d of w) (d.readUInt32LE(0) === 2 ? ca : cb).receive(d, d.readUInt32LE(0) === 2 ? B : A, 0);
  }
  let gcs = 0;
  const obs = new PerformanceObserver((l) => void (gcs += l.getEntries().filter((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === 1).length));
  obs.observe({ entryTypes: ['gc'] });
  keep = false;
  let t = performance.now();
  for (let i = 0; i < packets; i++) ca.send(pkt, B.port, B.address, 1);
  const sealUs = ((performance.now() - t) * 1000) / packets;
  // Opened in batches of 64 just sealed (warm in cache, as datagrams fresh from the socket).
  let openMs = 0;
  for (let j = 0; j < packets / 64; j++) {
    keep = true;
    wire = [];
    for (let i = 0; i < 64; i++) ca.send(pkt, B.port, B.address, 1);
    keep = false;
    t = performance.now();
    // Owned, as SecureLink passes a datagram from the socket: opened in place.
    for (const d of wire) cb.receive(d, A, 1, true);
    openMs += performance.now() - t;
  }
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  if (cb.stats.opened < packets) throw new Error(`per-packet bench: only ${cb.stats.opened} of ${packets} opened`);
  return { test: `in-process secure core, ${aead.name}`, 'seal us/packet': sealUs, 'open us/packet': (openMs * 1000) / packets, 'scavenges/100k': Math.round((gcs * 100_000) / packets) };
}

/**
 * In process, through a real UDP socket on loopback: the CPU per packet of a plain link's
 * send (a 1472-byte IPv4 packet) and a secure link's (1440 bytes sealed into a 1472-byte
 * datagram) on the same socket, alternating, median of 8 rounds of 20k packets each. The
 * difference is what the secure mode adds to every packet a sender sends, syscall and
 * buffer handling included, without TCP and without the receiver: it moves much less with
 * the machine's load than the bulk transfers do. The receiving socket is not read (its
 * kernel queue overflows and drops; that costs both the same).
 */
async function sendPath(): Promise<Row> {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const la = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
  const lb = await UdpLink.bind({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 16 });
  const sa = new SecureLink(la, { privateKey: ka.privateKey, peers: [{ publicKey: kb.publicKey, endpoint: lb.local() }] });
  const sb = new SecureLink(lb, { privateKey: kb.privateKey, peers: [{ publicKey: ka.publicKey, endpoint: la.local() }] });
  try {
    let got = 0;
    sb.onPacket(() => got++);
    sa.onPacket(() => {});
    const to = lb.local();
    sa.send(Buffer.alloc(40, 0x45), to.port, to.address);
    for (let i = 0; i < 200 && got === 0; i++) await new Promise((r) => setTimeout(r, 10));
    if (!got) throw new Error('send-path bench: no handshake');
    const n = 20_000;
    // Packets from the slabs, as the host makes them.
    const loop = (link: UdpLink | SecureLink, len: number): number => {
      const t0 = cpuUs();
      for (let i = 0; i < n; i++) {
        const p = allocPacket(len);
        p.fill(0x45, 0, 64);
        link.send(p, to.port, to.address);
      }
      return (cpuUs() - t0) / n;
    };
    const plain: number[] = [];
    const secure: number[] = [];
    for (let r = 0; r < 9; r++) {
      const p = loop(la, MTU);
      const q = loop(sa, MTU - 32);
      if (r === 0) continue; // warm-up
      plain.push(p);
      secure.push(q);
      await new Promise((r) => setImmediate(r));
    }
    const p = median(plain);
    const q = median(secure);
    return { test: 'in-process send path over a UDP socket, plain / secure', 'send us/packet': `${p.toFixed(2)} / ${q.toFixed(2)} (+${(q - p).toFixed(2)})` };
  } finally {
    await sa.close();
    await sb.close();
  }
}

export async function run(opts: { seconds?: number; rounds?: number; pin?: boolean } = {}): Promise<Row[]> {
  const micro: Row[] = [];
  for (const impl of [sodiumAeadImpl, nodeAead]) if (impl) micro.push(await perPacket(impl));
  micro.push(await sendPath());
  const seconds = opts.seconds ?? 5;
  const rounds = opts.rounds ?? 3;
  pins = opts.pin === false ? undefined : pinnableCpus();
  process.stderr.write(pins ? `secure: senders pinned to CPU ${pins[0]}, receivers to CPU ${pins[1]}\n` : 'secure: processes not pinned\n');
  const plain: Bulk[] = [];
  const sec: Bulk[] = [];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const p = await bulk(false, seconds);
      const s = await bulk(true, seconds);
      plain.push(p);
      sec.push(s);
      ratios.push(s.mbs / p.mbs);
    }
  } finally {
    killChildren();
  }
  const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
  // CPU per byte is steadier than wall-clock goodput on a shared machine: the slower side's
  // ratio predicts the goodput ratio when the machine is otherwise idle.
  const cpu = (xs: Bulk[], k: 'txUsPerMb' | 'rxUsPerMb'): number => median(xs.map((x) => x[k]));
  const cpuRatio = Math.max(cpu(plain, 'txUsPerMb'), cpu(plain, 'rxUsPerMb')) / Math.max(cpu(sec, 'txUsPerMb'), cpu(sec, 'rxUsPerMb'));
  // us per MB (1e6 bytes) to CPU seconds per GiB.
  const perGiB = (usPerMb: number): number => Number(((usPerMb * GIB) / MB / 1e6).toFixed(3));
  const row = (xs: Bulk[]): Row => ({
    'MB/s': median(xs.map((x) => x.mbs)),
    'tx CPU-s/GiB': perGiB(cpu(xs, 'txUsPerMb')),
    'rx CPU-s/GiB': perGiB(cpu(xs, 'rxUsPerMb')),
    'ACKs/MB': median(xs.map((x) => x.acksPerMb)),
    retransmits: xs.map((x) => x.retransmits).join(' '),
    'kernel drops': xs.map((x) => x.kernelDrops).join(' '),
  });
  return [
    ...micro,
    { test: `plain FOU TCP bulk (${rounds} rounds)`, 'outer MTU': MTU, 'IPv4 MTU': MTU, ...row(plain), ratio: 1 },
    {
      test: `secure (Noise IK, ChaCha20-Poly1305 on ${sec[0]?.aead ?? '?'}) TCP bulk`,
      'outer MTU': MTU,
      'IPv4 MTU': MTU - 32,
      ...row(sec),
      ratio: median(ratios),
      'ratio range': range,
      'CPU ratio': cpuRatio,
      'tx datagrams reused': `${(100 * median(sec.map((x) => x.reused))).toFixed(1)}%`,
    },
  ];
}

runRoleIfMain(import.meta.url, { server, client });

if (isMain(import.meta.url) && !process.argv.includes('--role')) {
  const seconds = process.argv.includes('--seconds') ? Number(arg('seconds')) : undefined;
  const rounds = process.argv.includes('--rounds') ? Number(arg('rounds')) : undefined;
  if (process.argv.includes('--cpu-prof')) nodeArgs = ['--cpu-prof', '--cpu-prof-dir', arg('cpu-prof')];
  const { formatTable } = await import('./main.js');
  const rows = await run({ ...(seconds ? { seconds } : {}), ...(rounds ? { rounds } : {}), pin: !process.argv.includes('--no-pin') });
  process.stdout.write(formatTable(rows) + '\n');
  process.exit(0);
}
