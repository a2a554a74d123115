/**
 * Batched reads on real loopback sockets (src/link/batch-read.ts, UdpLink's drain): after a
 * large datagram, a link reads what else its socket holds with recvmmsg, in order, each
 * datagram intact and with its sender; small datagrams never start a batch; a TCP transfer
 * of 65,000-byte packets is read mostly in batches, intact; and the switch is off with the
 * offload, or on its own.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { UdpLink, type LinkRemote } from '../../src/link/udp-link.js';
import { twinSumCount } from '../../src/wire/checksum.js';
import { ACK, encodeTcpPacket } from '../../src/wire/tcp.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { newKeyPair } from '../../src/secure/keys.js';
import { listSockets } from '../../src/metrics/collectors.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { formatTable } from '../../src/cli/ss.js';
import { until } from '../helpers/real-tcp.js';
import { experimentPacket, rawUdpSocket } from '../helpers/raw-udp.js';
import { transferIntact } from '../helpers/digest.js';
import { parseArgs } from '../../src/cli/args.js';
import { hostFlagSpecs, hostOptionsFromFlags } from '../../src/cli/common.js';

const packet = (len: number, mark: number): Buffer => experimentPacket(len, mark, 0x0a5c0001, 0x0a5c0002);

describe('batched reads (recvmmsg) on loopback', function () {
  this.timeout(30000);
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function link(batchReads: boolean): Promise<{ link: UdpLink; got: Array<[Buffer, LinkRemote]> }> {
    const l = await UdpLink.bind({ address: '127.0.0.1', port: 0, batchReads });
    closers.push(() => l.close());
    const got: Array<[Buffer, LinkRemote]> = [];
    l.onPacket((p, from) => got.push([Buffer.from(p), from]));
    return { link: l, got };
  }

  it('reads the datagrams queued behind a large one in batches, in order, each intact and with its sender', async () => {
    const { link: l, got } = await link(true);
    expect(l.offload().batch).to.equal(true);
    const tx = await rawUdpSocket();
    closers.push(() => void tx.close());
    const tx2 = await rawUdpSocket();
    closers.push(() => void tx2.close());
    // 20 datagrams sent in one task (node:dgram hands each to the kernel at once), so they
    // are all queued when the link first reads: one through node:dgram, the rest in batches.
    // Sizes vary (a short one among them), and two senders alternate in the middle.
    const sent: Array<[Buffer, number]> = [];
    for (let i = 0; i < 20; i++) {
      const p = packet(i === 7 ? 300 : 2000 + i * 100, i + 1);
      const from = i >= 10 && i < 13 ? tx2 : tx;
      from.send(p, l.local().port, '127.0.0.1');
      sent.push([p, from.address().port]);
    }
    await until(() => got.length >= 20, 5000, '20 datagrams at the link');
    expect(got.map(([p]) => p.length)).to.deep.equal(sent.map(([p]) => p.length));
    got.forEach(([p, from], i) => {
      expect(p.equals(sent[i]![0]), `datagram ${i}`).to.equal(true);
      expect({ address: from.address, port: from.port }, `sender of datagram ${i}`).to.deep.equal({ address: '127.0.0.1', port: sent[i]![1] });
    });
    expect(l.stats.packetsIn).to.equal(20);
    expect(l.stats.batchPacketsIn).to.equal(19);
    expect(l.stats.batchReads).to.equal(2); // 16, then 3
  });

  it('starts no batch after small datagrams (a ping-pong pays no extra read)', async () => {
    const { link: l, got } = await link(true);
    const tx = await rawUdpSocket();
    closers.push(() => void tx.close());
    for (let i = 0; i < 20; i++) tx.send(packet(200, i + 1), l.local().port, '127.0.0.1');
    await until(() => got.length >= 20, 5000, '20 datagrams at the link');
    expect(l.stats.batchReads).to.equal(0);
    expect(l.stats.batchPacketsIn).to.equal(0);
  });

  it('backs off after reads that find nothing (request/response of large messages), and reads at once again in a burst', async () => {
    const { link: l, got } = await link(true);
    const tx = await rawUdpSocket();
    closers.push(() => void tx.close());
    // 40 large datagrams one at a time, each alone in the queue: a read after every one
    // would find nothing 40 times; with the backoff (skip 1, 3, 7, 15, 32) 5 reads do.
    for (let i = 0; i < 40; i++) {
      tx.send(packet(2000, i + 1), l.local().port, '127.0.0.1');
      await until(() => got.length > i, 5000, `datagram ${i + 1}`, 1);
    }
    expect(l.stats.batchEmptyReads).to.equal(5);
    expect(l.stats.batchReads).to.equal(0);
    // Then a burst: within the 32 doorbells skipped now, so not read in batches...
    for (let i = 0; i < 20; i++) tx.send(packet(2000, 100 + i), l.local().port, '127.0.0.1');
    await until(() => got.length >= 60, 5000, 'the burst');
    const skipped = l.stats.batchPacketsIn;
    // ...and the next burst, once the backoff has run out, is read in batches at once.
    for (let i = 0; i < 40; i++) tx.send(packet(2000, 200 + i), l.local().port, '127.0.0.1');
    await until(() => got.length >= 100, 5000, 'the second burst');
    expect(l.stats.batchPacketsIn - skipped).to.be.greaterThan(0);
    // A read that found datagrams ended the backoff: one datagram alone again skips only the
    // next doorbell (three alone: reads after the first and the third, both empty).
    const empty = l.stats.batchEmptyReads;
    for (let i = 0; i < 3; i++) {
      tx.send(packet(2000, 300 + i), l.local().port, '127.0.0.1');
      await until(() => got.length > 100 + i, 5000, `single ${i + 1}`, 1);
    }
    expect(l.stats.batchEmptyReads - empty).to.equal(2);
    got.forEach(([p], i) => expect(p.readUInt16BE(4), `identification of datagram ${i}`).to.equal(i < 40 ? i + 1 : i < 60 ? 100 + i - 40 : i < 100 ? 200 + i - 60 : 300 + i - 100));
  });

  it('reads one datagram per call with batched reads off', async () => {
    const { link: l, got } = await link(false);
    expect(l.offload().batch).to.equal(false);
    const tx = await rawUdpSocket();
    closers.push(() => void tx.close());
    for (let i = 0; i < 20; i++) tx.send(packet(3000, i + 1), l.local().port, '127.0.0.1');
    await until(() => got.length >= 20, 5000, '20 datagrams at the link');
    expect(l.stats.batchReads).to.equal(0);
  });

  it('reads most of a TCP transfer of 65,000-byte packets in batches, intact, and shows it in `overlay ss`', async () => {
    const b = await Host.create({ address: '10.92.0.2', mtu: 65000 });
    closers.push(() => b.close());
    const a = await Host.create({ address: '10.92.0.1', mtu: 65000, peers: [{ prefix: '10.92.0.2/32', endpoint: b.endpoint }] });
    closers.push(() => a.close());
    b.addPeer('10.92.0.1/32', a.endpoint);
    await transferIntact(a, b, '10.92.0.2', 32 * 1024 * 1024);
    const lb = b.link.stats;
    expect(lb.batchReads).to.be.greaterThan(0);
    expect(lb.batchPacketsIn).to.be.greaterThan(lb.packetsIn / 4);
    const table = formatTable(listSockets([{ host: () => b.snapshot() }]));
    expect(table).to.include(`batch_reads:${lb.batchReads}/${lb.batchPacketsIn}`);
    const text = await createMetrics({ sources: () => [{ host: () => b.snapshot() }] }).registry.metrics();
    expect(text).to.include(`overlay_udp_batch_reads_total{host="10.92.0.2"} ${lb.batchReads}`);
    expect(text).to.include(`overlay_udp_batch_datagrams_total{host="10.92.0.2"} ${lb.batchPacketsIn}`);
  });

  it('verifies each TCP checksum of a batch where the kernel put it: the corrupted are dropped and counted, the rest taken', async () => {
    const b = await Host.create({ address: '10.92.0.2' });
    closers.push(() => b.close());
    TcpStack.for(b);
    const tx = await rawUdpSocket();
    closers.push(() => void tx.close());
    b.addPeer('10.92.0.9/32', tx.address());
    const src = parseIpv4('10.92.0.9')!;
    const dst = parseIpv4('10.92.0.2')!;
    // 20 data segments to a closed port (each answered with a RST), every third corrupted
    // in its payload after the checksum was written: 7 of them.
    let corrupted = 0;
    const twins = twinSumCount();
    for (let i = 0; i < 20; i++) {
      const seg = { srcPort: 40000 + i, dstPort: 5999, seq: 1000 * i, ack: 1, flags: ACK, window: 1000, urgent: 0, options: {}, payload: randomBytes(1200 + i) };
      const p = encodeTcpPacket({ src, dst, id: i + 1 }, seg);
      if (i % 3 === 0) {
        p[p.length - 1 - i] ^= 0x40;
        corrupted++;
      }
      tx.send(p, b.endpoint.port, '127.0.0.1');
    }
    await until(() => b.link.stats.packetsIn >= 20, 5000, '20 datagrams at B');
    expect(b.link.stats.batchPacketsIn).to.equal(19);
    expect(b.stats.drops.get('tcp_bad_checksum')).to.equal(corrupted);
    expect(TcpStack.for(b).stats().segmentsIn).to.equal(20 - corrupted);
    // The 19 read in batches were summed where the kernel put them (the first came through node:dgram).
    expect(twinSumCount() - twins).to.equal(19);
  });

  it('reads the secure mode\'s sealed datagrams in batches too, and never sums a packet opened in place from what the kernel wrote', async () => {
    const ka = newKeyPair();
    const kb = newKeyPair();
    const b = await Host.create({ address: '10.92.0.2', mtu: 9000, key: kb.privateKey });
    closers.push(() => b.close());
    const a = await Host.create({ address: '10.92.0.1', mtu: 9000, key: ka.privateKey, peers: [{ prefix: '10.92.0.2/32', endpoint: b.endpoint, publicKey: kb.publicKey }] });
    closers.push(() => a.close());
    b.addPeer('10.92.0.1/32', a.endpoint, ka.publicKey);
    expect(b.offload().batch).to.equal(true);
    await transferIntact(a, b, '10.92.0.2', 16 * 1024 * 1024);
    expect(b.link.stats.batchPacketsIn).to.be.greaterThan(0);
    // Summed from the ciphertext the kernel wrote, every one of them would fail its checksum.
    expect(b.stats.drops.get('tcp_bad_checksum') ?? 0).to.equal(0);
    expect(b.snapshot().secure!.drops).to.deep.equal({});
  });

  it('is on with the offload, off with --no-offload, and off on its own with batchReads: false', async () => {
    const on = await Host.create(await hostOptionsFromFlags(parseArgs(['--addr', '10.92.0.1'], hostFlagSpecs)));
    closers.push(() => on.close());
    const off = await Host.create(await hostOptionsFromFlags(parseArgs(['--addr', '10.92.0.2', '--no-offload'], hostFlagSpecs)));
    closers.push(() => off.close());
    const alone = await Host.create({ address: '10.92.0.3', batchReads: false });
    closers.push(() => alone.close());
    const only = await Host.create({ address: '10.92.0.4', offload: false, batchReads: true });
    closers.push(() => only.close());
    expect(on.offload().batch).to.equal(true);
    expect(off.offload().batch).to.equal(false);
    expect(alone.offload()).to.deep.equal({ segment: 1472, gro: true, batch: false, direct: true });
    expect(only.offload()).to.deep.equal({ segment: 0, gro: false, batch: true, direct: false });
    const bad = await Host.create({ address: '10.92.0.5', batchReads: 'yes' as unknown as boolean }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(bad?.code).to.equal('ERR_INVALID_ARG_TYPE');
    expect(bad?.message).to.include('options.batchReads');
  });
});
