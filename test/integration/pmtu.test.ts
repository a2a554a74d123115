/**
 * Path-MTU discovery end to end: two hosts configured for MTU 1472 talk through the chaos
 * proxy (router mode, real UDP on loopback, a 40 Mbit/s bottleneck), and the proxy's MTU
 * stage shrinks the path in the middle of a 20 MiB transfer, with ICMP "fragmentation
 * needed" on (RFC 1191) and silently dropped (a black hole: RFC 4821 probing). The transfer
 * completes with sha256 equal, the path MTU settles on the real one, and a few seconds after
 * the change goodput is back near what it was before. Also: the path grows back, overlay
 * packets carry DF, and a forged ICMP that matches no segment in flight is ignored and counted.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import { encodeIcmp, ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED } from '../../src/wire/icmp.js';
import { encodeIpv4, IPPROTO_ICMP, IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/addr.js';

const A = '10.77.0.2';
const B = '10.77.0.3';
const MIB = 1024 * 1024;
const TCP = { minRto: 200, maxRto: 2000 };

interface Net {
  a: Host;
  b: Host;
  proxy: Proxy;
}

const hosts: Host[] = [];
const proxies: Proxy[] = [];
const servers: Server[] = [];
const sockets: Socket[] = [];
const udps: UdpSocket[] = [];

async function net(rate = '40mbit'): Promise<Net> {
  const a = await Host.create({ address: A, udp: { address: '127.0.0.1', port: 0 }, mtu: 1472 });
  const b = await Host.create({ address: B, udp: { address: '127.0.0.1', port: 0 }, mtu: 1472 });
  hosts.push(a, b);
  const proxy = await createProxy({
    listen: '127.0.0.1:0',
    learn: false,
    seed: 7,
    peers: { [`${A}/32`]: `127.0.0.1:${a.endpoint.port}`, [`${B}/32`]: `127.0.0.1:${b.endpoint.port}` },
  });
  proxies.push(proxy);
  a.addPeer('10.77.0.0/16', proxy.address());
  b.addPeer('10.77.0.0/16', proxy.address());
  proxy.setImpairment('*', 'both', 'bottleneck', { rate, queue: 200 });
  return { a, b, proxy };
}

/** A server on b that hashes what it receives and counts it with timestamps. */
async function hashServer(b: Host): Promise<{ port: number; received: () => number; digest: Promise<string> }> {
  let received = 0;
  let resolveDigest: (d: string) => void = () => {};
  const digest = new Promise<string>((r) => (resolveDigest = r));
  const server = createServer({ host: b, ...TCP }, (s) => {
    const h = createHash('sha256');
    s.on('data', (d: Buffer) => {
      received += d.length;
      h.update(d);
    });
    s.on('end', () => {
      resolveDigest(h.digest('hex'));
      s.end();
    });
    s.on('error', () => {});
  });
  servers.push(server);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await new Promise<void>((r) => server.listen(port, r));
  return { port, received: () => received, digest };
}

/** Polls `cond` every 20 ms until it holds; rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string, state?: () => unknown): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < ms / 20 + 1; i++) {
    if (cond()) return performance.now();
    await new Promise((r) => setTimeout(r, 20));
  }
  const seen = state ? `; ${JSON.stringify(state())}` : '';
  throw new Error(`timed out after ${ms} ms waiting for ${what} (${(performance.now() - t0).toFixed(0)} ms)${seen}`);
}

interface Shrink {
  mtu: number;
  icmp: boolean;
}

/**
 * Sends `size` bytes from a to b; once `changeAt` bytes have arrived, applies the MTU stage.
 * Returns the goodput before the change, the goodput from `settleMs` after it to the end,
 * the digests and the sender's final TcpInfo.
 */
async function transferWithShrink(n: Net, size: number, changeAt: number, shrink: Shrink, settleMs: number, extra: Record<string, number> = {}) {
  const srv = await hashServer(n.b);
  const data = randomBytes(size);
  const sock = connect({ via: n.a, host: B, port: srv.port, ...TCP, ...extra });
  sockets.push(sock);
  sock.on('error', () => {});
  await once(sock, 'connect');
  const t0 = performance.now();
  sock.end(data);
  const tChange = await until(() => srv.received() >= changeAt, 30_000, `${changeAt} bytes before the change`);
  const before = srv.received();
  n.proxy.setImpairment('*', 'both', 'mtu', { mtu: shrink.mtu, icmp: shrink.icmp });
  let atSettle = -1;
  const settle = setTimeout(() => (atSettle = srv.received()), settleMs);
  const digest = await Promise.race([
    srv.digest,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`transfer not done in 60 s (received ${srv.received()})`)), 60_000).unref()),
  ]);
  clearTimeout(settle);
  const tEnd = performance.now();
  return {
    digest,
    expected: createHash('sha256').update(data).digest('hex'),
    baseline: before / ((tChange - t0) / 1000),
    after: atSettle >= 0 && tEnd - tChange > settleMs + 300 ? (size - atSettle) / ((tEnd - tChange - settleMs) / 1000) : undefined,
    total: (tEnd - t0) / 1000,
    info: sock.getInfo()!,
  };
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
  for (const u of udps.splice(0)) u.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const h of hosts.splice(0)) await h.close();
});

describe('path MTU discovery through the chaos proxy (1472-byte hosts)', function () {
  this.timeout(90_000);

  for (const mtu of [1200, 576]) {
    for (const icmp of [true, false]) {
      it(`path MTU ${mtu}, ICMP ${icmp ? 'on' : 'silently dropped'}: 20 MiB arrive intact, the MSS follows the path, goodput recovers within seconds`, async () => {
        const n = await net();
        let noDf = 0;
        let over = 0;
        n.a.addTap((dir, p) => {
          if (dir !== 'out') return;
          if ((p.readUInt16BE(6) & 0x4000) === 0) noDf++;
          if (p.length > 1472) over++;
        });
        const settleMs = icmp ? 1500 : 3000;
        const r = await transferWithShrink(n, 20 * MIB, 2 * MIB, { mtu, icmp }, settleMs);
        expect(r.digest).to.equal(r.expected);
        expect(noDf, 'overlay packets without DF').to.equal(0);
        expect(over).to.equal(0);
        // The path MTU settled on the real one (probing resolves it to within 8 bytes).
        expect(r.info.pathMtu).to.be.at.most(mtu);
        expect(r.info.pathMtu).to.be.at.least(mtu - 8);
        expect(r.info.mss).to.equal(r.info.pathMtu! - 40 - 12);
        if (icmp) {
          expect(r.info.pmtu!.icmpApplied).to.be.at.least(1);
        } else {
          expect(r.info.pmtu!.icmpApplied).to.equal(0);
          expect(r.info.pmtu!.blackHoles).to.be.at.least(1);
          // It searched upward (at 576, the fallback size, every probe fails).
          expect(r.info.pmtu!.probesSent).to.be.at.least(1);
          if (mtu > 576) expect(r.info.pmtu!.probesAcked).to.be.at.least(1);
        }
        // Goodput a few seconds after the change is near the un-shrunk path's (the bottleneck's).
        const msg = `baseline ${(r.baseline / 1e6).toFixed(2)} MB/s, after ${r.after === undefined ? '-' : (r.after / 1e6).toFixed(2)} MB/s, total ${r.total.toFixed(1)} s`;
        console.log(`      ${msg}`);
        if (r.after !== undefined) expect(r.after, msg).to.be.at.least(0.6 * r.baseline);
        else expect(r.total, msg).to.be.below(20 * MIB / r.baseline + settleMs / 1000 + 1);
      });
    }
  }

  it('the path grows back: after the MTU stage is removed, probing raises the path MTU to the host MTU again', async () => {
    const n = await net();
    const srv = await hashServer(n.b);
    const sock = connect({ via: n.a, host: B, port: srv.port, ...TCP, pathMtuRaiseInterval: 1000 });
    sockets.push(sock);
    sock.on('error', () => {});
    await once(sock, 'connect');
    // Data flows until the test is done (bounded: at most 400 chunks of 256 KiB).
    const sent = createHash('sha256');
    let chunks = 0;
    let stop = false;
    const pump = (): void => {
      while (!stop && chunks < 400) {
        const c = randomBytes(256 * 1024);
        sent.update(c);
        chunks++;
        if (!sock.write(c)) return;
      }
    };
    sock.on('drain', pump);
    pump();
    await until(() => srv.received() >= MIB, 20_000, '1 MiB');
    n.proxy.setImpairment('*', 'both', 'mtu', { mtu: 1200, icmp: false });
    await until(() => (sock.getInfo()?.pathMtu ?? 1472) <= 1200, 15_000, 'the path MTU to fall to 1200', () => sock.getInfo());
    const lowAt = srv.received();
    n.proxy.clearStage('*', 'mtu');
    await until(() => sock.getInfo()?.pathMtu === 1472, 20_000, 'the path MTU to grow back to 1472', () => sock.getInfo());
    stop = true;
    expect(chunks, 'it grew while data was flowing').to.be.below(400);
    expect(srv.received()).to.be.above(lowAt);
    expect(sock.getInfo()!.mss).to.equal(1472 - 40 - 12);
    sock.end();
    expect(await srv.digest).to.equal(sent.digest('hex'));
  });
});

describe('ICMP fragmentation needed is checked against the connection (RFC 5927)', function () {
  this.timeout(30_000);

  /** A blind attacker at 10.77.0.66 with its own UDP socket, routed to host a. */
  async function attacker(a: Host): Promise<(pkt: Buffer) => void> {
    const u = createSocket('udp4');
    udps.push(u);
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', r));
    a.addPeer('10.77.0.66/32', { address: '127.0.0.1', port: u.address().port });
    return (pkt) => u.send(pkt, a.endpoint.port, '127.0.0.1');
  }

  /** ICMP type 3 code 4 from 10.77.0.66 to A quoting a TCP segment A -> B with this seq. */
  function fragNeeded(localPort: number, remotePort: number, seq: number, mtu: number): Buffer {
    const tcp8 = Buffer.alloc(8);
    tcp8.writeUInt16BE(localPort, 0);
    tcp8.writeUInt16BE(remotePort, 2);
    tcp8.writeUInt32BE(seq >>> 0, 4);
    const quoted = encodeIpv4({ src: parseIpv4(A)!, dst: parseIpv4(B)!, protocol: IPPROTO_TCP, id: 1 }, tcp8);
    const icmp = encodeIcmp({ type: ICMP_DEST_UNREACH, code: UNREACH_FRAG_NEEDED, rest: mtu, payload: quoted });
    return encodeIpv4({ src: parseIpv4('10.77.0.66')!, dst: parseIpv4(A)!, protocol: IPPROTO_ICMP, id: 2 }, icmp);
  }

  it('a forged ICMP that quotes no segment in flight is ignored and counted; one that does is applied', async () => {
    const n = await net('1gbit');
    const send = await attacker(n.a);
    const srv = await hashServer(n.b);
    const sock = connect({ via: n.a, host: B, port: srv.port, ...TCP });
    sockets.push(sock);
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write(randomBytes(64 * 1024));
    await until(() => srv.received() === 64 * 1024 && sock.getInfo()?.bytesInFlight === 0, 10_000, 'the first 64 KiB, acknowledged');
    const drops = (r: string): number => n.a.snapshot().drops[r] ?? 0;
    const info0 = sock.getInfo()!;
    expect(info0.pathMtu).to.equal(1472);

    // Nothing in flight: any sequence number is outside [SND.UNA, SND.NXT).
    send(fragNeeded(sock.localPort!, srv.port, info0.sndUna, 600));
    // A guess far from the window, and a wrong port pair (no such connection).
    send(fragNeeded(sock.localPort!, srv.port, info0.sndUna + 0x40000000, 600));
    send(fragNeeded(sock.localPort! ^ 1, srv.port, info0.sndUna, 600));
    await until(() => drops('icmp_pmtu_seq_not_in_flight') === 2 && drops('icmp_pmtu_no_connection') === 1, 5000, 'the forged ICMPs to be counted', () => n.a.snapshot().drops);
    expect(sock.getInfo()!.pathMtu).to.equal(1472);
    expect(sock.getInfo()!.mss).to.equal(1472 - 52);

    // Data held in flight (the path is cut): an ICMP quoting SND.UNA is genuine-looking and applies.
    n.proxy.setImpairment('*', 'both', 'partition', {});
    sock.write(randomBytes(16 * 1024));
    await until(() => (sock.getInfo()?.bytesInFlight ?? 0) > 0, 5000, 'data in flight');
    const una = sock.getInfo()!.sndUna;
    send(fragNeeded(sock.localPort!, srv.port, una, 600));
    await until(() => sock.getInfo()?.pathMtu === 600, 5000, 'the path MTU to become 600');
    expect(sock.getInfo()!.mss).to.equal(600 - 52);
    expect(sock.getInfo()!.pmtu!.icmpApplied).to.equal(1);
    // The host remembers it for new connections to B.
    expect(n.a.pmtu.get(parseIpv4(B)!, n.a.now())).to.equal(600);
    n.proxy.clearStage('*', 'partition');
    sock.end();
    await srv.digest;
  });
});
