/**
 * TCP benchmark: one connection's bulk goodput between two processes on loopback, at MTU
 * 1472 and 65000, against the raw UDP ceiling measured in the same run (two processes
 * blasting raw dgram datagrams of the same size with a simple windowed flow control, the
 * receiver counting), and 64-byte ping-pong latency (overlay TCP with noDelay vs raw dgram;
 * 5000 rounds after 2000 not counted).
 *
 *   node <out>/bench/tcp.js [--seconds N] [--rounds N] [--no-pin]   prints a table
 *   npm run bench -- tcp                      the same through the bench orchestrator
 *
 * Goodput is counted after a 1 s warm-up (like iperf3 --omit), raw and overlay alike, and
 * the senders run that much longer; the whole-run ratio, warm-up included, is shown too.
 * The figures that matter are the ratios, measured in one run on the same (shared, noisy)
 * machine. Each child process is this file run with `--role NAME`.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Host } from '../src/host/host.js';
import { killChildren, pinnableCpus, spawnRole, withTimeout, type Child } from './lib/child.js';
import { median, percentile } from './lib/stats.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { cliPathRow } from './cli-path.js';

type Row = Record<string, string | number>;
const SELF = fileURLToPath(import.meta.url);
const MB = 1e6;

// ---------------------------------------------------------------- child roles

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`missing --${name}`);
  return dflt;
}

function say(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/**
 * Goodput after a warm-up, like iperf3's --omit: the first OMIT_MS after the first byte are
 * not counted (slow start, and V8 compiling the hot paths: about 0.4 s of a core for the
 * TCP sender), then bytes over time until the last byte. Raw and overlay alike.
 */
const OMIT_MS = 1000;

class SteadyMeter {
  private first = -1;
  private start = -1;
  private last = 0;
  private bytes = 0;

  add(n: number): void {
    const now = performance.now();
    if (this.first < 0) this.first = now;
    else this.total += n; // bytes that arrived after the first one
    this.last = now;
    if (now - this.first < OMIT_MS) return;
    if (this.start < 0) this.start = now;
    else this.bytes += n; // bytes that arrived after `start`
  }

  private total = 0;

  report(): { bytes: number; seconds: number; totalBytes: number; totalSeconds: number } {
    return {
      bytes: this.bytes,
      seconds: Math.max(1e-9, (this.last - this.start) / 1000),
      totalBytes: this.total,
      totalSeconds: Math.max(1e-9, (this.last - this.first) / 1000),
    };
  }
}

/** Counts datagrams; ACKs with the running count; echoes 64-byte probes; reports when stdin closes. */
async function udpRecv(): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize(8 * 1024 * 1024);
  let count = 0;
  const meter = new SteadyMeter();
  const ack = Buffer.alloc(8);
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (msg.length <= 64) {
      // a ping-pong probe: echo it
      sock.send(msg, rinfo.port, rinfo.address);
      return;
    }
    meter.add(msg.length);
    count++;
    // ACK every 32 small datagrams, every 4 large ones (the sender's window is in bytes).
    if (count % (msg.length > 8192 ? 4 : 32) === 0) {
      ack.writeDoubleBE(count, 0);
      sock.send(ack, rinfo.port, rinfo.address);
    }
  });
  say({ port: sock.address().port });
  process.stdin.resume();
  await once(process.stdin, 'end');
  say({ ...meter.report(), count });
  sock.close();
}

/**
 * Blasts datagrams of --size bytes for --seconds with at most --window outstanding
 * (sent minus acknowledged), in synchronous bursts; a stalled window (lost datagrams)
 * is reopened after 100 ms (long enough that a descheduled receiver is not taken for loss).
 */
async function udpSend(): Promise<void> {
  const size = Number(arg('size'));
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  // Within the receiver's socket buffer (4 MiB here; a datagram costs about twice its
  // size in kernel memory), so the ceiling is not spoiled by self-inflicted drops.
  const window = Math.max(16, Math.min(512, Math.floor((1536 * 1024) / size)));
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setSendBufferSize(8 * 1024 * 1024);
  sock.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const payload = Buffer.alloc(size, 0xab);
  let sent = 0;
  let acked = 0;
  let lastProgress = performance.now();
  const end = performance.now() + seconds * 1000;
  let done = false;
  const pump = (): void => {
    if (done) return;
    if (performance.now() >= end) {
      done = true;
      return;
    }
    while (sent - acked < window) {
      sock.send(payload);
      sent++;
    }
  };
  sock.on('message', (m: Buffer) => {
    const n = m.readDoubleBE(0);
    if (n > acked) {
      acked = n;
      lastProgress = performance.now();
    }
    pump();
  });
  const stall = setInterval(() => {
    if (performance.now() - lastProgress > 100) {
      acked = sent; // assume the outstanding datagrams were lost
      lastProgress = performance.now();
      pump();
    }
  }, 10);
  pump();
  while (!done) await new Promise((r) => setTimeout(r, 50));
  clearInterval(stall);
  say({ sent });
  sock.close();
}

/** Overlay host 10.77.0.3 listening on 5001; counts bytes; echoes with --echo. */
async function tcpServer(): Promise<void> {
  const mtu = Number(arg('mtu'));
  const echo = process.argv.includes('--echo');
  const host = await Host.create({ address: '10.77.0.3', mtu, learn: true, recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024 });
  const server = createServer({ host, noDelay: echo }, (s: Socket) => {
    if (echo) {
      s.pipe(s);
      return;
    }
    const meter = new SteadyMeter();
    s.on('data', (d: Buffer) => meter.add(d.length));
    s.on('end', () => {
      const info = s.getInfo();
      say({ ...meter.report(), retransmits: info ? Object.values(info.retransmits).reduce((a, b) => a + b, 0) : -1 });
    });
  });
  await new Promise<void>((r) => server.listen(5001, r));
  say({ port: host.endpoint.port });
  process.stdin.resume();
  await once(process.stdin, 'end');
  await host.close();
}

/** Overlay host 10.77.0.2: one connection, writes for --seconds with backpressure, then ends. */
async function tcpClient(): Promise<void> {
  const mtu = Number(arg('mtu'));
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const host = await Host.create({
    address: '10.77.0.2',
    mtu,
    peers: [{ prefix: '10.77.0.3/32', endpoint: { address: '127.0.0.1', port } }],
    recvBufferSize: 8 * 1024 * 1024,
    sendBufferSize: 8 * 1024 * 1024,
  });
  const s = connect({ via: host, host: '10.77.0.3', port: 5001 });
  s.resume(); // read the server's FIN, so the socket can close
  await once(s, 'connect');
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    if (!s.write(chunk)) await once(s, 'drain');
  }
  s.end();
  await once(s, 'close');
  say({ written: s.bytesWritten });
  await host.close();
}

// ---------------------------------------------------------------- orchestration

/** [sender CPU, receiver CPU] when both legs of each comparison are pinned. */
let pins: [number, number] | undefined;

function child(role: string, args: string[] = [], cpu?: number): Child {
  return spawnRole(SELF, role, args, [], cpu);
}

const timeout = withTimeout;

async function rawUdp(size: number, seconds: number): Promise<{ mbs: number; wholeMbs: number }> {
  const rx = child('udp-recv', [], pins?.[1]);
  const { port } = await rx.next();
  const tx = child('udp-send', ['--size', String(size), '--seconds', String(seconds + OMIT_MS / 1000), '--port', String(port)], pins?.[0]);
  await timeout(tx.next(), (seconds + 10) * 1000, 'raw UDP sender');
  await new Promise((r) => setTimeout(r, 100));
  rx.proc.stdin!.end();
  const r = await timeout(rx.next(), 5000, 'raw UDP receiver');
  return { mbs: r.bytes! / r.seconds! / MB, wholeMbs: r.totalBytes! / r.totalSeconds! / MB };
}

async function overlayBulk(mtu: number, seconds: number): Promise<{ mbs: number; wholeMbs: number; retransmits: number }> {
  const rx = child('tcp-server', ['--mtu', String(mtu)], pins?.[1]);
  const { port } = await rx.next();
  const tx = child('tcp-client', ['--mtu', String(mtu), '--seconds', String(seconds + OMIT_MS / 1000), '--port', String(port)], pins?.[0]);
  const r = await timeout(rx.next(), (seconds + 20) * 1000, 'overlay TCP transfer');
  await timeout(tx.next(), 10_000, 'overlay TCP sender close');
  rx.proc.stdin!.end();
  return { mbs: r.bytes! / r.seconds! / MB, wholeMbs: r.totalBytes! / r.totalSeconds! / MB, retransmits: r.retransmits! };
}

/**
 * Ping-pong rounds not counted, raw and overlay alike: most of the overlay's slow rounds
 * (over 700 us) fell in its first 1000-2000 rounds, while V8 compiled the stack's paths.
 */
const WARMUP_PROBES = 2000;

/**
 * Round-trip times (us, sorted) of `rounds` exchanges after WARMUP_PROBES not counted:
 * `send()` sends a probe, and `onReply` registers the callback for each echo.
 */
function timeRounds(rounds: number, send: () => void, onReply: (reply: () => void) => void): Promise<number[]> {
  const rtts: number[] = [];
  return new Promise((resolve) => {
    let t0 = performance.now();
    onReply(() => {
      rtts.push((performance.now() - t0) * 1000);
      if (rtts.length >= WARMUP_PROBES + rounds) return resolve(rtts.slice(WARMUP_PROBES).sort((a, b) => a - b));
      t0 = performance.now();
      send();
    });
    send();
  });
}

async function pingPongRaw(rounds: number): Promise<number[]> {
  const rx = child('udp-recv');
  const { port } = await rx.next();
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.connect(port!, '127.0.0.1');
  await once(sock, 'connect');
  const probe = Buffer.alloc(64);
  const rtts = await timeRounds(
    rounds,
    () => sock.send(probe),
    (reply) => sock.on('message', reply),
  );
  sock.close();
  rx.proc.stdin!.end();
  await rx.next();
  return rtts;
}

async function pingPongOverlay(rounds: number): Promise<number[]> {
  const rx = child('tcp-server', ['--mtu', '1472', '--echo']);
  const { port } = await rx.next();
  const host = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.3/32', endpoint: { address: '127.0.0.1', port: port! } }] });
  const s = connect({ via: host, host: '10.77.0.3', port: 5001, noDelay: true });
  await once(s, 'connect');
  const msg = Buffer.alloc(64, 1);
  const rtts = await timeRounds(
    rounds,
    () => s.write(msg),
    (reply) => {
      // A 64-byte echo may arrive in pieces: one reply per 64 bytes.
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got < 64) return;
        got -= 64;
        reply();
      });
    },
  );
  s.destroy();
  await host.close();
  rx.proc.stdin!.end();
  return rtts;
}

export async function run(opts: { seconds?: number; rounds?: number; pin?: boolean } = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 5;
  // The machine is shared: its speed drifts over tens of seconds. So raw and overlay runs
  // alternate, each round gives one ratio, and the table shows the median and the range.
  const rounds = opts.rounds ?? 3;
  pins = opts.pin === false ? undefined : pinnableCpus();
  process.stderr.write(pins ? `tcp: senders pinned to CPU ${pins[0]}, receivers to CPU ${pins[1]} (raw and overlay alike)\n` : 'tcp: processes not pinned\n');
  const rows: Row[] = [];
  try {
    for (const mtu of [1472, 65000]) {
      const raws: number[] = [];
      const tcps: number[] = [];
      const ratios: number[] = [];
      const wholeRatios: number[] = [];
      let retransmits = 0;
      for (let r = 0; r < rounds; r++) {
        const raw = await rawUdp(mtu, seconds);
        const tcp = await overlayBulk(mtu, seconds);
        raws.push(raw.mbs);
        tcps.push(tcp.mbs);
        ratios.push(tcp.mbs / raw.mbs);
        wholeRatios.push(tcp.wholeMbs / raw.wholeMbs);
        retransmits += tcp.retransmits;
      }
      const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
      rows.push({ test: 'raw UDP ceiling', mtu, 'MB/s': median(raws), ratio: 1 });
      rows.push({
        test: `overlay TCP bulk, 1 connection (${rounds} rounds)`,
        mtu,
        'MB/s': median(tcps),
        ratio: median(ratios),
        'ratio range': range,
        'ratio incl. warm-up': median(wholeRatios),
        retransmits,
      });
    }
    const probes = 5000;
    const raw = await pingPongRaw(probes);
    const ovl = await pingPongOverlay(probes);
    rows.push({ test: 'ping-pong raw dgram', mtu: 1472, 'p50 us': percentile(raw, 50), 'p99 us': percentile(raw, 99) });
    rows.push({ test: 'ping-pong overlay TCP noDelay (64 B)', mtu: 1472, 'p50 us': percentile(ovl, 50), 'p99 us': percentile(ovl, 99), ratio: percentile(ovl, 50) / percentile(raw, 50) });
    // The CLI path as users run it, as a ratio to the API path (bench/cli-path.ts).
    rows.push(await cliPathRow({ pins }));
  } finally {
    killChildren();
  }
  return rows;
}

// ---------------------------------------------------------------- entry

const ROLES: Record<string, () => Promise<void>> = {
  'udp-recv': udpRecv,
  'udp-send': udpSend,
  'tcp-server': tcpServer,
  'tcp-client': tcpClient,
};

if (process.argv[1] === SELF) {
  const role = process.argv.includes('--role') ? arg('role') : undefined;
  if (role) {
    const f = ROLES[role];
    if (!f) throw new Error(`unknown role ${role}`);
    f().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`bench ${role}: ${e.message}\n`);
        process.exit(1);
      },
    );
  } else {
    const seconds = process.argv.includes('--seconds') ? Number(arg('seconds')) : undefined;
    const rounds = process.argv.includes('--rounds') ? Number(arg('rounds')) : undefined;
    const { formatTable } = await import('./main.js');
    const rows = await run({ ...(seconds ? { seconds } : {}), ...(rounds ? { rounds } : {}), pin: !process.argv.includes('--no-pin') });
    process.stdout.write(formatTable(rows) + '\n');
    process.exit(0);
  }
}
