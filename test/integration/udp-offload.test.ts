/**
 * UDP GSO and GRO on real loopback sockets (src/link/udp-offload.ts, UdpLink's trains): a
 * host sends full-size packets to one peer as trains, one sendmsg each, which still arrive
 * as one datagram per packet at a socket that reads datagrams one by one; a host reads a
 * train whole and cuts it back into its packets; and a TCP transfer between two hosts moves
 * its data in trains both ways, intact.
 */
import { expect } from 'chai';
import type { Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import type { UdpLink } from '../../src/link/udp-link.js';
import { setGsoSize, socketFd } from '../../src/link/udp-offload.js';
import { createSocket } from '../../src/udp/index.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { listSockets } from '../../src/metrics/collectors.js';
import { formatTable } from '../../src/cli/ss.js';
import { hostPair } from '../helpers/overlay-echo.js';
import { until } from '../helpers/real-tcp.js';
import { experimentPacket, rawUdpSocket } from '../helpers/raw-udp.js';
import { transferIntact } from '../helpers/digest.js';
import { newKeyPair } from '../../src/secure/keys.js';
import { packetReuseCount } from '../../src/util/slab.js';
import { parseArgs } from '../../src/cli/args.js';
import { hostFlagSpecs, hostOptionsFromFlags } from '../../src/cli/common.js';

const MTU = 1472;

const packet = (len: number, mark: number): Buffer => experimentPacket(len, mark, 0x0a5b0001, 0x0a5b0002);

/** Sends `n` full-size overlay UDP datagrams from A to B's port 7000 in one task; resolves with how many B received. */
async function udpBurst(a: Host, b: Host, n: number): Promise<number> {
  const rx = createSocket({ type: 'udp4', host: b });
  rx.bind(7000);
  await once(rx, 'listening');
  let got = 0;
  rx.on('message', () => got++);
  const tx = createSocket({ type: 'udp4', host: a });
  const payload = Buffer.alloc(MTU - 28, 7);
  for (let i = 0; i < n; i++) tx.send(payload, 7000, '10.91.0.2');
  await until(() => got >= n, 5000, `${n} datagrams at B`);
  tx.close();
  rx.close();
  return got;
}


describe('udp offload (GSO and GRO) on loopback', function () {
  this.timeout(30000);
  const hosts: Host[] = [];
  const sockets: UdpSocket[] = [];
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.close();
    for (const s of sockets.splice(0)) s.close();
  });

  it('is on by default, with trains of MTU-size datagrams, and off on request', async () => {
    const [a, b] = await hostPair('10.91.0.1', '10.91.0.2');
    hosts.push(a, b);
    expect(a.offload()).to.deep.equal({ segment: MTU, gro: true, batch: true, direct: true });
    const c = await Host.create({ address: '10.91.0.3', offload: false });
    hosts.push(c);
    expect(c.offload()).to.deep.equal({ segment: 0, gro: false, batch: false, direct: false });
    const table = formatTable(listSockets([{ host: () => c.snapshot() }]));
    expect(table).to.include('gso:off gro:off trains_out:0/0 trains_in:0/0 batch_reads:off');
  });

  it('is off from the command line with --no-offload', async () => {
    const on = await Host.create(await hostOptionsFromFlags(parseArgs(['--addr', '10.91.0.1'], hostFlagSpecs)));
    hosts.push(on);
    const off = await Host.create(await hostOptionsFromFlags(parseArgs(['--addr', '10.91.0.2', '--no-offload'], hostFlagSpecs)));
    hosts.push(off);
    expect(on.offload().segment).to.equal(MTU);
    expect(off.offload()).to.deep.equal({ segment: 0, gro: false, batch: false, direct: false });
  });

  it('sends a burst as trains of one sendmsg each, and every packet still arrives as a datagram of its own, in order', async () => {
    const rx = await rawUdpSocket();
    sockets.push(rx);
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const a = await Host.create({ address: '10.91.0.1', peers: [{ prefix: '10.91.0.2/32', endpoint: rx.address() }] });
    hosts.push(a);
    const link = a.link as UdpLink;
    // Five full-size packets and a short one (which ends a train), then three more full-size
    // ones, in one task: two trains. Then, after a turn, one lone packet: no train.
    const sent = [packet(MTU, 1), packet(MTU, 2), packet(MTU, 3), packet(MTU, 4), packet(MTU, 5), packet(500, 6), packet(MTU, 7), packet(MTU, 8), packet(MTU, 9)];
    for (const p of sent) a.sendPacket(p, 0x0a5b0002);
    await new Promise((r) => setImmediate(r));
    const lone = packet(MTU, 10);
    a.sendPacket(lone, 0x0a5b0002);
    sent.push(lone);
    await until(() => got.length >= sent.length, 5000, 'every datagram at the raw socket');
    expect(got.map((m) => m.length)).to.deep.equal(sent.map((p) => p.length));
    got.forEach((m, i) => expect(m.equals(sent[i]!), `datagram ${i}`).to.equal(true));
    expect(link.stats.trainsOut).to.equal(2);
    expect(link.stats.trainPacketsOut).to.equal(9);
    expect(link.stats.packetsOut).to.equal(10);
  });

  it('gathers datagrams sent in parts (headers, payload) into trains too, each arriving whole and in order', async () => {
    const rx = await rawUdpSocket();
    sockets.push(rx);
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const a = await Host.create({ address: '10.91.0.1', mtu: 9000, peers: [{ prefix: '10.91.0.2/32', endpoint: rx.address() }] });
    hosts.push(a);
    const link = a.link as UdpLink;
    const port = rx.address().port;
    // Four full-size datagrams in parts, one whole, then a short one in parts (which ends the
    // train): one train of six datagrams. After a turn, one full-size datagram in parts alone.
    const whole = (n: number, mark: number): Buffer => packet(n, mark);
    const sent: Buffer[] = [];
    const inParts = (p: Buffer, cut: number): void => {
      link.sendParts(p.subarray(0, cut), p.subarray(cut), port, '127.0.0.1');
      sent.push(p);
    };
    for (let i = 1; i <= 4; i++) inParts(whole(9000, i), 52 + i);
    const w = whole(9000, 5);
    link.send(w, port, '127.0.0.1');
    sent.push(w);
    inParts(whole(3000, 6), 52);
    await new Promise((r) => setImmediate(r));
    inParts(whole(9000, 7), 52);
    await until(() => got.length >= sent.length, 5000, 'every datagram at the raw socket');
    got.forEach((m, i) => expect(m.equals(sent[i]!), `datagram ${i}`).to.equal(true));
    expect(link.stats.trainsOut).to.equal(1);
    expect(link.stats.trainPacketsOut).to.equal(6);
    expect(link.stats.packetsOut).to.equal(7);
  });

  it('a TCP transfer at MTU 9000 (payloads sent apart from their headers) leaves in trains, intact', async () => {
    const b = await Host.create({ address: '10.91.0.2', mtu: 9000 });
    hosts.push(b);
    const a = await Host.create({ address: '10.91.0.1', mtu: 9000, peers: [{ prefix: '10.91.0.2/32', endpoint: b.endpoint }] });
    hosts.push(a);
    b.addPeer('10.91.0.1/32', a.endpoint);
    await transferIntact(a, b, '10.91.0.2', 16 * 1024 * 1024);
    const la = a.link.stats;
    expect(la.trainPacketsOut).to.be.greaterThan(la.packetsOut / 2);
    expect(la.trainPacketsOut / la.trainsOut).to.be.greaterThan(2);
  });

  it('reads a train whole and cuts it into its packets', async () => {
    const b = await Host.create({ address: '10.91.0.2' });
    hosts.push(b);
    const delivered: Buffer[] = [];
    b.setProtocolHandler(253, { onPacket: (_ip, _payload, p) => delivered.push(Buffer.from(p)) });
    const tx = await rawUdpSocket();
    sockets.push(tx);
    b.addPeer('10.91.0.1/32', tx.address());
    const fd = socketFd('127.0.0.1', tx.address().port, false);
    expect(fd, 'the raw socket found in /proc').to.be.a('number');
    expect(setGsoSize(fd!, MTU)).to.equal(true);
    const sent = [packet(MTU, 1), packet(MTU, 2), packet(MTU, 3), packet(700, 4)];
    tx.send(sent, b.endpoint.port, '127.0.0.1');
    const link = b.link as UdpLink;
    await until(() => link.stats.packetsIn >= 4, 5000, 'the train at B');
    expect(link.stats.trainsIn).to.equal(1);
    expect(link.stats.trainPacketsIn).to.equal(4);
    expect(link.stats.packetsIn).to.equal(4);
    expect(b.stats.packetsIn).to.equal(4);
    expect(delivered.map((p) => p.length)).to.deep.equal([MTU, MTU, MTU, 700]);
    delivered.forEach((p, i) => expect(p.equals(sent[i]!), `packet ${i}`).to.equal(true));
  });

  it('moves a TCP transfer\'s data in trains that the receiver reads whole, intact', async () => {
    const [a, b] = await hostPair('10.91.0.1', '10.91.0.2');
    hosts.push(a, b);
    await transferIntact(a, b, '10.91.0.2', 6 * 1024 * 1024);
    const la = a.link as UdpLink;
    const lb = b.link as UdpLink;
    // 6 MiB is about 4,430 segments: most of them leave in trains, several packets each.
    expect(la.stats.trainPacketsOut).to.be.greaterThan(la.stats.packetsOut / 2);
    expect(la.stats.trainPacketsOut / la.stats.trainsOut).to.be.greaterThan(4);
    expect(lb.stats.trainsIn).to.be.greaterThan(0);
    expect(lb.stats.trainPacketsIn).to.be.greaterThan(lb.stats.packetsIn / 2);
    // The same counts in the metrics and in `overlay ss`.
    const metrics = createMetrics({ sources: () => [{ host: () => a.snapshot() }, { host: () => b.snapshot() }] });
    const text = await metrics.registry.metrics();
    expect(text).to.include(`overlay_udp_trains_total{host="10.91.0.1",direction="out"} ${la.stats.trainsOut}`);
    expect(text).to.include(`overlay_udp_train_datagrams_total{host="10.91.0.1",direction="out"} ${la.stats.trainPacketsOut}`);
    expect(text).to.include(`overlay_udp_trains_total{host="10.91.0.2",direction="in"} ${lb.stats.trainsIn}`);
    const table = formatTable(listSockets([{ host: () => a.snapshot() }, { host: () => b.snapshot() }]));
    expect(table).to.include(`gso:1472 gro:on trains_out:${la.stats.trainsOut}/${la.stats.trainPacketsOut}`);
    expect(table).to.include(`trains_in:${lb.stats.trainsIn}/${lb.stats.trainPacketsIn}`);
  });

  it('sends the secure mode\'s sealed datagrams in trains too, and cuts the trains it reads by their session header', async () => {
    const ka = newKeyPair();
    const kb = newKeyPair();
    const b = await Host.create({ address: '10.91.0.2', key: kb.privateKey });
    hosts.push(b);
    const a = await Host.create({ address: '10.91.0.1', key: ka.privateKey, peers: [{ prefix: '10.91.0.2/32', endpoint: b.endpoint, publicKey: kb.publicKey }] });
    hosts.push(a);
    b.addPeer('10.91.0.1/32', a.endpoint, ka.publicKey);
    expect(a.offload()).to.deep.equal({ segment: MTU, gro: true, batch: true, direct: true });
    const reused = packetReuseCount().packets;
    await transferIntact(a, b, '10.91.0.2', 4 * 1024 * 1024);
    // The full-size sealed datagrams were handed to the link and given back once sent (their
    // slabs used again), none of them overwritten while held (no drops at B, below).
    expect(packetReuseCount().packets - reused).to.be.greaterThan(a.link.stats.trainPacketsOut / 2);
    // A sealed datagram reused while it waited in a train would arrive overwritten: bad MACs.
    expect(b.snapshot().secure!.drops).to.deep.equal({});
    const la = a.link.stats;
    const lb = b.link.stats;
    expect(la.trainPacketsOut).to.be.greaterThan(la.packetsOut / 2);
    expect(la.trainPacketsOut / la.trainsOut).to.be.greaterThan(4);
    // B read A's trains whole (UDP GRO) and cut them (src/secure/train.ts): every datagram
    // authenticated (no drops above), and counted one by one.
    expect(lb.trainsIn).to.be.greaterThan(0);
    expect(lb.trainPacketsIn).to.be.greaterThan(lb.packetsIn / 2);
    // Every datagram B read, but the handshake's, opened as data.
    expect(b.snapshot().secure!.events['opened']).to.be.within(lb.packetsIn - 2, lb.packetsIn - 1);
  });

  it('sends trains through the socket connected to the one peer (connectPeer) too', async () => {
    const b = await Host.create({ address: '10.91.0.2' });
    hosts.push(b);
    const a = await Host.create({ address: '10.91.0.1', connectPeer: true, peers: [{ prefix: '10.91.0.2/32', endpoint: b.endpoint }] });
    hosts.push(a);
    b.addPeer('10.91.0.1/32', a.endpoint);
    expect(a.offload()).to.deep.equal({ segment: MTU, gro: true, batch: true, direct: true });
    expect(await udpBurst(a, b, 30)).to.equal(30);
    const la = a.link as UdpLink;
    expect(la.connectedPeer()).to.deep.equal(b.endpoint);
    expect(la.stats.trainsOut).to.equal(1);
    expect(la.stats.trainPacketsOut).to.equal(30);
    expect((b.link as UdpLink).stats.trainPacketsIn).to.equal(30);
  });

  it('turns trains off for good when the kernel refuses one (EIO: a device that cannot checksum it)', async () => {
    const a = await Host.create({ address: '10.91.0.1' });
    hosts.push(a);
    const link = a.link as UdpLink;
    // What node:dgram's callback reports for such a train; the link's own handler, called as node would.
    const refused = Object.assign(new Error('send EIO'), { code: 'EIO' });
    (link as unknown as { onTrainDone(e: Error): void }).onTrainDone(refused);
    const off = a.offload();
    expect(off.segment).to.equal(0);
    expect(off.gro).to.equal(true);
    expect(off.reason).to.match(/refused \(EIO\)/);
    expect(link.stats.sendErrors).to.equal(1);
  });

  it("passes a train's send the callback that ends trains, and a lone datagram's the one that does not", async () => {
    // Lone datagrams through node:dgram too (direct sends report errors at once, not by callback).
    const [a, b] = await hostPair('10.91.0.1', '10.91.0.2', { directSends: false });
    hosts.push(a, b);
    const link = a.link as UdpLink;
    // node:dgram reports EIO through each send's callback: make every send fail that way.
    const refused = Object.assign(new Error('send EIO'), { code: 'EIO' });
    const fail = (s: UdpSocket): void => {
      s.send = ((...args: unknown[]) => {
        const cb = args[args.length - 1];
        if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, refused);
      }) as UdpSocket['send'];
    };
    fail(link.socket); // (no connected peer socket here: hostPair adds the peer after Host.create)
    const lone = packet(200, 1);
    for (let i = 0; i < 70; i++) link.send(lone, b.endpoint.port, b.endpoint.address); // checked every 64 sends
    await new Promise((r) => setImmediate(r));
    expect(link.stats.sendErrors).to.be.at.least(1);
    expect(a.offload().segment, 'a lone datagram failing does not end trains').to.equal(MTU);
    const full = packet(MTU, 2);
    link.send(full, b.endpoint.port, b.endpoint.address);
    link.send(full, b.endpoint.port, b.endpoint.address);
    link.flush();
    await new Promise((r) => setImmediate(r));
    expect(a.offload().segment, 'a train failing with EIO ends trains').to.equal(0);
    expect(a.offload().reason).to.match(/refused \(EIO\)/);
  });

  it('sends one datagram per call with offload off, as before', async () => {
    const a = await Host.create({ address: '10.91.0.1', offload: false });
    const b = await Host.create({ address: '10.91.0.2', offload: false });
    hosts.push(a, b);
    a.addPeer('10.91.0.2/32', b.endpoint);
    b.addPeer('10.91.0.1/32', a.endpoint);
    expect(await udpBurst(a, b, 20)).to.equal(20);
    expect((a.link as UdpLink).stats.trainsOut).to.equal(0);
    expect((b.link as UdpLink).stats.trainsIn).to.equal(0);
  });
});
