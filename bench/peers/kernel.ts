/**
 * Kernel TCP through node:net on loopback (MTU 65536, GSO/GRO): the reference the overlay
 * is compared with at large MTUs. No UDP socket, so no kernel UDP drops to count.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { arg, per64Bytes, pingReport, runRoleIfMain, say, sendFor, SteadyMeter, StdinLines } from '../lib/measure.js';
import { runBulk, runPing, type Peer } from '../lib/peer.js';

const SELF = fileURLToPath(import.meta.url);

async function netRecv(): Promise<void> {
  const stdin = new StdinLines();
  const echo = process.argv.includes('--echo');
  const meter = new SteadyMeter();
  const server = createServer((s: Socket) => {
    s.on('error', () => {});
    if (echo) {
      s.setNoDelay(true);
      s.pipe(s);
      return;
    }
    s.on('data', (d: Buffer) => meter.add(d.length));
    s.on('end', () => meter.finish());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  say({ port: (server.address() as { port: number }).port });
  await stdin.ended;
  say({ ...meter.report() });
  server.close();
}

async function netSend(): Promise<void> {
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const s = createConnection(port, '127.0.0.1');
  s.resume();
  await once(s, 'connect');
  const meter = await sendFor(s, seconds);
  say({ ...meter.report() });
}

async function netPing(): Promise<void> {
  const port = Number(arg('port'));
  const rounds = Number(arg('rounds'));
  const s = createConnection(port, '127.0.0.1');
  s.setNoDelay(true);
  await once(s, 'connect');
  const msg = Buffer.alloc(64, 1);
  say(await pingReport(rounds, () => s.write(msg), per64Bytes(s)));
  s.destroy();
}

export function kernelTcpPeer(): Peer {
  return {
    label: 'kernel TCP (node:net, loopback)',
    bulk: (_size, seconds, pins) => runBulk({ script: SELF, rx: { role: 'net-recv' }, tx: { role: 'net-send' } }, seconds, pins),
    ping: (rounds, pins) => runPing(SELF, { role: 'net-recv', args: ['--echo'] }, { role: 'net-ping' }, rounds, pins),
  };
}

runRoleIfMain(import.meta.url, { 'net-recv': netRecv, 'net-send': netSend, 'net-ping': netPing });
