/**
 * udx-native (Holepunch's reliable, congestion-controlled streams over UDP, in C), as a
 * peer in the TCP bench: one stream between two processes, 8 MiB socket buffers. udx has
 * no handshake: each end connects its stream to the other's port and stream id, so the
 * parent passes the sender's port to the receiver before the sender starts. The packet
 * size is udx's own (its MTU probing); the sender reports it with its RTO count and
 * retransmissions.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { kernelUdpStats } from '../../src/link/kernel-udp.js';
import { arg, per64Bytes, pingReport, runRoleIfMain, say, sendFor, SteadyMeter, StdinLines } from '../lib/measure.js';
import { runBulk, runPing, type Peer } from '../lib/peer.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const require = createRequire(import.meta.url);

/* The parts of udx-native's API used here (it ships no types). */
interface UdxSocket {
  bind(port: number, host: string): void;
  address(): { port: number };
  setRecvBufferSize(n: number): number;
  setSendBufferSize(n: number): number;
  close(): Promise<void>;
}
interface UdxStream extends NodeJS.EventEmitter {
  id: number;
  connect(socket: UdxSocket, remoteId: number, port: number, host: string): void;
  write(b: Buffer): boolean;
  end(b?: Buffer): void;
  destroy(): void;
  readonly mtu: number;
  readonly rtoCount: number;
  readonly retransmits: number;
}
interface Udx {
  createSocket(): UdxSocket;
  createStream(id: number): UdxStream;
}

/** Undefined when udx-native loads here, else why not. */
export function udxUnavailable(): string | undefined {
  try {
    require('udx-native');
    return undefined;
  } catch (e) {
    return `udx-native does not load here (${(e as Error).message.split('\n')[0]}); npm install -D udx-native`;
  }
}

function open(): { udx: Udx; socket: UdxSocket } {
  const UDX = require('udx-native') as new () => Udx;
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(0, '127.0.0.1');
  socket.setRecvBufferSize(8 * MiB);
  socket.setSendBufferSize(8 * MiB);
  return { udx, socket };
}

const drops = (s: UdxSocket): number => kernelUdpStats('127.0.0.1', s.address().port)?.drops ?? 0;

/** Stream 1: counts bytes (or echoes with --echo) from the sender's stream 2. */
async function udxRecv(): Promise<void> {
  const stdin = new StdinLines();
  const echo = process.argv.includes('--echo');
  const { udx, socket } = open();
  say({ port: socket.address().port });
  const { peerPort } = JSON.parse(await stdin.next()) as { peerPort: number };
  const stream = udx.createStream(1);
  stream.connect(socket, 2, peerPort, '127.0.0.1');
  const meter = new SteadyMeter();
  stream.on('data', (d: Buffer) => (echo ? stream.write(d) : meter.add(d.length)));
  stream.on('end', () => {
    meter.finish();
    stream.end();
  });
  stream.on('error', () => {});
  say({ ready: 1 });
  await stdin.ended;
  say({ ...meter.report(), kernelDrops: drops(socket) });
  stream.destroy();
  await socket.close();
}

/** Stream 2 to the receiver's stream 1: writes for --seconds with backpressure, then ends. */
async function udxSend(): Promise<void> {
  const stdin = new StdinLines();
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const { udx, socket } = open();
  say({ port: socket.address().port });
  await stdin.next(); // "go": the receiver's stream is connected
  const stream = udx.createStream(2);
  stream.connect(socket, 1, port, '127.0.0.1');
  stream.on('data', () => {});
  const meter = await sendFor(stream, seconds);
  say({ ...meter.report(), rto: stream.rtoCount, otherRetransmits: stream.retransmits, packet: stream.mtu, kernelDrops: drops(socket) });
  await socket.close();
}

/** 64-byte ping-pong against udx-recv --echo. */
async function udxPing(): Promise<void> {
  const stdin = new StdinLines();
  const port = Number(arg('port'));
  const rounds = Number(arg('rounds'));
  const { udx, socket } = open();
  say({ port: socket.address().port });
  await stdin.next();
  const stream = udx.createStream(2);
  stream.connect(socket, 1, port, '127.0.0.1');
  const msg = Buffer.alloc(64, 1);
  say(await pingReport(rounds, () => stream.write(msg), per64Bytes(stream)));
  stream.destroy();
  await socket.close();
}

export function udxPeer(): Peer {
  const skip = udxUnavailable();
  return {
    label: 'udx-native 1.21, 8 MiB buffers',
    ...(skip && { skip }),
    bulk: (_size, seconds, pins) => runBulk({ script: SELF, rx: { role: 'udx-recv' }, tx: { role: 'udx-send' }, exchangePorts: true }, seconds, pins),
    ping: (rounds, pins) => runPing(SELF, { role: 'udx-recv', args: ['--echo'] }, { role: 'udx-ping' }, rounds, pins, true),
  };
}

runRoleIfMain(import.meta.url, { 'udx-recv': udxRecv, 'udx-send': udxSend, 'udx-ping': udxPing });
