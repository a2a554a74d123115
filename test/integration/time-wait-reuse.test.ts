/**
 * Ephemeral-port exhaustion over real loopback UDP: one client host opens more connections
 * to one server address and port than the ephemeral range (49152-65535) holds, each closed
 * by the client first (so each leaves a TIME-WAIT record on the client for 2*MSL), all within
 * 2*MSL. Without TIME-WAIT reuse the connects past 16,384 fail with EADDRNOTAVAIL; with it
 * (the default) every one succeeds, the stack counts the reuses, and the client never holds
 * more records than there are ports.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { connect } from '../../src/net.js';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW, TcpStack } from '../../src/tcp/driver.js';
import { within } from '../helpers/real-tcp.js';
import { echoServer } from '../helpers/overlay-echo.js';

describe('TIME-WAIT reuse over real UDP: more connections to one server than ephemeral ports, within 2*MSL', function () {
  this.timeout(180_000);
  const MSL = 120_000; // 2*MSL = 4 min: every record outlives the run, however slow the machine
  let a: Host | undefined;
  let b: Host | undefined;

  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('opens 16,384 + 1,500 connections from one host to one port: no EADDRNOTAVAIL, the excess reused from TIME-WAIT', async () => {
    a = await Host.create({ address: '10.79.0.2' });
    b = await Host.create({ address: '10.79.0.3' });
    a.addPeer('10.79.0.3/32', b.endpoint);
    b.addPeer('10.79.0.2/32', a.endpoint);
    const { server, port } = await echoServer(b, { msl: MSL });
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const total = span + 1500;
    const stack = TcpStack.for(a);
    const errors = new Map<string, number>();
    const localPorts = new Set<number>();
    const started = performance.now();
    let next = 0;
    let done = 0;
    const msg = Buffer.from('ping');
    async function worker(): Promise<void> {
      while (next < total && errors.size === 0) {
        next++;
        const s = connect({ via: a!, host: '10.79.0.3', port, msl: MSL });
        let echoed = 0;
        s.on('data', (d: Buffer) => (echoed += d.length));
        // once() rejects on 'error': the failed connect's code is the outcome.
        const outcome = await within(
          once(s, 'connect').then(
            () => 'connect',
            (e: NodeJS.ErrnoException) => e.code ?? 'error',
          ),
          10_000,
          'connect',
        );
        if (outcome !== 'connect') {
          errors.set(outcome, (errors.get(outcome) ?? 0) + 1); // and every worker stops: the test fails
          s.destroy();
          break;
        }
        localPorts.add(s.localPort!);
        s.end(msg);
        await within(once(s, 'close'), 10_000, 'close');
        if (echoed === msg.length) done++;
        else errors.set('short echo', (errors.get('short echo') ?? 0) + 1);
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker));
    const elapsed = performance.now() - started;
    server.close();
    const ev = stack.stats().events;
    console.log(
      `      ${total} connections in ${(elapsed / 1000).toFixed(1)} s (${Math.round(total / (elapsed / 1000))}/s), ` +
        `${localPorts.size} local ports, ${ev.time_wait_reused} reused from TIME-WAIT, ${stack.timeWaitRecords} records`,
    );
    expect(Object.fromEntries(errors), `failed connects by code (after ${next} connects)`).to.deep.equal({});
    expect(done).to.equal(total);
    expect(elapsed, 'all within 2*MSL: no record expired').to.be.below(2 * MSL);
    expect(localPorts.size, 'one destination: at most one connection per port').to.be.at.most(span);
    expect(ev.time_wait_reused, 'the connects beyond the range reused a record').to.be.at.least(total - span);
    expect(stack.timeWaitRecords).to.be.at.most(span);
    expect(a.stats.drops.get('tcp_internal_error') ?? 0).to.equal(0);
  });
});
