/**
 * TIME-WAIT reuse for a connect that names its local port (src/tcp/driver.ts takeTimeWait),
 * between two in-process hosts (test/helpers/local-hosts.ts). Linux's bind() then connect()
 * checks the 4-tuple with __inet_check_established and no twp, so tcp_twsk_unique lets a
 * TIME-WAIT that saw timestamps go at once (no tcp_tw_reuse, no 1 s delay); any other holder
 * of the 4-tuple keeps it (EADDRINUSE here, as before). The new connection opens as an
 * ephemeral reuse does: ISN above the old SND.NXT + 65537, TSvals above the old ones, the old
 * TS.Recent as its own.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { connect, createServer, type Socket } from '../../src/net.js';
import { TcpStack } from '../../src/tcp/driver.js';
import type { TcpConn } from '../../src/tcp/tcp-conn.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { SYN } from '../../src/wire/tcp.js';
import { seqGt } from '../../src/tcp/seq.js';
import { until, within } from '../helpers/real-tcp.js';
import { LocalHost, LocalPair, records } from '../helpers/local-hosts.js';

const A = 0x0a5b0001; // 10.91.0.1
const B = 0x0a5b0002;
const PORT = 40100;

describe('TIME-WAIT reuse by a connect naming its localPort (Linux bind() + connect())', function () {
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
  });

  afterEach(() => pair.close());

  /** One connection from A:PORT: send `msg`, read it back, close first (A keeps the TIME-WAIT). */
  async function roundTrip(port: number, msg: string, opts: Record<string, unknown> = {}): Promise<Socket> {
    const s = connect({ via: a, host: formatIpv4(B), port, localPort: PORT, ...opts });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await within(once(s, 'connect'), 5000, 'connect');
    s.end(msg);
    await within(once(s, 'close'), 5000, 'close');
    expect(Buffer.concat(chunks).toString()).to.equal(msg);
    return s;
  }

  function connectError(port: number, opts: Record<string, unknown> = {}): Promise<NodeJS.ErrnoException | undefined> {
    const s = connect({ via: a, host: formatIpv4(B), port, localPort: PORT, ...opts });
    return within(
      Promise.race([once(s, 'error').then(([e]) => e as NodeJS.ErrnoException), once(s, 'connect').then(() => (s.destroy(), undefined))]),
      5000,
      'connect or error',
    );
  }

  it('takes a TIME-WAIT record that saw timestamps at once: ISN and TSval above the old, the old TS.Recent inherited, data flows, counted', async () => {
    const port = await echo();
    const stack = TcpStack.for(a);
    await roundTrip(port, 'old');
    await until(() => stack.timeWaitRecords === 1, 2000, 'the record');
    const old = records(stack)[0]!;
    const lastTs = Math.max(...a.sent.filter((s) => s.options.ts).map((s) => s.options.ts!.val));
    const record = [...(stack as unknown as { timeWaits: { values(): Iterable<{ tsRecent: number }> } }).timeWaits.values()][0]!;
    const sentBefore = a.sent.length;
    // No clock move: a named port does not wait for the 1 s delay.
    const s = connect({ via: a, host: formatIpv4(B), port, localPort: PORT });
    const conn = (s as unknown as { conn: TcpConn }).conn;
    expect(conn.c.state).to.equal('SYN-SENT');
    expect(conn.c.handshake.tsRecentValid, 'TS.Recent inherited').to.equal(true);
    expect(conn.c.handshake.tsRecent).to.equal(record.tsRecent);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await within(once(s, 'connect'), 5000, 'connect');
    s.end('new');
    await within(once(s, 'close'), 5000, 'close');
    expect(Buffer.concat(chunks).toString()).to.equal('new');
    expect(stack.stats().events.time_wait_reused).to.equal(1);
    const syn = a.sent.slice(sentBefore).find((x) => x.flags === SYN)!;
    expect(syn.srcPort).to.equal(PORT);
    expect(seqGt(syn.seq, old.sndNxt + 65535), 'ISN above the old SND.NXT plus a window').to.equal(true);
    expect(seqGt(syn.options.ts!.val, lastTs), 'TSval above every old one').to.equal(true);
    await until(() => stack.timeWaitRecords === 1, 2000, 'the new connection in TIME-WAIT');
  });

  it('a record without timestamps keeps its 4-tuple: EADDRINUSE, however old', async () => {
    const port = await echo();
    await roundTrip(port, 'old', { timestamps: false });
    await until(() => TcpStack.for(a).timeWaitRecords === 1, 2000, 'the record');
    clock.skew += 5000;
    expect(await connectError(port, { timestamps: false })).to.have.property('code', 'EADDRINUSE');
    expect(await connectError(port)).to.have.property('code', 'EADDRINUSE');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
  });

  it('timeWaitReuse = false: EADDRINUSE', async () => {
    const port = await echo();
    await roundTrip(port, 'old');
    await until(() => TcpStack.for(a).timeWaitRecords === 1, 2000, 'the record');
    TcpStack.for(a).timeWaitReuse = false;
    clock.skew += 5000;
    expect(await connectError(port)).to.have.property('code', 'EADDRINUSE');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
    expect(TcpStack.for(a).timeWaitRecords).to.equal(1);
  });

  it('a live connection on the 4-tuple keeps it: EADDRINUSE; the same local port to another server is free', async () => {
    const port = await echo();
    const live = connect({ via: a, host: formatIpv4(B), port, localPort: PORT });
    await within(once(live, 'connect'), 5000, 'connect');
    expect(await connectError(port)).to.have.property('code', 'EADDRINUSE');
    const other = createServer({ host: b }, (x) => x.pipe(x));
    other.listen(0);
    await once(other, 'listening');
    expect(await connectError((other.address() as { port: number }).port)).to.equal(undefined);
    other.close();
    live.destroy();
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
  });
});
