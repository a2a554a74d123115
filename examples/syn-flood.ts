/**
 * The lecture's denial-of-service demo: a SYN flood against a listener with a small
 * backlog, and SYN cookies (RFC 4987) keeping it reachable.
 *
 *   node dist/examples/syn-flood.js                       the demo, all in this process
 *   node dist/examples/syn-flood.js --syns 50000 --rate 25000 --backlog 8
 *
 * What happens:
 *   1. The server (10.77.0.3) listens on port 7 (echo) with a small backlog.
 *   2. A flooder sends SYNs from random spoofed sources in 10.77.0.0/16. The server's peer
 *      table routes 10.77.0.0/16 to the flooder's UDP socket (and only 10.77.0.2/32 to the
 *      real client), so anti-spoofing accepts the flood: it arrives exactly as a flood
 *      from a whole subnet behind one router would. The SYN-ACKs go back to the flooder,
 *      which never answers them.
 *   3. Half-open connections fill the SYN queue; once it is full the listener stops
 *      keeping state and answers with SYN cookies: the ISN *is* the state.
 *   4. The legitimate client (10.77.0.2) connects during the flood, its ACK returns the
 *      cookie, the server rebuilds the connection from it, and the echo works.
 *
 * The same file is the flood helper the integration test runs in a child process:
 *
 *   node dist/examples/syn-flood.js --role flooder --target 127.0.0.1:PORT --syns N --rate R
 *
 * prints "flooder udp=127.0.0.1:P" on stderr, waits for a line on stdin (time for the
 * victim to add its route to P), floods, prints "flood sent=N ms=T synacks=K" on stdout.
 *
 * Every flood is bounded in count and time; traffic goes only to 127.0.0.1.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, usage } from '../src/cli/args.js';
import { Xoshiro128 } from '../src/chaos/prng.js';
import { inventory } from '../src/metrics/inventory.js';
import { connect, createServer, TcpStack, type Socket } from '../src/net.js';
import { UsageError } from '../src/util/errors.js';
import { parseIpv4, parsePrefix, prefixMask } from '../src/wire/addr.js';
import { encodeTcpPacket, SYN } from '../src/wire/tcp.js';
import { CLIENT, SERVER, hostPair, intFlag, runExample } from './lib/setup.js';

export interface FloodOptions {
  /** The victim host's real UDP endpoint. */
  target: { address: string; port: number };
  /** The victim's overlay address and TCP port. */
  dst: number;
  dstPort: number;
  /** Spoofed sources are drawn from this prefix ("10.77.0.0/16"), never from `exclude`. */
  sourcePrefix: string;
  exclude?: number[];
  /** Bounds: at most `count` SYNs, at most `maxMs` milliseconds. */
  count: number;
  maxMs: number;
  /** Target rate, SYNs per second. */
  rate: number;
  seed?: number;
  /** Send from this socket (bound and connected to the target, see flooderSocket); default: a new one. */
  socket?: DgramSocket;
  /** Called once after each burst (progress). */
  onBurst?: (sent: number) => void;
}

export interface FloodResult {
  sent: number;
  elapsedMs: number;
  /** Datagrams that came back to the flooding socket (the victim's SYN-ACKs). */
  replies: number;
}

const BURST = 500;

/**
 * Builds the flood: `count` SYNs from random sources in the prefix (never the network or
 * broadcast address, the victim, or `exclude`), random ports and sequence numbers. Built
 * before the flood starts so the flood's rate is the sending rate.
 */
export function buildSynFlood(o: Pick<FloodOptions, 'dst' | 'dstPort' | 'sourcePrefix' | 'exclude' | 'count' | 'seed'>): Buffer[] {
  const prefix = parsePrefix(o.sourcePrefix);
  if (!prefix) throw new UsageError(`bad source prefix '${o.sourcePrefix}'`);
  const rng = new Xoshiro128(o.seed ?? 1);
  const hostMask = ~prefixMask(prefix.length) >>> 0;
  const exclude = new Set(o.exclude ?? []);
  const out: Buffer[] = new Array(o.count);
  const empty = Buffer.alloc(0);
  for (let i = 0; i < o.count; i++) {
    let src: number;
    do src = (prefix.network | (rng.nextU32() & hostMask)) >>> 0;
    while (exclude.has(src) || src === o.dst || (src & hostMask) === 0 || (src & hostMask) === hostMask);
    const r = rng.nextU32();
    out[i] = encodeTcpPacket(
      { src, dst: o.dst, id: r & 0xffff },
      { srcPort: 1024 + (r % 64000), dstPort: o.dstPort, seq: rng.nextU32(), ack: 0, flags: SYN, window: 64240, urgent: 0, options: { mss: 1460 }, payload: empty },
    );
  }
  return out;
}

/**
 * Sends prebuilt packets at up to `rate` per second, in synchronous bursts with a return
 * to the event loop between them (never an await per packet). Resolves when all were sent
 * or `maxMs` passed. The socket is connected to the target (cheaper sends; it still
 * receives the victim's SYN-ACKs, which are counted).
 */
export async function sendFlood(
  packets: Buffer[],
  sock: DgramSocket,
  o: Pick<FloodOptions, 'rate' | 'maxMs' | 'onBurst'>,
): Promise<FloodResult> {
  let replies = 0;
  const onMessage = (): void => {
    replies++;
  };
  sock.on('message', onMessage);
  const start = performance.now();
  let sent = 0;
  try {
    while (sent < packets.length) {
      const elapsed = performance.now() - start;
      if (elapsed >= o.maxMs) break;
      const allowed = Math.min(packets.length, Math.floor((elapsed / 1000) * o.rate) + BURST) - sent;
      const n = Math.min(BURST, allowed);
      for (let i = 0; i < n; i++) sock.send(packets[sent + i]!);
      sent += n;
      o.onBurst?.(sent);
      // Back to the event loop: timers, replies, and (in-process) the victim itself run.
      await new Promise<void>((resolve) => (n < BURST ? setTimeout(resolve, 1) : setImmediate(resolve)));
    }
  } finally {
    sock.off('message', onMessage);
  }
  return { sent, elapsedMs: performance.now() - start, replies };
}

/** A UDP socket on 127.0.0.1 connected to `target`, with a large send buffer. */
export async function flooderSocket(target: { address: string; port: number }): Promise<DgramSocket> {
  const sock = createSocket('udp4');
  sock.on('error', () => {});
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  try {
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // keep the default
  }
  sock.connect(target.port, target.address);
  await once(sock, 'connect');
  return sock;
}

/** Builds and sends a flood on a fresh socket (or `o.socket`, already connected). */
export async function floodSyns(o: FloodOptions): Promise<FloodResult> {
  const packets = buildSynFlood(o);
  const sock = o.socket ?? (await flooderSocket(o.target));
  try {
    return await sendFlood(packets, sock, o);
  } finally {
    if (!o.socket) sock.close();
  }
}

// ---- the flood helper role (a child process of the integration test) ----

async function flooderRole(argv: string[]): Promise<number> {
  const specs = {
    role: { kind: 'string' as const },
    target: { kind: 'string' as const, description: 'victim UDP endpoint HOST:PORT (127.0.0.x only)' },
    dst: { kind: 'string' as const, default: SERVER.addr },
    port: { kind: 'number' as const, default: 7 },
    prefix: { kind: 'string' as const, default: '10.77.0.0/16' },
    exclude: { kind: 'list' as const },
    syns: { kind: 'number' as const, default: 100_000 },
    rate: { kind: 'number' as const, default: 50_000 },
    'max-ms': { kind: 'number' as const, default: 5000 },
    seed: { kind: 'number' as const, default: 1 },
  };
  const p = parseArgs(argv, specs);
  const targetText = String(p.flags.target ?? '');
  const m = /^(127\.\d+\.\d+\.\d+):(\d+)$/.exec(targetText);
  if (!m) throw new UsageError(`--target must be 127.x.x.x:PORT (loopback only), got '${targetText}'`);
  const dst = parseIpv4(String(p.flags.dst));
  if (dst === undefined) throw new UsageError(`bad --dst '${String(p.flags.dst)}'`);
  const exclude = (p.flags.exclude as string[]).map((a) => {
    const v = parseIpv4(a);
    if (v === undefined) throw new UsageError(`bad --exclude '${a}'`);
    return v;
  });
  const target = { address: m[1]!, port: Number(m[2]) };
  const packets = buildSynFlood({
    dst,
    dstPort: intFlag(p, 'port', 1, 65535),
    sourcePrefix: String(p.flags.prefix),
    exclude,
    count: intFlag(p, 'syns', 1, 10_000_000),
    seed: intFlag(p, 'seed', 0, 0xffffffff),
  });
  const sock = await flooderSocket(target);
  process.stderr.write(`flooder udp=127.0.0.1:${sock.address().port}\n`);
  await once(process.stdin, 'data');
  const r = await sendFlood(packets, sock, { rate: intFlag(p, 'rate', 1, 10_000_000), maxMs: intFlag(p, 'max-ms', 1, 60_000) });
  process.stdout.write(`flood sent=${r.sent} ms=${r.elapsedMs.toFixed(0)} synacks=${r.replies}\n`);
  sock.close();
  process.stdin.destroy();
  return 0;
}

// ---- the demo ----

const demoSpecs = {
  role: { kind: 'string' as const, description: "'demo' (default) or 'flooder' (the test's helper)" },
  syns: { kind: 'number' as const, description: 'SYNs to send (bounded)', default: 30_000 },
  rate: { kind: 'number' as const, description: 'SYNs per second', default: 20_000 },
  backlog: { kind: 'number' as const, description: "the server's backlog (SYN and accept queue)", default: 16 },
  port: { kind: 'number' as const, description: 'the server port (echo)', default: 7 },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

interface ListenerPeek {
  synQueue: number;
  backlog: number;
}

function peekListener(port: number, address: string): ListenerPeek | undefined {
  for (const s of inventory.sources()) {
    for (const l of s.tcpListeners?.() ?? []) if (l.localPort === port && l.localAddress === address) return l;
  }
  return undefined;
}

async function demo(argv: string[]): Promise<number> {
  const p = parseArgs(argv, demoSpecs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/syn-flood.js [options]', demoSpecs));
    return 0;
  }
  const syns = intFlag(p, 'syns', 1, 1_000_000);
  const rate = intFlag(p, 'rate', 1, 1_000_000);
  const backlog = intFlag(p, 'backlog', 1, 65535);
  const port = intFlag(p, 'port', 1, 65535);
  const { a: client, b: server, close } = await hostPair();
  const flooder = await flooderSocket(server.endpoint);
  const fEp = flooder.address();
  // The whole subnet lives behind the flooder's endpoint; the real client keeps its /32.
  server.addPeer('10.77.0.0/16', { address: '127.0.0.1', port: fEp.port });
  const srv = createServer({ host: server }, (s: Socket) => s.pipe(s));
  srv.on('error', () => {});
  srv.listen({ port, backlog });
  await once(srv, 'listening');
  // The listener's SYN-queue limit for this backlog (Listener default: max(backlog, 128)).
  const synLimit = Math.max(backlog, 128);
  console.log(`server ${SERVER.addr}:${port} listening, backlog ${backlog} (accept queue), SYN queue limit ${synLimit}`);
  console.log(`flood: ${syns} SYNs at ${rate}/s from random sources in 10.77.0.0/16 (spoofed), via udp 127.0.0.1:${fEp.port}`);

  let peakSynQueue = 0;
  const sample = setInterval(() => {
    const l = peekListener(port, SERVER.addr);
    if (l && l.synQueue > peakSynQueue) peakSynQueue = l.synQueue;
  }, 5);
  let legit: { ms: number; ok: boolean; error?: string } | undefined;
  let legitStarted = false;
  const stack = TcpStack.for(server);
  let flood: Promise<void> = Promise.resolve();
  const legitDone = new Promise<void>((resolve) => {
    const startLegit = (): void => {
      legitStarted = true;
      const t0 = performance.now();
      console.log(`client ${CLIENT.addr} connects to ${SERVER.addr}:${port} during the flood (SYN queue ${peekListener(port, SERVER.addr)?.synQueue ?? '?'}/${synLimit})`);
      const sock = connect({ via: client, host: SERVER.addr, port }, () => sock.write('hello through the flood'));
      const timer = setTimeout(() => sock.destroy(new Error('no echo within 15 s')), 15_000);
      let got = '';
      sock.on('data', (d: Buffer) => {
        got += d.toString();
        if (got === 'hello through the flood') {
          legit = { ms: performance.now() - t0, ok: true };
          clearTimeout(timer);
          sock.end();
          resolve();
        }
      });
      sock.on('error', (e: Error) => {
        legit = { ms: performance.now() - t0, ok: false, error: e.message };
        clearTimeout(timer);
        resolve();
      });
    };
    flood = floodSyns({
      target: server.endpoint,
      dst: server.address,
      dstPort: port,
      sourcePrefix: '10.77.0.0/16',
      exclude: [client.address],
      count: syns,
      rate,
      maxMs: 30_000,
      socket: flooder,
      onBurst: (sent) => {
        if (!legitStarted && sent >= syns / 4) startLegit();
      },
    }).then((r) => {
      console.log(`flood done: ${r.sent} SYNs in ${r.elapsedMs.toFixed(0)} ms (${Math.round((r.sent / r.elapsedMs) * 1000)}/s), ${r.replies} SYN-ACKs came back to the flooder`);
      if (!legitStarted) startLegit();
    });
  });
  await legitDone;
  // The flood is bounded: let it finish before closing its socket.
  await flood;
  clearInterval(sample);
  const totals = stack.stats();
  const drops = server.snapshot().drops;
  console.log('');
  console.log(`peak SYN queue            ${peakSynQueue} (limit ${synLimit}: beyond it, SYN cookies)`);
  console.log(`SYN cookies issued        ${totals.events.syn_cookie}`);
  console.log(`passive opens             ${totals.events.passive_open}`);
  console.log(`segments in / out         ${totals.segmentsIn} / ${totals.segmentsOut}`);
  console.log(`host drops                ${Object.entries(drops).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  if (legit?.ok) console.log(`legitimate client: connected and echoed in ${legit.ms.toFixed(0)} ms despite the flood`);
  else console.log(`legitimate client: FAILED (${legit?.error ?? 'unknown'})`);
  srv.close();
  flooder.close();
  await close();
  return legit?.ok ? 0 : 1;
}

function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--role');
  const role = i >= 0 ? argv[i + 1] : undefined;
  if (role === 'flooder') return flooderRole(argv);
  if (role !== undefined && role !== 'demo') return Promise.reject(new UsageError(`--role must be 'demo' or 'flooder'`));
  return demo(argv);
}

// argv[1]'s real path: node resolves a symlinked script for import.meta.url, not for argv[1].
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) runExample('syn-flood', main);

