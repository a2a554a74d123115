/**
 * The node:net-like Socket and Server over two overlay hosts in one process, on real
 * loopback UDP: data, event order, half-close, backpressure and zero windows, errors,
 * stream.pipeline and msgpackr streams, server close/getConnections/maxConnections.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PackrStream, UnpackrStream } from 'msgpackr';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import type { NodeStyleError } from '../../src/util/errors.js';
import { inventory, observers } from '../../src/metrics/inventory.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { newKeyPair } from '../../src/secure/keys.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { within } from '../helpers/real-tcp.js';

/** Two hosts routed to each other; `secure`: with keys, so everything below also runs over the secure mode. */
async function hostPair(mtu = 1472, secure = false): Promise<[Host, Host]> {
  const [ka, kb] = secure ? [newKeyPair(), newKeyPair()] : [undefined, undefined];
  const a = await Host.create({ address: '10.77.0.2', mtu, ...(ka ? { key: ka.privateKey } : {}) });
  const b = await Host.create({ address: '10.77.0.3', mtu, ...(kb ? { key: kb.privateKey } : {}) });
  a.addPeer('10.77.0.3/32', b.endpoint, kb?.publicKey);
  b.addPeer('10.77.0.2/32', a.endpoint, ka?.publicKey);
  return [a, b];
}

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

function listening(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server.address()!.port));
  });
}

for (const secure of [false, true])
describe(`overlay TCP sockets (two hosts, real UDP${secure ? ', secure mode' : ''})`, function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    [a, b] = await hostPair(1472, secure);
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) if (s.listening) s.close();
    await a.close();
    await b.close();
  });

  function server(opts: Partial<Parameters<typeof createServer>[0]> = {}, l?: (s: Socket) => void): Server {
    const srv = createServer({ host: b, ...opts }, (s) => {
      sockets.push(s);
      if (l) l(s);
      else if (!opts.pauseOnConnect) s.resume(); // a reader, so the peer's FIN is seen and the socket can close
    });
    servers.push(srv);
    return srv;
  }

  function client(port: number, opts: Record<string, unknown> = {}): Socket {
    const s = connect({ via: a, host: '10.77.0.3', port, ...opts });
    sockets.push(s);
    return s;
  }

  it('echoes data and reports addresses', async () => {
    const port = await listening(server({}, (s) => s.pipe(s)));
    const c = client(port);
    await within(once(c, 'connect'), 5000, 'connect');
    expect(c.remoteAddress).to.equal('10.77.0.3');
    expect(c.remotePort).to.equal(port);
    expect(c.remoteFamily).to.equal('IPv4');
    expect(c.localAddress).to.equal('10.77.0.2');
    expect(c.localPort).to.be.within(49152, 65535);
    expect(c.readyState).to.equal('open');
    const payload = randomBytes(200_000);
    const got = collect(c);
    const closed = once(c, 'close');
    c.end(payload);
    const echoed = await within(got, 10_000, 'echo');
    expect(echoed.equals(payload)).to.equal(true);
    expect(c.bytesWritten).to.equal(payload.length);
    expect(c.bytesRead).to.equal(payload.length);
    await within(closed, 5000, 'close');
    expect(c.readyState).to.equal('closed');
  });

  it('emits connect, ready, data, end, finish, close in node:net order', async () => {
    const port = await listening(server({}, (s) => s.end('hello')));
    const c = client(port);
    const events: string[] = [];
    for (const e of ['connect', 'ready', 'data', 'end', 'finish', 'close', 'error']) c.on(e, () => events.push(e));
    await within(once(c, 'close'), 5000, 'close');
    // Several 'data' events are allowed; collapse repeats.
    expect(events.filter((e, i) => e !== events[i - 1])).to.deep.equal(['connect', 'ready', 'data', 'end', 'finish', 'close']);
  });

  it("runs user handlers outside the stack's receive path (so their exceptions are not swallowed)", async () => {
    const stacks: string[] = [];
    const port = await listening(
      server({}, (s) => {
        stacks.push(new Error().stack ?? '');
        s.on('data', () => stacks.push(new Error().stack ?? ''));
        s.end('bye');
      }),
    );
    const c = client(port);
    c.on('connect', () => stacks.push(new Error().stack ?? ''));
    c.on('data', () => stacks.push(new Error().stack ?? ''));
    c.end('hi');
    await within(new Promise((r) => c.on('close', r)), 5000, 'close');
    expect(stacks.length).to.be.at.least(4);
    for (const st of stacks) expect(st).to.not.match(/onPacket|Connection\.(input|emitEvents)|receiveUnsafe/);
  });

  it('queues writes made before the connection opens', async () => {
    let received: Promise<Buffer> | undefined;
    const port = await listening(server({}, (s) => (received = collect(s))));
    const c = client(port);
    expect(c.pending).to.equal(true);
    expect(c.connecting).to.equal(true);
    expect(c.readyState).to.equal('opening');
    c.write('early ');
    c.end('bird');
    c.resume();
    await within(once(c, 'close'), 5000, 'close');
    expect((await received!).toString()).to.equal('early bird');
  });

  it('sends what was written even when the caller reuses its buffer after the write callback', async () => {
    // node:net's contract: once write()'s callback has run, the chunk is the caller's again.
    // The stack must not keep a reference to it: most of a 1 MiB write leaves long after the
    // callback (the initial window is 10 segments), and retransmissions later still.
    let received: Promise<Buffer> | undefined;
    const port = await listening(server({}, (s) => (received = collect(s))));
    const c = client(port);
    c.resume();
    const buf = Buffer.alloc(1024 * 1024);
    const expected = createHash('sha256');
    for (let round = 0; round < 3; round++) {
      buf.fill(0x41 + round);
      expected.update(buf);
      await new Promise<void>((resolve, reject) => c.write(buf, (e) => (e ? reject(e) : resolve())));
    }
    buf.fill(0); // and once more after the last callback
    c.end();
    await within(once(c, 'close'), 10_000, 'close');
    const got = await received!;
    expect(got.length).to.equal(3 * buf.length);
    expect(createHash('sha256').update(got).digest('hex')).to.equal(expected.digest('hex'));
  });

  it('keeps the write side open after the peer FIN with allowHalfOpen', async () => {
    const port = await listening(
      server({ allowHalfOpen: true }, (s) => {
        const got = collect(s);
        void got.then((buf) => {
          expect(s.readyState).to.equal('writeOnly');
          // The client has finished sending; answer after its FIN.
          s.end(`got ${buf.length}`);
        });
      }),
    );
    const c = client(port);
    const reply = collect(c);
    c.end(Buffer.alloc(5000, 1));
    expect((await within(reply, 5000, 'reply')).toString()).to.equal('got 5000');
  });

  it('applies backpressure: write() false then drain; a paused reader closes the window, resume recovers', async () => {
    const srv = server({ pauseOnConnect: true, rcvBuf: 64 * 1024 });
    const port = await listening(srv);
    const c = client(port, { sndBuf: 64 * 1024 });
    const [s] = (await within(once(srv, 'connection'), 5000, 'connection')) as [Socket];
    const accepted = s;
    if (c.connecting) await once(c, 'connect');
    const chunk = Buffer.alloc(16 * 1024, 7);
    let written = 0;
    let sawFalse = false;
    // Fill: bounded by a count so a broken stack cannot loop forever.
    for (let i = 0; i < 1000 && !sawFalse; i++) {
      sawFalse = !c.write(chunk);
      written += chunk.length;
    }
    expect(sawFalse, 'write() returned false').to.equal(true);
    // Keep writing on every drain until the peer's window is zero and we stop draining.
    let zeroWindow = false;
    const deadline = Date.now() + 8000;
    while (!zeroWindow && Date.now() < deadline) {
      const drained = await Promise.race([once(c, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 300))]);
      const info = c.getInfo()!;
      if (!drained && info.sndWnd === 0) zeroWindow = true;
      else if (drained) {
        while (c.write(chunk)) written += chunk.length;
        written += chunk.length;
      }
    }
    expect(zeroWindow, 'the paused reader made the window zero').to.equal(true);
    expect(accepted.getInfo()!.rcvWnd).to.equal(0);
    const total = written;
    const hash = createHash('sha256');
    let n = 0;
    const done = new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        n += d.length;
        hash.update(d);
      });
      s.on('end', resolve);
    });
    c.end();
    s.resume();
    await within(done, 10_000, 'all data after resume');
    expect(n).to.equal(total);
  });

  it('fails with ECONNREFUSED when the host speaks no TCP (ICMP protocol unreachable)', async () => {
    // b has no TCP stack at all: it answers our SYN with ICMP protocol unreachable.
    const c = client(4999);
    const [err] = (await within(once(c, 'error'), 5000, 'error')) as [NodeStyleError];
    expect(err.code).to.equal('ECONNREFUSED');
    expect(TcpStack.for(a).stats().events.refused).to.equal(1);
    expect(b.stats.drops.get('no_handler')).to.equal(1);
  });

  it('fails with ECONNREFUSED when nothing listens (RST)', async () => {
    await listening(server()); // b speaks TCP, but not on port 4999
    const c = client(4999);
    const [err] = (await within(once(c, 'error'), 5000, 'error')) as [NodeStyleError];
    expect(err.code).to.equal('ECONNREFUSED');
    expect(err.syscall).to.equal('connect');
    expect(err.address).to.equal('10.77.0.3');
    expect(err.port).to.equal(4999);
    expect(err.message).to.equal('connect ECONNREFUSED 10.77.0.3:4999');
    expect(TcpStack.for(b).stats().events.reset_out).to.equal(1);
  });

  it('fails at once with EHOSTUNREACH when the host has no route to the address', async () => {
    const c = connect({ via: a, host: '10.77.0.99', port: 80 });
    sockets.push(c);
    const [err] = (await within(once(c, 'error'), 2000, 'error')) as [NodeStyleError];
    expect(err.code).to.equal('EHOSTUNREACH');
    expect(err.message).to.equal('connect EHOSTUNREACH 10.77.0.99:80');
  });

  it('fails with ECONNRESET when the peer resets, error before close', async () => {
    const port = await listening(server({}, (s) => setTimeout(() => s.resetAndDestroy(), 20)));
    const c = client(port);
    const order: string[] = [];
    c.on('error', (e: NodeStyleError) => order.push(`error:${e.code}`));
    // (events.once would reject on 'error'; listen for 'close' directly)
    const hadError = await within(new Promise<boolean>((r) => c.on('close', r)), 5000, 'close');
    order.push('close');
    expect(hadError).to.equal(true);
    expect(order).to.deep.equal(['error:ECONNRESET', 'close']);
  });

  it('fails with ETIMEDOUT when the peer host is gone (short timeouts)', async () => {
    const port = await listening(server());
    const c = client(port, { minRto: 20, initialRto: 50, maxRto: 100, maxRetries: 3 });
    await within(once(c, 'connect'), 5000, 'connect');
    await b.close(); // the peer vanishes without a trace
    c.write('anyone?');
    const [err] = (await within(once(c, 'error'), 10_000, 'error')) as [NodeStyleError];
    expect(err.code).to.equal('ETIMEDOUT');
  });

  it('fires timers on time on an idle connection: keepalive finds a vanished peer', async () => {
    const port = await listening(server());
    const c = client(port, { keepAliveInterval: 100, keepAliveProbes: 2 });
    await within(once(c, 'connect'), 5000, 'connect');
    c.setKeepAlive(true, 300);
    await b.close(); // no answers from now on
    const t0 = performance.now();
    const [err] = (await within(once(c, 'error'), 5000, 'error')) as [NodeStyleError];
    const ms = performance.now() - t0;
    expect(err.code).to.equal('ETIMEDOUT');
    // Idle 300 ms + 2 probes 100 ms apart (+ the last probe's wait), plus timer slack.
    expect(ms).to.be.within(250, 1500);
  });

  it('fails with ETIMEDOUT when the SYN is never answered', async () => {
    await b.close();
    const c = client(80, { initialRto: 50, minRto: 20, maxRto: 100, synRetries: 2 });
    const [err] = (await within(once(c, 'error'), 10_000, 'error')) as [NodeStyleError];
    expect(err.code).to.equal('ETIMEDOUT');
    expect(err.syscall).to.equal('connect');
  });

  it('refuses a second listener on the same port with EADDRINUSE', async () => {
    const port = await listening(server());
    const second = server();
    const [err] = (await Promise.all([once(second, 'error'), second.listen(port)]))[0] as [NodeStyleError];
    expect(err.code).to.equal('EADDRINUSE');
    expect(second.listening).to.equal(false);
  });

  it('works with stream.pipeline both ways', async () => {
    const data = randomBytes(1 << 20);
    const recv = new Promise<string>((resolve, reject) => {
      void listening(
        server({}, (s) => {
          const h = createHash('sha256');
          pipeline(s, new Writable({ write: (c: Buffer, _e, cb) => (h.update(c), cb()) })).then(() => resolve(h.digest('hex')), reject);
        }),
      ).then((port) => {
        const c = client(port);
        const chunks = [] as Buffer[];
        for (let i = 0; i < data.length; i += 10_000) chunks.push(data.subarray(i, i + 10_000));
        pipeline(Readable.from(chunks), c).catch(reject);
      });
    });
    expect(await within(recv, 10_000, 'pipeline')).to.equal(createHash('sha256').update(data).digest('hex'));
  });

  it("round-trips objects through msgpackr's PackrStream / UnpackrStream", async () => {
    const objects = Array.from({ length: 2000 }, (_, i) => ({ i, name: `obj-${i}`, data: [i, i * 2, { deep: i % 7 === 0 }] }));
    const got: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      void listening(
        server({}, (s) => {
          const u = new UnpackrStream();
          u.on('data', (o: unknown) => got.push(o));
          pipeline(s, u).then(() => resolve(), reject);
        }),
      ).then((port) => {
        const c = client(port);
        const p = new PackrStream();
        pipeline(p, c).catch(reject);
        for (const o of objects) p.write(o);
        p.end();
      });
    });
    await within(done, 10_000, 'msgpack objects');
    expect(got).to.deep.equal(objects);
  });

  it('server.close() waits for open connections; getConnections and maxConnections', async () => {
    const srv = server();
    srv.maxConnections = 1;
    const port = await listening(srv);
    const c1 = client(port);
    c1.resume();
    await within(once(srv, 'connection'), 5000, 'first connection');
    const count = await new Promise<number>((resolve) => srv.getConnections((_e, n) => resolve(n)));
    expect(count).to.equal(1);
    // Beyond maxConnections: reset.
    const c2 = client(port);
    const [err] = (await within(once(c2, 'error'), 5000, 'refusal of the second')) as [NodeStyleError];
    expect(err.code).to.equal('ECONNRESET');
    let closed = false;
    srv.close(() => {
      closed = true;
    });
    expect(srv.listening).to.equal(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed, 'close waits for the open connection').to.equal(false);
    c1.end();
    await within(once(srv, 'close'), 5000, 'server close');
    expect(closed).to.equal(true);
    // The port is free again: a connection now gets refused.
    const c3 = client(port);
    const [err3] = (await within(once(c3, 'error'), 5000, 'refused')) as [NodeStyleError];
    expect(err3.code).to.equal('ECONNREFUSED');
  });

  it("enforces the host's connection limit: EMFILE on connect, RST beyond it on accept", async () => {
    const port = await listening(server());
    TcpStack.for(a).connectionLimit.max = 1;
    const c1 = client(port);
    await within(once(c1, 'connect'), 5000, 'first connect');
    const c2 = client(port);
    const [e2] = (await within(once(c2, 'error'), 5000, 'EMFILE')) as [NodeStyleError];
    expect(e2.code).to.equal('EMFILE');
    // Passive side: b takes one connection (c1 holds it), so the next handshake is reset.
    TcpStack.for(a).connectionLimit.max = 10;
    TcpStack.for(b).connectionLimit.max = 1;
    const c3 = client(port);
    const [e3] = (await within(once(c3, 'error'), 5000, 'reset')) as [NodeStyleError];
    expect(e3.code).to.equal('ECONNRESET');
    expect(TcpStack.for(b).connectionLimit.refusals).to.equal(1);
    expect(TcpStack.for(b).connectionLimit.open).to.equal(1);
  });

  it('emits timeout after idle time without closing the socket', async () => {
    const port = await listening(server());
    const c = client(port, { timeout: 100 });
    await within(once(c, 'timeout'), 5000, 'timeout');
    expect(c.destroyed).to.equal(false);
    c.setTimeout(0);
  });

  it('forwards trace events and RTT samples to the observers, labelled by 4-tuple', async () => {
    const events: Array<[string, TcpTraceEvent]> = [];
    const rtts: number[] = [];
    observers.trace = (conn, ev) => events.push([conn, ev]);
    observers.rtt = (sec) => rtts.push(sec);
    try {
      const port = await listening(server({}, (s) => s.pipe(s)));
      const c = client(port);
      const back = collect(c);
      c.end('trace me');
      await within(back, 5000, 'echo');
      const label = `10.77.0.2:${c.localPort}-10.77.0.3:${port}`;
      const mine = events.filter(([l]) => l === label).map(([, e]) => e);
      expect(mine.some((e) => e.type === 'state' && e.to === 'ESTABLISHED')).to.equal(true);
      expect(mine.some((e) => e.type === 'send')).to.equal(true);
      const peer = events.filter(([l]) => l === `10.77.0.3:${port}-10.77.0.2:${c.localPort}`);
      expect(peer.length).to.be.greaterThan(0);
      expect(rtts.length).to.be.greaterThan(0);
      expect(rtts.every((r) => r > 0 && r < 5)).to.equal(true);
    } finally {
      delete observers.trace;
      delete observers.rtt;
    }
  });

  it('reports connections, listeners and totals to the inventory', async () => {
    const port = await listening(server({}, (s) => s.pipe(s)));
    const c = client(port);
    await within(once(c, 'connect'), 5000, 'connect');
    const now = performance.now();
    const conns = inventory.sources().flatMap((src) => src.tcpConnections?.(now) ?? []);
    expect(conns.some((i) => i.localPort === c.localPort && i.remotePort === port && i.state === 'ESTABLISHED')).to.equal(true);
    const listeners = inventory.sources().flatMap((src) => src.tcpListeners?.() ?? []);
    expect(listeners.some((l) => l.localAddress === '10.77.0.3' && l.localPort === port)).to.equal(true);
    const ta = TcpStack.for(a).stats();
    const tb = TcpStack.for(b).stats();
    expect(ta.events.active_open).to.equal(1);
    expect(tb.events.passive_open).to.equal(1);
    expect(ta.segmentsOut).to.be.greaterThan(1);
    expect(tb.segmentsIn).to.be.at.least(1);
    // A connection to a closed port counts a refusal here and an RST out there.
    const r = client(4998);
    await within(once(r, 'error').catch(() => undefined), 5000, 'refused');
    expect(TcpStack.for(a).stats().events.refused).to.equal(1);
    expect(TcpStack.for(b).stats().events.reset_out).to.equal(1);
  });

  for (const coalesceAcks of [true, false]) {
    it(`a bulk receiver ${coalesceAcks ? 'sends one ACK per receive burst (coalesceAcks)' : 'ACKs every second segment with coalesceAcks false'}`, async () => {
      // Both hosts share one thread, so the sender's whole window lands in the receiver's
      // socket before it reads: bursts of many datagrams.
      let serverInfo: ReturnType<Socket['getInfo']>;
      const port = await listening(
        server({ coalesceAcks }, (s) => {
          s.resume();
          s.on('end', () => {
            serverInfo = s.getInfo();
            s.end();
          });
        }),
      );
      const c = client(port);
      c.resume();
      c.end(Buffer.alloc(8 << 20, 0x33));
      await within(once(c, 'close'), 15_000, 'close');
      const dataSegs = Math.ceil((8 << 20) / c.getInfo()!.mss);
      const acks = serverInfo!.segmentsOut;
      if (coalesceAcks) expect(acks / dataSegs, `${acks} ACKs for ${dataSegs} data segments`).to.be.below(0.25);
      else expect(acks / dataSegs, `${acks} ACKs for ${dataSegs} data segments`).to.be.within(0.4, 0.6);
    });
  }

  it('getInfo() describes the connection', async () => {
    const port = await listening(server({}, (s) => s.pipe(s)));
    const c = client(port, { cc: 'reno', noDelay: true });
    await within(once(c, 'connect'), 5000, 'connect');
    c.write('ping');
    await within(once(c, 'data'), 5000, 'data');
    const info = c.getInfo()!;
    expect(info.state).to.equal('ESTABLISHED');
    expect(info.cc).to.equal('reno');
    expect(info.localAddress).to.equal('10.77.0.2');
    expect(info.remotePort).to.equal(port);
    expect(info.mss).to.be.at.most(1432);
    expect(info.srtt).to.be.greaterThan(0);
  });
});
