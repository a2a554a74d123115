/**
 * connect() reuses the last remote address it parsed (socket.ts, lastRemote): an empty or
 * malformed host must still be refused, whatever was cached before, and a new address must
 * not be answered from the cache.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect, createServer } from '../../src/net.js';
import { within } from '../helpers/real-tcp.js';

describe('connect(): the remote address, parsed or from the last one parsed', function () {
  this.timeout(10_000);
  let a: Host;

  before(async () => {
    a = await Host.create({ address: '10.77.0.2' });
  });

  after(async () => {
    await a.close();
  });

  async function refused(host: string): Promise<string | undefined> {
    const s = connect({ via: a, host, port: 80 });
    const [err] = (await within(once(s, 'error'), 5000, `error for '${host}'`)) as [NodeJS.ErrnoException];
    return err.code;
  }

  it('refuses an empty host, also as the first connect of the process, and after a good one', async () => {
    expect(await refused('')).to.equal('ERR_INVALID_ARG_VALUE');
    const b = await Host.create({ address: '10.77.0.3' });
    try {
      a.addPeer('10.77.0.3/32', b.endpoint);
      b.addPeer('10.77.0.2/32', a.endpoint);
      const server = createServer({ host: b }, (s) => s.end());
      server.listen(0);
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      const s = connect({ via: a, host: '10.77.0.3', port });
      await within(once(s, 'connect'), 5000, 'connect');
      expect(s.remoteAddress).to.equal('10.77.0.3');
      s.destroy();
      server.close();
      expect(await refused('')).to.equal('ERR_INVALID_ARG_VALUE');
      expect(await refused('10.77.0.300')).to.equal('ERR_INVALID_ARG_VALUE');
    } finally {
      await b.close();
    }
  });
});
