/**
 * Raw node:dgram, the ceiling for any JavaScript transport over UDP: a sender blasting
 * datagrams of one size with a simple windowed flow control (the receiver ACKs a running
 * count), unconnected (`send(buf, port, addr)`: the reference, ratio 1) or on a connected
 * socket. The receiver echoes datagrams of 64 bytes or less (ping-pong).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { kernelUdpStats } from '../../src/link/kernel-udp.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { arg, GcRecorder, pingReport, runRoleIfMain, say, SenderMeter, SteadyMeter, StdinLines } from '../lib/measure.js';
import { runBulk, runPing, type Peer } from '../lib/peer.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

function drops(sock: Socket): number {
  const a = sock.address();
  return kernelUdpStats(a.address, a.port)?.drops ?? 0;
}

async function bound(): Promise<Socket> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize(8 * MiB);
  sock.setSendBufferSize(8 * MiB);
  return sock;
}

/** Counts datagrams; ACKs with the running count; echoes 64-byte probes; reports when stdin ends. */
async function udpRecv(): Promise<void> {
  const stdin = new StdinLines();
  const sock = await bound();
  const gc = process.argv.includes('--gc') ? new GcRecorder(PerformanceObserver) : undefined;
  let count = 0;
  const meter = new SteadyMeter();
  const ack = Buffer.alloc(8);
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (msg.length <= 64) {
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
  await stdin.ended;
  say({ ...meter.report(), count, kernelDrops: drops(sock), ...(gc && { pauses: gc.pauses }) });
  sock.close();
}

/**
 * Blasts datagrams of --size bytes for --seconds with at most a window outstanding (sent
 * minus acknowledged), in synchronous bursts; a stalled window (lost datagrams) is
 * reopened after 100 ms.
 */
async function udpSend(): Promise<void> {
  const size = Number(arg('size'));
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const connected = process.argv.includes('--connected');
  // Within the receiver's socket buffer (8 MiB granted, 2304 bytes of kernel memory per
  // 1472-byte datagram), so the ceiling is not spoiled by self-inflicted drops.
  const window = Math.max(16, Math.min(512, Math.floor((1536 * 1024) / size)));
  const sock = await bound();
  if (connected) {
    sock.connect(port, '127.0.0.1');
    await once(sock, 'connect');
  }
  const payload = Buffer.alloc(size, 0xab);
  const meter = new SenderMeter();
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
    let n = 0;
    while (sent - acked < window) {
      if (connected) sock.send(payload);
      else sock.send(payload, port, '127.0.0.1');
      sent++;
      n++;
    }
    meter.sent(n * size);
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
  say({ ...meter.report(), sent, kernelDrops: drops(sock) });
  sock.close();
}

/** 64-byte ping-pong against udp-recv's echo, on a connected socket. */
async function udpPing(): Promise<void> {
  const port = Number(arg('port'));
  const rounds = Number(arg('rounds'));
  const sock = await bound();
  sock.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const probe = Buffer.alloc(64);
  say(await pingReport(rounds, () => sock.send(probe), (reply) => sock.on('message', reply)));
  sock.close();
}

export function dgramPeer(connected: boolean): Peer {
  return {
    label: connected ? 'raw dgram, connected socket' : 'raw dgram, unconnected send(buf, port, addr)',
    bulk: (size, seconds, pins) =>
      runBulk({ script: SELF, rx: { role: 'udp-recv' }, tx: { role: 'udp-send', args: ['--size', String(size), ...(connected ? ['--connected'] : [])] } }, seconds, pins),
    ...(connected ? {} : { ping: (rounds: number, pins: [number, number] | undefined) => runPing(SELF, { role: 'udp-recv' }, { role: 'udp-ping' }, rounds, pins) }),
  };
}

runRoleIfMain(import.meta.url, { 'udp-recv': udpRecv, 'udp-send': udpSend, 'udp-ping': udpPing });
