/**
 * Receive bursts (Connection.input(seg, now, true) then endBurst(now)): what the driver does
 * with each batch of datagrams the event loop delivers. With coalesceAcks (the default) one
 * ACK covers the burst's in-order data, like Linux's GRO; whatever must not wait still leaves
 * at once. On the sans-IO core, on virtual time, with exact segments.
 */
import { expect } from 'chai';
import { ACK, FIN } from '../../src/wire/tcp.js';
import { IRS, ISS, established, expectOut, seg } from './harness.js';

const M = 1432;
const data = (i: number, len = M) => seg({ seq: IRS + 1 + i * M, ack: ISS + 1, payload: len });

describe('scenarios: receive bursts and coalesced ACKs', () => {
  it('one ACK for a burst of in-order full segments, sent when the burst ends', () => {
    const c = established();
    for (let i = 0; i < 8; i++) c.input(data(i), 100, true);
    expect(c.holding).to.equal(true);
    expect(c.takeOutput(), 'nothing before the burst ends').to.have.length(0);
    c.endBurst(100);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 + 8 * M }]);
    expect(c.holding).to.equal(false);
    expect(c.nextDeadline(), 'no delayed-ACK timer left behind').to.equal(undefined);
  });

  it('with coalesceAcks false a burst ACKs every second segment, as without bursts', () => {
    const c = established({ coalesceAcks: false });
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    expect(c.holding).to.equal(false);
    expectOut(c.takeOutput(), [
      { flags: ACK, ack: IRS + 1 + 2 * M },
      { flags: ACK, ack: IRS + 1 + 4 * M },
    ]);
    c.endBurst(100);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('a single small segment in a burst keeps the delayed-ACK timer (nothing is owed yet)', () => {
    const c = established({ delayedAckMs: 40 });
    c.input(data(0, 100), 100, true);
    c.endBurst(100);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.nextDeadline()).to.equal(140);
  });

  it('out-of-order data inside a burst is ACKed at once, every segment (duplicate ACKs keep their meaning)', () => {
    const c = established({ sack: true }, { mss: 1432, sackPermitted: true });
    c.input(data(0), 100, true);
    c.input(data(1), 100, true);
    expect(c.takeOutput()).to.have.length(0);
    c.input(data(3), 100, true); // segment 2 lost
    const dup1 = c.takeOutput();
    // The held ACK for 0-1 leaves with the first duplicate: one ACK, RCV.NXT after segment 1.
    expectOut(dup1, [{ flags: ACK, ack: IRS + 1 + 2 * M }]);
    expect(dup1[0]!.options.sack).to.deep.equal([{ left: IRS + 1 + 3 * M, right: IRS + 1 + 4 * M }]);
    c.input(data(4), 100, true);
    const dup2 = c.takeOutput();
    expectOut(dup2, [{ flags: ACK, ack: IRS + 1 + 2 * M }]);
    expect(dup2[0]!.options.sack).to.deep.equal([{ left: IRS + 1 + 3 * M, right: IRS + 1 + 5 * M }]);
    // The hole fill is ACKed at once too.
    c.input(data(2), 100, true);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 5 * M }]);
    c.endBurst(100);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('a FIN in a burst is not held: the ACK leaves at once and the state changes', () => {
    const c = established();
    c.input(data(0), 100, true);
    c.input(seg({ seq: IRS + 1 + M, ack: ISS + 1, payload: M, flags: ACK | FIN }), 100, true);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 2 * M + 1 }]);
    expect(c.state).to.equal('CLOSE-WAIT');
    expect(c.holding).to.equal(false);
  });

  it('ACKs in a burst release new data at once, within cwnd (only the ACK and events wait)', () => {
    const c = established({ initialWindowSegments: 4 });
    c.send(Buffer.alloc(20 * M, 7), 20);
    expect(c.takeOutput().length).to.equal(4);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + M }), 30, true);
    // Slow start: one segment acknowledged, cwnd 4 -> 5, flight 3 -> two new segments.
    expect(c.takeOutput().map((s) => s.seq)).to.deep.equal([4, 5].map((i) => ISS + 1 + i * M));
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 2 * M }), 30, true);
    expect(c.takeOutput().map((s) => s.seq)).to.deep.equal([6, 7].map((i) => ISS + 1 + i * M));
    c.endBurst(30);
    expect(c.takeOutput(), 'no ACK owed: no data was received').to.have.length(0);
  });

  it('a loss found inside a burst of ACKs sets ssthresh from a full pipe, exactly as without bursts', () => {
    // Held sending once let a burst of ACKs drain FlightSize before the refill, so the third
    // duplicate ACK halved a half-empty pipe (about 20% of Reno's goodput on a 1%-loss path).
    const run = (burst: boolean) => {
      const c = established({ initialWindowSegments: 10 });
      c.send(Buffer.alloc(40 * M, 7), 20);
      const out = c.takeOutput().map((s) => s.seq);
      c.input(seg({ seq: IRS + 1, ack: ISS + 1 + M }), 30, burst);
      out.push(...c.takeOutput().map((s) => s.seq));
      for (let i = 0; i < 3; i++) {
        c.input(seg({ seq: IRS + 1, ack: ISS + 1 + M }), 31 + i, burst);
        out.push(...c.takeOutput().map((s) => s.seq));
      }
      if (burst) c.endBurst(33);
      out.push(...c.takeOutput().map((s) => s.seq));
      const info = c.getInfo(33);
      return { out, ssthresh: info.ssthresh, cwnd: info.cwnd, fast: info.retransmits.fast };
    };
    const classic = run(false);
    const inBurst = run(true);
    expect(inBurst).to.deep.equal(classic);
    expect(classic.fast).to.equal(1);
    // Eleven segments in flight at the loss, plus two of limited transmit: ssthresh = 13 M / 2.
    expect(classic.ssthresh).to.equal(Math.floor((13 * M) / 2));
  });

  it('a user call during a burst flushes what was held (nothing waits for endBurst)', () => {
    const c = established();
    for (let i = 0; i < 3; i++) c.input(data(i), 100, true);
    expect(c.read()!.length).to.equal(3 * M);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 3 * M }]);
    c.endBurst(100);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('after shutdown() (FIN-WAIT-1, FIN-WAIT-2) a burst of in-order data is ACKed once, like ESTABLISHED', () => {
    const c = established();
    c.shutdown(50);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    // FIN-WAIT-1: our FIN not yet ACKed; data from the peer (its ACK unchanged).
    for (let i = 0; i < 4; i++) c.input(data(i), 100, true);
    expect(c.state).to.equal('FIN-WAIT-1');
    expect(c.holding).to.equal(true);
    c.endBurst(100);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 1 + 4 * M }]);
    // The ACK of our FIN changes the state: that segment's output is not held.
    c.input(seg({ seq: IRS + 1 + 4 * M, ack: ISS + 2, payload: M }), 110, true);
    expect(c.state).to.equal('FIN-WAIT-2');
    expect(c.holding).to.equal(false);
    c.takeOutput();
    // FIN-WAIT-2: held again.
    for (let i = 5; i < 9; i++) c.input(seg({ seq: IRS + 1 + i * M, ack: ISS + 2, payload: M }), 120, true);
    expect(c.holding).to.equal(true);
    expect(c.takeOutput()).to.have.length(0);
    c.endBurst(120);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 1 + 9 * M }]);
  });

  it('a coalesced ACK covers at most 32 full segments, however long the burst (a GRO train of 44, 32 of them in one read)', () => {
    const c = established({ rcvBuf: 1 << 20 });
    const acks: number[] = [];
    for (let i = 0; i < 100; i++) {
      c.input(data(i), 100, true);
      for (const s of c.takeOutput()) acks.push(s.ack - (IRS + 1));
    }
    c.endBurst(100);
    for (const s of c.takeOutput()) acks.push(s.ack - (IRS + 1));
    expect(acks.map((a) => a / M)).to.deep.equal([32, 64, 96, 100]);
  });

  it('an ACK owed for the events of a burst waits for the application only up to the same bound', () => {
    const c = established({ rcvBuf: 1 << 20 });
    c.ackAfterEvents = true; // as the driver sets it: the events reach the application later
    let acks = 0;
    for (let i = 0; i < 70; i++) {
      c.input(data(i), 100, true);
      acks += c.takeOutput().length;
    }
    c.endBurst(100);
    expect(c.takeOutput(), 'the end of the burst waits for the application').to.have.length(0);
    expect(acks).to.equal(2);
    c.releaseDeferredAck(100);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 70 * M }]);
  });

  it('with coalesceAcks false every second segment is ACKed at once, events for the application or not', () => {
    const c = established({ coalesceAcks: false });
    c.ackAfterEvents = true;
    const acks: number[] = [];
    for (let i = 0; i < 6; i++) {
      c.input(data(i), 100, true);
      for (const s of c.takeOutput()) acks.push(s.ack - (IRS + 1));
    }
    expect(acks.map((a) => a / M)).to.deep.equal([2, 4, 6]);
  });
});
