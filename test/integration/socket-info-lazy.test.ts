/**
 * A stream socket builds no TCP_INFO on its own as it closes: getInfo() builds one when it is
 * called, before and after destroy (it was 2-3 snapshots per connection in _destroy, ~1.7 KB
 * of garbage per handshake on a churning server). Two hosts over real loopback UDP.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect, type Server, type Socket } from '../../src/net.js';
import { Connection } from '../../src/tcp/connection.js';
import { within } from '../helpers/real-tcp.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';

const A = '10.77.0.2';
const B = '10.77.0.3';

describe('stream socket TCP_INFO on close (two hosts, real UDP)', function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  let server: Server | undefined;
  const original = Connection.prototype.getInfo;
  let built = 0;

  beforeEach(async () => {
    [a, b] = await hostPair(A, B);
    built = 0;
    Connection.prototype.getInfo = function (this: Connection, now: number) {
      built++;
      return original.call(this, now);
    };
  });

  afterEach(async () => {
    Connection.prototype.getInfo = original;
    server?.close();
    await a.close();
    await b.close();
  });

  /** `n` echo cycles, the client closing first; resolves with the last pair of sockets once both closed. */
  async function cycles(n: number): Promise<{ client: Socket; accepted: Socket }> {
    let accepted: Socket | undefined;
    let serverClosed: Promise<unknown> = Promise.resolve();
    const e = await echoServer(b, { msl: 5000 }, (s) => {
      accepted = s;
      serverClosed = once(s, 'close');
    });
    server = e.server;
    const port = e.port;
    let client: Socket | undefined;
    for (let i = 0; i < n; i++) {
      client = connect({ via: a, host: B, port, msl: 5000 });
      await once(client, 'connect');
      client.end(Buffer.from('ping'));
      client.resume();
      await within(once(client, 'close'), 5000, 'client close');
      await within(serverClosed, 5000, 'server close');
    }
    return { client: client!, accepted: accepted! };
  }

  it('closing builds no TCP_INFO on either side', async () => {
    await cycles(5);
    expect(built).to.equal(0);
  });

  it('getInfo() after close describes the closed connection, built when asked', async () => {
    const { client, accepted } = await cycles(1);
    expect(client.destroyed && accepted.destroyed).to.equal(true);
    const ci = client.getInfo()!;
    const si = accepted.getInfo()!;
    expect(built).to.equal(2);
    // The client closed first: our FIN acknowledged, the peer's received.
    expect(['FIN-WAIT-2', 'TIME-WAIT']).to.include(ci.state);
    expect(ci.bytesAcked).to.equal(4);
    expect(ci.bytesReceived).to.equal(4);
    // The server's close finished (LAST-ACK answered).
    expect(si.state).to.equal('CLOSED');
    expect(si.bytesReceived).to.equal(4);
    expect(si.bytesAcked).to.equal(4);
    // A fresh object per call, not a cached one.
    expect(client.getInfo()).to.not.equal(ci);
    expect(built).to.equal(3);
  });
});
