/**
 * UDP / host-layer benchmark: how much the overlay's per-packet path costs against raw
 * node:dgram, sender and receiver in separate processes, all in one run.
 *
 *   raw      node:dgram datagrams of 1472 B (the ceiling)
 *   host     overlay IPv4/UDP packets of 1472 B, pre-built, sent with Host.sendPacket and
 *            counted by a bare IPPROTO_UDP handler: the link + host layers alone (the
 *            path the TCP driver uses)
 *   socket   the overlay dgram-like socket at the same packet size (1444 B payload):
 *            encode + checksum on send, checksum + demux + 'message' on receive
 *
 * Flow control is credit based: the receiver acknowledges every 32 datagrams with its
 * running count, and the sender keeps at most WINDOW datagrams outstanding, sending in
 * synchronous bursts (never awaiting per packet). A stalled window (kernel drops) is
 * reopened after STALL_MS. Each child process is this file run with `--role NAME`.
 *
 *   node <out>/bench/udp.js [--seconds N] [--prof DIR]   prints a table
 *
 * `--prof DIR` runs the children under `node --cpu-prof --cpu-prof-dir DIR`.
 */
import { createSocket as createDgram, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Host } from '../src/host/host.js';
import { exited, killChildren, pinnableCpus, spawnRole, withTimeout, type Child } from './lib/child.js';
import { median } from './lib/stats.js';
import type { ProtocolHandler } from '../src/host/types.js';
import { createSocket } from '../src/udp/socket.js';
import { parseIpv4 } from '../src/wire/addr.js';
import { IPPROTO_UDP } from '../src/wire/ipv4.js';
import { encodeUdpPacket } from '../src/wire/udp.js';
import { isMain } from './lib/cli.js';

type Row = Record<string, string | number>;
const SELF = fileURLToPath(import.meta.url);
const SIZE = 1472; // one outer datagram = one overlay IPv4 packet of the default MTU
const PAYLOAD = SIZE - 28; // overlay UDP payload
const ACK_EVERY = 32;
const WINDOW = 1024; // datagrams outstanding (1.5 MB, well inside the 8 MiB receive buffer)
const STALL_MS = 100; // no ACK for this long: the outstanding datagrams are taken as lost
const BUF = 8 * 1024 * 1024;
const RX = '10.77.0.3';
const TX = '10.77.0.2';
const PORT = 9000;

// ---------------------------------------------------------------- child roles

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing --${name}`);
  return process.argv[i + 1]!;
}

function say(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Counts datagrams between the first and the last one; CPU time of this process too. */
class Counter {
  count = 0;
  bytes = 0;
  private first = 0;
  private last = 0;
  private cpu0 = process.cpuUsage();
  hit(bytes: number): boolean {
    const now = performance.now();
    if (this.count === 0) {
      this.first = now;
      this.cpu0 = process.cpuUsage();
    }
    this.last = now;
    this.count++;
    this.bytes += bytes;
    return this.count % ACK_EVERY === 0;
  }
  report(): Record<string, number> {
    const cpu = process.cpuUsage(this.cpu0);
    const seconds = (this.last - this.first) / 1000;
    return { count: this.count, bytes: this.bytes, seconds, cpu: (cpu.user + cpu.system) / 1e6 };
  }
}

let txCpu = 0;

/** The sender's side of the credit scheme: pump() sends while credit lasts. */
function sender(seconds: number, sendOne: () => void): { ack(n: number): void; done: Promise<number> } {
  let sent = 0;
  let acked = 0;
  let lastProgress = performance.now();
  const end = performance.now() + seconds * 1000;
  let finish!: (n: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  let over = false;
  const cpu0 = process.cpuUsage();
  const pump = (): void => {
    if (over) return;
    if (performance.now() >= end) {
      over = true;
      clearInterval(stall);
      const cpu = process.cpuUsage(cpu0);
      txCpu = (cpu.user + cpu.system) / 1e6;
      finish(sent);
      return;
    }
    while (sent - acked < WINDOW) {
      sendOne();
      sent++;
    }
  };
  const stall = setInterval(() => {
    if (performance.now() - lastProgress > STALL_MS) {
      acked = sent; // the outstanding datagrams were lost: reopen the window
      lastProgress = performance.now();
    }
    pump();
  }, 10);
  setImmediate(pump);
  return {
    ack(n: number): void {
      if (n > acked) {
        acked = n;
        lastProgress = performance.now();
      }
      pump();
    },
    done,
  };
}

async function untilStdinEnds(): Promise<void> {
  process.stdin.resume();
  await once(process.stdin, 'end');
}

async function rawRecv(): Promise<void> {
  const sock = createDgram('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize(BUF);
  const c = new Counter();
  const ack = Buffer.alloc(8);
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (c.hit(msg.length)) {
      ack.writeDoubleBE(c.count, 0);
      sock.send(ack, rinfo.port, rinfo.address);
    }
  });
  say({ port: sock.address().port });
  await untilStdinEnds();
  say(c.report());
  sock.close();
}

async function rawSend(): Promise<void> {
  // Unconnected, like the overlay link (which talks to many peers from one socket), and
  // with the link's synchronous lookup of IP literals, so that raw is the same socket.
  const sock = createDgram({ type: 'udp4', lookup: (a, _f, cb) => (cb as (e: null, a: string, f: number) => void)(null, a, 4) });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setSendBufferSize(BUF);
  const port = Number(arg('port'));
  const payload = Buffer.alloc(SIZE, 0xab);
  const s = sender(Number(arg('seconds')), () => sock.send(payload, port, '127.0.0.1'));
  sock.on('message', (m: Buffer) => s.ack(m.readDoubleBE(0)));
  say({ sent: await s.done, cpu: txCpu });
  sock.close();
}

function hostOptions(address: string, peer?: number): Parameters<typeof Host.create>[0] {
  return {
    address,
    peers: peer ? [{ prefix: '10.77.0.0/24', endpoint: { address: '127.0.0.1', port: peer } }] : [],
    learn: peer === undefined,
    recvBufferSize: BUF,
    sendBufferSize: BUF,
  };
}

/** A pre-built overlay IPv4/UDP packet (what a transport hands to Host.sendPacket). */
function udpPacket(host: Host, dst: number, payload: Buffer): Buffer {
  return encodeUdpPacket({ src: host.address, dst, id: host.nextIpId() }, { srcPort: PORT, dstPort: PORT, payload });
}

async function hostRecv(): Promise<void> {
  const host = await Host.create(hostOptions(RX));
  const c = new Counter();
  const ackPayload = Buffer.alloc(8);
  const handler: ProtocolHandler = {
    onPacket(ip, payload) {
      if (c.hit(payload.length + ip.headerLength)) {
        ackPayload.writeDoubleBE(c.count, 0);
        host.sendPacket(udpPacket(host, ip.src, ackPayload), ip.src);
      }
    },
  };
  host.setProtocolHandler(IPPROTO_UDP, handler);
  say({ port: host.endpoint.port });
  await untilStdinEnds();
  say({ ...c.report(), drops: host.totalDrops() });
  await host.close();
}

async function hostSend(): Promise<void> {
  const host = await Host.create(hostOptions(TX, Number(arg('port'))));
  const dst = parseIpv4(RX)!;
  const packet = udpPacket(host, dst, Buffer.alloc(PAYLOAD, 0xab));
  const s = sender(Number(arg('seconds')), () => host.sendPacket(packet, dst));
  host.setProtocolHandler(IPPROTO_UDP, { onPacket: (_ip, payload) => s.ack(payload.readDoubleBE(8)) });
  say({ sent: await s.done, cpu: txCpu });
  await host.close();
}

async function socketRecv(): Promise<void> {
  const host = await Host.create(hostOptions(RX));
  const c = new Counter();
  const ack = Buffer.alloc(8);
  const sock = createSocket({ type: 'udp4', host });
  sock.on('message', (msg, rinfo) => {
    if (c.hit(msg.length + 28)) {
      ack.writeDoubleBE(c.count, 0);
      sock.send(ack, rinfo.port, rinfo.address);
    }
  });
  await new Promise<void>((r) => sock.bind(PORT, r));
  say({ port: host.endpoint.port });
  await untilStdinEnds();
  say({ ...c.report(), drops: host.totalDrops() });
  sock.close();
  await host.close();
}

async function socketSend(): Promise<void> {
  const host = await Host.create(hostOptions(TX, Number(arg('port'))));
  const sock = createSocket({ type: 'udp4', host });
  const payload = Buffer.alloc(PAYLOAD, 0xab);
  sock.connect(PORT, RX);
  await once(sock, 'connect');
  const s = sender(Number(arg('seconds')), () => sock.send(payload));
  sock.on('message', (m: Buffer) => s.ack(m.readDoubleBE(0)));
  say({ sent: await s.done, cpu: txCpu });
  sock.close();
  await host.close();
}

const ROLES: Record<string, () => Promise<void>> = {
  'raw-recv': rawRecv,
  'raw-send': rawSend,
  'host-recv': hostRecv,
  'host-send': hostSend,
  'socket-recv': socketRecv,
  'socket-send': socketSend,
};

// ---------------------------------------------------------------- orchestration

/** [sender CPU, receiver CPU] when pinned (see pinnableCpus), the same for every path. */
let pins: [number, number] | undefined;

function child(role: string, args: string[], nodeArgs: string[], cpu?: number): Child {
  return spawnRole(SELF, role, args, nodeArgs, cpu);
}


interface Result {
  pps: number;
  mbps: number;
  lossPct: number;
  rxCpuUsPerPkt: number;
  txCpuUsPerPkt: number;
}

/** One sender/receiver pair of `kind` for `seconds`. */
async function pair(kind: 'raw' | 'host' | 'socket', seconds: number, nodeArgs: string[]): Promise<Result> {
  const rx = child(`${kind}-recv`, [], nodeArgs, pins?.[1]);
  try {
    const { port } = await withTimeout(rx.next(), 10_000, `${kind} receiver start`);
    const tx = child(`${kind}-send`, ['--port', String(port), '--seconds', String(seconds)], nodeArgs, pins?.[0]);
    const { sent, cpu: txCpuS } = await withTimeout(tx.next(), seconds * 1000 + 15_000, `${kind} sender`);
    await new Promise((r) => setTimeout(r, 100)); // let the last datagrams land
    rx.proc.stdin!.end();
    const r = await withTimeout(rx.next(), 10_000, `${kind} receiver report`);
    await Promise.all([tx.proc, rx.proc].map((p) => withTimeout(exited(p), 10_000, 'child exit')));
    const pps = r.count! / r.seconds!;
    return {
      pps,
      mbps: r.bytes! / r.seconds! / 1e6,
      lossPct: sent ? (100 * (sent - r.count!)) / sent : 0,
      rxCpuUsPerPkt: (r.cpu! / r.count!) * 1e6,
      txCpuUsPerPkt: (txCpuS! / sent!) * 1e6,
    };
  } finally {
    killChildren('SIGTERM');
  }
}

/**
 * The receive path alone, in this process, without the kernel: the same packet handed to
 * `host.link.deliver` (exactly where node:dgram's 'message' lands) N times. ns per packet.
 */
async function inProcessReceive(kind: 'host' | 'socket', n: number): Promise<number> {
  const rx = await Host.create({ address: RX, peers: [{ prefix: TX, endpoint: { address: '127.0.0.1', port: 9 } }] });
  try {
    let count = 0;
    if (kind === 'host') rx.setProtocolHandler(IPPROTO_UDP, { onPacket: () => void count++ });
    else {
      const sock = createSocket({ type: 'udp4', host: rx }, () => void count++);
      await new Promise<void>((r) => sock.bind(PORT, r));
    }
    const tx = parseIpv4(TX)!;
    const packet = encodeUdpPacket({ src: tx, dst: rx.address, id: 1 }, { srcPort: PORT, dstPort: PORT, payload: Buffer.alloc(PAYLOAD, 0xab) });
    const rinfo = { address: '127.0.0.1', port: 9 };
    const copies = Array.from({ length: 64 }, () => Buffer.from(packet)); // like node:dgram, one buffer per datagram
    for (let i = 0; i < 20_000; i++) rx.link.deliver(copies[i & 63]!, rinfo); // warm up
    const t0 = performance.now();
    for (let i = 0; i < n; i++) rx.link.deliver(copies[i & 63]!, rinfo);
    const ns = ((performance.now() - t0) * 1e6) / n;
    if (count !== n + 20_000) throw new Error(`in-process ${kind}: ${count} of ${n + 20_000} delivered`);
    return ns;
  } finally {
    await rx.close();
  }
}

export async function run(opts: { seconds?: number; rounds?: number; prof?: string } = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 3;
  // Three interleaved rounds and the median: one round on this shared machine varies by 15%.
  const rounds = opts.rounds ?? 3;
  pins = pinnableCpus();
  const nodeArgs = opts.prof ? ['--cpu-prof', '--cpu-prof-dir', opts.prof] : [];
  const kinds = ['raw', 'host', 'socket'] as const;
  const results: Record<string, Result[]> = { raw: [], host: [], socket: [] };
  // Interleave the kinds so that machine noise spreads over all of them.
  for (let i = 0; i < rounds; i++) for (const k of kinds) results[k]!.push(await pair(k, seconds, nodeArgs));
  const raw = median(results.raw!.map((r) => r.pps));
  const desc: Record<string, string> = {
    raw: 'node:dgram, unconnected send (the ceiling)',
    host: 'Host.sendPacket -> IPPROTO_UDP handler',
    socket: 'overlay dgram socket send -> message',
  };
  const rows: Row[] = kinds.map((k) => {
    const rs = results[k]!;
    const pps = median(rs.map((r) => r.pps));
    return {
      path: k,
      what: desc[k]!,
      'datagram B': SIZE,
      'kpkt/s': Math.round(pps / 1000),
      'MB/s': Math.round(median(rs.map((r) => r.mbps))),
      'vs raw': Number((pps / raw).toFixed(2)),
      'rx CPU us/pkt': Number(median(rs.map((r) => r.rxCpuUsPerPkt)).toFixed(2)),
      'tx CPU us/pkt': Number(median(rs.map((r) => r.txCpuUsPerPkt)).toFixed(2)),
      'loss %': Number(median(rs.map((r) => r.lossPct)).toFixed(2)),
    };
  });
  for (const k of ['host', 'socket'] as const) {
    const ns = median([await inProcessReceive(k, 200_000), await inProcessReceive(k, 200_000), await inProcessReceive(k, 200_000)]);
    rows.push({ path: `${k} rx in-process`, what: 'link.deliver -> handler/message, no kernel', 'datagram B': SIZE, 'rx CPU us/pkt': Number((ns / 1000).toFixed(3)) });
  }
  return rows;
}

// ---------------------------------------------------------------- entry point

async function main(): Promise<void> {
  const role = process.argv.includes('--role') ? arg('role') : undefined;
  if (role) {
    const f = ROLES[role];
    if (!f) throw new Error(`unknown role ${role}`);
    await f();
    return;
  }
  const opts: { seconds?: number; rounds?: number; prof?: string } = {};
  if (process.argv.includes('--seconds')) opts.seconds = Number(arg('seconds'));
  if (process.argv.includes('--rounds')) opts.rounds = Number(arg('rounds'));
  if (process.argv.includes('--prof')) opts.prof = arg('prof');
  const { formatTable } = await import('./main.js');
  process.stdout.write(formatTable(await run(opts)) + '\n');
}

if (isMain(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`bench udp: ${e.message}\n`);
      killChildren('SIGTERM');
      process.exit(1);
    },
  );
}
