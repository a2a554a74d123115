/**
 * Rules that single-point mutations of the core showed no other test guarding (issue 13,
 * "close the gaps"). Each test names the rule; the comment under it names the mutation it
 * kills (checked by applying the mutation and watching the test fail).
 */
import { expect } from 'chai';
import { ACK, FIN, PSH, RST, SYN } from '../../src/wire/tcp.js';
import { IRS, ISS, established, expectOut, seg, synSent } from './harness.js';

const M = 1432;
const ackOf = (n: number, extra: Partial<Parameters<typeof seg>[0]> = {}) => seg({ seq: IRS + 1, ack: ISS + 1 + n, ...extra });

describe('scenarios: rules no other test guards (mutation gaps)', () => {
  it('RFC 5961 5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped and answered with an ACK (its data and window are ignored)', () => {
    // Mutation killed: the `ack_too_old` check removed.
    const c = established();
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 - 70000, payload: 10, window: 100 }), 20);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.readableLength).to.equal(0);
    expect(c.getInfo(20).sndWnd).to.equal(65535);
    expect(c.drops['ack_too_old']).to.equal(1);
    // Just inside the bound (SND.UNA - MAX.SND.WND) the segment is processed.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 - 65535, payload: 10 }), 30);
    expect(c.readableLength).to.equal(10);
  });

  it('RFC 9293 3.10.7.4: the SND.WL1/SND.WL2 rule keeps an older segment from changing the send window', () => {
    // Mutation killed: the window update taken from every acceptable ACK (the WL1/WL2 test dropped).
    const c = established({ noDelay: true });
    c.send(Buffer.alloc(2 * M), 20);
    c.takeOutput();
    // The peer sends 100 bytes (SND.WL1 = IRS+1), then 100 more (SND.WL1 = IRS+101), ACKing all.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 2 * M, payload: 100, window: 60000 }), 30);
    c.input(seg({ seq: IRS + 101, ack: ISS + 1 + 2 * M, payload: 100, window: 50000 }), 31);
    expect(c.getInfo(31).sndWnd).to.equal(50000);
    // A reordered older segment (SEG.SEQ < SND.WL1), partly new so acceptable: no window change.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 2 * M, payload: 300, window: 1000 }), 32);
    expect(c.readableLength).to.equal(300);
    expect(c.getInfo(32).sndWnd).to.equal(50000);
    // A bare ACK at RCV.NXT updates it (SND.WL1 = IRS+301, SND.WL2 = the ACK)...
    c.input(seg({ seq: IRS + 301, ack: ISS + 1 + 2 * M, window: 40000 }), 33);
    expect(c.getInfo(33).sndWnd).to.equal(40000);
    // ...then one with the same SEG.SEQ but an older SEG.ACK (SND.WL2 > SEG.ACK) does not.
    c.input(seg({ seq: IRS + 301, ack: ISS + 1 + M, window: 2000 }), 34);
    expect(c.getInfo(34).sndWnd).to.equal(40000);
    // Same SEG.SEQ, SEG.ACK not older: taken.
    c.input(seg({ seq: IRS + 301, ack: ISS + 1 + 2 * M, window: 3000 }), 35);
    expect(c.getInfo(35).sndWnd).to.equal(3000);
  });

  it('RFC 7323 5.3: PAWS never discards a RST; an in-window RST at RCV.NXT with an old TSval resets', () => {
    // Mutation killed: PAWS applied to RST segments too.
    const c = established({ timestamps: true }, { mss: 1432, ts: { val: 100, ecr: 0 } });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10, options: { ts: { val: 200, ecr: 0 } } }), 20);
    c.read();
    c.takeOutput();
    c.input(seg({ seq: IRS + 11, flags: RST, options: { ts: { val: 150, ecr: 0 } } }), 30);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ECONNRESET');
  });

  it('RFC 1122 4.2.3.6: the keepalive abort sends a RST <SEQ=SND.NXT><ACK=RCV.NXT>', () => {
    // Mutation killed: sendRst() removed from the keepalive abort.
    const c = established({ keepAliveInterval: 1000, keepAliveProbes: 2 });
    c.setKeepAlive(true, 5000, 10);
    const flagsAt: string[] = [];
    for (let i = 0; i < 10 && c.state !== 'CLOSED'; i++) {
      const d = c.nextDeadline()!;
      c.onTimer(d);
      for (const s of c.takeOutput()) flagsAt.push(`${d} ${s.flags & RST ? 'RST' : 'probe'} ${s.seq}`);
    }
    expect(c.state).to.equal('CLOSED');
    expect(flagsAt).to.deep.equal([`5010 probe ${ISS}`, `6010 probe ${ISS}`, `7010 RST ${ISS + 1}`]);
    expect(c.error).to.equal('ETIMEDOUT');
  });

  it('RFC 9293 3.10.7.4: data arriving after close() is answered with RST and the connection is reset', () => {
    // Mutation killed: the "userClosed and data" branch of processText removed.
    const c = established();
    c.close(20);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.state).to.equal('FIN-WAIT-1');
    c.input(ackOf(1, { payload: 10 }), 30);
    expectOut(c.takeOutput(), [{ flags: RST | ACK, seq: ISS + 2 }]);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ECONNRESET');
    // After shutdown() alone the data is still accepted (the application may read).
    const h = established();
    h.shutdown(20);
    h.takeOutput();
    h.input(ackOf(1, { payload: 10 }), 30);
    expect(h.readableLength).to.equal(10);
    expect(h.state).to.equal('FIN-WAIT-2');
  });

  it('RFC 9293 3.10.7.3: data and FIN carried by a SYN-ACK are processed (sixth step onwards)', () => {
    // Mutation killed: processText() call on the SYN-ACK removed.
    const { c } = synSent();
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK | FIN, payload: 10, options: { mss: 1432 } }), 10);
    expect(c.readableLength).to.equal(10);
    expect(c.remoteClosed).to.equal(true);
    expect(c.state).to.equal('CLOSE-WAIT');
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 12 }]);
  });

  it('RFC 9293 3.10.4: shutdown() in SYN-SENT queues the FIN, which leaves once ESTABLISHED', () => {
    // Mutations killed: the SYN-SENT case of shutdown() made a no-op; establish() not moving to FIN-WAIT-1.
    const { c } = synSent();
    c.shutdown(5);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.state).to.equal('SYN-SENT');
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 } }), 10);
    expect(c.state).to.equal('FIN-WAIT-1');
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    c.input(ackOf(1), 20);
    expect(c.state).to.equal('FIN-WAIT-2');
  });

  it('RFC 1122 4.2.3.4: sender SWS avoidance, no small segment into a small window while data waits', () => {
    // Mutation killed: sendableNow() sending min(usable, queued) whatever its size.
    const c = established({ noDelay: true });
    c.send(Buffer.alloc(20 * M), 20);
    expect(c.takeOutput()).to.have.length(10);
    // All acknowledged, but the peer offers only 500 bytes (< MSS, < MAX.SND.WND / 2).
    c.input(ackOf(10 * M, { window: 500 }), 30);
    expect(c.takeOutput(), 'no 500-byte segment').to.have.length(0);
    // The persist timer overrides SWS avoidance after its timeout (RFC 1122 4.2.3.4 (4)).
    const d = c.nextDeadline()!;
    c.onTimer(d);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1 + 10 * M, len: 500 }]);
    // A window of half MAX.SND.WND or more is used at once.
    c.input(ackOf(10 * M + 500, { window: 40000 }), d + 10);
    const out = c.takeOutput();
    expect(out.length).to.be.greaterThan(0);
    expect(out[0]!.seq).to.equal(ISS + 1 + 10 * M + 500);
  });

  it('RFC 9293 3.10.7.4: with a zero receive window the ACK field of a segment at RCV.NXT is still processed', () => {
    // Mutation killed: the zero-window allowance removed (such a segment dropped as out of window).
    const c = established({ rcvBuf: 2000, noDelay: true });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 2000 }), 20);
    c.takeOutput();
    expect(c.getInfo(20).rcvWnd).to.equal(0);
    c.send(Buffer.alloc(100), 25);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, len: 100 }]);
    // The peer's next data segment (at RCV.NXT) ACKs our 100 bytes: the ACK counts, the data not.
    c.input(seg({ seq: IRS + 2001, ack: ISS + 101, payload: 50, window: 30000 }), 30);
    expect(c.getInfo(30).sndUna).to.equal(ISS + 101);
    expect(c.getInfo(30).sndWnd).to.equal(30000);
    expect(c.readableLength).to.equal(2000);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 101, ack: IRS + 2001, window: 0 }]);
    expect(c.drops['zero_window']).to.equal(1);
  });

  it('RFC 6298 5.7: after a retransmitted SYN and no RTT sample, the data phase starts with RTO = 3 s', () => {
    // Mutation killed: rtt.synRetransmitted() not called on establishment.
    const { c } = synSent();
    expect(c.nextDeadline()).to.equal(1000);
    c.onTimer(1000);
    expectOut(c.takeOutput(), [{ flags: SYN, seq: ISS }]);
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 } }), 1010);
    expect(c.state).to.equal('ESTABLISHED');
    expect(c.getInfo(1010).rto).to.equal(3000);
    c.takeOutput();
    c.setNoDelay(true, 1020);
    c.send(Buffer.alloc(10), 1020);
    c.takeOutput();
    expect(c.nextDeadline()).to.equal(4020);
    // Without the retransmission the RTO comes from the handshake's sample.
    const { c: d } = synSent();
    d.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 } }), 10);
    expect(d.getInfo(10).rto).to.be.lessThan(3000);
  });

  it('RFC 6582 3.2 step 1: no fast retransmit for duplicate ACKs of data sent before an RTO (the `recover` guard)', () => {
    // Mutation killed: the recover check in onDuplicateAck removed.
    const c = established({ noDelay: true, cc: 'newreno' });
    c.send(Buffer.alloc(10 * M), 100);
    expect(c.takeOutput()).to.have.length(10);
    c.onTimer(c.nextDeadline()!);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, len: M }]);
    // Three duplicate ACKs below `recover` (SND.NXT at the RTO): no new recovery.
    for (const t of [400, 401, 402]) c.input(ackOf(0), t);
    // (Go-back-N after the RTO may send more of the old flight; none of it is a fast retransmit.)
    expect(c.getInfo(402).retransmits.fast).to.equal(0);
    expect(c.getInfo(402).inRecovery).to.equal(false);
  });

  it('robustness: hostile input never reaches the catch-all (internal_error stays 0)', () => {
    // Mutation killed: any throw inside segment processing (e.g. on a D-SACK) hidden by input()'s catch.
    const c = established({ sack: true, timestamps: true, noDelay: true }, { mss: 1432, sackPermitted: true, ts: { val: 1, ecr: 0 } });
    c.send(Buffer.alloc(5 * M), 20);
    c.takeOutput();
    // A D-SACK below SND.UNA, a SACK above SND.NXT, inverted blocks, garbage timestamps.
    for (const sack of [
      [{ left: ISS + 1, right: ISS + 1 + M }],
      [{ left: ISS + 1 + M, right: ISS + 1 + 9 * M }],
      [{ left: ISS + 1 + 2 * M, right: ISS + 1 + M }],
    ]) {
      c.input(ackOf(M, { options: { sack, ts: { val: 5, ecr: 0xffffffff } } }), 30);
      c.takeOutput();
    }
    expect(c.drops['internal_error'] ?? 0).to.equal(0);
  });

  it('an exception inside the core is counted as internal_error, and rethrown with debugRethrow', () => {
    // Mutations killed: the catch-all no longer counting; debugRethrow ignored.
    const boom = () => {
      throw new Error('bug');
    };
    const c = established();
    c.hooks = { onTrace: boom };
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10 }), 20);
    expect(c.drops['internal_error']).to.be.at.least(1);
    const d = established({ debugRethrow: true });
    d.hooks = { onTrace: boom };
    expect(() => d.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10 }), 20)).to.throw('bug');
    expect(d.drops['internal_error']).to.equal(1);
  });
});
