/**
 * What the real driver turns on (Connection.ackAfterEvents; the simulator leaves it off): an
 * ACK owed together with an event for the application waits for releaseDeferredAck (the
 * driver calls it once the application's handlers ran), so a reply carries it; and a pushed
 * segment that owes no ACK yet is delivered at once instead of waiting for the burst's end.
 * On the sans-IO core, on virtual time, with exact segments.
 */
import { expect } from 'chai';
import { ACK, PSH } from '../../src/wire/tcp.js';
import type { Connection } from '../../src/tcp/connection.js';
import { IRS, ISS, established, expectOut, seg } from './harness.js';

const M = 1432;
const data = (i: number, len = M, flags = ACK) => seg({ seq: IRS + 1 + i * M, ack: ISS + 1, payload: len, flags });

function driven(): { c: Connection; readable: () => number } {
  const c = established();
  c.ackAfterEvents = true;
  let n = 0;
  c.hooks = { onReadable: () => n++ };
  return { c, readable: () => n };
}

describe('scenarios: an owed ACK waits for the application (ackAfterEvents)', () => {
  it('the ACK of a burst waits for the events; a reply sent before the release carries it', () => {
    const { c, readable } = driven();
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    c.endBurst(100);
    expect(readable()).to.equal(1);
    expect(c.ackDeferred).to.equal(true);
    expect(c.takeOutput(), 'no pure ACK before the application had its turn').to.have.length(0);
    c.send(Buffer.alloc(100, 1), 100);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, ack: IRS + 1 + 4 * M }]);
    c.releaseDeferredAck(100);
    expect(c.takeOutput(), 'the reply carried it').to.have.length(0);
  });

  it('without a reply, the release sends the ACK', () => {
    const { c } = driven();
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    c.endBurst(100);
    expect(c.takeOutput()).to.have.length(0);
    c.releaseDeferredAck(101);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 + 4 * M }]);
  });

  it('a read in the handler does not send it early (it waits for the reply)', () => {
    const { c } = driven();
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    c.endBurst(100);
    c.read();
    expect(c.takeOutput()).to.have.length(0);
    c.releaseDeferredAck(100);
    expect(c.takeOutput()).to.have.length(1);
  });

  it('out-of-order data is ACKed at once, with its SACK block (never deferred)', () => {
    const c = established({ sack: true }, { mss: 1432, sackPermitted: true });
    c.ackAfterEvents = true;
    c.input(data(0), 100, true);
    c.input(data(2), 100, true); // segment 1 lost
    const out = c.takeOutput();
    expectOut(out, [{ flags: ACK, ack: IRS + 1 + M }]);
    expect(out[0]!.options.sack).to.deep.equal([{ left: IRS + 1 + 2 * M, right: IRS + 1 + 3 * M }]);
    expect(c.ackDeferred).to.equal(false);
  });

  it('without ackAfterEvents (the simulator) the burst\'s ACK leaves at its end, as before', () => {
    const c = established();
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    c.endBurst(100);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 4 * M }]);
  });

  it('a pushed segment that owes no ACK is delivered at once, not held for the burst; its delayed ACK stays', () => {
    const { c, readable } = driven();
    c.input(data(0, 64, ACK | PSH), 100, true);
    expect(c.holding, 'not held').to.equal(false);
    expect(readable(), 'readable at once').to.equal(1);
    expect(c.takeOutput(), 'no ACK yet (delayed)').to.have.length(0);
    expect(c.nextDeadline()).to.equal(140);
    // Without PSH the same segment waits for the burst's end.
    const d = driven();
    d.c.input(data(0, 64), 100, true);
    expect(d.c.holding).to.equal(true);
    expect(d.readable()).to.equal(0);
  });
});
