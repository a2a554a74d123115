/**
 * TIME-WAIT reuse in the stack (src/tcp/driver.ts, src/tcp/ports.ts), between two in-process
 * hosts whose clock the test moves (no UDP: a packet is handed to the other stack on the next
 * turn of the event loop). The ephemeral range is cut to a few ports so that it runs out.
 * - active: once no port is free, a connect takes the 4-tuple of a TIME-WAIT record whose
 *   last timestamp is more than 1 s old, with its ISN and TSval above the old connection's,
 *   and carries data; refused (EADDRNOTAVAIL) while the records are younger, without
 *   timestamps, with `timeWaitReuse` off; a free port is always taken first.
 * - passive: a server that closed first holds the records; a client reconnecting on the
 *   same 4-tuple with a newer timestamp gets a new connection (ISN above the old SND.NXT);
 *   an old SYN gets the challenge ACK and the record stays.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { connect, type Socket } from '../../src/net.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { ACK, encodeTcp, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { seqGt } from '../../src/tcp/seq.js';
import { until, within } from '../helpers/real-tcp.js';
import { LocalHost, LocalPair, records } from '../helpers/local-hosts.js';

const A = 0x0a5a0001; // 10.90.0.1
const B = 0x0a5a0002;

describe('TIME-WAIT reuse in the stack (in-process hosts, a clock the test moves)', function () {
  this.timeout(30_000);
  let pair: LocalPair;
  let clock: { skew: number };
  let a: LocalHost;
  let b: LocalHost;
  /** An echo server on B (closing after the client's FIN); resolves with its port. */
  const echo = (opts: Record<string, unknown> = {}): Promise<number> => pair.echo(opts);

  beforeEach(() => {
    pair = new LocalPair(A, B);
    ({ clock, a, b } = pair);
    TcpStack.for(a).ephemeralRange = { low: 50000, high: 50003 };
  });

  afterEach(() => pair.close());

  /** One connection from A: send `msg`, read it back, close first (A keeps the TIME-WAIT). */
  async function roundTrip(port: number, msg: string, opts: Record<string, unknown> = {}): Promise<Socket> {
    const s = connect({ via: a, host: formatIpv4(B), port, ...opts });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await within(once(s, 'connect'), 5000, 'connect');
    s.end(msg);
    await within(once(s, 'close'), 5000, 'close');
    expect(Buffer.concat(chunks).toString()).to.equal(msg);
    return s;
  }

  function clientRecords(): number {
    return TcpStack.for(a).timeWaitRecords;
  }

  function connectError(port: number, opts: Record<string, unknown> = {}): Promise<NodeJS.ErrnoException | undefined> {
    const s = connect({ via: a, host: formatIpv4(B), port, ...opts });
    return within(
      Promise.race([once(s, 'error').then(([e]) => e as NodeJS.ErrnoException), once(s, 'connect').then(() => (s.destroy(), undefined))]),
      5000,
      'connect or error',
    );
  }

  async function fillRange(port: number, opts: Record<string, unknown> = {}): Promise<void> {
    for (let i = 0; i < 4; i++) await roundTrip(port, `old ${i}`, opts);
    await until(() => clientRecords() === 4, 2000, 'four TIME-WAIT records');
  }

  it('with every port in TIME-WAIT, a connect reuses a record more than 1 s old: new ISN and TSval above the old, data flows, counted', async () => {
    const port = await echo();
    await fillRange(port);
    const stack = TcpStack.for(a);
    const before = new Map(records(stack).map((info) => [info.localPort, info]));
    const lastTs = Math.max(...a.sent.filter((s) => s.options.ts).map((s) => s.options.ts!.val));
    expect(await connectError(port), 'records younger than 1 s: no reuse').to.have.property('code', 'EADDRNOTAVAIL');
    expect(stack.stats().events.time_wait_reused).to.equal(0);
    clock.skew += 1100;
    const sentBefore = a.sent.length;
    const s = await roundTrip(port, 'new');
    expect(stack.stats().events.time_wait_reused).to.equal(1);
    const newSyn = a.sent.slice(sentBefore).find((x) => x.flags === SYN)!;
    const old = before.get(newSyn.srcPort)!;
    expect(old, 'the SYN left from a port whose record was reused').to.not.equal(undefined);
    expect(s.localPort).to.equal(newSyn.srcPort);
    expect(seqGt(newSyn.seq, old.sndNxt + 65535), 'ISN above the old SND.NXT plus a window').to.equal(true);
    expect(seqGt(newSyn.options.ts!.val, lastTs), 'TSval above every old one').to.equal(true);
    // The other three records stay; the reused 4-tuple is in TIME-WAIT again (a new record).
    await until(() => clientRecords() === 4, 2000, 'four records again');
    expect(TcpStack.for(b).stats().events.passive_open).to.equal(5);
  });

  it('ephemeralRange is checked: integers with 1 <= low <= high <= 65535, else ERR_INVALID_ARG_VALUE', () => {
    const stack = TcpStack.for(a);
    for (const bad of [{ low: 0, high: 10 }, { low: 10, high: 9 }, { low: 1, high: 65536 }, { low: 1.5, high: 10 }]) {
      expect(() => (stack.ephemeralRange = bad), JSON.stringify(bad)).to.throw().with.property('code', 'ERR_INVALID_ARG_VALUE');
    }
    expect(stack.ephemeralRange).to.deep.equal({ low: 50000, high: 50003 });
  });

  it('a free port is taken before any record is reused', async () => {
    const port = await echo();
    for (let i = 0; i < 3; i++) await roundTrip(port, `old ${i}`);
    await until(() => clientRecords() === 3, 2000, 'three records');
    clock.skew += 1100;
    await roundTrip(port, 'new');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
    await until(() => clientRecords() === 4, 2000, 'four records');
  });

  it('timeWaitReuse = false: EADDRNOTAVAIL however old the records are', async () => {
    const port = await echo();
    await fillRange(port);
    TcpStack.for(a).timeWaitReuse = false;
    clock.skew += 5000;
    expect(await connectError(port)).to.have.property('code', 'EADDRNOTAVAIL');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
    TcpStack.for(a).timeWaitReuse = true;
    await roundTrip(port, 'new');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(1);
  });

  it('records of connections without timestamps are never reused: EADDRNOTAVAIL', async () => {
    const port = await echo();
    await fillRange(port, { timestamps: false });
    clock.skew += 5000;
    expect(await connectError(port, { timestamps: false })).to.have.property('code', 'EADDRNOTAVAIL');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
  });

  describe('the passive side: the server closed first and holds the records', () => {
    /** A server on B that closes each connection as soon as it has echoed the first data. */
    async function closingServer(): Promise<number> {
      return pair.serve((s) => s.once('data', (d: Buffer) => s.end(d)));
    }

    async function exchange(port: number, localPort: number, msg: string): Promise<void> {
      const s = connect({ via: a, host: formatIpv4(B), port, localPort });
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      await within(once(s, 'connect'), 5000, 'connect');
      s.write(msg);
      await within(once(s, 'end'), 5000, 'end');
      s.end();
      await within(once(s, 'close'), 5000, 'close');
      expect(Buffer.concat(chunks).toString()).to.equal(msg);
    }

    it("a client's new SYN on the same 4-tuple (newer TSval) opens a new connection, ISN above the old SND.NXT; counted", async () => {
      const port = await closingServer();
      await exchange(port, 40001, 'first');
      const sb = TcpStack.for(b);
      await until(() => sb.timeWaitRecords === 1, 2000, "the server's record");
      const oldSent = b.sent.filter((x) => x.dstPort === 40001);
      const oldSndNxt = Math.max(...oldSent.map((x) => x.seq + x.payload.length + ((x.flags & 1) !== 0 ? 1 : 0)));
      clock.skew += 10;
      const sentBefore = b.sent.length;
      await exchange(port, 40001, 'second');
      expect(sb.stats().events.time_wait_reopened).to.equal(1);
      expect(sb.stats().events.passive_open).to.equal(2);
      const synAck = b.sent.slice(sentBefore).find((x) => x.flags === (SYN | ACK))!;
      expect(seqGt(synAck.seq, oldSndNxt + 65535), 'ISN above the old SND.NXT plus a window').to.equal(true);
      expect(b.stats.drops.get('tcp_internal_error') ?? 0).to.equal(0);
    });

    it('an old SYN (TSval below TS.Recent) gets the challenge ACK and the record stays; without a listener a new SYN does too', async () => {
      const port = await closingServer();
      await exchange(port, 40002, 'first');
      const sb = TcpStack.for(b);
      await until(() => sb.timeWaitRecords === 1, 2000, "the server's record");
      const info = records(sb)[0]!;
      const aTs = a.sent.filter((x) => x.options.ts).map((x) => x.options.ts!.val);
      const inject = (seg: TcpSegment): void => {
        const payload = encodeTcp(seg, A, B);
        sb.onPacket({ src: A, dst: B, protocol: 6, ttl: 64, id: 0, tos: 0, headerLength: 20, totalLength: 20 + payload.length, dontFragment: false }, payload);
      };
      const base = { srcPort: 40002, dstPort: port, ack: 0, flags: SYN, window: 65535, urgent: 0, payload: Buffer.alloc(0) };
      const sentBefore = b.sent.length;
      // Older than every TSval A sent (a fast exchange sends them all in one millisecond: then the
      // first equals TS.Recent, and with this sequence number the SYN would be new).
      inject({ ...base, seq: (info.rcvNxt + 100_000) >>> 0, options: { mss: 1400, ts: { val: Math.min(...aTs) - 1, ecr: 0 } } });
      const replies = b.sent.slice(sentBefore);
      expect(replies).to.have.length(1);
      expect(replies[0]!.flags).to.equal(ACK);
      expect(replies[0]!.ack).to.equal(info.rcvNxt);
      expect(sb.timeWaitRecords).to.equal(1);
      expect(sb.stats().events.time_wait_reopened).to.equal(0);
      // The listener gone, a provably new SYN is answered by the record too (no RST, no connection).
      pair.closeServer();
      await new Promise((r) => setImmediate(r));
      clock.skew += 600; // past the challenge-ACK rate limit
      inject({ ...base, seq: (info.rcvNxt + 100_000) >>> 0, options: { mss: 1400, ts: { val: Math.max(...aTs) + 1000, ecr: 0 } } });
      const more = b.sent.slice(sentBefore + 1);
      expect(more).to.have.length(1);
      expect(more[0]!.flags).to.equal(ACK);
      expect(sb.timeWaitRecords).to.equal(1);
      expect(sb.stats().events.time_wait_reopened).to.equal(0);
    });
  });
});
