/**
 * The host's UDP socket as the kernel sees it: the receive window never exceeds what the
 * socket's receive buffer really holds (the kernel's grant at its real cost per datagram),
 * and the kernel's drop count for the socket (/proc/net/udp) reaches the metrics and
 * `overlay ss`. Real UDP on loopback, ephemeral ports.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { listSockets } from '../../src/metrics/collectors.js';
import { formatTable } from '../../src/cli/ss.js';
import { decodeIpv4, encodeIpv4, IPPROTO_ICMP, IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { encodeIcmp, ICMP_ECHO_REQUEST } from '../../src/wire/icmp.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { decodeTcp, SYN } from '../../src/wire/tcp.js';
import { datagramCapacity, kernelUdpStats, procHexToIpv4, udpTruesize } from '../../src/link/kernel-udp.js';

const linux = existsSync('/proc/net/udp');

/** Polls `cond` every 10 ms until true, at most `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('kernel UDP socket: receive capacity and drops', function () {
  this.timeout(20_000);

  it('models the kernel cost per datagram as measured on loopback', () => {
    expect(udpTruesize(1)).to.equal(832);
    expect(udpTruesize(1472)).to.equal(2304);
    expect(udpTruesize(1700)).to.equal(4352);
    expect(udpTruesize(16000)).to.equal(16640);
    expect(udpTruesize(65000)).to.equal(65832);
    expect(datagramCapacity(8 * 1024 * 1024, 1472)).to.equal(2730); // three quarters of the grant
    expect(procHexToIpv4('0100007F')).to.equal('127.0.0.1');
  });

  it('a host with a small SO_RCVBUF never advertises more than its socket holds', async function () {
    if (!linux) this.skip();
    const a = await Host.create({ address: '10.77.0.2' });
    // 16 KiB asked; the kernel grants twice that, which surely holds 10 full-size datagrams.
    const b = await Host.create({ address: '10.77.0.3', recvBufferSize: 16 * 1024 });
    a.addPeer('10.77.0.3/32', b.endpoint);
    b.addPeer('10.77.0.2/32', a.endpoint);
    const capacity = b.receiveCapacity();
    try {
      expect(b.link.recvBufferGrant).to.be.greaterThan(0);
      expect(capacity).to.equal(datagramCapacity(b.link.recvBufferGrant, 1472) * (1472 - 52));
      expect(capacity).to.be.lessThan(65535); // below even an unscaled window
      // Every window b advertises, as a sees it on arrival (scaled by b's SYN-ACK shift).
      let shift = 0;
      let maxWindow = 0;
      let segments = 0;
      const untap = a.addTap((dir, packet) => {
        if (dir !== 'in') return;
        const ip = decodeIpv4(packet);
        if (!ip.ok || ip.header.protocol !== IPPROTO_TCP) return;
        const t = decodeTcp(ip.payload);
        if (!t.ok) return;
        segments++;
        if (t.segment.flags & SYN) shift = t.segment.options.wscale ?? 0;
        const w = t.segment.flags & SYN ? t.segment.window : t.segment.window * 2 ** shift;
        maxWindow = Math.max(maxWindow, w);
      });
      const server = createServer({ host: b }, (s: Socket) => s.resume().on('end', () => s.end()));
      await new Promise<void>((r) => server.listen(5001, r));
      const s = connect({ via: a, host: '10.77.0.3', port: 5001 });
      await once(s, 'connect');
      s.resume();
      const data = Buffer.alloc(512 * 1024, 7);
      s.end(data);
      await Promise.race([once(s, 'close'), new Promise((_, rej) => setTimeout(() => rej(new Error('transfer timed out')), 15_000))]);
      untap();
      server.close();
      expect(segments).to.be.greaterThan(10);
      expect(maxWindow).to.be.greaterThan(0);
      expect(maxWindow).to.be.at.most(capacity!);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('counts the kernel drops of an overrun host socket in the metric and in ss', async function () {
    if (!linux) this.skip();
    const host = await Host.create({ address: '10.77.0.9', recvBufferSize: 4096 });
    const tx = createSocket('udp4');
    try {
      await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
      const before = kernelUdpStats('127.0.0.1', host.endpoint.port);
      expect(before, 'the host socket is listed in /proc/net/udp').to.not.equal(undefined);
      expect(before!.drops).to.equal(0);
      // A bounded burst, sent synchronously: this process reads nothing meanwhile, so the
      // socket's tiny queue fills and the kernel drops the rest.
      const burst = 200;
      const junk = Buffer.alloc(1400, 0x45);
      for (let i = 0; i < burst; i++) tx.send(junk, host.endpoint.port, '127.0.0.1');
      // Every datagram ends either read by the host or dropped by the kernel.
      await until(() => host.datagramsIn + (kernelUdpStats('127.0.0.1', host.endpoint.port)?.drops ?? 0) >= burst, 5000, 'the burst to settle');
      const drops = kernelUdpStats('127.0.0.1', host.endpoint.port)!.drops;
      expect(drops).to.be.greaterThan(0);
      expect(drops).to.equal(burst - host.datagramsIn);

      const metrics = createMetrics({ sources: () => [{ host: () => host.snapshot() }] });
      const text = await metrics.registry.metrics();
      expect(text).to.include(`overlay_udp_kernel_drops_total{host="10.77.0.9"} ${drops}`);

      const rows = listSockets([{ host: () => host.snapshot() }]);
      const link = rows.find((r) => r.kind === 'link');
      expect(link).to.include({ proto: 'udp', host: '10.77.0.9', localPort: host.endpoint.port, kernelDrops: drops });
      expect(formatTable(rows)).to.include(`kernel_drops:${drops}`);
    } finally {
      tx.close();
      await host.close();
    }
  });
});

describe('UdpLink: a connected socket to a single peer (Host connectPeer)', function () {
  this.timeout(20_000);

  it('carries the traffic to and from the peer while other senders still reach the host and are counted', async function () {
    if (!linux) this.skip();
    const b = await Host.create({ address: '10.77.0.3', learn: false });
    const a = await Host.create({ address: '10.77.0.2', connectPeer: true, peers: [{ prefix: '10.77.0.3/32', endpoint: b.endpoint }] });
    b.addPeer('10.77.0.2/32', a.endpoint);
    const stranger = createSocket('udp4');
    try {
      expect(a.link.connectedPeer()).to.deep.equal(b.endpoint);
      // Both of a's sockets are bound to its one port: the kernel lists two.
      const server = createServer({ host: b }, (s: Socket) => s.pipe(s));
      await new Promise<void>((r) => server.listen(5002, r));
      const s = connect({ via: a, host: '10.77.0.3', port: 5002 });
      const data = Buffer.alloc(300 * 1024, 3);
      const back: Buffer[] = [];
      s.on('data', (d: Buffer) => back.push(d));
      s.end(data);
      await Promise.race([once(s, 'close'), new Promise((_, rej) => setTimeout(() => rej(new Error('echo timed out')), 15_000))]);
      expect(Buffer.concat(back).equals(data)).to.equal(true);
      server.close();
      // b saw a's packets come from a's one port (its anti-spoofing check passed).
      expect(b.stats.drops.get('spoofed') ?? 0).to.equal(0);
      // A datagram from anyone else arrives on the unconnected socket and is counted.
      await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r));
      const ping = encodeIpv4(
        { src: parseIpv4('10.77.0.3')!, dst: a.address, protocol: IPPROTO_ICMP, id: 1 },
        encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 0x10001, payload: Buffer.alloc(8) }),
      );
      const forged = encodeIpv4(
        { src: parseIpv4('10.77.0.99')!, dst: a.address, protocol: IPPROTO_ICMP, id: 2 },
        encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 0x10002, payload: Buffer.alloc(8) }),
      );
      stranger.send(ping, a.endpoint.port, '127.0.0.1');
      stranger.send(forged, a.endpoint.port, '127.0.0.1');
      await until(() => (a.stats.drops.get('spoofed') ?? 0) >= 1 && (a.stats.drops.get('unknown_endpoint') ?? 0) >= 1, 5000, 'the stranger datagrams to be counted');
      expect(a.stats.drops.get('spoofed')).to.equal(1);
      expect(a.stats.drops.get('unknown_endpoint')).to.equal(1);
    } finally {
      stranger.close();
      await a.close();
      await b.close();
    }
  });
});
