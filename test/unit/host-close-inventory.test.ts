/**
 * A closed host's sockets leave the process inventory (what /connections, the metrics and
 * `overlay ss` read): before, a closed host's TCP listeners stayed listed for the life of the
 * process, and a later test (or a long-running process that recreates hosts) read them.
 */
import { expect } from 'chai';
import { Host, inventory, net } from '../../src/index.js';

function listenersOf(address: string): number {
  let n = 0;
  for (const s of inventory.sources()) for (const l of s.tcpListeners?.() ?? []) if (l.localAddress === address) n++;
  return n;
}

describe('Host.close() and the inventory', () => {
  it("a closed host's TCP listener is no longer listed", async () => {
    const h = await Host.create({ address: '10.77.9.1' });
    const server = net.createServer({ host: h }, () => {});
    await new Promise<void>((resolve) => server.listen(7070, resolve));
    expect(listenersOf('10.77.9.1')).to.equal(1);
    await h.close();
    expect(listenersOf('10.77.9.1')).to.equal(0);
    expect(h.stats.drops.get('internal_error') ?? 0).to.equal(0);
  });
});
