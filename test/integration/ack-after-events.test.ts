/**
 * An ACK the stack owes together with an event for the application (the SYN-ACK's ACK with
 * 'connect', the ACK of received data with 'data') waits until the application had that
 * event, so a reply written in its handler carries the ACK instead of a pure ACK datagram
 * before it (driver.ts flushOne, Connection.ackMayAwaitEvents). Two hosts over real UDP on
 * loopback; the segments each connection sends are read from the trace observer.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { observers } from '../../src/metrics/inventory.js';
import { connect, type Server, type Socket } from '../../src/net.js';
import { TcpStack } from '../../src/tcp/driver.js';
import type { TcpConn } from '../../src/tcp/tcp-conn.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { ACK, FIN, SYN } from '../../src/wire/tcp.js';
import { within } from '../helpers/real-tcp.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';

const A = '10.77.0.2';
const B = '10.77.0.3';

interface Sent {
  len: number;
  flags: number;
}

describe('an owed ACK waits for the application\'s reply (two hosts, real UDP)', function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  let server: Server | undefined;
  const sent = new Map<string, Sent[]>();

  beforeEach(async () => {
    sent.clear();
    observers.trace = (conn: string, ev: TcpTraceEvent) => {
      if (ev.type !== 'send') return;
      let l = sent.get(conn);
      if (!l) sent.set(conn, (l = []));
      l.push({ len: ev.len, flags: ev.flags });
    };
    [a, b] = await hostPair(A, B);
  });

  afterEach(async () => {
    delete observers.trace;
    server?.close();
    server = undefined;
    await a.close();
    await b.close();
  });

  const pureAck = (s: Sent): boolean => s.len === 0 && (s.flags & (SYN | FIN)) === 0;

  let accepted: Promise<void>;

  async function echoOnB(): Promise<number> {
    let onAccept!: () => void;
    accepted = new Promise((r) => (onAccept = r));
    const e = await echoServer(b, { noDelay: true }, () => onAccept());
    server = e.server;
    return e.port;
  }

  /** Resolves once `c` has received `n` bytes in all. */
  function received(c: Socket): (n: number) => Promise<void> {
    let got = 0;
    let want = Infinity;
    let wake: (() => void) | undefined;
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= want) wake?.();
    });
    return (n) =>
      new Promise((resolve) => {
        want = n;
        wake = resolve;
        if (got >= n) resolve();
      });
  }

  it('a write in the connect handler carries the handshake\'s ACK: no pure ACK after the SYN', async () => {
    const port = await echoOnB();
    const c = connect({ via: a, host: B, port }, () => c.write(Buffer.alloc(100, 7)));
    await within(received(c)(100), 5000, 'echo');
    const mine = sent.get(`${A}:${c.localPort}-${B}:${port}`) ?? [];
    // (The SYN leaves before the trace hook is installed: the first segment traced is the
    // one that answers the SYN-ACK.) It is the data, carrying the ACK of the SYN-ACK.
    expect(mine.length).to.be.greaterThan(0);
    expect(mine[0]!.len).to.equal(100);
    expect(mine[0]!.flags & ACK).to.not.equal(0);
    c.destroy();
  });

  it('an echo server sends no pure ACK in a whole open-echo-close cycle (its first data arrives before \'connection\')', async () => {
    // Pacing off and noDelay: nothing but the ACK mechanism decides when the echo leaves.
    const e = await echoServer(b, { noDelay: true, pacing: false });
    server = e.server;
    const port = e.port;
    const payload = Buffer.alloc(8192, 3); // six segments: within the initial window
    const c = connect({ via: a, host: B, port }, () => c.end(payload));
    const upTo = received(c);
    const closed = once(c, 'close');
    await within(upTo(payload.length), 5000, 'echo');
    await within(closed, 5000, 'close');
    const mine = sent.get(`${B}:${port}-${A}:${c.localPort}`) ?? [];
    expect(mine.filter((x) => x.len > 0).length).to.be.greaterThanOrEqual(6);
    expect(mine.filter(pureAck).length, 'pure ACKs from the echo server').to.equal(0);
  });

  /**
   * A client connected to the echo server (noDelay), once the server's socket exists: the
   * handshake's last ACK may be answered before 'connection' runs, so measured requests wait.
   */
  async function clientOfEcho(): Promise<{ port: number; c: Socket; upTo: (n: number) => Promise<void> }> {
    const port = await echoOnB();
    const c = connect({ via: a, host: B, port, noDelay: true });
    const upTo = received(c);
    await within(once(c, 'connect'), 5000, 'connect');
    await within(accepted, 5000, 'accepted');
    return { port, c, upTo };
  }

  it('an echo server\'s replies carry the ACKs of the requests: no pure ACK from it while echoing', async () => {
    const { port, c, upTo } = await clientOfEcho();
    const label = `${B}:${port}-${A}:${c.localPort}`;
    const before = (sent.get(label) ?? []).length;
    let total = 0;
    for (let i = 0; i < 20; i++) {
      const n = 1000 + 700 * (i % 6); // one to three segments per request
      total += n;
      c.write(Buffer.alloc(n, i));
      await within(upTo(total), 5000, `echo ${i}`);
    }
    const during = (sent.get(label) ?? []).slice(before);
    expect(during.filter((s) => s.len > 0).length).to.be.greaterThanOrEqual(20);
    expect(during.filter(pureAck).length, 'pure ACKs from the echo server').to.equal(0);
    c.destroy();
  });

  it('the echo server sets or clears no timer between a request\'s arrival and its reply (the timer is armed after the reply left)', async () => {
    const { c, upTo } = await clientOfEcho();
    // B's side, in order: a TCP packet in, a Node timer set or cleared, a packet out.
    const log: Array<'in' | 'timer' | 'out'> = [];
    const stack = TcpStack.for(b);
    const timers = stack.timers as unknown as { set(tc: TcpConn, d: number): void; clear(tc: TcpConn): void };
    const set = timers.set.bind(timers);
    const clear = timers.clear.bind(timers);
    timers.set = (tc, d) => { log.push('timer'); set(tc, d); };
    timers.clear = (tc) => { if (tc.timer) log.push('timer'); clear(tc); };
    const onPacketAt = stack.onPacketAt.bind(stack);
    stack.onPacketAt = (ip, pkt) => { log.push('in'); onPacketAt(ip, pkt); };
    const sendPacket = b.sendPacket.bind(b);
    b.sendPacket = (pkt, dst) => { log.push('out'); return sendPacket(pkt, dst); };
    try {
      let total = 0;
      for (let i = 0; i < 20; i++) {
        total += 100;
        c.write(Buffer.alloc(100, i));
        await within(upTo(total), 5000, `echo ${i}`);
      }
    } finally {
      delete (timers as Partial<typeof timers>).set;
      delete (timers as Partial<typeof timers>).clear;
      delete (stack as Partial<TcpStack>).onPacketAt;
      delete (b as Partial<Host>).sendPacket;
    }
    let between = 0;
    let waiting = false;
    for (const e of log) {
      if (e === 'in') waiting = true;
      else if (e === 'out') waiting = false;
      else if (waiting) between++;
    }
    expect(log.filter((e) => e === 'out').length, 'replies').to.be.greaterThanOrEqual(20);
    expect(log.includes('timer'), 'the timer is still armed, after the replies').to.equal(true);
    expect(between, `timer calls before a reply: ${log.join(' ')}`).to.equal(0);
    // The arming that waited for a turn happened after it: once the ticks have run, the
    // client's timer (its last input owed a delayed ACK, and its handler wrote nothing) is
    // armed at or before its next deadline.
    await new Promise((r) => setImmediate(r));
    const tc = (c as unknown as { conn: TcpConn }).conn;
    const next = tc.c.nextDeadline();
    expect(next, 'the client has a deadline').to.not.equal(undefined);
    expect(tc.timer, 'the client\'s timer').to.not.equal(undefined);
    expect(tc.armedFor, 'armed at or before the next deadline').to.be.at.most(next!);
    c.destroy();
  });
});
