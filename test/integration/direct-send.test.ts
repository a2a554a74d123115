/**
 * Direct sends (src/link/direct-send.ts) on real loopback sockets: single datagrams leave
 * through sendto(2), intact and in order, their packets given back at once; every failure is
 * counted; datagrams that node:dgram still holds are not overtaken; trains, parts and names
 * stay with node:dgram; and a TCP exchange between hosts (with a connected peer socket) uses
 * them, as `overlay ss` and the metrics show.
 */
import { expect } from 'chai';
import type { Socket as UdpSocket } from 'node:dgram';
import { Host } from '../../src/host/host.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { UdpLink } from '../../src/link/udp-link.js';
import { DirectSender, SENT, USE_DGRAM } from '../../src/link/direct-send.js';
import type { Libc } from '../../src/link/libc.js';
import { allocPacket, packetReuseCount } from '../../src/util/slab.js';
import { listSockets } from '../../src/metrics/collectors.js';
import { formatTable } from '../../src/cli/ss.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';
import { until } from '../helpers/real-tcp.js';
import { experimentPacket, rawUdpSocket } from '../helpers/raw-udp.js';
import { connect } from '../../src/net.js';
import { once } from 'node:events';

const A = parseIpv4('10.93.0.1')!;
const B = parseIpv4('10.93.0.2')!;

/** Collects what `rx` receives: each datagram's first identification byte (experimentPacket's mark). */
function marks(rx: UdpSocket): number[] {
  const got: number[] = [];
  rx.on('message', (m: Buffer) => got.push(m[5]!));
  return got;
}

describe('link: direct sends (sendto through koffi)', function () {
  this.timeout(20_000);
  const closers: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function link(opts: Partial<Parameters<typeof UdpLink.bind>[0]> = {}): Promise<UdpLink> {
    const l = await UdpLink.bind({ address: '127.0.0.1', port: 0, directSends: true, ...opts });
    closers.push(() => l.close());
    return l;
  }

  async function sink(): Promise<UdpSocket> {
    const rx = await rawUdpSocket();
    closers.push(() => void rx.close());
    return rx;
  }

  it('sends single datagrams directly, intact and in order, and gives their packets back at once', async () => {
    const l = await link();
    expect(l.offload().direct).to.equal(true);
    const rx = await sink();
    const got: Buffer[] = [];
    rx.on('message', (m: Buffer) => got.push(m));
    const sent: Buffer[] = [];
    const reused0 = packetReuseCount().packets;
    for (let i = 0; i < 200; i++) {
      const p = experimentPacket(100 + (i % 50), i & 0xff, A, B);
      sent.push(Buffer.from(p));
      const owned = allocPacket(p.length);
      p.copy(owned);
      l.send(owned, rx.address().port, '127.0.0.1', true);
    }
    // Given back synchronously: the kernel had copied each one when sendto returned.
    expect(packetReuseCount().packets - reused0).to.equal(200);
    expect(l.stats.directOut).to.equal(200);
    expect(l.stats.packetsOut).to.equal(200);
    await until(() => got.length === 200, 5000, '200 datagrams');
    expect(got).to.deep.equal(sent);
  });

  it('counts every failed direct send, at once (no sampling, no callback)', async () => {
    const l = await link();
    // Broadcast without SO_BROADCAST: the kernel refuses each send (EACCES).
    for (let i = 0; i < 10; i++) l.send(Buffer.from('x'), 9, '255.255.255.255');
    expect(l.stats.sendErrors).to.equal(10);
    expect(l.stats.packetsOut).to.equal(0);
    expect(l.stats.directOut).to.equal(0);
    // Through node:dgram the same failures are sampled: the first to a new destination only.
    const slow = await link({ directSends: false });
    expect(slow.offload().direct).to.equal(false);
    for (let i = 0; i < 10; i++) slow.send(Buffer.from('x'), 9, '255.255.255.255');
    await new Promise((r) => setTimeout(r, 20));
    expect(slow.stats.sendErrors).to.equal(1);
  });

  it('leaves names, trains and datagrams in parts to node:dgram, and never overtakes what it still holds', async () => {
    const segment = 600;
    const l = await link({ offload: { segment } });
    const rx = await sink();
    const got = marks(rx);
    const port = rx.address().port;
    // A name is resolved by node:dgram (not a literal: no direct send).
    l.send(experimentPacket(100, 1, A, B), port, 'localhost');
    await until(() => got.length === 1, 5000, 'the datagram sent to a name');
    // In parts: one sendmsg of a list, through node:dgram.
    l.sendParts(experimentPacket(100, 2, A, B).subarray(0, 40), experimentPacket(100, 2, A, B).subarray(40), port, '127.0.0.1');
    // A train: two full-size datagrams in one call.
    l.send(experimentPacket(segment, 3, A, B), port, '127.0.0.1');
    l.send(experimentPacket(segment, 4, A, B), port, '127.0.0.1');
    l.flush();
    expect(l.stats.directOut).to.equal(0);
    // While libuv reports sends queued on the socket, a lone datagram queues behind them.
    const s = l.socket;
    const real = s.getSendQueueCount.bind(s);
    s.getSendQueueCount = () => 1;
    l.send(experimentPacket(100, 5, A, B), port, '127.0.0.1');
    expect(l.stats.directOut, 'behind a queue: node:dgram').to.equal(0);
    s.getSendQueueCount = real;
    l.send(experimentPacket(100, 6, A, B), port, '127.0.0.1');
    expect(l.stats.directOut, 'queue empty: direct again').to.equal(1);
    await until(() => got.length === 6, 5000, 'six datagrams');
    expect(got).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(l.stats.packetsOut).to.equal(6);
  });

  it('is on in hosts by default (with the offload), off on request, and carries a TCP exchange over a connected peer socket', async () => {
    const [a, b] = await hostPair('10.93.0.1', '10.93.0.2');
    closers.push(() => a.close(), () => b.close());
    expect(a.offload().direct).to.equal(true);
    const off = await Host.create({ address: '10.93.0.3', directSends: false });
    closers.push(() => off.close());
    expect(off.offload()).to.include({ direct: false });
    const none = await Host.create({ address: '10.93.0.4', offload: false });
    closers.push(() => none.close());
    expect(none.offload()).to.include({ direct: false });
    const bad = await Host.create({ address: '10.93.0.5', directSends: 'yes' as unknown as boolean }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(bad?.code).to.equal('ERR_INVALID_ARG_TYPE');

    // Client C talks to B through a socket connected to B (connectPeer): its sends go direct on that socket.
    const c = await Host.create({ address: '10.93.0.6', connectPeer: true, peers: [{ prefix: '10.93.0.2/32', endpoint: b.endpoint }] });
    closers.push(() => c.close());
    b.addPeer('10.93.0.6/32', c.endpoint);
    const { server, port } = await echoServer(b, { noDelay: true });
    closers.push(() => void server.close());
    const s = connect({ via: c, host: '10.93.0.2', port, noDelay: true });
    closers.push(() => void s.destroy());
    await once(s, 'connect');
    let echoed = Buffer.alloc(0);
    s.on('data', (d: Buffer) => (echoed = Buffer.concat([echoed, d])));
    const msgs = Array.from({ length: 50 }, (_, i) => Buffer.alloc(64, i));
    for (const m of msgs) {
      s.write(m);
      await until(() => echoed.length % 64 === 0 && echoed.length >= 64 * (msgs.indexOf(m) + 1), 5000, 'the echo');
    }
    expect(echoed.equals(Buffer.concat(msgs))).to.equal(true);
    expect(c.link.connectedPeer()).to.deep.equal(b.endpoint);
    expect(c.link.stats.directOut, "the client's segments, over the connected socket").to.be.at.least(50);
    expect(b.link.stats.directOut, "the server's answers").to.be.at.least(50);
    const table = formatTable(listSockets([{ host: () => c.snapshot() }]));
    expect(table).to.match(new RegExp(`direct_out:${c.link.stats.directOut}\\b`));
    expect(formatTable(listSockets([{ host: () => off.snapshot() }]))).to.include('direct_out:off');
    const metrics = await createMetrics().registry.metrics();
    expect(metrics).to.match(/overlay_udp_direct_datagrams_total\{host="10\.93\.0\.6"\} [1-9]\d*/);
  });
});

describe('link: a direct send\'s result', () => {
  /** A C library whose sendto returns `r` and leaves `errno`, recording the destinations passed. */
  function fakeLibc(r: number, errno: number, seen: Array<Buffer | null>): Libc {
    const sendto = (_fd: number, _buf: Buffer, _len: number, _flags: number, addr: Buffer | null): number => {
      seen.push(addr && Buffer.from(addr));
      return r;
    };
    return { func: <F>() => sendto as unknown as F, address: () => 0n, errno: () => errno };
  }

  it('is SENT, USE_DGRAM for a full buffer, an interrupted call or a name, else the negative errno', () => {
    const seen: Array<Buffer | null> = [];
    const p = Buffer.alloc(60);
    expect(DirectSender.of(3, fakeLibc(60, 0, seen), false).send(p, 4000, '127.0.0.1')).to.equal(SENT);
    expect(seen[0]!.toString('hex')).to.equal('02000fa07f000001' + '00'.repeat(8)); // AF_INET, port 4000, 127.0.0.1
    for (const [errno, want] of [[11, USE_DGRAM], [105, USE_DGRAM], [4, USE_DGRAM], [13, -13], [101, -101]] as const) {
      expect(DirectSender.of(3, fakeLibc(-1, errno, seen), false).send(p, 4000, '127.0.0.1'), `errno ${errno}`).to.equal(want);
    }
    const n = seen.length;
    expect(DirectSender.of(3, fakeLibc(60, 0, seen), false).send(p, 4000, 'localhost'), 'a name').to.equal(USE_DGRAM);
    expect(DirectSender.of(3, fakeLibc(60, 0, seen), false).send(p, 4000, '010.0.0.1'), 'not a literal to isIPv4').to.equal(USE_DGRAM);
    expect(seen.length, 'nothing sent for a name').to.equal(n);
    // A connected socket passes no destination.
    expect(DirectSender.of(3, fakeLibc(60, 0, seen), true).send(p, 1, 'ignored')).to.equal(SENT);
    expect(seen[seen.length - 1]).to.equal(null);
  });
});
