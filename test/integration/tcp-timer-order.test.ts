/**
 * Issue 14: a sender whose process is busy past its probe timeout must read the ACKs already
 * waiting in its UDP socket before its tail-loss probe fires. Node runs expired timers before
 * it polls for I/O, so the driver runs a due connection timer from setImmediate, after the
 * poll. Two overlay hosts in one process, on real loopback UDP.
 */
import { expect } from 'chai';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import { MIN_PTO } from '../../src/tcp/recovery/rack.js';

/** Keeps this thread busy for `ms` (the event loop, and so the sender, does nothing meanwhile). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end && spins < 1e9) spins++;
}

describe('overlay TCP: timers run after pending input (issue 14)', function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  let server: Server | undefined;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    a = await Host.create({ address: '10.77.1.2', mtu: 1472 });
    b = await Host.create({ address: '10.77.1.3', mtu: 1472 });
    a.addPeer('10.77.1.3/32', b.endpoint);
    b.addPeer('10.77.1.2/32', a.endpoint);
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    if (server?.listening) server.close();
    await a.close();
    await b.close();
  });

  it('the ACK of a flight, queued while the process was busy past the PTO, is read before the probe could fire: no TLP', async () => {
    const SIZE = 10_000; // 7 segments: the PTO is max(2*SRTT, MIN_PTO) = MIN_PTO on loopback
    let received = 0;
    let blocked = false;
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    server = createServer({ host: b }, (s) => {
      sockets.push(s);
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (!blocked) {
          blocked = true;
          // After this callback the receiver's ACK leaves (the burst's end); then the whole
          // process, sender included, stays busy for three PTOs with that ACK in its socket.
          process.nextTick(() => busy(3 * MIN_PTO));
        }
        if (received >= SIZE) done();
      });
    });
    const port = await new Promise<number>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(0, () => resolve(server!.address()!.port));
    });
    const c = connect({ via: a, host: '10.77.1.3', port, noDelay: true });
    sockets.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    c.write(Buffer.alloc(SIZE, 7));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('data not received in 5 s')), 5000)))]);
    clearTimeout(timer);
    // Wait (polling, capped) until everything is acknowledged.
    for (let i = 0; i < 200 && (c.getInfo()?.bytesInFlight ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 5));
    const info = c.getInfo()!;
    expect(blocked, 'the process was kept busy').to.equal(true);
    expect(info.bytesInFlight, 'all acknowledged').to.equal(0);
    expect(info.retransmits.tlp, 'tail-loss probes').to.equal(0);
    expect(info.retransmits.rto, 'RTOs').to.equal(0);
  });
});
