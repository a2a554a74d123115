/**
 * Issue 14: no tail-loss probe on a lossless path whose ACKs are a few milliseconds late (a
 * receiver off the CPU), while a genuinely lost tail is still probed; on the sans-IO core, on
 * virtual time, at a loopback-like RTT (0.2 ms).
 */
import { expect } from 'chai';
import { ACK, PSH, SYN } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { DEFAULT_PEER_MAX_ACK_DELAY, MIN_PTO } from '../../src/tcp/recovery/rack.js';
import { IRS, ISS, TUPLE, cfg, established, expectOut, seg } from './harness.js';

const M = 1432;
const RTT = 0.2;

/** ESTABLISHED with SACK at an RTT of 0.2 ms: SYN at t=0, SYN-ACK at t=0.2. */
function fastPath(): Connection {
  const c = Connection.connect(TUPLE, cfg({ sack: true, noDelay: true }), 0, { iss: ISS });
  c.takeOutput();
  c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: M, sackPermitted: true } }), RTT);
  expect(c.state).to.equal('ESTABLISHED');
  c.takeOutput();
  return c;
}

describe('scenarios: tail-loss probe floor (issue 14)', () => {
  it('a lossless flow whose ACKs arrive 4 ms late (2*SRTT is 0.4 ms, below the floor) sends no TLP and no retransmission', () => {
    const c = fastPath();
    let now = 1;
    let sent = 0;
    for (let round = 0; round < 5; round++) {
      c.send(Buffer.alloc(5 * M), now);
      const out = c.takeOutput();
      expect(out, `round ${round}: the whole flight leaves`).to.have.length(5);
      sent += 5 * M;
      const ackAt = now + 4;
      // Run every timer due before the late ACK arrives (each loop at most a few passes).
      for (let i = 0; i < 10; i++) {
        const d = c.nextDeadline();
        if (d === undefined || d > ackAt) break;
        c.onTimer(d);
        expect(c.takeOutput(), `round ${round}: nothing is sent at ${d} before the ACK`).to.have.length(0);
      }
      c.input(seg({ seq: IRS + 1, ack: ISS + 1 + sent }), ackAt);
      c.takeOutput();
      now = ackAt + 1;
    }
    const info = c.getInfo(now);
    expect(info.retransmits.tlp, 'TLPs').to.equal(0);
    expect(info.retransmits.rto, 'RTOs').to.equal(0);
    expect(info.sndUna).to.equal(ISS + 1 + sent);
  });

  it('a lost tail is still probed, 25 ms (the peer\'s assumed ACK delay) after it was sent, long before the RTO', () => {
    expect(MIN_PTO).to.equal(10);
    expect(DEFAULT_PEER_MAX_ACK_DELAY).to.equal(25);
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    expect(c.takeOutput()).to.have.length(5);
    // PTO = max(2*SRTT, MIN_PTO, 25 ms assumed for the peer's ACK delay); the RTO (200 ms minimum) is much later.
    expect(c.nextDeadline()).to.equal(1 + DEFAULT_PEER_MAX_ACK_DELAY);
    c.onTimer(26);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1 + 4 * M, len: M }]);
    expect(c.getInfo(26).retransmits.tlp).to.equal(1);
    // The probe's ACK SACKs the last segment: RACK marks the rest lost and repairs them within
    // the reduced window (as in scenario 38), no RTO.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, options: { sack: [{ left: ISS + 1 + 4 * M, right: ISS + 1 + 5 * M }] } }), 26.4);
    expect(c.takeOutput().map((s) => s.seq)).to.deep.equal([ISS + 1, ISS + 1 + M]);
    expect(c.getInfo(26.4).retransmits.rack).to.equal(2);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 2 * M, options: { sack: [{ left: ISS + 1 + 4 * M, right: ISS + 1 + 5 * M }] } }), 26.6);
    expect(c.takeOutput().map((s) => s.seq)).to.deep.equal([ISS + 1 + 2 * M, ISS + 1 + 3 * M]);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 5 * M }), 26.8);
    expect(c.getInfo(26.8).retransmits.rto).to.equal(0);
    expect(c.getInfo(26.8).sndUna).to.equal(ISS + 1 + 5 * M);
  });

  it('the first stall of a connection longer than MIN_PTO (a receiver\'s mark-compact of 9-17 ms), before any shorter silence was seen, draws no probe', () => {
    const c = fastPath();
    let now = 1;
    let sent = 0;
    // A few flights acknowledged at once: nothing learned (no silence above MIN_PTO/2).
    for (let round = 0; round < 3; round++) {
      c.send(Buffer.alloc(5 * M), now);
      expect(c.takeOutput()).to.have.length(5);
      sent += 5 * M;
      now += RTT;
      c.input(seg({ seq: IRS + 1, ack: ISS + 1 + sent }), now);
      c.takeOutput();
      now += 1;
    }
    // The next flight's ACK comes 20 ms late: with RFC 8985's PTO alone (10 ms here) a probe
    // would leave at 10 ms; the assumed ACK delay holds it until 25 ms.
    c.send(Buffer.alloc(5 * M), now);
    expect(c.takeOutput()).to.have.length(5);
    sent += 5 * M;
    expect(c.nextDeadline()).to.equal(now + DEFAULT_PEER_MAX_ACK_DELAY);
    const ackAt = now + 20;
    for (let i = 0; i < 10; i++) {
      const d = c.nextDeadline();
      if (d === undefined || d > ackAt) break;
      c.onTimer(d);
      expect(c.takeOutput(), `nothing sent by the timer at ${d}`).to.have.length(0);
    }
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + sent }), ackAt);
    const info = c.getInfo(ackAt);
    expect(info.retransmits.tlp, 'TLPs').to.equal(0);
    expect(info.sndUna).to.equal(ISS + 1 + sent);
  });

  it('a full segment and a short tail arriving in separate receive bursts are ACKed at the end of the second burst, not after the delayed-ACK time', () => {
    // The sender has two segments out, so its PTO is max(2*SRTT, MIN_PTO), far below the
    // 40 ms delayed ACK: the ACK must not wait for the delayed-ACK timer.
    const r = established({ delayedAckMs: 40 });
    r.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: M }), 20, true);
    r.endBurst(20);
    expect(r.takeOutput(), 'one full segment: the ACK may be delayed').to.have.length(0);
    r.input(seg({ seq: IRS + 1 + M, ack: ISS + 1, payload: 100, flags: ACK | PSH }), 20.1, true);
    r.endBurst(20.1);
    // More than one full-sized segment unacknowledged (RFC 5681 4.2; Linux: > rcv_mss).
    expectOut(r.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 + M + 100 }]);
  });
});
