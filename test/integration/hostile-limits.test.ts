/**
 * Resource limits, each with a clear error or a drop counter.
 *
 * - Out-of-order bytes per connection (TcpConfig.maxOutOfOrderBytes), end to end: a bulk
 *   transfer through the chaos proxy with 3% loss on the data direction makes the receiver
 *   hold out-of-order data; with a 1 MiB window and a 4 KiB cap (under three segments), the held bytes never
 *   exceed the cap (sampled every 2 ms), the excess is dropped and counted ('ooo_full'),
 *   and the stream still arrives intact.
 * - Connections per host (TcpStack.connectionLimit): connect() beyond the limit fails with
 *   EMFILE; a handshake beyond it on the passive side is reset (the client sees
 *   ECONNREFUSED or ECONNRESET) and counted as the host drop 'tcp_conn_limit'.
 * - The process-wide buffered-bytes budget and the connection counter of src/limits.ts:
 *   reservations beyond the limit are refused and counted, EMFILE is a Node-style error.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { Host } from '../../src/host/host.js';
import { BufferBudget, ConnectionLimit, processBuffers } from '../../src/limits.js';
import { connect, createServer, TcpStack, type Server, type Socket } from '../../src/net.js';

const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5003;

describe('hostile: resource limits', function () {
  this.timeout(30_000);

  describe('out-of-order bytes per connection, end to end', () => {
    let proxy: Proxy | undefined;
    const hosts: Host[] = [];
    let server: Server | undefined;
    let client: Socket | undefined;

    afterEach(async () => {
      client?.destroy();
      server?.close();
      await proxy?.close();
      proxy = undefined;
      for (const h of hosts.splice(0)) await h.close();
    });

    it('a 4 KiB cap holds under 3% loss with a 1 MiB window; the excess is dropped and counted; sha256 equal', async () => {
      const CAP = 4096;
      const a = await Host.create({ address: A_ADDR });
      const b = await Host.create({ address: B_ADDR });
      hosts.push(a, b);
      proxy = await createProxy({
        listen: '127.0.0.1:0',
        learn: false,
        seed: 42,
        peers: { [`${A_ADDR}/32`]: `127.0.0.1:${a.endpoint.port}`, [`${B_ADDR}/32`]: `127.0.0.1:${b.endpoint.port}` },
      });
      // Loss on the data direction only (A -> B is "up": the lower address first).
      proxy.setImpairment('*', 'up', 'loss', { p: 0.03 });
      a.addPeer('10.77.0.0/16', proxy.address());
      b.addPeer('10.77.0.0/16', proxy.address());

      let receiver: Socket | undefined;
      const h = createHash('sha256');
      let received = 0;
      let eof!: () => void;
      const ended = new Promise<void>((r) => (eof = r));
      server = createServer({ host: b, rcvBuf: 1024 * 1024, maxOutOfOrderBytes: CAP }, (s) => {
        receiver = s;
        s.on('data', (d: Buffer) => {
          h.update(d);
          received += d.length;
        });
        s.on('end', () => eof());
        s.on('error', () => {});
      });
      server.on('error', () => {});
      await new Promise<void>((r) => server!.listen(PORT, r));

      const data = randomBytes(6 * 1024 * 1024);
      client = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ via: a, host: B_ADDR, port: PORT, sndBuf: 2 * 1024 * 1024 }, () => resolve(s));
        s.once('error', reject);
      });
      let peak = 0;
      const sampler = setInterval(() => {
        const o = receiver?.getInfo()?.outOfOrderBytes ?? 0;
        if (o > peak) peak = o;
      }, 2);
      client.end(data);
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`transfer incomplete: ${received} of ${data.length}`)), 25_000).unref());
      try {
        await Promise.race([ended, timeout]);
      } finally {
        clearInterval(sampler);
      }
      const drops = (receiver as unknown as { conn?: { c?: { drops?: Record<string, number> } } }).conn?.c?.drops ?? {};
      console.log(`      out-of-order peak ${peak} B (cap ${CAP}); receiver drops ${JSON.stringify(drops)}`);
      expect(createHash('sha256').update(data).digest('hex')).to.equal(h.digest('hex'));
      expect(peak, 'out-of-order data was held').to.be.above(0);
      expect(peak, 'never above the cap').to.be.at.most(CAP);
      expect(drops['ooo_full'] ?? 0, 'segments beyond the cap were dropped and counted').to.be.above(0);
    });
  });

  describe('connections per host', () => {
    const hosts: Host[] = [];
    const sockets: Socket[] = [];
    let server: Server | undefined;
    afterEach(async () => {
      for (const s of sockets.splice(0)) s.destroy();
      server?.close();
      for (const h of hosts.splice(0)) await h.close();
    });

    function open(a: Host): Promise<Socket> {
      return new Promise((resolve, reject) => {
        const s = connect({ via: a, host: B_ADDR, port: PORT }, () => resolve(s));
        sockets.push(s);
        s.once('error', reject);
      });
    }

    it('connect() beyond the limit fails with EMFILE; a handshake beyond the server host\'s limit gets a RST, counted', async () => {
      const a = await Host.create({ address: A_ADDR });
      const b = await Host.create({ address: B_ADDR });
      hosts.push(a, b);
      a.addPeer(`${B_ADDR}/32`, b.endpoint);
      b.addPeer(`${A_ADDR}/32`, a.endpoint);
      server = createServer({ host: b }, (s) => s.on('error', () => {}));
      server.on('error', () => {});
      await new Promise<void>((r) => server!.listen(PORT, r));
      TcpStack.for(b).connectionLimit.max = 2;
      TcpStack.for(a).connectionLimit.max = 3;
      await open(a);
      await open(a);
      // The server host is full: the third handshake is reset. (The driver may let the
      // SYN-ACK out before the RST, like node:net's maxConnections, which accepts and then
      // destroys: the client then sees 'connect' followed by ECONNRESET.)
      const third = await new Promise<string>((resolve) => {
        const s = connect({ via: a, host: B_ADDR, port: PORT });
        sockets.push(s);
        s.once('error', (e: Error & { code?: string }) => resolve(e.code ?? 'error'));
        s.once('close', () => resolve('closed without error'));
        setTimeout(() => resolve('still open after 3 s'), 3000).unref();
      });
      expect(third).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
      expect(b.stats.drops.get('tcp_conn_limit')).to.equal(1);
      expect(TcpStack.for(b).connectionLimit.refusals).to.equal(1);
      // The client host is full (two live, limit two): connect() fails with EMFILE.
      TcpStack.for(a).connectionLimit.max = 2;
      const emfile = await open(a).then(
        () => undefined,
        (e: Error & { code?: string; syscall?: string }) => `${e.code} ${e.syscall}`,
      );
      expect(emfile).to.equal('EMFILE connect');
      expect(TcpStack.for(a).connectionLimit.open).to.equal(2);
    });
  });

  describe('process-wide buffered bytes and connection counts (src/limits.ts)', () => {
    it('a BufferBudget refuses and counts what does not fit, and frees on release', () => {
      const b = new BufferBudget(1000);
      expect(b.tryReserve(600)).to.equal(true);
      expect(b.tryReserve(500)).to.equal(false);
      expect(b.reserveUpTo(500)).to.equal(400);
      expect(b.available).to.equal(0);
      b.release(1000);
      expect(b.used).to.equal(0);
      b.release(5); // never negative
      expect(b.used).to.equal(0);
      expect(b.snapshot()).to.deep.equal({ limit: 1000, used: 0, peak: 1000, refusals: 2, refusedBytes: 600 });
      b.limit = 10;
      expect(b.tryReserve(11)).to.equal(false);
      expect(() => (b.limit = -1)).to.throw(/non-negative integer/);
      expect(processBuffers.limit).to.be.above(0);
    });

    it('the process-wide budget holds end to end: a paused reader cannot make the process buffer more than the limit; data drops are counted and the stream still arrives intact', async () => {
      const LIMIT = 64 * 1024;
      const saved = processBuffers.limit;
      const a = await Host.create({ address: A_ADDR });
      const b = await Host.create({ address: B_ADDR, peers: [{ prefix: A_ADDR, endpoint: a.endpoint }] });
      a.addPeer(B_ADDR, b.endpoint);
      const data = randomBytes(1024 * 1024);
      let peakUsed = 0;
      const sample = setInterval(() => (peakUsed = Math.max(peakUsed, processBuffers.used)), 2);
      try {
        processBuffers.limit = LIMIT;
        const got: Buffer[] = [];
        let receiver: Socket | undefined;
        const server = createServer({ host: b, pauseOnConnect: true }, (s) => {
          receiver = s;
          s.on('data', (d: Buffer) => got.push(d));
        });
        await new Promise<void>((r) => server.listen(PORT + 1, r));
        const c = connect({ via: a, host: B_ADDR, port: PORT + 1, rcvBuf: 1 << 20 });
        c.end(data);
        // The reader stays paused until the budget has refused data for a while.
        const deadline = Date.now() + 10_000;
        while ((b.stats.drops.get('tcp_mem_pressure') ?? 0) < 5 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(b.stats.drops.get('tcp_mem_pressure') ?? 0, 'data refused under memory pressure').to.be.at.least(5);
        expect(processBuffers.used).to.be.at.most(LIMIT);
        receiver!.resume();
        await new Promise<void>((resolve, reject) => {
          receiver!.on('end', resolve);
          receiver!.on('error', reject);
        });
        expect(createHash('sha256').update(Buffer.concat(got)).digest('hex')).to.equal(createHash('sha256').update(data).digest('hex'));
        expect(peakUsed).to.be.at.most(LIMIT);
        server.close();
        c.destroy();
      } finally {
        clearInterval(sample);
        processBuffers.limit = saved;
        await a.close();
        await b.close();
      }
    });

    it('a ConnectionLimit hands out EMFILE as a Node-style error and counts refusals', () => {
      const l = new ConnectionLimit(2, 'host 10.77.0.2');
      expect(l.openOrError()).to.equal(undefined);
      expect(l.tryOpen()).to.equal(true);
      const e = l.openOrError('10.77.0.3', 80);
      expect(e?.code).to.equal('EMFILE');
      expect(e?.syscall).to.equal('connect');
      expect(e?.address).to.equal('10.77.0.3');
      expect(e?.message).to.match(/limit 2/);
      expect(l.refusals).to.equal(1);
      l.close();
      expect(l.tryOpen()).to.equal(true);
      expect(l.open).to.equal(2);
    });
  });
});
