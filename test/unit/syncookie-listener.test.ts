/**
 * SYN cookies end to end on the sans-IO core, on virtual time: a Listener whose SYN queue
 * is full answers with a cookie SYN-ACK and keeps no state; the client's ACK alone creates
 * the connection (ESTABLISHED), which then carries data both ways.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import { Connection } from '../../src/tcp/connection.js';
import { Listener } from '../../src/tcp/listener.js';
import { SynCookieJar, newCookieSecret } from '../../src/tcp/syncookie.js';
import type { TcpConfig } from '../../src/tcp/types.js';
import { SYN, type TcpSegment } from '../../src/wire/tcp.js';

const SERVER = 0x0a4d0003;
const CLIENT = 0x0a4d0002;
const PORT = 7;

/** A tiny two-party network on a virtual clock: client <-> (listener | child). */
class Bench {
  now = 1_000_000;
  child: Connection | undefined;
  readonly toServer: TcpSegment[] = [];
  readonly toClient: TcpSegment[] = [];
  readonly listenerOut: TcpSegment[] = [];
  /** Segments sent by anyone, for inspection. */
  readonly log: Array<{ from: 'client' | 'server' | 'listener'; seg: TcpSegment }> = [];

  constructor(
    readonly listener: Listener,
    readonly client: Connection,
  ) {}

  private collect(): void {
    for (const s of this.client.takeOutput()) {
      this.log.push({ from: 'client', seg: s });
      this.toServer.push(s);
    }
    if (this.child) {
      for (const s of this.child.takeOutput()) {
        this.log.push({ from: 'server', seg: s });
        this.toClient.push(s);
      }
    }
    for (const o of this.listener.takeOutput()) {
      if (o.remoteAddr !== CLIENT) continue; // replies to the flood's spoofed sources vanish
      this.log.push({ from: 'listener', seg: o.seg });
      this.toClient.push(o.seg);
    }
  }

  /** Delivers everything in flight (1 ms per hop) and fires due timers, until `until` holds or `ms` pass. */
  run(until: () => boolean, ms = 60_000): void {
    const end = this.now + ms;
    for (let guard = 0; guard < 1_000_000 && !until(); guard++) {
      this.collect();
      if (this.toServer.length === 0 && this.toClient.length === 0) {
        const next = Math.min(this.client.nextDeadline() ?? Infinity, this.child?.nextDeadline() ?? Infinity);
        if (!Number.isFinite(next) || next > end) break;
        this.now = Math.max(this.now, next);
        this.client.onTimer(this.now);
        if (this.child && (this.child.nextDeadline() ?? Infinity) <= this.now) this.child.onTimer(this.now);
        continue;
      }
      this.now += 1;
      for (const s of this.toServer.splice(0)) {
        if (this.child && this.child.state !== 'CLOSED') this.child.input(s, this.now);
        else {
          const c = this.listener.input(s, CLIENT, this.now);
          if (c) this.child = c;
        }
      }
      for (const s of this.toClient.splice(0)) this.client.input(s, this.now);
    }
  }
}

function floodToFull(l: Listener, now: number): void {
  // Spoofed SYNs from other sources fill the SYN queue (their SYN-ACKs go nowhere).
  for (let i = 0; l.synQueueLength < l.synBacklog; i++) {
    l.input(
      { srcPort: 1000 + i, dstPort: PORT, seq: i * 7919, ack: 0, flags: SYN, window: 65535, urgent: 0, options: { mss: 1460 }, payload: Buffer.alloc(0) },
      0x0a4d1000 + i,
      now,
    );
  }
  l.takeOutput();
}

function setup(clientCfg: Partial<TcpConfig>, serverCfg: Partial<TcpConfig> = {}): { b: Bench; jar: SynCookieJar } {
  const scfg = defaultTcpConfig({ ...serverCfg });
  const jar = new SynCookieJar({ localAddr: SERVER, mss: scfg.mss, sack: scfg.sack, windowScale: scfg.windowScale, timestampOptions: true, secret: newCookieSecret() });
  const l = new Listener({ addr: SERVER, port: PORT }, scfg, { backlog: 4, synBacklog: 4, synCookies: jar });
  const now = 1_000_000;
  floodToFull(l, now);
  const client = Connection.connect({ localAddr: CLIENT, localPort: 40000, remoteAddr: SERVER, remotePort: PORT }, defaultTcpConfig(clientCfg), now, { iss: 0xfffff000 });
  return { b: new Bench(l, client), jar };
}

function exchange(b: Bench, bytes: number): void {
  const up = randomBytes(bytes);
  const down = randomBytes(bytes);
  let upOff = 0;
  let downOff = 0;
  const gotUp: Buffer[] = [];
  const gotDown: Buffer[] = [];
  let nUp = 0;
  let nDown = 0;
  b.run(() => {
    const child = b.child!;
    if (upOff < up.length) upOff += b.client.send(up.subarray(upOff), b.now);
    if (downOff < down.length) downOff += child.send(down.subarray(downOff), b.now);
    for (let d = child.read(); d; d = child.read()) {
      gotUp.push(d);
      nUp += d.length;
    }
    for (let d = b.client.read(); d; d = b.client.read()) {
      gotDown.push(d);
      nDown += d.length;
    }
    return nUp >= up.length && nDown >= down.length;
  }, 120_000);
  const sha = (x: Buffer | Buffer[]): string => createHash('sha256').update(Array.isArray(x) ? Buffer.concat(x) : x).digest('hex');
  expect(nUp, 'client -> server bytes').to.equal(up.length);
  expect(nDown, 'server -> client bytes').to.equal(down.length);
  expect(sha(gotUp)).to.equal(sha(up));
  expect(sha(gotDown)).to.equal(sha(down));
}

describe('syncookie: listener integration (sans-IO, virtual time)', () => {
  it('a full SYN queue answers with a stateless cookie SYN-ACK; the ACK alone creates an ESTABLISHED connection', () => {
    const { b, jar } = setup({ timestamps: false, windowScale: false, sack: false });
    const synQueueBefore = b.listener.synQueueLength;
    b.run(() => b.client.state === 'ESTABLISHED', 5_000);
    expect(b.client.state).to.equal('ESTABLISHED');
    // Stateless: the SYN-ACK came from the listener, and no child was queued for it.
    const synAck = b.log.find((e) => e.seg.flags === (SYN | 0x10));
    expect(synAck?.from).to.equal('listener');
    expect(jar.stats.sent).to.equal(1);
    expect(b.listener.synQueueLength).to.equal(synQueueBefore);
    // The client's first ACK carried the cookie back.
    b.run(() => b.child !== undefined, 5_000);
    expect(b.child?.state).to.equal('ESTABLISHED');
    expect(jar.stats.accepted).to.equal(1);
    // The MSS came through the cookie: the client offered 1432, the table gives 1300.
    expect(b.child!.getInfo(b.now).mss).to.equal(1300);
    const accepted = b.listener.accept();
    expect(accepted).to.equal(b.child);
    exchange(b, 300_000);
  });

  it('a forged ACK to a full listener creates nothing and is answered with a RST', () => {
    const { b, jar } = setup({ timestamps: false });
    const forged: TcpSegment = { srcPort: 40001, dstPort: PORT, seq: 12345, ack: 0xdeadbeef, flags: 0x10, window: 1000, urgent: 0, options: {}, payload: Buffer.alloc(0) };
    expect(b.listener.input(forged, CLIENT, b.now)).to.equal(undefined);
    const out = b.listener.takeOutput();
    expect(out).to.have.length(1);
    expect(out[0]!.seg.flags & 0x04).to.equal(0x04);
    expect(out[0]!.seg.seq).to.equal(0xdeadbeef);
    expect(jar.stats.rejected).to.equal(1);
    expect(b.listener.acceptQueueLength).to.equal(0);
  });

  /** The two ends must agree on each other's windows (a scale mismatch breaks flow control). */
  function windowsAgree(b: Bench): void {
    const c = b.client.getInfo(b.now);
    const s = b.child!.getInfo(b.now);
    // What one side thinks the other advertises is what the other advertised (give or
    // take the granularity of its own window scale).
    expect(Math.abs(c.sndWnd - s.rcvWnd), `client's view ${c.sndWnd} vs server's window ${s.rcvWnd}`).to.be.below(1 << 14);
    expect(Math.abs(s.sndWnd - c.rcvWnd), `server's view ${s.sndWnd} vs client's window ${c.rcvWnd}`).to.be.below(1 << 14);
  }

  it('with timestamps, window scale and SACK-permitted come back through TSecr (Linux scheme)', () => {
    const { b } = setup({ timestamps: true, windowScale: true, sack: true });
    b.run(() => b.child !== undefined, 5_000);
    const synAck = b.log.find((e) => e.seg.flags === (SYN | 0x10))!;
    expect(synAck.from).to.equal('listener');
    expect(synAck.seg.options.wscale).to.be.a('number');
    expect(synAck.seg.options.sackPermitted).to.equal(true);
    // The low 6 bits of TSval: the client's wscale (4 bits) and SACK (bit 4).
    const clientSyn = b.log.find((e) => e.seg.flags === SYN)!;
    expect(synAck.seg.options.ts!.val & 0x0f).to.equal(clientSyn.seg.options.wscale);
    expect(synAck.seg.options.ts!.val & 0x10).to.equal(0x10);
    expect(b.child!.state).to.equal('ESTABLISHED');
    exchange(b, 1_000_000);
    windowsAgree(b);
  });

  it('without timestamps the cookie SYN-ACK offers neither window scale nor SACK (they could not be restored)', () => {
    const { b } = setup({ timestamps: false, windowScale: true, sack: true });
    b.run(() => b.child !== undefined, 5_000);
    const synAck = b.log.find((e) => e.seg.flags === (SYN | 0x10))!;
    expect(synAck.from).to.equal('listener');
    expect(synAck.seg.options.wscale).to.equal(undefined);
    expect(synAck.seg.options.sackPermitted).to.equal(undefined);
    exchange(b, 300_000);
    windowsAgree(b);
  });
});
