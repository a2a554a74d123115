/**
 * What each connection costs the socket layer, both ends of every churn handshake: the
 * driver's TcpConn is the Connection's hooks itself (no closures per connection unless a trace
 * or RTT observer is installed), a server counts its sockets down without a 'close' listener
 * per socket, and a socket's TCP options (constructor, setNoDelay before connect, connect's
 * options) still all reach the connection now that they are copied by a loop. Two hosts over
 * real loopback UDP.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { observers } from '../../src/observe/inventory.js';
import { connect, Socket, TcpStack, type Server } from '../../src/net.js';
import type { TcpConn } from '../../src/tcp/driver.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';

const A = '10.77.0.2';
const B = '10.77.0.3';
const B_NUM = (10 << 24) | (77 << 16) | 3;

/** The driver's connection behind a stream socket (private in Socket). */
function connOf(s: Socket): TcpConn {
  return (s as unknown as { conn: TcpConn }).conn;
}

describe('socket layer: per-connection objects (two hosts, real UDP)', function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  let server: Server | undefined;

  beforeEach(async () => {
    [a, b] = await hostPair(A, B);
  });

  afterEach(async () => {
    observers.rtt = undefined;
    server?.close();
    server = undefined;
    await a.close();
    await b.close();
  });

  it('a connection\'s hooks are its TcpConn, with no closures, unless an RTT observer is installed (then it gets samples)', async () => {
    const e = await echoServer(b);
    server = e.server;
    const stack = TcpStack.for(a);
    const plain = stack.connect({ remoteAddr: B_NUM, remotePort: e.port }, {});
    expect(plain.c.hooks).to.equal(plain);
    plain.abort();

    const samples: number[] = [];
    observers.rtt = (s) => samples.push(s);
    const s = connect({ via: a, host: B, port: e.port });
    const observed = connOf(s);
    expect(observed.c.hooks).to.not.equal(observed);
    s.end(Buffer.alloc(1000, 1));
    s.resume();
    await once(s, 'close');
    expect(samples.length, 'RTT samples reached the observer').to.be.greaterThan(0);
    expect(observed.established).to.equal(true);
  });

  it('a server counts its sockets down on close without a \'close\' listener per accepted socket', async () => {
    const listeners: number[] = [];
    const e = await echoServer(b, {}, (s) => listeners.push(s.listenerCount('close')));
    server = e.server;
    for (let i = 0; i < 3; i++) {
      const s = connect({ via: a, host: B, port: e.port }, () => s.end('hello'));
      s.resume();
      await once(s, 'close');
    }
    expect(listeners).to.deep.equal([0, 0, 0]);
    // The accepted sockets close after the clients: wait (capped) for the server's count.
    let n = -1;
    for (let i = 0; i < 100 && n !== 0; i++) {
      n = await new Promise<number>((r) => e.server.getConnections((_err, c) => r(c)));
      if (n !== 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(n).to.equal(0);
    const closed = once(e.server, 'close');
    e.server.close();
    server = undefined;
    await closed;
  });

  it('TCP options from the constructor, setNoDelay before connect and connect\'s own options all reach the connection', async () => {
    const e = await echoServer(b);
    server = e.server;
    const s = new Socket({ via: a, sndBuf: 123_456 });
    s.setNoDelay(true);
    s.setKeepAlive(true, 4321);
    s.connect({ host: B, port: e.port, rcvBuf: 234_567, msl: 777 });
    const cfg = connOf(s).c.config;
    expect(cfg.sndBuf).to.equal(123_456);
    expect(cfg.rcvBuf).to.equal(234_567);
    expect(cfg.msl).to.equal(777);
    expect(cfg.noDelay).to.equal(true);
    expect(cfg.keepAlive).to.equal(true);
    expect(cfg.keepAliveIdle).to.equal(4321);
    expect(cfg, 'node:net\'s name is not a TcpConfig field').to.not.have.property('keepAliveInitialDelay');
    expect(s.remoteAddress).to.equal(B);
    expect(s.localAddress).to.equal(A);
    s.destroy();
    await once(s, 'close');
  });
});
