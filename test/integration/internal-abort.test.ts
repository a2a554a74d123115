/**
 * What a user sees when the TCP core hits a bug: the connection is reset and the socket
 * emits a Node-style ECONNABORTED, instead of a connection that stalls for ever with data in
 * flight (what an exception in ACK processing left behind before). Two hosts, real UDP.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect, type Server, type Socket } from '../../src/net.js';
import { Sender } from '../../src/tcp/sender.js';
import { within } from '../helpers/real-tcp.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';

const A = '10.77.0.2';
const B = '10.77.0.3';

describe('an internal error aborts the connection (two hosts, real UDP)', function () {
  this.timeout(20_000);
  const original = Sender.prototype.processNewAck;
  let a: Host;
  let b: Host;
  let server: Server | undefined;

  beforeEach(async () => {
    [a, b] = await hostPair(A, B);
  });

  afterEach(async () => {
    Sender.prototype.processNewAck = original;
    server?.close();
    await a.close();
    await b.close();
  });

  it('the client gets ECONNABORTED, the server ECONNRESET, and the drop is counted', async () => {
    let accepted: Socket | undefined;
    const e = await echoServer(b, {}, (s) => {
      accepted = s;
    });
    server = e.server;
    const client = connect({ via: a, host: B, port: e.port });
    await within(once(client, 'connect'), 5000, 'connect');
    // From now on the client's first ACK of new data (for its write) throws inside the core.
    const clientSender = (client as unknown as { conn: { c: { snd: Sender } } }).conn.c.snd;
    let armed = true;
    Sender.prototype.processNewAck = function (this: Sender, ack: number, tsEcr: number | undefined): number {
      if (armed && this === clientSender) {
        armed = false;
        throw new TypeError('a bug in the core');
      }
      return original.call(this, ack, tsEcr);
    };
    const clientError = once(client, 'error');
    const clientClosed = new Promise<void>((r) => client.once('close', () => r()));
    client.write(Buffer.alloc(4000, 7));
    const [err] = (await within(clientError, 5000, 'client error')) as [NodeJS.ErrnoException];
    expect(err.code).to.equal('ECONNABORTED');
    expect(err.syscall).to.equal('read');
    expect(err.message).to.equal(`read ECONNABORTED ${B}:${e.port}`);
    expect(armed, 'the patched ACK processing ran').to.equal(false);
    expect(a.stats.drops.get('tcp_internal_error')).to.equal(1);
    // The RST reached the server's side of the connection.
    const srv = accepted!;
    if (!srv.destroyed) {
      const [serr] = (await within(once(srv, 'error'), 5000, 'server error')) as [NodeJS.ErrnoException];
      expect(serr.code).to.equal('ECONNRESET');
    }
    expect(srv.destroyed).to.equal(true);
    await within(clientClosed, 5000, 'client close');
    expect(client.destroyed).to.equal(true);
  });
});
