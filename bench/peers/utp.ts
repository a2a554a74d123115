/**
 * utp-native (libutp, BitTorrent's uTP, in C), as a peer in the TCP bench: one connection
 * between two processes through its net-like API, 8 MiB socket buffers, libutp's own
 * packet size. It reports no retransmission counts.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import { kernelUdpStats } from '../../src/link/kernel-udp.js';
import { arg, per64Bytes, pingReport, runRoleIfMain, say, sendFor, SteadyMeter, StdinLines } from '../lib/measure.js';
import { runBulk, runPing, type Peer } from '../lib/peer.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const require = createRequire(import.meta.url);

/* The parts of utp-native's API used here (it ships no types). */
interface Utp extends NodeJS.EventEmitter {
  listen(port: number, host: string, cb: () => void): void;
  connect(port: number, host: string): Duplex;
  address(): { port: number };
  setRecvBufferSize(n: number): number;
  setSendBufferSize(n: number): number;
  close(cb?: () => void): void;
}
type UtpModule = ((opts?: object) => Utp) & { createServer(cb: (c: Duplex) => void): Utp };

export function utpUnavailable(): string | undefined {
  try {
    require('utp-native');
    return undefined;
  } catch (e) {
    return `utp-native does not load here (${(e as Error).message.split('\n')[0]}); npm install -D utp-native`;
  }
}

const utp = (): UtpModule => require('utp-native') as UtpModule;
const drops = (u: Utp): number => kernelUdpStats('127.0.0.1', u.address().port)?.drops ?? 0;

function buffers(u: Utp): void {
  u.setRecvBufferSize(8 * MiB);
  u.setSendBufferSize(8 * MiB);
}

/** Counts bytes (or echoes with --echo). */
async function utpRecv(): Promise<void> {
  const stdin = new StdinLines();
  const echo = process.argv.includes('--echo');
  const meter = new SteadyMeter();
  const server = utp().createServer((c) => {
    c.on('error', () => {});
    if (echo) {
      c.pipe(c);
      return;
    }
    c.on('data', (d: Buffer) => meter.add(d.length));
    c.on('end', () => {
      meter.finish();
      c.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  buffers(server);
  say({ port: server.address().port });
  await stdin.ended;
  say({ ...meter.report(), kernelDrops: drops(server) });
  server.close();
}

async function utpSend(): Promise<void> {
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const u = utp()();
  const c = u.connect(port, '127.0.0.1');
  buffers(u);
  c.on('data', () => {});
  await once(c, 'connect');
  const meter = await sendFor(c, seconds);
  say({ ...meter.report(), kernelDrops: drops(u) });
  u.close();
}

async function utpPing(): Promise<void> {
  const port = Number(arg('port'));
  const rounds = Number(arg('rounds'));
  const u = utp()();
  const c = u.connect(port, '127.0.0.1');
  await once(c, 'connect');
  const msg = Buffer.alloc(64, 1);
  say(await pingReport(rounds, () => c.write(msg), per64Bytes(c)));
  c.destroy();
  u.close();
}

export function utpPeer(): Peer {
  const skip = utpUnavailable();
  return {
    label: 'utp-native 2.5 (libutp), 8 MiB buffers',
    ...(skip && { skip }),
    bulk: (_size, seconds, pins) => runBulk({ script: SELF, rx: { role: 'utp-recv' }, tx: { role: 'utp-send' } }, seconds, pins),
    ping: (rounds, pins) => runPing(SELF, { role: 'utp-recv', args: ['--echo'] }, { role: 'utp-ping' }, rounds, pins),
  };
}

runRoleIfMain(import.meta.url, { 'utp-recv': utpRecv, 'utp-send': utpSend, 'utp-ping': utpPing });
