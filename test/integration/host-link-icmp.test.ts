/** UdpLink on its own, and ICMP error delivery to a transport's onIcmpError. */
import { expect } from 'chai';
import { Host } from '../../src/host/host.js';
import type { ProtocolHandler } from '../../src/host/types.js';
import { UdpLink } from '../../src/link/udp-link.js';
import { ICMP_TIME_EXCEEDED, encodeIcmp } from '../../src/wire/icmp.js';
import { encodeIpv4, IPPROTO_ICMP, type Ipv4Header } from '../../src/wire/ipv4.js';
import { encodeTcpPacket, ACK } from '../../src/wire/tcp.js';

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('integration: UdpLink', function () {
  this.timeout(10_000);

  it('sends and receives packets, sets large socket buffers, counts send errors', async () => {
    const l1 = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
    const l2 = await UdpLink.bind({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 });
    try {
      const got: Array<[string, number]> = [];
      l2.onPacket((p, r) => got.push([p.toString(), r.port]));
      for (let i = 0; i < 100; i++) l1.send(Buffer.from(`p${i}`), l2.local().port, '127.0.0.1');
      await until(() => got.length === 100);
      expect(got[0]).to.deep.equal(['p0', l1.local().port]);
      expect(got[99]![0]).to.equal('p99');
      expect(l1.stats.packetsOut).to.equal(100);
      expect(l2.stats.packetsIn).to.equal(100);
      // The kernel doubles the value and caps it at net.core.rmem_max; it must have grown
      // beyond the usual 208 KiB default unless the cap is lower.
      expect(l1.socket.getRecvBufferSize()).to.be.greaterThan(200 * 1024);
      // A send that fails (bad address) is counted, not thrown.
      l1.send(Buffer.from('x'), 9, '300.1.1.1');
      await until(() => l1.stats.sendErrors === 1);
    } finally {
      await l1.close();
      await l2.close();
    }
    // After close, send is a counted no-op.
    l1.send(Buffer.from('late'), 9, '127.0.0.1');
    expect(l1.stats.sendErrors).to.equal(2);
  });
});

describe('integration: ICMP error delivery', function () {
  this.timeout(10_000);
  let a: Host;
  let b: Host;

  beforeEach(async () => {
    a = await Host.create({ address: '10.77.0.1' });
    b = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.1', endpoint: a.endpoint }] });
    a.addPeer('10.77.0.2', b.endpoint);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('protocol unreachable for an unregistered protocol reaches the sender\'s onIcmpError with the quote', async () => {
    const calls: Array<{ type: number; code: number; quoted: Ipv4Header; quotedPayload: Buffer; from: number }> = [];
    const tcp: ProtocolHandler = {
      onPacket: () => {},
      onIcmpError: (type, code, quoted, quotedPayload, from) => calls.push({ type, code, quoted, quotedPayload: Buffer.from(quotedPayload), from }),
    };
    a.setProtocolHandler(6, tcp);
    const seg = encodeTcpPacket(
      { src: 0x0a4d0001, dst: 0x0a4d0002, id: 77 },
      { srcPort: 40000, dstPort: 80, seq: 123, ack: 456, flags: ACK, window: 1000, urgent: 0, options: {}, payload: Buffer.from('data that is not quoted') },
    );
    expect(a.sendPacket(seg, 0x0a4d0002)).to.equal(true);
    await until(() => calls.length === 1);
    const c = calls[0]!;
    expect(c).to.include({ type: 3, code: 2, from: 0x0a4d0002 });
    expect(c.quoted).to.include({ src: 0x0a4d0001, dst: 0x0a4d0002, protocol: 6, id: 77, headerLength: 20 });
    // IP header + 8 bytes: the ports and the sequence number.
    expect(c.quotedPayload).to.have.length(8);
    expect(c.quotedPayload.readUInt16BE(0)).to.equal(40000);
    expect(c.quotedPayload.readUInt32BE(4)).to.equal(123);
    expect(b.stats.drops.get('no_handler')).to.equal(1);
  });

  it('time exceeded quoting our packet is delivered; one quoting someone else\'s is dropped', async () => {
    const calls: number[] = [];
    a.setProtocolHandler(6, { onPacket: () => {}, onIcmpError: (type) => calls.push(type) });
    const ours = encodeTcpPacket(
      { src: 0x0a4d0001, dst: 0x0a4d0002, id: 1 },
      { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: ACK, window: 5, urgent: 0, options: {}, payload: Buffer.alloc(0) },
    );
    const notOurs = Buffer.from(ours);
    notOurs.writeUInt32BE(0x0a4d0063, 12);
    for (const quoted of [notOurs, ours]) {
      const icmp = encodeIcmp({ type: ICMP_TIME_EXCEEDED, code: 0, rest: 0, payload: quoted.subarray(0, 28) });
      b.sendPacket(encodeIpv4({ src: 0x0a4d0002, dst: 0x0a4d0001, protocol: IPPROTO_ICMP, id: b.nextIpId() }, icmp), 0x0a4d0001);
    }
    await until(() => calls.length === 1);
    expect(calls).to.deep.equal([ICMP_TIME_EXCEEDED]);
    expect(a.stats.drops.get('icmp_bad_quote')).to.equal(1);
  });

  it('host unreachable about an echo request fails that ping with EHOSTUNREACH', async () => {
    a.addPeer('10.77.0.50', b.endpoint); // b is not 10.77.0.50: it plays a router that has no way on
    let echo: Buffer | undefined;
    const off = a.addTap((dir, p) => {
      if (dir === 'out') echo = Buffer.from(p);
    });
    const ping = a.ping('10.77.0.50', { seq: 9, timeoutMs: 3000 }).then(
      () => undefined,
      (e: Error & { code?: string; syscall?: string }) => e,
    );
    off();
    expect(echo, 'the echo request was tapped').to.not.equal(undefined);
    expect(b.sendIcmpError(3, 1, echo!, 20)).to.equal(true);
    const err = await ping;
    expect(err?.code).to.equal('EHOSTUNREACH');
    expect(err?.syscall).to.equal('ping');
  });

  it('rate-limits ICMP errors to the burst', async () => {
    const pkt = encodeIpv4({ src: 0x0a4d0002, dst: 0x0a4d0001, protocol: 99, id: 1 }, Buffer.alloc(8));
    let sent = 0;
    for (let i = 0; i < 200; i++) if (a.sendIcmpError(3, 2, pkt, 20)) sent++;
    // 50 of burst, plus at most a handful refilled at 1000/s while the loop ran.
    expect(sent).to.be.within(50, 60);
    expect(a.icmp.stats.errorsRateLimited).to.equal(200 - sent);
  });
});
