/**
 * API misuse of the node:net-like Socket and Server gives a clear, coded error (never a
 * crash): write after end, connect twice, listen twice, bad addresses and ports.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect, createServer, isIP, Socket } from '../../src/net.js';
import type { NodeStyleError } from '../../src/util/errors.js';

describe('Socket/Server API misuse', function () {
  this.timeout(10_000);
  let h: Host;
  beforeEach(async () => {
    h = await Host.create({ address: '10.77.0.9' });
  });
  afterEach(async () => {
    await h.close();
  });

  function nextError(em: NodeJS.EventEmitter): Promise<NodeStyleError> {
    return once(em, 'error').then(([e]) => e as NodeStyleError);
  }

  it('listen twice -> ERR_SERVER_ALREADY_LISTEN, and the first listener keeps working', async () => {
    const srv = createServer({ host: h });
    await new Promise<void>((r) => srv.listen(7000, () => r()));
    const err = nextError(srv);
    srv.listen(7001);
    expect((await err).code).to.equal('ERR_SERVER_ALREADY_LISTEN');
    expect(srv.address()!.port).to.equal(7000);
    srv.close();
  });

  it('close() of a server that is not listening -> ERR_SERVER_NOT_RUNNING in the callback', async () => {
    const srv = createServer({ host: h });
    const e = await new Promise<Error | undefined>((r) => srv.close(r));
    expect((e as NodeStyleError).code).to.equal('ERR_SERVER_NOT_RUNNING');
  });

  it('listen on an address that is not the host -> EADDRNOTAVAIL', async () => {
    const srv = createServer({ host: h });
    const err = nextError(srv);
    srv.listen(7000, '10.77.0.10');
    const e = await err;
    expect(e.code).to.equal('EADDRNOTAVAIL');
    expect(e.syscall).to.equal('listen');
    expect(srv.listening).to.equal(false);
  });

  it('createServer without a host throws a coded error', () => {
    expect(() => createServer({} as never)).to.throw().with.property('code', 'EINVAL');
  });

  it('connect without a host, with a bad port or a bad address -> error event, not a throw', async () => {
    const s1 = new Socket();
    const e1 = nextError(s1);
    s1.connect({ host: '10.77.0.3', port: 80 });
    expect((await e1).code).to.equal('EINVAL');
    const s2 = connect({ via: h, host: '10.77.0.3', port: 70000 });
    expect((await nextError(s2)).code).to.equal('ERR_INVALID_ARG_VALUE');
    const s3 = connect({ via: h, host: 'not-an-ip', port: 80 });
    expect((await nextError(s3)).code).to.equal('ERR_INVALID_ARG_VALUE');
  });

  it('connect twice -> ERR_SOCKET_CONNECTING', async () => {
    const srv = createServer({ host: h });
    await new Promise<void>((r) => srv.listen(7002, () => r()));
    const s = connect({ via: h, host: '10.77.0.9', port: 7002 });
    const e = nextError(s);
    s.connect({ via: h, host: '10.77.0.9', port: 7002 });
    expect((await e).code).to.equal('ERR_SOCKET_CONNECTING');
    srv.close();
  });

  it('write after end -> ERR_STREAM_WRITE_AFTER_END from the stream machinery', async () => {
    const srv = createServer({ host: h }, (s) => s.resume());
    await new Promise<void>((r) => srv.listen(7003, () => r()));
    const s = connect(7003, '10.77.0.9', h);
    s.end('bye');
    const e = nextError(s);
    s.write('more');
    expect((await e).code).to.equal('ERR_STREAM_WRITE_AFTER_END');
    srv.close();
  });

  it('connect from a local address that is not the host -> EADDRNOTAVAIL', async () => {
    const s = connect({ via: h, host: '10.77.0.9', port: 80, localAddress: '10.77.0.200' });
    const e = await nextError(s);
    expect(e.code).to.equal('EADDRNOTAVAIL');
  });

  it('isIP knows IPv4 only', () => {
    expect(isIP('10.77.0.1')).to.equal(4);
    expect(isIP('::1')).to.equal(0);
    expect(isIP('x')).to.equal(0);
  });
});
