/**
 * Scenarios 1-19 of docs/scenarios.md (handshake and state machine) on the
 * sans-IO core, on virtual time.
 */
import { expect } from 'chai';
import { ACK, FIN, PSH, RST, SYN } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { rstFor } from '../../src/tcp/rst.js';
import type { TcpErrorCode } from '../../src/tcp/types.js';
import { IRS, ISS, LOCAL, REMOTE, RPORT, LPORT, cfg, established, expectOut, expectSeg, listener, peerSyn, seg, synSent } from './harness.js';

describe('scenarios: handshake and state machine', () => {
  it('01 passive open: SYN in LISTEN -> SYN-ACK with MSS, WS/SACK/TS only if offered; the ACK -> ESTABLISHED', () => {
    const l = listener({ windowScale: true, sack: true, timestamps: true, rcvBuf: 1 << 20 });
    const child = l.input(peerSyn({ mss: 1400, wscale: 7, sackPermitted: true, ts: { val: 100, ecr: 0 } }), REMOTE, 0)!;
    expect(child.state).to.equal('SYN-RECEIVED');
    const [synAck, ...rest] = child.takeOutput();
    expect(rest).to.have.length(0);
    expectSeg(synAck, { flags: SYN | ACK, seq: 7000, ack: IRS + 1, window: 65535 });
    expect(synAck!.options.mss).to.equal(1432);
    expect(synAck!.options.wscale).to.equal(5); // 1 MiB needs a shift of 5
    expect(synAck!.options.sackPermitted).to.equal(true);
    expect(synAck!.options.ts?.ecr).to.equal(100);
    expect(child.nextDeadline()).to.equal(1000); // SYN-ACK retransmission at the initial RTO

    // A SYN with no options gets a SYN-ACK with MSS only.
    const plain = l.input(peerSyn({}, RPORT + 1), REMOTE, 0)!;
    const [sa2] = plain.takeOutput();
    expect(sa2!.options).to.deep.equal({ mss: 1432 });

    // The ACK completes the handshake; the child moves to the accept queue.
    child.input(seg({ seq: IRS + 1, ack: 7001, options: { ts: { val: 101, ecr: synAck!.options.ts!.val } } }), 5);
    expect(child.state).to.equal('ESTABLISHED');
    expect(child.takeOutput()).to.have.length(0);
    expect(l.acceptQueueLength).to.equal(1);
    expect(l.accept()).to.equal(child);
    expect(child.getInfo(5).mss).to.equal(1400 - 12); // peer MSS minus the timestamp option
  });

  it('02 LISTEN ignores RST; a bare ACK in LISTEN gets RST with seq = SEG.ACK', () => {
    const l = listener();
    expect(l.input(seg({ seq: IRS, ack: 1, flags: RST }), REMOTE, 0)).to.equal(undefined);
    expect(l.input(seg({ seq: IRS, flags: RST | ACK, ack: 9 }), REMOTE, 0)).to.equal(undefined);
    expect(l.takeOutput()).to.have.length(0);
    expect(l.input(seg({ seq: IRS, ack: 1234 }), REMOTE, 0)).to.equal(undefined);
    const out = l.takeOutput();
    expect(out).to.have.length(1);
    expectSeg(out[0]!.seg, { flags: RST, seq: 1234 });
    expect(out[0]!.remoteAddr).to.equal(REMOTE);
    expect(out[0]!.seg.dstPort).to.equal(RPORT);
    expect(l.synQueueLength).to.equal(0);
  });

  it('03 segment to a closed port -> RST (RST-ACK with ack = SEG.SEQ + SEG.LEN without ACK); never RST a RST', () => {
    expectSeg(rstFor(seg({ seq: 5000, flags: SYN })), { flags: RST | ACK, seq: 0, ack: 5001 });
    expectSeg(rstFor(seg({ seq: 5000, flags: FIN | PSH, payload: 10 })), { flags: RST | ACK, seq: 0, ack: 5011 });
    expectSeg(rstFor(seg({ seq: 5000, flags: SYN | FIN, payload: 3 })), { flags: RST | ACK, ack: 5005 });
    expectSeg(rstFor(seg({ seq: 5000, ack: 77, flags: ACK, payload: 5 })), { flags: RST, seq: 77 });
    expect(rstFor(seg({ seq: 5000, flags: RST }))).to.equal(undefined);
    expect(rstFor(seg({ seq: 5000, ack: 3, flags: RST | ACK }))).to.equal(undefined);
    // A Connection that has CLOSED answers the same way.
    const { c } = synSent();
    c.close(1);
    c.input(seg({ seq: 5000, flags: SYN }), 2);
    expectOut(c.takeOutput(), [{ flags: RST | ACK, seq: 0, ack: 5001 }]);
    c.input(seg({ seq: 5000, flags: RST }), 3);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('04 RST in SYN-SENT: without ACK ignored; with a wrong ACK ignored; with the ACK of our SYN -> CLOSED, ECONNREFUSED', () => {
    const { c } = synSent();
    let closedWith: TcpErrorCode | undefined | 'none' = 'none';
    c.hooks = { onClosed: (e) => void (closedWith = e) };
    c.input(seg({ seq: 0, flags: RST }), 5);
    expect(c.state).to.equal('SYN-SENT');
    c.input(seg({ seq: 0, ack: ISS + 7, flags: RST | ACK }), 6);
    expect(c.state).to.equal('SYN-SENT');
    expect(c.takeOutput(), 'never RST a RST').to.have.length(0);
    c.input(seg({ seq: 0, ack: ISS + 1, flags: RST | ACK }), 7);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ECONNREFUSED');
    expect(closedWith).to.equal('ECONNREFUSED');
    expect(c.nextDeadline()).to.equal(undefined);
  });

  it('05 unacceptable ACK in SYN-SENT -> RST with seq = SEG.ACK, stay in SYN-SENT', () => {
    const { c } = synSent();
    c.input(seg({ seq: IRS, ack: 5555, flags: SYN | ACK }), 5);
    expectOut(c.takeOutput(), [{ flags: RST, seq: 5555 }]);
    expect(c.state).to.equal('SYN-SENT');
    c.input(seg({ seq: IRS, ack: ISS, flags: ACK }), 6); // ACK = ISS is not acceptable either
    expectOut(c.takeOutput(), [{ flags: RST, seq: ISS }]);
    expect(c.state).to.equal('SYN-SENT');
    expect(c.nextDeadline()).to.equal(1000);
  });

  it('06 unacceptable ACK in SYN-RECEIVED -> RST; only ISS+1 completes the handshake', () => {
    const l = listener();
    const child = l.input(peerSyn(), REMOTE, 0)!;
    child.takeOutput();
    child.input(seg({ seq: IRS + 1, ack: 7005 }), 1);
    expectOut(child.takeOutput(), [{ flags: RST, seq: 7005 }]);
    expect(child.state).to.equal('SYN-RECEIVED');
    child.input(seg({ seq: IRS + 1, ack: 7000 }), 2);
    expectOut(child.takeOutput(), [{ flags: RST, seq: 7000 }]);
    expect(child.state).to.equal('SYN-RECEIVED');
    child.input(seg({ seq: IRS + 1, ack: 7001 }), 3);
    expect(child.state).to.equal('ESTABLISHED');
    expect(child.takeOutput()).to.have.length(0);
  });

  it('07 RST in SYN-RECEIVED reached from LISTEN -> back to LISTEN, listener unharmed', () => {
    const l = listener();
    const child = l.input(peerSyn(), REMOTE, 0)!;
    child.takeOutput();
    expect(l.synQueueLength).to.equal(1);
    child.input(seg({ seq: IRS + 1, flags: RST }), 1);
    expect(child.state).to.equal('CLOSED');
    expect(child.error).to.equal(undefined);
    expect(child.takeOutput()).to.have.length(0);
    expect(l.synQueueLength).to.equal(0);
    // The listener still works.
    const again = l.input(peerSyn(), REMOTE, 2)!;
    expect(again.state).to.equal('SYN-RECEIVED');
    expectOut(again.takeOutput(), [{ flags: SYN | ACK, seq: 7000, ack: IRS + 1 }]);
  });

  it('08 simultaneous open: SYN in SYN-SENT -> SYN-RECEIVED and SYN-ACK; both sides reach ESTABLISHED', () => {
    // One side, crafted: SYN then ACK.
    const { c } = synSent();
    c.input(seg({ seq: IRS, flags: SYN, options: { mss: 1432 } }), 5);
    expect(c.state).to.equal('SYN-RECEIVED');
    expectOut(c.takeOutput(), [{ flags: SYN | ACK, seq: ISS, ack: IRS + 1 }]);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 }), 10);
    expect(c.state).to.equal('ESTABLISHED');

    // Two real connections opening towards each other at once.
    const ta = { localAddr: LOCAL, localPort: 1111, remoteAddr: REMOTE, remotePort: 2222 };
    const tb = { localAddr: REMOTE, localPort: 2222, remoteAddr: LOCAL, remotePort: 1111 };
    const a = Connection.connect(ta, cfg(), 0, { iss: 100 });
    const b = Connection.connect(tb, cfg(), 0, { iss: 900 });
    const synA = a.takeOutput();
    const synB = b.takeOutput();
    for (const s of synB) a.input(s, 1);
    for (const s of synA) b.input(s, 1);
    expect([a.state, b.state]).to.deep.equal(['SYN-RECEIVED', 'SYN-RECEIVED']);
    const saA = a.takeOutput();
    const saB = b.takeOutput();
    expectOut(saA, [{ flags: SYN | ACK, seq: 100, ack: 901 }]);
    expectOut(saB, [{ flags: SYN | ACK, seq: 900, ack: 101 }]);
    for (const s of saB) a.input(s, 2);
    for (const s of saA) b.input(s, 2);
    expect([a.state, b.state]).to.deep.equal(['ESTABLISHED', 'ESTABLISHED']);
    // Data flows.
    a.send(Buffer.from('hi'), 3);
    for (const s of a.takeOutput()) b.input(s, 4);
    expect(b.read()?.toString()).to.equal('hi');
  });

  it('09 duplicate SYN in SYN-RECEIVED -> the same SYN-ACK again', () => {
    const l = listener();
    const child = l.input(peerSyn(), REMOTE, 0)!;
    const [first] = child.takeOutput();
    child.input(peerSyn(), 100);
    const again = child.takeOutput();
    expectOut(again, [{ flags: SYN | ACK, seq: 7000, ack: IRS + 1, window: first!.window }]);
    expect(again[0]!.options).to.deep.equal(first!.options);
    expect(child.state).to.equal('SYN-RECEIVED');
  });

  it('10 SYN retransmitted with exponential backoff; after the retries, ETIMEDOUT', () => {
    const { c } = synSent({ synRetries: 6, initialRto: 1000, maxRto: 60000 });
    const deadlines: number[] = [];
    for (let i = 0; ; i++) {
      expect(i, 'iterations before CLOSED').to.be.below(20);
      const d = c.nextDeadline();
      if (d === undefined) break;
      deadlines.push(d);
      c.onTimer(d);
      for (const s of c.takeOutput()) expectSeg(s, { flags: SYN, seq: ISS });
    }
    expect(deadlines).to.deep.equal([1000, 3000, 7000, 15000, 31000, 63000, 123000]);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ETIMEDOUT');
    expect(c.getInfo(0).retransmits.rto).to.equal(6);
  });

  it('11 close() in SYN-SENT sends nothing; a late SYN-ACK then gets a RST', () => {
    const { c } = synSent();
    c.close(5);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.state).to.equal('CLOSED');
    expect(c.nextDeadline()).to.equal(undefined);
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK }), 20);
    expectOut(c.takeOutput(), [{ flags: RST, seq: ISS + 1 }]);
    // The same reply a driver gives when the 4-tuple is gone.
    expectSeg(rstFor(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK })), { flags: RST, seq: ISS + 1 });
  });

  it('12 active close: ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT -> CLOSED after 2*MSL', () => {
    const c = established({ msl: 30000 });
    c.shutdown(20);
    expect(c.state).to.equal('FIN-WAIT-1');
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2 }), 30);
    expect(c.state).to.equal('FIN-WAIT-2');
    expect(c.takeOutput()).to.have.length(0);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK }), 40);
    expect(c.state).to.equal('TIME-WAIT');
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 2 }]);
    expect(c.nextDeadline()).to.equal(40 + 60000);
    c.onTimer(60039);
    expect(c.state).to.equal('TIME-WAIT');
    c.onTimer(60040);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal(undefined);
    expect(c.nextDeadline()).to.equal(undefined);
  });

  it('policy: an orphaned FIN-WAIT-2 (after close(), not shutdown()) gives up after 2*MSL', () => {
    const c = established({ msl: 1000 });
    c.close(20);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2 }), 30);
    expect(c.state).to.equal('FIN-WAIT-2');
    expect(c.nextDeadline()).to.equal(2030);
    c.onTimer(2030);
    expect(c.state).to.equal('CLOSED');
    const h = established({ msl: 1000 });
    h.shutdown(20);
    h.input(seg({ seq: IRS + 1, ack: ISS + 2 }), 30);
    expect(h.state).to.equal('FIN-WAIT-2');
    expect(h.nextDeadline()).to.equal(undefined); // half-closed: still reading
  });

  it('13 passive close: FIN -> ACK, CLOSE-WAIT; close() -> LAST-ACK -> CLOSED on the ACK of our FIN', () => {
    const c = established({ allowHalfOpen: true });
    let closed = false;
    c.hooks = { onClosed: (e) => void (closed = e === undefined) };
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK }), 20);
    expect(c.state).to.equal('CLOSE-WAIT');
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 2 }]);
    expect(c.remoteClosed).to.equal(true);
    c.close(30);
    expect(c.state).to.equal('LAST-ACK');
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 2 }]);
    c.input(seg({ seq: IRS + 2, ack: ISS + 2 }), 40);
    expect(c.state).to.equal('CLOSED');
    expect(closed).to.equal(true);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('14 simultaneous close through CLOSING, including a combined FIN-ACK', () => {
    const c = established();
    c.shutdown(20);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1 }]);
    // The peer's FIN crossed ours: it does not acknowledge our FIN.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK }), 25);
    expect(c.state).to.equal('CLOSING');
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 2 }]);
    c.input(seg({ seq: IRS + 2, ack: ISS + 2 }), 30);
    expect(c.state).to.equal('TIME-WAIT');
    expect(c.takeOutput()).to.have.length(0);

    // Combined: the peer's FIN also acknowledges ours: FIN-WAIT-1 -> TIME-WAIT directly.
    const d = established();
    d.shutdown(20);
    d.takeOutput();
    d.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK }), 25);
    expect(d.state).to.equal('TIME-WAIT');
    expectOut(d.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 2 }]);
  });

  it('15 half-close: after the peer FIN we can still send; reads return EOF', () => {
    const c = established({ allowHalfOpen: true });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK, payload: Buffer.from('bye') }), 20);
    expect(c.state).to.equal('CLOSE-WAIT');
    expect(c.read()?.toString()).to.equal('bye');
    expect(c.read()).to.equal(null);
    expect(c.remoteClosed).to.equal(true);
    c.takeOutput();
    expect(c.send(Buffer.from('still here'), 30)).to.equal(10);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, ack: IRS + 5, len: 10 }]);
    c.input(seg({ seq: IRS + 5, ack: ISS + 11 }), 40);
    expect(c.state).to.equal('CLOSE-WAIT');
    // allowHalfOpen false: reading EOF ends our side too (node semantics).
    const d = established({ allowHalfOpen: false });
    d.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK }), 20);
    d.takeOutput();
    expect(d.read()).to.equal(null);
    expect(d.state).to.equal('LAST-ACK');
    expectOut(d.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 2 }]);
  });

  it('16 TIME-WAIT re-ACKs a retransmitted FIN and restarts its timer', () => {
    const c = established({ msl: 30000 });
    c.shutdown(20);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK }), 100);
    expect(c.state).to.equal('TIME-WAIT');
    c.takeOutput();
    expect(c.nextDeadline()).to.equal(60100);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK }), 1000);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 2 }]);
    expect(c.nextDeadline()).to.equal(61000);
    expect(c.state).to.equal('TIME-WAIT');
  });

  it('17 RST in TIME-WAIT: policy RFC 1337, the RST is ignored and TIME-WAIT runs its course', () => {
    const c = established({ msl: 30000 });
    c.shutdown(20);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK }), 100);
    c.takeOutput();
    c.input(seg({ seq: IRS + 2, flags: RST }), 200);
    expect(c.state).to.equal('TIME-WAIT');
    expect(c.takeOutput()).to.have.length(0);
    expect(c.nextDeadline()).to.equal(60100);
    c.onTimer(60100);
    expect(c.state).to.equal('CLOSED');
  });

  it('18 close() with unread received data sends RST, not FIN; closing a listener resets its un-accepted connections', () => {
    const c = established();
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 100 }), 20);
    c.takeOutput();
    c.close(30);
    expectOut(c.takeOutput(), [{ flags: RST | ACK, seq: ISS + 1, ack: IRS + 101 }]);
    expect(c.state).to.equal('CLOSED');

    const l = listener();
    const a = l.input(peerSyn({}, 6001), REMOTE, 0)!;
    a.takeOutput();
    a.input(seg({ seq: IRS + 1, ack: 7001, srcPort: 6001 }), 1); // established, in the accept queue
    const b = l.input(peerSyn({}, 6002), REMOTE, 1)!; // still in the SYN queue
    b.takeOutput();
    expect([l.acceptQueueLength, l.synQueueLength]).to.deep.equal([1, 1]);
    l.close(2);
    const out = l.takeOutput();
    expect(out.map((o) => o.seg.dstPort).sort()).to.deep.equal([6001, 6002]);
    for (const o of out) expectSeg(o.seg, { flags: RST | ACK, seq: 7001 });
    expect([a.state, b.state]).to.deep.equal(['CLOSED', 'CLOSED']);
    expect(l.input(peerSyn({}, 6003), REMOTE, 3)).to.equal(undefined);
  });

  it('19 FIN retransmitted in FIN-WAIT-1 / CLOSING / LAST-ACK until ACKed', () => {
    // FIN-WAIT-1 (RTO 200 ms after the 10 ms handshake RTT).
    const c = established();
    c.shutdown(100);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1 }]);
    expect(c.nextDeadline()).to.equal(300);
    c.onTimer(300);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.nextDeadline()).to.equal(700);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2 }), 710);
    expect(c.state).to.equal('FIN-WAIT-2');
    expect(c.nextDeadline()).to.equal(undefined);

    // CLOSING.
    const d = established();
    d.shutdown(100);
    d.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK }), 105);
    expect(d.state).to.equal('CLOSING');
    d.takeOutput();
    d.onTimer(d.nextDeadline()!);
    expectOut(d.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 2 }]);

    // LAST-ACK.
    const e = established({ allowHalfOpen: true });
    e.input(seg({ seq: IRS + 1, ack: ISS + 1, flags: FIN | ACK }), 50);
    e.close(100);
    expect(e.state).to.equal('LAST-ACK');
    e.takeOutput();
    e.onTimer(e.nextDeadline()!);
    expectOut(e.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 2 }]);
    e.input(seg({ seq: IRS + 2, ack: ISS + 2 }), 800);
    expect(e.state).to.equal('CLOSED');
  });
});
