/**
 * Issue 12 item 5: Host.create accepts `udp: 'A.B.C.D:PORT'` (it used to bind 0.0.0.0 on a
 * random port) and checks every option at run time with Node-style errors, for JavaScript
 * callers who have no types.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { Host } from '../../src/host/host.js';

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function rejectsWith(opts: unknown, code: string, re?: RegExp): Promise<void> {
  let err: (Error & { code?: string }) | undefined;
  let host: Host | undefined;
  try {
    host = await Host.create(opts as Parameters<typeof Host.create>[0]);
  } catch (e) {
    err = e as Error & { code?: string };
  }
  await host?.close();
  expect(err, `Host.create(${JSON.stringify(opts)}) must reject`).to.not.equal(undefined);
  expect(err!.code, err!.message).to.equal(code);
  expect(err).to.be.instanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError);
  if (re) expect(err!.message).to.match(re);
}

describe('newcomer: Host.create options', () => {
  it("binds exactly the 'HOST:PORT' string it is given", async () => {
    const port = await freeUdpPort();
    const h = await Host.create({ address: '10.77.0.2', udp: `127.0.0.1:${port}` });
    try {
      expect(h.endpoint).to.deep.equal({ address: '127.0.0.1', port });
    } finally {
      await h.close();
    }
  });

  it('accepts peer endpoints as strings too, and routes with them', async () => {
    const a = await Host.create({ address: '10.77.0.2' });
    const b = await Host.create({ address: '10.77.0.3', peers: [{ prefix: '10.77.0.2', endpoint: `127.0.0.1:${a.endpoint.port}` }] });
    a.addPeer('10.77.0.3', b.endpoint);
    try {
      const r = await b.ping('10.77.0.2', { seq: 1, timeoutMs: 3000 });
      expect(r).to.not.equal(undefined);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects bad options with ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE', async () => {
    await rejectsWith(undefined, 'ERR_INVALID_ARG_TYPE', /"options"/);
    await rejectsWith({ address: 7 }, 'ERR_INVALID_ARG_TYPE', /options\.address/);
    await rejectsWith({ address: '10.77.0.300' }, 'ERR_INVALID_ARG_VALUE', /options\.address/);
    await rejectsWith({ address: '10.77.0.2', udp: 'localhost' }, 'ERR_INVALID_ARG_VALUE', /options\.udp/);
    await rejectsWith({ address: '10.77.0.2', udp: 'localhost:4000' }, 'ERR_INVALID_ARG_VALUE', /options\.udp/);
    await rejectsWith({ address: '10.77.0.2', udp: 40077 }, 'ERR_INVALID_ARG_TYPE', /options\.udp/);
    await rejectsWith({ address: '10.77.0.2', udp: { address: '127.0.0.1', port: 70000 } }, 'ERR_OUT_OF_RANGE', /options\.udp\.port/);
    await rejectsWith({ address: '10.77.0.2', udp: { address: '127.0.0.1', port: '4000' } }, 'ERR_INVALID_ARG_TYPE', /options\.udp\.port/);
    await rejectsWith({ address: '10.77.0.2', mtu: '1400' }, 'ERR_INVALID_ARG_TYPE', /options\.mtu/);
    await rejectsWith({ address: '10.77.0.2', mtu: 10 }, 'ERR_OUT_OF_RANGE', /options\.mtu/);
    await rejectsWith({ address: '10.77.0.2', learn: 'yes' }, 'ERR_INVALID_ARG_TYPE', /options\.learn/);
    await rejectsWith({ address: '10.77.0.2', peers: {} }, 'ERR_INVALID_ARG_TYPE', /options\.peers/);
    await rejectsWith({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.0/40', endpoint: '127.0.0.1:1' }] }, 'ERR_INVALID_ARG_VALUE', /peers\[0\]\.prefix/);
    await rejectsWith({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.3', endpoint: '127.0.0.1:0' }] }, 'ERR_OUT_OF_RANGE', /peers\[0\]\.endpoint/);
    await rejectsWith({ address: '10.77.0.2', recvBufferSize: -1 }, 'ERR_OUT_OF_RANGE', /recvBufferSize/);
  });
});
