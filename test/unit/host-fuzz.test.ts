/**
 * Bad input at a live Host: 100,000 random and mutated datagrams (bit flips, truncations,
 * random bytes, length lies, derived from valid packets) injected at the link's receive
 * path (UdpLink.deliver, the code path of the 'message' event), plus a paced batch over
 * real loopback UDP. Nothing may escape, every datagram must be accounted for (accepted,
 * or dropped by exactly one IP-level reason), and the host must still answer pings.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { Host } from '../../src/host/host.js';
import { createSocket, type Socket } from '../../src/udp/socket.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { encodeIcmp, ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST } from '../../src/wire/icmp.js';
import { encodeIpv4, IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { encodeTcpPacket, SYN } from '../../src/wire/tcp.js';
import { encodeUdpPacket } from '../../src/wire/udp.js';

/** Reasons a datagram can be dropped with before it is accepted by the IP layer. */
const IP_LEVEL = /^(ip_|not_for_us$|spoofed$|unknown_endpoint$|learn_table_full$|no_handler$|host_closed$|internal_error$)/;

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const H = 0x0a4d0001; // 10.77.0.1, the host under test
const PEER = 0x0a4d0005; // 10.77.0.5, a source routed to the sender endpoint

function templates(udpPort: number): Buffer[] {
  const udpOut = encodeUdpPacket({ src: H, dst: PEER, id: 9 }, { srcPort: udpPort, dstPort: 4000, payload: Buffer.from('x') });
  return [
    encodeIpv4({ src: PEER, dst: H, protocol: IPPROTO_ICMP, id: 1 }, encodeIcmp({ type: ICMP_ECHO_REQUEST, code: 0, rest: 0x00010001, payload: Buffer.alloc(32, 7) })),
    encodeUdpPacket({ src: PEER, dst: H, id: 2 }, { srcPort: 4000, dstPort: udpPort, payload: Buffer.from('hello fuzz') }),
    encodeUdpPacket({ src: PEER, dst: H, id: 3 }, { srcPort: 4000, dstPort: 9, payload: Buffer.from('closed port') }),
    encodeTcpPacket(
      { src: PEER, dst: H, id: 4 },
      { srcPort: 4000, dstPort: 80, seq: 1, ack: 0, flags: SYN, window: 65535, urgent: 0, options: { mss: 1460, sackPermitted: true, ts: { val: 1, ecr: 0 }, wscale: 7 }, payload: Buffer.alloc(0) },
    ),
    encodeIpv4({ src: PEER, dst: H, protocol: IPPROTO_ICMP, id: 5 }, encodeIcmp({ type: ICMP_DEST_UNREACH, code: 3, rest: 0, payload: udpOut.subarray(0, 28) })),
  ];
}

/** Re-computes the IPv4 header checksum so a mutation reaches the layers above. */
function fixIpChecksum(b: Buffer): void {
  if (b.length < 20) return;
  const ihl = (b[0]! & 0x0f) * 4;
  if (ihl < 20 || ihl > b.length) return;
  b.writeUInt16BE(0, 10);
  b.writeUInt16BE(internetChecksum(b, 0, ihl), 10);
}

function mutate(t: Buffer, rnd: () => number): Buffer {
  const int = (n: number): number => Math.floor(rnd() * n);
  const kind = int(8);
  let b = Buffer.from(t);
  switch (kind) {
    case 0: // random bytes of random length
      b = Buffer.alloc(int(120));
      for (let i = 0; i < b.length; i++) b[i] = int(256);
      return b;
    case 1: // truncation
      return b.subarray(0, int(b.length));
    case 2: // a few bit flips anywhere
      for (let k = 1 + int(4); k > 0; k--) {
        const i = int(b.length);
        b[i] = b[i]! ^ (1 << int(8));
      }
      return b;
    case 3: // bit flips beyond the IP header with the IP checksum fixed (reaches ICMP/UDP/TCP)
      for (let k = 1 + int(3); k > 0; k--) {
        const i = 20 + int(b.length - 20);
        b[i] = b[i]! ^ (1 << int(8));
      }
      return b;
    case 4: // IP total length lies, checksum fixed
      b.writeUInt16BE(int(2) ? int(0x10000) : b.length + int(40) - 20, 2);
      fixIpChecksum(b);
      return b;
    case 5: // IHL / version lies, checksum fixed
      b[0] = int(2) ? (b[0]! & 0xf0) | int(16) : (int(16) << 4) | 5;
      fixIpChecksum(b);
      return b;
    case 6: // transport length fields lie (UDP length, TCP offset, ICMP quote), checksum fixed
      if (b.length > 27) b.writeUInt16BE(int(0x10000), 20 + (b[9] === 6 ? 12 : 4));
      fixIpChecksum(b);
      return b;
    default: // random trailing garbage or a valid template as is
      return int(2) ? Buffer.concat([b, Buffer.alloc(int(30), int(256))]) : b;
  }
}

describe('host: bad input (fuzz)', function () {
  this.timeout(30_000);
  let host: Host;
  let pinger: Host;
  let sink: dgram.Socket;
  let sock: Socket;

  before(async () => {
    sink = dgram.createSocket('udp4');
    sink.on('message', () => {});
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    host = await Host.create({ address: '10.77.0.1' });
    pinger = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.1', endpoint: host.endpoint }] });
    host.addPeer('10.77.0.4/30', { address: '127.0.0.1', port: sink.address().port });
    host.addPeer('10.77.0.2', pinger.endpoint);
    sock = createSocket({ type: 'udp4', host });
    await new Promise<void>((r) => sock.bind(5000, () => r()));
  });

  after(async () => {
    sock.close();
    await host.close();
    await pinger.close();
    sink.close();
  });

  it('survives 100,000 mutated datagrams, accounts for each, and still answers pings', async () => {
    // A fixed seed (printed), so a failure reproduces; FUZZ_SEED tries another.
    const seed = Number(process.env.FUZZ_SEED ?? 20261204) >>> 0;
    console.log(`      host fuzz seed=${seed}`);
    const rnd = prng(seed);
    const tpl = templates(5000);
    const from = { address: '127.0.0.1', port: sink.address().port };
    const spoofer = { address: '127.0.0.1', port: 1 };
    const N = 100_000;
    let messages = 0;
    sock.on('message', () => messages++);
    const before = host.datagramsIn;
    for (let i = 0; i < N; i += 5000) {
      for (let j = i; j < i + 5000; j++) {
        const pkt = mutate(tpl[Math.floor(rnd() * tpl.length)]!, rnd);
        // Mostly from the right endpoint; some from an endpoint that does not own the source.
        host.link.deliver(pkt, rnd() < 0.05 ? spoofer : from);
      }
      await new Promise((r) => setImmediate(r));
    }
    const received = host.datagramsIn - before;
    expect(received, `seed ${seed}`).to.equal(N);
    const drops = Object.fromEntries(host.stats.drops);
    let ipDrops = 0;
    for (const [reason, n] of host.stats.drops) if (IP_LEVEL.test(reason)) ipDrops += n;
    expect(drops.internal_error ?? 0, `seed ${seed}: ${JSON.stringify(drops)}`).to.equal(0);
    expect(host.stats.packetsIn + ipDrops, `seed ${seed}: ${JSON.stringify(drops)}`).to.equal(N);
    // The mix really exercised the layers: valid packets were accepted and many reasons fired.
    expect(host.stats.packetsIn).to.be.greaterThan(N / 10);
    expect(messages).to.be.greaterThan(0);
    for (const r of ['ip_bad_checksum', 'ip_truncated', 'ip_bad_length', 'spoofed', 'no_handler', 'udp_bad_checksum', 'icmp_bad_checksum', 'udp_no_socket']) {
      expect(drops[r] ?? 0, `${r} in ${JSON.stringify(drops)}`).to.be.greaterThan(0);
    }
    if (process.env.FUZZ_VERBOSE) console.log(host.stats.packetsIn, drops, host.icmp.stats);
    const rtt = await pinger.ping('10.77.0.1', { seq: 1, timeoutMs: 2000 });
    expect(rtt).to.be.a('number').and.be.greaterThan(0);
  });

  it('over real loopback UDP too: a paced batch of mutated datagrams is fully accounted for', async () => {
    const rnd = prng(12345);
    const tpl = templates(5000);
    const N = 3000;
    const before = host.datagramsIn;
    const beforeIn = host.stats.packetsIn;
    const dropsBefore = new Map(host.stats.drops);
    const ep = host.endpoint;
    for (let i = 0; i < N; i += 100) {
      for (let j = 0; j < 100; j++) sink.send(mutate(tpl[Math.floor(rnd() * tpl.length)]!, rnd), ep.port, ep.address);
      // Pace: wait until the host has seen this batch (bounded), so no socket buffer overruns.
      const deadline = Date.now() + 2000;
      while (host.datagramsIn - before < i + 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    }
    expect(host.datagramsIn - before).to.equal(N);
    let ipDrops = 0;
    for (const [reason, n] of host.stats.drops) if (IP_LEVEL.test(reason)) ipDrops += n - (dropsBefore.get(reason) ?? 0);
    expect(host.stats.packetsIn - beforeIn + ipDrops).to.equal(N);
    expect(await pinger.ping('10.77.0.1', { seq: 2, timeoutMs: 2000 })).to.be.greaterThan(0);
  });
});
