import { expect } from 'chai';
import { Host } from '../../src/host/host.js';
import type { ProtocolHandler } from '../../src/host/types.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { IPPROTO_UDP, type Ipv4Header } from '../../src/wire/ipv4.js';
import { encodeUdpPacket } from '../../src/wire/udp.js';

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('host: UDP without any socket, route caches, loopback copies', function () {
  this.timeout(10_000);
  let a: Host;
  let b: Host;
  const A = parseIpv4('10.77.0.1')!;
  const B = parseIpv4('10.77.0.2')!;

  beforeEach(async () => {
    a = await Host.create({ address: '10.77.0.1' });
    b = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.0/24', endpoint: a.endpoint }] });
    a.addPeer('10.77.0.2', b.endpoint);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  /** b's UDP "layer": records ICMP errors about its datagrams. */
  function recorder(): { errors: Array<{ type: number; code: number; quoted: Ipv4Header; ports: [number, number] }>; h: ProtocolHandler } {
    const errors: Array<{ type: number; code: number; quoted: Ipv4Header; ports: [number, number] }> = [];
    return {
      errors,
      h: {
        onPacket: () => {},
        onIcmpError: (type, code, quoted, qp) => errors.push({ type, code, quoted, ports: [qp.readUInt16BE(0), qp.readUInt16BE(2)] }),
      },
    };
  }

  it('answers a datagram to a host with no UDP socket with ICMP port unreachable, not protocol unreachable', async () => {
    const r = recorder();
    b.setProtocolHandler(IPPROTO_UDP, r.h);
    const dg = encodeUdpPacket({ src: B, dst: A, id: 5 }, { srcPort: 40000, dstPort: 7, payload: Buffer.from('anyone?') });
    expect(b.sendPacket(dg, A)).to.equal(true);
    await until(() => r.errors.length === 1);
    expect(r.errors[0]).to.deep.include({ type: 3, code: 3, ports: [40000, 7] });
    expect(r.errors[0]!.quoted).to.include({ src: B, dst: A, protocol: IPPROTO_UDP, id: 5 });
    expect(a.stats.drops.get('udp_no_socket')).to.equal(1);
    expect(a.stats.drops.has('no_handler')).to.equal(false);
    expect(a.stats.packetsIn).to.equal(1); // accepted by IP, refused by UDP
  });

  it('drops a datagram with a bad UDP checksum silently (no ICMP), and falls back to closed ports when the UDP handler is cleared', async () => {
    const r = recorder();
    b.setProtocolHandler(IPPROTO_UDP, r.h);
    const bad = encodeUdpPacket({ src: B, dst: A, id: 6 }, { srcPort: 40000, dstPort: 7, payload: Buffer.from('x') });
    bad[bad.length - 1]! ^= 0xff;
    b.sendPacket(bad, A);
    await until(() => a.stats.drops.get('udp_bad_checksum') === 1);
    // a registers then clears its own UDP handler: UDP is answered as closed ports again.
    const mine: ProtocolHandler = { onPacket: () => {} };
    a.setProtocolHandler(IPPROTO_UDP, mine);
    a.clearProtocolHandler(IPPROTO_UDP, mine);
    b.sendPacket(encodeUdpPacket({ src: B, dst: A, id: 7 }, { srcPort: 40001, dstPort: 9, payload: Buffer.from('y') }), A);
    await until(() => r.errors.length === 1);
    expect(r.errors[0]).to.deep.include({ type: 3, code: 3, ports: [40001, 9] });
    expect(a.stats.drops.get('udp_no_socket')).to.equal(1);
  });

  it('re-routes as soon as the peer table changes (the route and anti-spoofing caches follow it)', async () => {
    const got: number[] = [];
    a.setProtocolHandler(IPPROTO_UDP, { onPacket: (ip) => got.push(ip.id) });
    const pkt = (id: number): Buffer => encodeUdpPacket({ src: B, dst: A, id }, { srcPort: 1, dstPort: 2, payload: Buffer.alloc(4) });
    b.sendPacket(pkt(1), A);
    await until(() => got.length === 1);
    // b's route to a now points elsewhere: a counts nothing new, b keeps sending "fine".
    const c = await Host.create({ address: '10.77.0.9' });
    try {
      b.addPeer('10.77.0.1/32', c.endpoint);
      b.sendPacket(pkt(2), A);
      await until(() => c.stats.drops.get('not_for_us') === 1);
      // a now expects 10.77.0.2 from c's endpoint: b's packets are spoofed from a's view.
      b.removePeer('10.77.0.1/32');
      a.addPeer('10.77.0.2', c.endpoint);
      b.sendPacket(pkt(3), A);
      await until(() => a.stats.drops.get('spoofed') === 1);
      a.addPeer('10.77.0.2', b.endpoint);
      b.sendPacket(pkt(4), A);
      await until(() => got.length === 2);
      expect(got).to.deep.equal([1, 4]);
    } finally {
      await c.close();
    }
  });

  it('loops a packet to its own address back as a copy (the sender may reuse its buffer)', async () => {
    const seen: string[] = [];
    a.setProtocolHandler(IPPROTO_UDP, { onPacket: (_ip, payload) => seen.push(payload.subarray(8).toString()) });
    const p = encodeUdpPacket({ src: A, dst: A, id: 1 }, { srcPort: 1, dstPort: 2, payload: Buffer.from('first') });
    expect(a.sendPacket(p, A)).to.equal(true);
    p.fill(0); // reused by the caller before the loopback tick
    await until(() => seen.length === 1);
    expect(seen).to.deep.equal(['first']);
  });
});

describe('link: send errors counted without a callback on every send', () => {
  it('checks the first send to a destination, then every send once errors are seen', async () => {
    const { UdpLink, SEND_CHECK_EVERY } = await import('../../src/link/udp-link.js');
    const l = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
    try {
      // Broadcast without SO_BROADCAST fails at once in the kernel (EACCES): nothing leaves.
      for (let i = 0; i < 10; i++) l.send(Buffer.from('x'), 9, '255.255.255.255');
      await tick();
      // Only the first send of that burst carried a callback (a new destination).
      expect(l.stats.sendErrors).to.equal(1);
      // From now on every send is checked, so each failure counts.
      for (let i = 0; i < 100; i++) l.send(Buffer.from('x'), 9, '255.255.255.255');
      await tick();
      expect(l.stats.sendErrors).to.equal(101);
      // Healthy sends bring the link back to sampling after SEND_CHECK_EVERY successes.
      const sink = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
      try {
        for (let i = 0; i < SEND_CHECK_EVERY; i++) l.send(Buffer.from('ok'), sink.local().port, '127.0.0.1');
        await tick();
        for (let i = 0; i < 10; i++) l.send(Buffer.from('x'), 9, '255.255.255.255');
        await tick();
        expect(l.stats.sendErrors).to.equal(102);
        expect(l.stats.packetsOut).to.equal(10 + 100 + SEND_CHECK_EVERY + 10);
      } finally {
        await sink.close();
      }
    } finally {
      await l.close();
    }
  });
});
