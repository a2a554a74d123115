/**
 * TIME-WAIT reuse of a connection that was never compacted into a record (src/tcp/driver.ts
 * takeTimeWait, src/tcp/ports.ts), between two in-process hosts (test/helpers/local-hosts.ts).
 * A connection in TIME-WAIT becomes a compact record only once its socket released it and
 * nothing watches it (TimeWait.canCompact): a socket the application still holds, with its
 * echo unread, or a tracer (observers.trace) keeps it whole, and it kept its 4-tuple for the
 * full 2*MSL. Now the reuse rule applies to it as to a record: the stack makes a record of it
 * (for the new ISN, TSvals and TS.Recent), ends its TIME-WAIT, and its socket still reads what
 * it had received, then ends and closes cleanly.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { connect, type Socket } from '../../src/net.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { observers } from '../../src/observe/inventory.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { SYN } from '../../src/wire/tcp.js';
import { seqGt } from '../../src/tcp/seq.js';
import { until, within } from '../helpers/real-tcp.js';
import { LocalHost, LocalPair } from '../helpers/local-hosts.js';

const A = 0x0a5c0001; // 10.92.0.1
const B = 0x0a5c0002;

describe('TIME-WAIT reuse of a connection still held by its socket or a tracer', function () {
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
    TcpStack.for(a).ephemeralRange = { low: 50000, high: 50000 }; // one port: the next connect needs the TIME-WAIT's
  });

  afterEach(() => pair.close());

  /** A connection from A that sends `msg` and closes first, its echo left unread: the socket keeps the connection. */
  async function heldTimeWait(port: number, msg: string, opts: Record<string, unknown> = {}): Promise<Socket> {
    const s = connect({ via: a, host: formatIpv4(B), port, ...opts });
    s.on('error', () => {});
    await within(once(s, 'connect'), 5000, 'connect');
    s.end(msg);
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitCount === 1, 2000, 'TIME-WAIT');
    expect(stack.timeWaitRecords, 'not compacted: the socket holds it').to.equal(0);
    return s;
  }

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

  function connectError(port: number, opts: Record<string, unknown> = {}): Promise<NodeJS.ErrnoException | undefined> {
    const s = connect({ via: a, host: formatIpv4(B), port, ...opts });
    return within(
      Promise.race([once(s, 'error').then(([e]) => e as NodeJS.ErrnoException), once(s, 'connect').then(() => (s.destroy(), undefined))]),
      5000,
      'connect or error',
    );
  }

  it('a socket holding its TIME-WAIT connection (unread echo): reused after 1 s like a record; the old socket still reads its data, ends, closes', async () => {
    const port = await echo();
    const stack = TcpStack.for(a);
    const old = await heldTimeWait(port, 'ping');
    const oldSndNxt = Math.max(...a.sent.map((x) => x.seq + x.payload.length + ((x.flags & 1) !== 0 ? 1 : 0)));
    expect(await connectError(port), 'younger than 1 s: no reuse').to.have.property('code', 'EADDRNOTAVAIL');
    expect(stack.timeWaitCount).to.equal(1);
    clock.skew += 1100;
    const sentBefore = a.sent.length;
    await roundTrip(port, 'new');
    expect(stack.stats().events.time_wait_reused).to.equal(1);
    const syn = a.sent.slice(sentBefore).find((x) => x.flags === SYN)!;
    expect(syn.srcPort).to.equal(old.localPort);
    expect(seqGt(syn.seq, oldSndNxt + 65535), 'ISN above the old SND.NXT plus a window').to.equal(true);
    // The old socket: its data is still there, then the EOF and a clean close.
    const closed = once(old, 'close');
    const ended = once(old, 'end');
    const chunks: Buffer[] = [];
    old.on('data', (d: Buffer) => chunks.push(d));
    await within(ended, 2000, "the old socket's end");
    const [hadError] = (await within(closed, 2000, "the old socket's close")) as [boolean];
    expect(Buffer.concat(chunks).toString()).to.equal('ping');
    expect(hadError).to.equal(false);
    expect(stack.connectionCount, 'the new connection, in TIME-WAIT').to.equal(1);
  });

  it('a socket holding its TIME-WAIT connection gives way at once to a connect naming its port', async () => {
    const port = await echo();
    const old = await heldTimeWait(port, 'ping');
    await roundTrip(port, 'new', { localPort: old.localPort });
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(1);
    old.resume();
    await within(once(old, 'close'), 2000, "the old socket's close");
  });

  it('without timestamps the held connection keeps its 4-tuple: EADDRNOTAVAIL, and EADDRINUSE for its port', async () => {
    const port = await echo();
    const old = await heldTimeWait(port, 'ping', { timestamps: false });
    clock.skew += 5000;
    expect(await connectError(port, { timestamps: false })).to.have.property('code', 'EADDRNOTAVAIL');
    expect(await connectError(port, { localPort: old.localPort })).to.have.property('code', 'EADDRINUSE');
    expect(TcpStack.for(a).stats().events.time_wait_reused).to.equal(0);
    expect(TcpStack.for(a).timeWaitCount).to.equal(1);
    old.destroy();
  });

  it('a traced connection (never compacted) is reused after 1 s; its trace ends TIME-WAIT -> CLOSED', async () => {
    const port = await echo();
    const stack = TcpStack.for(a);
    const states: string[] = [];
    const previous = observers.trace;
    observers.trace = (conn: string, ev: TcpTraceEvent) => {
      if (ev.type === 'state' && conn.startsWith(formatIpv4(A))) states.push(`${ev.from}>${ev.to}`);
    };
    try {
      await roundTrip(port, 'old');
    } finally {
      observers.trace = previous;
    }
    await until(() => stack.timeWaitCount === 1, 2000, 'TIME-WAIT');
    expect(stack.timeWaitRecords, 'not compacted: traced').to.equal(0);
    expect(await connectError(port), 'younger than 1 s').to.have.property('code', 'EADDRNOTAVAIL');
    clock.skew += 1100;
    await roundTrip(port, 'new');
    expect(stack.stats().events.time_wait_reused).to.equal(1);
    expect(states[states.length - 1]).to.equal('TIME-WAIT>CLOSED');
    await until(() => stack.timeWaitRecords === 1, 2000, 'the new connection, untraced, compacted');
  });
});
