/**
 * Issue 14: a tail loss probe sent because the peer was slow to answer (a user-space receiver
 * off the CPU for longer than the PTO), not because anything was lost, is recognised by its
 * ACK (Eifel, RFC 3522: the ACK's TSecr is older than the probe's TSval), and the PTO then
 * waits at least twice that silence, so the same stall does not probe again; a genuinely
 * lost tail is not taken for a spurious probe. Sans-IO core, virtual time, 0.2 ms RTT.
 */
import { expect } from 'chai';
import { ACK, PSH, SYN } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { MIN_PTO, probeTimeout } from '../../src/tcp/recovery/rack.js';
import { IRS, ISS, TUPLE, cfg, expectOut, seg } from './harness.js';

const M = 1432 - 12; // the MSS less the timestamp option
const RTT = 0.2;
/** The peer's TSval: any increasing clock. */
let peerTs = 100;

/**
 * ESTABLISHED with SACK and timestamps at an RTT of 0.2 ms; our TSval is floor(now). Nothing
 * assumed about the peer's ACK delay (peerMaxAckDelay 0): the PTO starts at RFC 8985's
 * max(2*SRTT, MIN_PTO), so what the sender learns from silences shows from there.
 */
function fastPath(): Connection {
  const c = Connection.connect(TUPLE, cfg({ sack: true, timestamps: true, noDelay: true, peerMaxAckDelay: 0 }), 0, { iss: ISS, tsOffset: 0 });
  c.takeOutput();
  c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432, sackPermitted: true, ts: { val: peerTs++, ecr: 0 } } }), RTT);
  expect(c.state).to.equal('ESTABLISHED');
  c.takeOutput();
  return c;
}

/** An ACK from the peer echoing `ecr`, with optional SACK blocks. */
function ackSeg(ack: number, ecr: number, sack?: Array<{ left: number; right: number }>) {
  return seg({ seq: IRS + 1, ack, options: { ts: { val: peerTs++, ecr }, ...(sack ? { sack } : {}) } });
}

/** Runs the connection's timers up to `until`; returns what they sent. */
function timersUntil(c: Connection, until: number) {
  const out = [];
  for (let i = 0; i < 10; i++) {
    const d = c.nextDeadline();
    if (d === undefined || d > until) break;
    c.onTimer(d);
    out.push(...c.takeOutput());
  }
  return out;
}

/**
 * The second five-segment flight, sent at `at` with the PTO due at `at + pto`: its ACK
 * (echoing `at`) comes at `ackAt`, within the PTO, and no probe leaves before it.
 */
function secondFlightAckedLate(c: Connection, at: number, pto: number, ackAt: number): void {
  c.send(Buffer.alloc(5 * M), at);
  expect(c.takeOutput()).to.have.length(5);
  expect(c.nextDeadline()).to.equal(at + pto);
  expect(timersUntil(c, ackAt), 'no probe within the learned allowance').to.have.length(0);
  c.input(ackSeg(ISS + 1 + 10 * M, at), ackAt);
  c.takeOutput();
}

describe('scenarios: spurious tail loss probes (Eifel detection, issue 14)', () => {
  it('a probe answered by the ACK of earlier data is spurious, and the PTO then outlasts that silence: the next stall sends no probe', () => {
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    expect(c.takeOutput()).to.have.length(5);
    // The peer stalls 15 ms: the probe fires at MIN_PTO (the last segment again).
    const probe = timersUntil(c, 16);
    expectOut(probe, [{ flags: ACK | PSH, seq: ISS + 1 + 4 * M, len: M }]);
    expect(probe[0]!.options.ts!.val).to.equal(11);
    // The ACK of the whole flight echoes the TSval of the first segment (sent at t=1): it was
    // sent for the original transmissions, the probe was not needed.
    c.input(ackSeg(ISS + 1 + 5 * M, 1), 16);
    c.takeOutput();
    expect(c.recovery.spuriousTlps).to.equal(1);
    expect(c.recovery.ackDelayAllowance).to.equal(2 * 15);
    expect(c.congestionControl.cwnd, 'a spurious probe costs no cwnd').to.be.greaterThan(5 * M);
    // The next flight: PTO = max(2*SRTT, MIN_PTO, 30 ms); a 20 ms stall sends nothing.
    secondFlightAckedLate(c, 17, 30, 37);
    const info = c.getInfo(37);
    expect(info.retransmits.tlp).to.equal(1);
    expect(info.retransmits.rto + info.retransmits.rack + info.retransmits.fast).to.equal(0);
    expect(c.recovery.spuriousTlps).to.equal(1);
    expect(info.spuriousTlps, 'TCP_INFO reports it').to.equal(1);
  });

  it('a probe that carries new data measures the silence from when the PTO was armed, not from the probe (its send re-arms the PTO)', () => {
    const c = fastPath();
    c.send(Buffer.alloc(14 * M), 1);
    const first = c.takeOutput();
    expect(first.length).to.be.lessThan(14); // the initial window holds the rest back
    const n = first.length;
    // The peer stalls 15 ms: the probe is the next new segment.
    const probe = timersUntil(c, 16);
    expectOut(probe, [{ flags: ACK, seq: ISS + 1 + n * M, len: M }]);
    c.input(ackSeg(ISS + 1 + n * M, 1), 16);
    c.takeOutput();
    expect(c.recovery.spuriousTlps).to.equal(1);
    expect(c.recovery.ackDelayAllowance, 'twice the 15 ms from the last ACK-less arming').to.equal(2 * 15);
  });

  it('a lost tail repaired through the probe is not taken for a spurious probe: the PTO stays at MIN_PTO', () => {
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    expect(c.takeOutput()).to.have.length(5);
    // The whole flight is lost; the probe (the last segment) arrives and is SACKed, echoing
    // the last TSval the peer took in order (the SYN-ACK's ACK, t=0).
    expectOut(timersUntil(c, 11), [{ flags: ACK | PSH, seq: ISS + 1 + 4 * M, len: M }]);
    c.input(ackSeg(ISS + 1, 0, [{ left: ISS + 1 + 4 * M, right: ISS + 1 + 5 * M }]), 11.4);
    const rtx = c.takeOutput();
    expect(rtx.length).to.be.greaterThan(0);
    // The repairs arrive: their ACKs echo the repairs' TSvals (t >= 11), newer than the probe's.
    c.input(ackSeg(ISS + 1 + 2 * M, 11, [{ left: ISS + 1 + 4 * M, right: ISS + 1 + 5 * M }]), 11.6);
    c.takeOutput();
    c.input(ackSeg(ISS + 1 + 5 * M, 11), 11.8);
    c.takeOutput();
    expect(c.getInfo(11.8).sndUna).to.equal(ISS + 1 + 5 * M);
    expect(c.recovery.spuriousTlps).to.equal(0);
    expect(c.getInfo(11.8).spuriousTlps).to.equal(undefined);
    expect(c.recovery.ackDelayAllowance).to.equal(0);
    c.send(Buffer.alloc(5 * M), 20);
    c.takeOutput();
    expect(c.nextDeadline()).to.equal(20 + MIN_PTO);
  });

  it('a near miss (an ACK 8 ms into a pending 10 ms PTO) raises the floor before any probe: the next, longer stall draws none; a real tail loss is still probed at the learned PTO', () => {
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    expect(c.takeOutput()).to.have.length(5);
    expect(c.nextDeadline()).to.equal(1 + MIN_PTO);
    // The peer answers 8 ms later (a GC pause shorter than the PTO): no probe, but a near miss.
    expect(timersUntil(c, 9)).to.have.length(0);
    c.input(ackSeg(ISS + 1 + 5 * M, 1), 9);
    c.takeOutput();
    expect(c.recovery.ackDelayAllowance).to.equal(16);
    // The next flight meets a 12 ms stall, longer than MIN_PTO: the PTO (16 ms) outlasts it.
    secondFlightAckedLate(c, 10, 16, 22);
    expect(c.getInfo(22).retransmits.tlp).to.equal(0);
    expect(c.recovery.ackDelayAllowance).to.equal(24);
    // A flight lost whole: the probe comes at the learned PTO, long before the RTO, and repairs it.
    c.send(Buffer.alloc(5 * M), 30);
    expect(c.takeOutput()).to.have.length(5);
    expect(c.nextDeadline()).to.equal(30 + 24);
    expectOut(timersUntil(c, 30 + 24), [{ flags: ACK | PSH, seq: ISS + 1 + 14 * M, len: M }]);
    c.input(ackSeg(ISS + 1 + 10 * M, 22, [{ left: ISS + 1 + 14 * M, right: ISS + 1 + 15 * M }]), 54.2);
    expect(c.takeOutput().length, 'the SACK of the probe starts the repair').to.be.greaterThan(0);
    const info = c.getInfo(54.2);
    expect(info.retransmits.tlp).to.equal(1);
    expect(info.retransmits.rto).to.equal(0);
  });

  it('silences up to MIN_PTO/2 leave the PTO at RFC 8985\'s value', () => {
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    c.takeOutput();
    c.input(ackSeg(ISS + 1 + 5 * M, 1), 1 + MIN_PTO / 2);
    c.takeOutput();
    expect(c.recovery.ackDelayAllowance).to.equal(0);
    c.send(Buffer.alloc(5 * M), 7);
    c.takeOutput();
    expect(c.nextDeadline()).to.equal(7 + MIN_PTO);
  });

  it('the learned allowance is a floor under the PTO, used up to half the RTO (the probe still comes before the RTO)', () => {
    expect(probeTimeout(0.1, 3, 1000, 30)).to.equal(30);
    expect(probeTimeout(20, 3, 1000, 30)).to.equal(40);
    expect(probeTimeout(0.1, 3, 200, 300)).to.equal(100);
    expect(probeTimeout(0.1, 3, 25, 30)).to.equal(12.5);
    expect(probeTimeout(0.1, 3, 1000)).to.equal(MIN_PTO);
  });

  it('after a spurious probe behind a 150 ms silence, a longer stall still gets a probe before the RTO, which then restarts', () => {
    const c = fastPath();
    c.send(Buffer.alloc(5 * M), 1);
    expect(c.takeOutput()).to.have.length(5);
    expect(timersUntil(c, 151)).to.have.length(1); // the probe at 11
    c.input(ackSeg(ISS + 1 + 5 * M, 1), 151);
    c.takeOutput();
    expect(c.recovery.ackDelayAllowance).to.equal(300);
    // The RTO is 200 ms (the minimum): the PTO is capped at half of it, not pushed onto it.
    c.send(Buffer.alloc(5 * M), 152);
    expect(c.takeOutput()).to.have.length(5);
    const rto = c.getInfo(152).rto;
    expect(c.nextDeadline()).to.equal(152 + rto / 2);
    expect(timersUntil(c, 152 + rto + 50).length, 'a probe, then the restarted RTO').to.be.greaterThan(0);
    const info = c.getInfo(152 + rto + 50);
    expect(info.retransmits.tlp).to.equal(2);
    expect(info.retransmits.rto, 'no RTO where the probe restarted it').to.equal(0);
  });
});
