/**
 * The secure sender seals each data message into the buffer of the previous one once the
 * link reports it released (SecureIo.transmit returning true; SecureLink: node:dgram sent
 * it at once, nothing queued). These run real transfers in child processes: as node
 * normally sends (nearly every datagram reused), and with --test-udp-no-try-send, where
 * node queues every datagram in libuv with a reference to its buffer, as it does when the
 * socket buffer is full. A buffer reused while queued would go out overwritten: B would
 * drop it (bad_mac, replay) and the transfer would need retransmissions.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../helpers/secure-transfer.js', import.meta.url));

interface Result {
  intact: boolean;
  sealed: number;
  reused: number;
  dropsA: Record<string, number>;
  dropsB: Record<string, number>;
  tapped: number;
  tapChanged: number;
}

async function transfer(nodeArgs: string[], args: string[] = []): Promise<Result> {
  const child = spawn(process.execPath, [...nodeArgs, CHILD, '--bytes', String(4 << 20), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  try {
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code, err).to.equal(0);
    return JSON.parse(out.trim()) as Result;
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
}

describe('secure: datagram buffers reused only once node:dgram released them', function () {
  this.timeout(60_000);

  it('sent at once (node as usual): nearly every data message reuses the previous buffer, and all arrive intact', async () => {
    const r = await transfer([]);
    expect(r.intact).to.equal(true);
    expect(r.dropsB, 'nothing dropped at B').to.deep.equal({});
    expect(r.sealed).to.be.greaterThan(2900); // 4 MiB in 1400-byte segments
    expect(r.reused / r.sealed).to.be.greaterThan(0.9);
  });

  it('queued by libuv (--test-udp-no-try-send): no buffer is reused, none goes out overwritten', async () => {
    const r = await transfer(['--test-udp-no-try-send']);
    expect(r.intact).to.equal(true);
    expect(r.dropsB, 'no bad_mac or replay drops at B').to.deep.equal({});
    expect(r.sealed).to.be.greaterThan(2900);
    expect(r.reused).to.equal(0);
  });

  it('with an outer tap (--pcap-outer) every datagram the tap saw keeps its bytes', async () => {
    const r = await transfer([], ['--tap']);
    expect(r.intact).to.equal(true);
    expect(r.tapped).to.be.greaterThan(2900);
    expect(r.tapChanged).to.equal(0);
    expect(r.reused).to.equal(0);
  });
});
