/**
 * One engine: the simulator drives connections through the servicing loop of the real
 * driver (src/tcp/engine.ts). With `bursts`, segments arriving at the same virtual instant
 * are one receive burst, so a window's worth of data is answered by one ACK (coalesceAcks),
 * exactly as on real UDP; without, each segment is serviced on its own.
 */
import { expect } from 'chai';
import { SimClock, SimNet } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { Connection } from '../../src/tcp/connection.js';

const A = 0x0a000001;
const B = 0x0a000002;

function flight(bursts: boolean, coalesceAcks = true): { acks: number; received: number; server: Connection } {
  const clock = new SimClock();
  const net = new SimNet(clock, { bursts });
  const a = net.host(A);
  const b = net.host(B);
  const { ba } = net.link(a, b, { delay: 10 });
  const cfg = defaultTcpConfig({ coalesceAcks, pacing: false, delayedAckMs: 40 });
  let server: Connection | undefined;
  b.listen(80, cfg);
  b.onAccept = (c) => (server = c);
  const c = a.connect(B, 80, cfg);
  expect(clock.runUntil(() => c.state === 'ESTABLISHED' && server !== undefined, { maxTime: 1000 })).to.equal(true);
  clock.runUntilTime(clock.now + 100); // the handshake's last ACK is delivered and settled
  const before = ba.stats.sent;
  // Ten full segments leave at one instant (IW10) and arrive together, 10 ms later.
  a.call(c, (now) => c.send(Buffer.alloc(10 * c.getInfo(now).mss, 1), now));
  clock.runUntilTime(clock.now + 15);
  return { acks: ba.stats.sent - before, received: server!.readableLength, server: server! };
}

describe('sim: one engine with the driver (receive bursts)', () => {
  it('with bursts, a flight arriving at one instant is answered by one ACK, as on real UDP', () => {
    const r = flight(true);
    expect(r.received).to.equal(10 * r.server.getInfo(0).mss);
    expect(r.acks).to.equal(1);
  });

  it('without bursts (or with coalesceAcks off) every second segment is ACKed', () => {
    expect(flight(false).acks).to.equal(5);
    expect(flight(true, false).acks).to.equal(5);
  });
});
