/**
 * Buffers the secure mode writes over. The sender seals each data message into the buffer
 * of the previous one once the link reports it released (SecureIo.transmit returning true; SecureLink: node:dgram sent
 * it at once, nothing queued). These run real transfers in child processes: as node
 * normally sends one datagram per call (nearly every datagram reused), in UDP GSO trains (a
 * full-size datagram waits in the train, so it is not released), and with --test-udp-no-try-send, where
 * node queues every datagram in libuv with a reference to its buffer, as it does when the
 * socket buffer is full. A buffer reused while queued would go out overwritten: B would
 * drop it (bad_mac, replay) and the transfer would need retransmissions. The receiver
 * opens datagrams from the socket in place; taps and deliver() keep theirs unchanged.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Host } from '../../src/host/host.js';
import { newKeyPair } from '../../src/secure/keys.js';
import type { SecureLink } from '../../src/secure/secure-link.js';

const CHILD = fileURLToPath(new URL('../helpers/secure-transfer.js', import.meta.url));

interface Result {
  intact: boolean;
  sealed: number;
  reused: number;
  dropsA: Record<string, number>;
  dropsB: Record<string, number>;
  tapped: number;
  tapChanged: number;
  tappedIn: number;
  tapInChanged: number;
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

  it('sent at once (node as usual, offload off): nearly every data message reuses the previous buffer, and all arrive intact', async () => {
    const r = await transfer([], ['--no-offload']);
    expect(r.intact).to.equal(true);
    expect(r.dropsB, 'nothing dropped at B').to.deep.equal({});
    expect(r.sealed).to.be.greaterThan(2900); // 4 MiB in 1400-byte segments
    expect(r.reused / r.sealed).to.be.greaterThan(0.9);
  });

  it('gathered into UDP GSO trains (the default): a full-size datagram waiting in a train is never reused, none goes out overwritten', async () => {
    const r = await transfer([]);
    expect(r.intact).to.equal(true);
    expect(r.dropsB, 'no bad_mac or replay drops at B').to.deep.equal({});
    expect(r.sealed).to.be.greaterThan(2900);
    // Only what left alone (a short last segment, say) was released at once: few reuses.
    expect(r.reused / r.sealed).to.be.below(0.1);
  });

  it('queued by libuv (--test-udp-no-try-send): no buffer is reused, none goes out overwritten', async () => {
    const r = await transfer(['--test-udp-no-try-send'], ['--no-offload']);
    expect(r.intact).to.equal(true);
    expect(r.dropsB, 'no bad_mac or replay drops at B').to.deep.equal({});
    expect(r.sealed).to.be.greaterThan(2900);
    expect(r.reused).to.equal(0);
  });

  it('with outer taps (--pcap-outer) every datagram a tap saw keeps its bytes: A seals none into a reused buffer, B opens none in place', async () => {
    const r = await transfer([], ['--tap']);
    expect(r.intact).to.equal(true);
    expect(r.tapped).to.be.greaterThan(2900);
    expect(r.tapChanged).to.equal(0);
    expect(r.reused).to.equal(0);
    expect(r.tappedIn).to.be.greaterThan(2900);
    expect(r.tapInChanged, 'datagrams B received and its tap kept').to.equal(0);
  });
});

describe('secure: a datagram injected with SecureLink.deliver() is never opened in place', function () {
  this.timeout(20_000);
  it("B opens a replayed copy (then drops it as a replay) and the caller's buffer keeps its bytes", async () => {
    const ka = newKeyPair();
    const kb = newKeyPair();
    const b = await Host.create({ address: '10.77.0.3', key: kb.privateKey, peers: [{ prefix: '10.77.0.2', endpoint: { address: '127.0.0.1', port: 9 }, publicKey: ka.publicKey }] });
    const a = await Host.create({ address: '10.77.0.2', key: ka.privateKey, peers: [{ prefix: '10.77.0.3', endpoint: b.endpoint, publicKey: kb.publicKey }] });
    try {
      const sent: Buffer[] = []; // data messages with a payload (not keepalives)
      (a.link as SecureLink).addOuterTap((dir, d) => void (dir === 'out' && d.readUInt32LE(0) === 4 && d.length > 32 && sent.push(Buffer.from(d))));
      await a.ping('10.77.0.3', { seq: 1, timeoutMs: 5000 });
      const linkB = b.link as SecureLink;
      const opened = linkB.secureStats.opened;
      // A buffer of its own, exactly the datagram's size, as node:dgram's are.
      const d = Buffer.from(new Uint8Array(sent.at(-1)!).buffer);
      expect([d.byteOffset, d.buffer.byteLength]).to.deep.equal([0, d.length]);
      const copy = Buffer.from(d);
      linkB.deliver(d, a.endpoint); // synchronous, as the socket's receive path
      expect(linkB.secureStats.drops.get('replay')).to.equal(1);
      expect(linkB.secureStats.opened).to.equal(opened);
      expect(d.equals(copy), 'the injected buffer is unchanged').to.equal(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
