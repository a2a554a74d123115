/** Two (or three) overlay hosts in one process over real loopback UDP. */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { inventory } from '../../src/metrics/inventory.js';
import { createSocket, type RemoteInfo, type Socket } from '../../src/udp/socket.js';
import { UdpStack } from '../../src/udp/stack.js';
import { encodeIcmp, ICMP_ECHO_REQUEST } from '../../src/wire/icmp.js';
import { encodeIpv4, IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { encodeUdpPacket } from '../../src/wire/udp.js';
import { packetReuseCount } from '../../src/util/slab.js';

type Err = Error & { code?: string; syscall?: string };

function nextMessage(s: Socket, timeoutMs = 2000): Promise<[Buffer, RemoteInfo]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), timeoutMs);
    s.once('message', (m: Buffer, r: RemoteInfo) => {
      clearTimeout(t);
      resolve([m, r]);
    });
  });
}

function nextError(s: Socket, timeoutMs = 2000): Promise<Err> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no error event')), timeoutMs);
    s.once('error', (e: Err) => {
      clearTimeout(t);
      resolve(e);
    });
  });
}

describe('integration: hosts and datagram sockets over loopback UDP', function () {
  this.timeout(15_000);
  let a: Host;
  let b: Host;
  const sockets: Socket[] = [];
  const extra: Host[] = [];
  const sock = (h: Host): Socket => {
    const s = createSocket({ type: 'udp4', host: h });
    sockets.push(s);
    return s;
  };

  beforeEach(async () => {
    a = await Host.create({ address: '10.77.0.1' });
    b = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.0/24', endpoint: a.endpoint }] });
    a.addPeer('10.77.0.2', b.endpoint);
    // Attach the full UDP layer up front (a host without it still answers port unreachable).
    UdpStack.of(a);
    UdpStack.of(b);
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    for (const h of [a, b, ...extra.splice(0)]) await h.close();
  });

  it('pings in both directions and to itself', async () => {
    expect(await a.ping('10.77.0.2', { seq: 1, timeoutMs: 2000 })).to.be.greaterThan(0);
    const r = await b.echo('10.77.0.1', { seq: 7, size: 100, timeoutMs: 2000 });
    expect(r).to.include({ ttl: 64, bytes: 108, from: 0x0a4d0001 });
    expect(await a.ping('10.77.0.1', { seq: 2, timeoutMs: 2000 })).to.be.greaterThan(0);
    expect(b.icmp.stats.echoRequestsIn).to.equal(1);
    expect(a.icmp.stats.echoRequestsIn).to.equal(2);
  });

  it('ping to an unrouted address rejects with EHOSTUNREACH, to a silent one with ETIMEDOUT', async () => {
    const e1 = await a.ping('10.9.9.9', { seq: 1, timeoutMs: 500 }).catch((e: Err) => e);
    expect((e1 as Err).code).to.equal('EHOSTUNREACH');
    expect(a.stats.drops.get('no_route')).to.equal(1);
    b.addPeer('10.77.0.0/24', a.endpoint);
    a.addPeer('10.77.0.99', b.endpoint); // b drops it: not_for_us
    const e2 = await a.ping('10.77.0.99', { seq: 1, timeoutMs: 200 }).catch((e: Err) => e);
    expect((e2 as Err).code).to.equal('ETIMEDOUT');
    expect(b.stats.drops.get('not_for_us')).to.equal(1);
  });

  it('exchanges datagrams with the node:dgram API (echo server)', async () => {
    const server = sock(b);
    server.on('message', (msg: Buffer, rinfo: RemoteInfo) => server.send(msg, rinfo.port, rinfo.address));
    server.bind(7);
    await once(server, 'listening');
    expect(server.address()).to.deep.equal({ address: '0.0.0.0', family: 'IPv4', port: 7 });

    const client = sock(a);
    const sent = new Promise<number | undefined>((resolve, reject) =>
      client.send('hello', 7, '10.77.0.2', (err, n) => (err ? reject(err) : resolve(n))),
    );
    const [msg, rinfo] = await nextMessage(client);
    expect(await sent).to.equal(5);
    expect(msg.toString()).to.equal('hello');
    expect(rinfo).to.deep.equal({ address: '10.77.0.2', family: 'IPv4', port: 7, size: 5 });
    const port = client.address().port;
    expect(port).to.be.within(49152, 65535);

    client.send([Buffer.from('ab'), 'cd'], 7, '10.77.0.2');
    expect((await nextMessage(client))[0].toString()).to.equal('abcd');
    client.send(Buffer.from('xxhiyy'), 2, 2, 7, '10.77.0.2');
    expect((await nextMessage(client))[0].toString()).to.equal('hi');

    const snaps = inventory.sources().flatMap((s) => s.udpSockets?.() ?? []);
    const mine = snaps.find((s) => s.localAddress === '10.77.0.1' && s.localPort === port);
    expect(mine).to.include({ datagramsOut: 3, datagramsIn: 3, bytesOut: 11 });
    expect(inventory.sources().some((s) => s.host?.().address === '10.77.0.2')).to.equal(true);
  });

  it('gives each datagram\'s packet back to the slabs once sent, so a burst reuses them', async () => {
    const server = sock(b);
    let got = 0;
    server.on('message', () => got++);
    server.bind(9);
    await once(server, 'listening');
    const client = sock(a);
    const before = packetReuseCount().packets;
    const payload = Buffer.alloc(1000, 3);
    for (let i = 0; i < 200; i++) client.send(payload, 9, '10.77.0.2');
    for (let i = 0; i < 200 && got < 200; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).to.equal(200);
    // Each packet the kernel took (at once, or from libuv's queue once it drained) came back.
    expect(packetReuseCount().packets - before).to.be.at.least(190);
  });

  it('a connected socket sends without a destination and only hears its peer', async () => {
    const server = sock(b);
    server.bind(9000);
    await once(server, 'listening');
    const c = sock(a);
    c.connect(9000, '10.77.0.2');
    await once(c, 'connect');
    expect(c.remoteAddress()).to.deep.equal({ address: '10.77.0.2', family: 'IPv4', port: 9000 });
    c.send('one');
    const [m, r] = await nextMessage(server);
    expect(m.toString()).to.equal('one');
    expect(() => c.send('x', 9000, '10.77.0.2')).to.throw().with.property('code', 'EISCONN');
    // A datagram from another port of b does not reach the connected socket.
    const other = sock(b);
    other.bind(9001);
    await once(other, 'listening');
    other.send('stranger', r.port, '10.77.0.1');
    server.send('peer', r.port, '10.77.0.1');
    expect((await nextMessage(c))[0].toString()).to.equal('peer');
    expect(a.stats.drops.get('udp_wrong_peer')).to.equal(1);
    c.disconnect();
    expect(() => c.remoteAddress()).to.throw().with.property('code', 'ENOTCONN');
  });

  it('ICMP port unreachable gives ECONNREFUSED on a connected socket (and nothing on an unconnected one)', async () => {
    const quiet = sock(a);
    let quietErrors = 0;
    quiet.on('error', () => quietErrors++);
    quiet.send('nobody', 4444, '10.77.0.2');
    const c = sock(a);
    c.connect(4444, '10.77.0.2');
    await once(c, 'connect');
    c.send('anyone?');
    const err = await nextError(c);
    expect(err.code).to.equal('ECONNREFUSED');
    expect(err.syscall).to.equal('recvmsg');
    expect(b.stats.drops.get('udp_no_socket')).to.equal(2);
    expect(b.icmp.stats.errorsOut).to.equal(2);
    expect(a.icmp.stats.errorsIn).to.equal(2);
    expect(quietErrors).to.equal(0);
  });

  it('EADDRINUSE for a taken port, EADDRNOTAVAIL for a foreign address', async () => {
    const s1 = sock(b);
    s1.bind(53);
    await once(s1, 'listening');
    const s2 = sock(b);
    s2.bind(53);
    const e = await nextError(s2);
    expect(e.code).to.equal('EADDRINUSE');
    expect(e.syscall).to.equal('bind');
    const s3 = sock(b);
    s3.bind({ port: 54, address: '10.77.0.1' });
    expect((await nextError(s3)).code).to.equal('EADDRNOTAVAIL');
    const s4 = sock(b);
    s4.bind({ port: 55, address: '10.77.0.2' });
    await once(s4, 'listening');
    expect(s4.address().address).to.equal('10.77.0.2');
  });

  it('EMSGSIZE over the MTU, never fragmenting; a bigger MTU carries bigger datagrams', async () => {
    const s = sock(a);
    const max = a.mtu - 28;
    const tooBig = await new Promise<Err | null>((resolve) => s.send(Buffer.alloc(max + 1), 7, '10.77.0.2', (e) => resolve(e as Err)));
    expect(tooBig?.code).to.equal('EMSGSIZE');
    expect(tooBig?.syscall).to.equal('send');
    // Without a callback the error is emitted.
    s.send(Buffer.alloc(max + 1), 7, '10.77.0.2');
    expect((await nextError(s)).code).to.equal('EMSGSIZE');
    expect(() => a.sendPacket(Buffer.alloc(a.mtu + 1), 0x0a4d0002)).to.throw().with.property('code', 'EMSGSIZE');

    const r = sock(b);
    r.bind(7);
    await once(r, 'listening');
    s.send(Buffer.alloc(max, 1), 7, '10.77.0.2');
    expect((await nextMessage(r))[0].length).to.equal(max);

    const big1 = await Host.create({ address: '10.78.0.1', mtu: 65507 });
    const big2 = await Host.create({ address: '10.78.0.2', mtu: 65507, peers: [{ prefix: '10.78.0.1', endpoint: big1.endpoint }] });
    extra.push(big1, big2);
    big1.addPeer('10.78.0.2', big2.endpoint);
    const rx = sock(big2);
    rx.bind(7);
    await once(rx, 'listening');
    sock(big1).send(Buffer.alloc(65507 - 28, 2), 7, '10.78.0.2');
    expect((await nextMessage(rx))[0].length).to.equal(65479);
    expect(await big1.ping('10.78.0.2', { seq: 1, size: 60000, timeoutMs: 2000 })).to.be.greaterThan(0);
  });

  it('follows node:dgram after close: ERR_SOCKET_DGRAM_NOT_RUNNING, and the port is free again', async () => {
    const s = sock(b);
    s.bind(77);
    await once(s, 'listening');
    s.close();
    await once(s, 'close');
    expect(() => s.send('x', 7, '10.77.0.1')).to.throw().with.property('code', 'ERR_SOCKET_DGRAM_NOT_RUNNING');
    expect(() => s.close()).to.throw().with.property('code', 'ERR_SOCKET_DGRAM_NOT_RUNNING');
    const again = sock(b);
    again.bind(77);
    await once(again, 'listening');
    expect(again.ref()).to.equal(again);
    expect(again.unref()).to.equal(again);
  });

  it('drops a packet that claims a source from the wrong UDP endpoint (spoofed)', async () => {
    const r = sock(a);
    r.bind(7);
    await once(r, 'listening');
    let got = 0;
    r.on('message', () => got++);
    const raw = dgram.createSocket('udp4');
    await new Promise<void>((res) => raw.bind(0, '127.0.0.1', res));
    try {
      // Claims to be 10.77.0.2, whose route on `a` is b's endpoint, not this socket.
      const forged = encodeUdpPacket({ src: 0x0a4d0002, dst: 0x0a4d0001, id: 1 }, { srcPort: 7, dstPort: 7, payload: Buffer.from('forged') });
      raw.send(forged, a.endpoint.port, '127.0.0.1');
      // Claims an unknown source: no route to it at all.
      const unknown = encodeUdpPacket({ src: 0x0a4d0063, dst: 0x0a4d0001, id: 2 }, { srcPort: 7, dstPort: 7, payload: Buffer.from('who') });
      raw.send(unknown, a.endpoint.port, '127.0.0.1');
      // A ping from b behind them is the barrier: loopback keeps order per socket pair, so wait for both drops.
      const deadline = Date.now() + 2000;
      while ((a.stats.drops.get('spoofed') ?? 0) + (a.stats.drops.get('unknown_endpoint') ?? 0) < 2 && Date.now() < deadline) {
        await b.ping('10.77.0.1', { seq: 1, timeoutMs: 500 });
      }
      expect(a.stats.drops.get('spoofed')).to.equal(1);
      expect(a.stats.drops.get('unknown_endpoint')).to.equal(1);
      expect(got).to.equal(0);
    } finally {
      raw.close();
    }
  });

  it('learns a /32 route to an unknown sender with learn on', async () => {
    const learner = await Host.create({ address: '10.77.1.1', learn: true });
    const c = await Host.create({ address: '10.77.1.3', peers: [{ prefix: '10.77.1.0/24', endpoint: learner.endpoint }] });
    extra.push(learner, c);
    expect(learner.route('10.77.1.3')).to.equal(undefined);
    expect(await c.ping('10.77.1.1', { seq: 1, timeoutMs: 2000 })).to.be.greaterThan(0);
    expect(learner.route('10.77.1.3')).to.deep.equal(c.endpoint);
    // Once learned, the same source from another endpoint is spoofed.
    const raw = dgram.createSocket('udp4');
    await new Promise<void>((res) => raw.bind(0, '127.0.0.1', res));
    const echo = encodeIpv4({ src: 0x0a4d0103, dst: 0x0a4d0101, protocol: IPPROTO_ICMP, id: 1 }, encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 1, payload: Buffer.alloc(8) }));
    raw.send(echo, learner.endpoint.port, '127.0.0.1');
    const deadline = Date.now() + 2000;
    while (!learner.stats.drops.get('spoofed') && Date.now() < deadline) await c.ping('10.77.1.1', { seq: 2, timeoutMs: 500 });
    raw.close();
    expect(learner.stats.drops.get('spoofed')).to.equal(1);
    // Without learn, the same ping is dropped as unknown_endpoint.
    const strict = await Host.create({ address: '10.77.2.1' });
    const d = await Host.create({ address: '10.77.2.3', peers: [{ prefix: '10.77.2.1', endpoint: strict.endpoint }] });
    extra.push(strict, d);
    const e = await d.ping('10.77.2.1', { seq: 1, timeoutMs: 200 }).catch((x: Err) => x);
    expect((e as Err).code).to.equal('ETIMEDOUT');
    expect(strict.stats.drops.get('unknown_endpoint')).to.equal(1);
  });

  it('answers an unknown protocol with ICMP protocol unreachable (rate-limited, never about ICMP errors)', async () => {
    const pkt = encodeIpv4({ src: 0x0a4d0002, dst: 0x0a4d0001, protocol: 99, id: 1 }, Buffer.from('12345678'));
    expect(b.sendPacket(pkt, 0x0a4d0001)).to.equal(true);
    const deadline = Date.now() + 2000;
    while (b.icmp.stats.errorsIn === 0 && Date.now() < deadline) await b.ping('10.77.0.1', { seq: 3, timeoutMs: 500 });
    expect(a.stats.drops.get('no_handler')).to.equal(1);
    expect(b.icmp.stats.errorsIn).to.equal(1);
    expect(b.stats.drops.get('icmp_no_handler')).to.equal(1); // b has no protocol 99 either
    // Errors about ICMP errors are never sent.
    const icmpErr = encodeIpv4({ src: 0x0a4d0002, dst: 0x0a4d0001, protocol: 1, id: 2 }, encodeIcmp({ type: 3, code: 3, rest: 0, payload: pkt.subarray(0, 28) }));
    expect(a.sendIcmpError(3, 2, icmpErr, 20)).to.equal(false);
  });

  it('taps see packets in and out', async () => {
    const seen: string[] = [];
    const off = a.addTap((dir, p) => seen.push(`${dir}:${p[9]}`));
    await a.ping('10.77.0.2', { seq: 1, timeoutMs: 2000 });
    off();
    await a.ping('10.77.0.2', { seq: 2, timeoutMs: 2000 });
    expect(seen).to.deep.equal(['out:1', 'in:1']);
  });
});
