/**
 * Scenarios 29-45, 47 and 49 of docs/scenarios.md (data path and reliability) on
 * the sans-IO core, on virtual time. M is the MSS (1432: no timestamps in the base config).
 */
import { expect } from 'chai';
import { DEFAULT_PEER_MAX_ACK_DELAY } from '../../src/tcp/recovery/rack.js';
import { ACK, FIN, PSH, RST, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { seqAdd } from '../../src/tcp/seq.js';
import { IRS, ISS, TUPLE, cfg, established, expectOut, expectSeg, seg, synSent } from './harness.js';

const M = 1432;
/** The peer's ACK of `n` bytes of our data (our ISS + 1 + n). */
const ackOf = (n: number, extra: Partial<Parameters<typeof seg>[0]> = {}) => seg({ seq: IRS + 1, ack: ISS + 1 + n, ...extra });
const seqs = (out: TcpSegment[]) => out.map((s) => s.seq);

describe('scenarios: data path and reliability', () => {
  it('29 a segment partly inside the window is trimmed and its in-window part accepted', () => {
    const c = established();
    const data = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
    c.input(seg({ seq: IRS + 1 - 10, ack: ISS + 1, payload: data }), 20);
    expect(c.read()).to.deep.equal(data.subarray(10));
    expect(c.getInfo(20).rcvNxt).to.equal(IRS + 11);
    // Right edge: a 1000-byte window takes 1000 of 1500 bytes, and the FIN beyond it is dropped.
    const d = established({ rcvBuf: 1000 });
    d.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 1500, flags: ACK | FIN }), 20);
    expect(d.readableLength).to.equal(1000);
    expect(d.remoteClosed).to.equal(false);
    d.onTimer(d.nextDeadline()!);
    expectOut(d.takeOutput(), [{ flags: ACK, ack: IRS + 1001, window: 0 }]);
  });

  it('30 out-of-order data queued; immediate duplicate ACK with a SACK block; filling the hole -> one cumulative ACK', () => {
    const c = established({ sack: true }, { mss: 1432, sackPermitted: true });
    c.input(seg({ seq: IRS + 101, ack: ISS + 1, payload: 100 }), 20);
    const out = c.takeOutput();
    expectOut(out, [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(out[0]!.options.sack).to.deep.equal([{ left: IRS + 101, right: IRS + 201 }]);
    expect(c.getInfo(20).outOfOrderBytes).to.equal(100);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 100 }), 21);
    const out2 = c.takeOutput();
    expectOut(out2, [{ flags: ACK, seq: ISS + 1, ack: IRS + 201 }]);
    expect(out2[0]!.options.sack).to.equal(undefined);
    expect(c.readableLength).to.equal(200);
    // A duplicate of delivered data is reported with a D-SACK block (RFC 2883).
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 100 }), 22);
    const [dup] = c.takeOutput();
    expect(dup!.options.sack).to.deep.equal([{ left: IRS + 1, right: IRS + 101 }]);
  });

  it('31 a FIN beyond a hole is held until the hole fills', () => {
    const c = established();
    c.input(seg({ seq: IRS + 101, ack: ISS + 1, payload: 100, flags: ACK | FIN }), 20);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 }]);
    expect(c.state).to.equal('ESTABLISHED');
    expect(c.remoteClosed).to.equal(false);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 100 }), 21);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 202 }]);
    expect(c.state).to.equal('CLOSE-WAIT');
    expect(c.remoteClosed).to.equal(true);
    expect(c.readableLength).to.equal(200);
  });

  it('32 the out-of-order queue is bounded; a flood of out-of-order segments cannot exhaust memory', () => {
    const c = established({ maxOutOfOrderBytes: 4000 });
    for (let i = 0; i < 300; i++) c.input(seg({ seq: IRS + 101 + 200 * i, ack: ISS + 1, payload: 100 }), 20 + i * 0.01);
    const info = c.getInfo(30);
    expect(info.outOfOrderBytes).to.equal(4000);
    expect(c.readableLength).to.equal(0);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 100 }), 40);
    expect(c.readableLength).to.equal(200);
    expect(c.getInfo(40).outOfOrderBytes).to.equal(3900);
  });

  it('33 RTO retransmission with exponential backoff, capped; abort after the retries or the user timeout -> ETIMEDOUT', () => {
    const c = established({ maxRto: 1000, maxRetries: 3, noDelay: true });
    c.send(Buffer.alloc(100), 100);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, len: 100 }]);
    const deadlines: number[] = [];
    for (let i = 0; c.state !== 'CLOSED'; i++) {
      expect(i, 'iterations before CLOSED').to.be.below(20);
      const d = c.nextDeadline()!;
      deadlines.push(d);
      c.onTimer(d);
      for (const s of c.takeOutput()) expectSeg(s, { flags: ACK | PSH, seq: ISS + 1, len: 100 });
    }
    expect(deadlines).to.deep.equal([300, 700, 1500, 2500]);
    expect(c.error).to.equal('ETIMEDOUT');
    expect(c.getInfo(0).retransmits.rto).to.equal(3);

    const u = established({ userTimeout: 1000, noDelay: true });
    u.send(Buffer.alloc(100), 100);
    const ud: number[] = [];
    for (let i = 0; u.state !== 'CLOSED'; i++) {
      expect(i, 'iterations before CLOSED').to.be.below(20);
      const d = u.nextDeadline()!;
      ud.push(d);
      u.onTimer(d);
    }
    expect(ud).to.deep.equal([300, 700, 1100]);
    expect(u.error).to.equal('ETIMEDOUT');
  });

  it('34 Karn: no RTT sample from a retransmitted segment (unless timestamps disambiguate)', () => {
    const c = established({ noDelay: true });
    expect(c.getInfo(10).srtt).to.equal(10);
    c.send(Buffer.alloc(100), 100);
    c.onTimer(300); // retransmission
    c.input(ackOf(100), 310);
    const i = c.getInfo(310);
    expect([i.srtt, i.rttvar, i.rto]).to.deep.equal([10, 5, 200]);

    const t = established({ noDelay: true, timestamps: true }, { mss: 1432, ts: { val: 1, ecr: 0 } });
    t.send(Buffer.alloc(100), 100);
    t.takeOutput();
    t.onTimer(300);
    const [rx] = t.takeOutput();
    expect(rx!.options.ts?.val).to.equal(300);
    // The echo of the original transmission's TSval (100) is ambiguous-free: it says the
    // first transmission was acknowledged, RTT = 310 - 100... but that segment was
    // retransmitted, so only an echo matching the last transmission is used.
    t.input(seg({ seq: IRS + 1, ack: ISS + 1 + 100, options: { ts: { val: 2, ecr: 300 } } }), 310);
    const ti = t.getInfo(310);
    expect(ti.srtt).to.equal(10);
    expect(ti.rttvar).to.equal(3.75); // a sample of 10 ms was taken: 3/4 * 5 + 1/4 * 0
  });

  it('35 fast retransmit after exactly 3 duplicate ACKs; window updates and data-bearing segments are not duplicates', () => {
    const c = established({ noDelay: true });
    c.send(Buffer.alloc(5 * M), 100);
    expect(c.takeOutput()).to.have.length(5);
    c.input(ackOf(0), 110);
    c.input(ackOf(0), 111);
    expect(c.takeOutput()).to.have.length(0);
    c.input(ackOf(0, { window: 60000 }), 112); // window update
    c.input(ackOf(0, { window: 60000, payload: 10 }), 113); // carries data
    expect(c.takeOutput().filter((s) => s.payload.length > 0)).to.have.length(0);
    c.input(ackOf(0, { seq: IRS + 11, window: 60000 }), 114); // the third duplicate
    const out = c.takeOutput();
    expectOut(out, [{ flags: ACK, seq: ISS + 1, len: M, ack: IRS + 11 }]);
    expect(c.getInfo(114).retransmits.fast).to.equal(1);
    expect(c.getInfo(114).inRecovery).to.equal(true);
  });

  it('36 limited transmit: the 1st and 2nd duplicate ACK each release one new segment', () => {
    const c = established({ noDelay: true, initialWindowSegments: 4 });
    c.send(Buffer.alloc(8 * M), 100);
    expect(seqs(c.takeOutput())).to.deep.equal([0, 1, 2, 3].map((i) => ISS + 1 + i * M));
    c.input(ackOf(0), 110);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1 + 4 * M, len: M }]);
    c.input(ackOf(0), 111);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1 + 5 * M, len: M }]);
    expect(c.getInfo(111).cwnd).to.equal(4 * M); // cwnd itself unchanged (RFC 3042)
    c.input(ackOf(0), 112);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, len: M }]);
  });

  it('37 NewReno: a partial ACK retransmits the next hole and stays in recovery', () => {
    const c = established({ noDelay: true, cc: 'newreno' });
    c.send(Buffer.alloc(10 * M), 100);
    expect(c.takeOutput()).to.have.length(10);
    for (const t of [120, 121, 122]) c.input(ackOf(0), t);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, len: M }]);
    c.input(ackOf(2 * M), 130); // partial: segment 2 was lost too
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1 + 2 * M, len: M }]);
    expect(c.getInfo(130).inRecovery).to.equal(true);
    expect(c.getInfo(130).retransmits.fast).to.equal(2);
    const ssthresh = c.getInfo(130).ssthresh;
    c.input(ackOf(10 * M), 140); // full ACK: recovery ends
    expect(c.getInfo(140).inRecovery).to.equal(false);
    expect(c.getInfo(140).cwnd).to.equal(ssthresh);

    // Reno for contrast: the first new ACK ends recovery, nothing is retransmitted.
    const r = established({ noDelay: true, cc: 'reno' });
    r.send(Buffer.alloc(10 * M), 100);
    r.takeOutput();
    for (const t of [120, 121, 122]) r.input(ackOf(0), t);
    r.takeOutput();
    r.input(ackOf(2 * M), 130);
    expect(r.takeOutput().filter((s) => s.seq === ISS + 1 + 2 * M)).to.have.length(0);
    expect(r.getInfo(130).inRecovery).to.equal(false);
  });

  it('38 SACK recovery and RACK-TLP: a whole lost flight is repaired by a tail loss probe after the PTO; RACK marks losses after the reordering window', () => {
    const sackCfg = { sack: true, noDelay: true };
    const peer = { mss: 1432, sackPermitted: true };
    // Whole flight lost: PTO = max(2*SRTT = 20 ms, the peer's assumed ACK delay of 25 ms),
    // long before the 200 ms RTO.
    const c = established(sackCfg, peer);
    c.send(Buffer.alloc(5 * M), 100);
    expect(c.takeOutput()).to.have.length(5);
    expect(c.nextDeadline()).to.equal(100 + DEFAULT_PEER_MAX_ACK_DELAY);
    c.onTimer(125);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1 + 4 * M, len: M }]);
    expect(c.getInfo(125).retransmits.tlp).to.equal(1);
    // The probe's ACK SACKs the last segment: RACK deems the earlier ones lost.
    c.input(ackOf(0, { options: { sack: [{ left: ISS + 1 + 4 * M, right: ISS + 1 + 5 * M }] } }), 135);
    const rep = c.takeOutput();
    expect(seqs(rep)).to.deep.equal([ISS + 1, ISS + 1 + M]);
    expect(c.getInfo(135).retransmits.rack).to.equal(2);
    c.input(ackOf(5 * M), 150);
    expect(c.getInfo(150).retransmits.rto).to.equal(0);
    expect(c.getInfo(150).sndUna).to.equal(ISS + 1 + 5 * M);

    // Reordering window: the SACK of segment 4 alone marks nothing until min_RTT/4 passed.
    const d = established(sackCfg, peer);
    d.send(Buffer.alloc(4 * M), 100);
    d.takeOutput();
    d.input(ackOf(0, { options: { sack: [{ left: ISS + 1 + 3 * M, right: ISS + 1 + 4 * M }] } }), 112);
    expect(d.takeOutput()).to.have.length(0);
    expect(d.nextDeadline()).to.equal(114.5); // 100 + RACK.rtt 12 + reo_wnd 2.5
    d.onTimer(114.5);
    const out = d.takeOutput();
    expect(out[0]!.seq).to.equal(ISS + 1);
    expect(d.getInfo(115).retransmits.rack).to.be.greaterThan(0);
    expect(d.getInfo(115).inRecovery).to.equal(true);
  });

  it('39 cwnd rules: initial window, slow start by bytes acked, CA about SMSS*SMSS/cwnd per ACK, ssthresh = max(flight/2, 2*SMSS) on loss, cwnd = 1 SMSS after an RTO', () => {
    const c = established({ cc: 'reno', noDelay: true, sndBuf: 1 << 20 });
    expect(c.getInfo(10).cwnd).to.equal(10 * M);
    expect(c.getInfo(10).ssthresh).to.equal(Infinity);
    c.send(Buffer.alloc(200 * M), 100);
    expect(c.takeOutput()).to.have.length(10);
    c.input(ackOf(M), 110);
    expect(c.getInfo(110).cwnd).to.equal(11 * M);
    c.input(ackOf(3 * M), 111);
    expect(c.getInfo(111).cwnd).to.equal(13 * M);
    c.takeOutput();
    c.input(ackOf(3 * M), 112);
    c.input(ackOf(3 * M), 113);
    c.takeOutput();
    const flight = c.getInfo(113).bytesInFlight;
    c.input(ackOf(3 * M), 114);
    const afterLoss = c.getInfo(114);
    expect(afterLoss.ssthresh).to.equal(Math.max(Math.floor(flight / 2), 2 * M));
    expect(afterLoss.cwnd).to.equal(afterLoss.ssthresh);
    c.takeOutput();
    // Full ACK: recovery ends; then congestion avoidance: +1 SMSS per cwnd of acknowledged bytes.
    const full = afterLoss.sndNxt - (ISS + 1);
    c.input(ackOf(full), 130);
    const cwnd0 = c.getInfo(130).cwnd;
    c.takeOutput();
    let acked = full;
    const perAck: number[] = [];
    for (let i = 0; i < Math.ceil(cwnd0 / M); i++) {
      acked += M;
      const before = c.getInfo(131).cwnd;
      c.input(ackOf(acked), 131 + i);
      perAck.push(c.getInfo(131).cwnd - before);
      c.takeOutput();
    }
    expect(c.getInfo(140).cwnd).to.equal(cwnd0 + M);
    expect(perAck.filter((x) => x > 0)).to.have.length(1);
    // RTO: cwnd = 1 SMSS.
    const flight2 = c.getInfo(140).bytesInFlight;
    c.onTimer(c.nextDeadline()!);
    const afterRto = c.getInfo(400);
    expect(afterRto.cwnd).to.equal(M);
    expect(afterRto.ssthresh).to.equal(Math.max(Math.floor(flight2 / 2), 2 * M));
    expect(afterRto.retransmits.rto).to.equal(1);
  });

  it('40 zero window: the sender stops, persist probes back off, the connection stays open while probes are ACKed, and resumes when the window reopens', () => {
    const c = established({ noDelay: true, maxRetries: 5 });
    c.input(ackOf(0, { window: 0 }), 20);
    c.send(Buffer.alloc(100), 30);
    expect(c.takeOutput()).to.have.length(0);
    const gaps: number[] = [];
    let last = 30;
    for (let i = 0; i < 12; i++) {
      const d = c.nextDeadline()!;
      gaps.push(d - last);
      last = d;
      c.onTimer(d);
      expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS, len: 0, ack: IRS + 1 }]);
      c.input(ackOf(0, { window: 0 }), d + 10);
      expect(c.takeOutput()).to.have.length(0);
    }
    expect(gaps.slice(0, 5)).to.deep.equal([200, 400, 800, 1600, 3200]);
    expect(Math.max(...gaps)).to.equal(60000);
    expect(c.state).to.equal('ESTABLISHED'); // 12 probes > maxRetries, all answered
    expect(c.getInfo(0).retransmits.probe).to.equal(12);
    c.input(ackOf(0, { window: 65535 }), last + 20);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, len: 100 }]);

    // Unanswered probes abort after maxRetries.
    const u = established({ noDelay: true, maxRetries: 3 });
    u.input(ackOf(0, { window: 0 }), 20);
    u.send(Buffer.alloc(100), 30);
    for (let i = 0; i < 4 && u.state !== 'CLOSED'; i++) u.onTimer(u.nextDeadline()!);
    expect(u.state).to.equal('CLOSED');
    expect(u.error).to.equal('ETIMEDOUT');
  });

  it('41 receiver silly-window avoidance: a zero window reopens only once min(MSS, buffer/2) is free', () => {
    const c = established({ rcvBuf: 4000, delayedAckMs: 0 });
    const wins: number[] = [];
    let s = IRS + 1;
    for (const n of [1432, 1432, 1136]) {
      c.input(seg({ seq: s, ack: ISS + 1, payload: n }), 20);
      s += n;
      wins.push(...c.takeOutput().map((o) => o.window));
    }
    expect(wins).to.deep.equal([2568, 1136, 0]);
    expect(c.read(1000)!.length).to.equal(1000);
    expect(c.takeOutput(), 'no update for 1000 free bytes').to.have.length(0);
    expect(c.read(500)!.length).to.equal(500);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 4001, window: 1500 }]);
  });

  it('42 the peer shrinks its window: the sender copes (usable window below zero)', () => {
    const c = established({ noDelay: true });
    c.send(Buffer.alloc(20 * M), 100);
    const data = (k: number) => ({ flags: ACK, seq: ISS + 1 + k * M, ack: IRS + 1, len: M });
    expectOut(c.takeOutput(), Array.from({ length: 10 }, (_, k) => data(k)));
    c.input(ackOf(M, { window: 1000 }), 110); // right edge now far left of SND.NXT
    expectOut(c.takeOutput(), []);
    expect(c.getInfo(110).sndWnd).to.equal(1000);
    expect(c.nextDeadline()).to.equal(310); // the RTO still guards the data beyond the edge
    c.input(ackOf(10 * M, { window: 65535 }), 120);
    const rest = Array.from({ length: 10 }, (_, k) => data(10 + k));
    rest[9]!.flags = ACK | PSH;
    expectOut(c.takeOutput(), rest);
    expect(c.state).to.equal('ESTABLISHED');
    expect(c.drops['internal_error'] ?? 0).to.equal(0);
  });

  it('43 Nagle: small data waits while unacknowledged data is in flight; setNoDelay(true) sends at once; the final FIN is not delayed', () => {
    const c = established();
    c.send(Buffer.alloc(100), 20);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 1, len: 100 }]);
    c.send(Buffer.alloc(100), 21);
    c.send(Buffer.alloc(100), 22);
    expect(c.takeOutput()).to.have.length(0);
    c.input(ackOf(100), 30);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 101, len: 200 }]);
    c.setNoDelay(true, 31);
    c.send(Buffer.alloc(50), 32);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: ISS + 301, len: 50 }]);

    const d = established();
    d.send(Buffer.alloc(100), 20);
    d.takeOutput();
    d.send(Buffer.alloc(50), 21);
    expect(d.takeOutput()).to.have.length(0);
    d.shutdown(22);
    expectOut(d.takeOutput(), [{ flags: ACK | PSH | FIN, seq: ISS + 101, len: 50 }]);
  });

  it('44 delayed ACK: within the delay bound, at least every second full segment, immediately on out-of-order data', () => {
    const c = established({ delayedAckMs: 40 });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 1000 }), 100);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.nextDeadline()).to.equal(140);
    c.onTimer(140);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1001 }]);
    c.input(seg({ seq: IRS + 1001, ack: ISS + 1, payload: M }), 200);
    expect(c.takeOutput()).to.have.length(0);
    c.input(seg({ seq: IRS + 1001 + M, ack: ISS + 1, payload: M }), 201);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1001 + 2 * M }]);
    expect(c.nextDeadline()).to.equal(undefined);
    c.input(seg({ seq: IRS + 1001 + 3 * M, ack: ISS + 1, payload: 100 }), 300);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1001 + 2 * M }]);
    // delayedAckMs is capped at 200 ms (RFC 1122: less than 0.5 s).
    expect(cfg({ delayedAckMs: 5000 }).delayedAckMs).to.equal(200);
  });

  it('45 keepalive: after idle, probes with SEQ = SND.NXT-1; abort after N unanswered; the peer probes are answered', () => {
    const c = established({ keepAliveInterval: 1000, keepAliveProbes: 3 });
    c.setKeepAlive(true, 5000, 10);
    expect(c.nextDeadline()).to.equal(5010);
    const probes: number[] = [];
    for (let i = 0; c.state !== 'CLOSED'; i++) {
      expect(i, 'iterations before CLOSED').to.be.below(20);
      const d = c.nextDeadline()!;
      c.onTimer(d);
      for (const s of c.takeOutput()) {
        if (s.flags & RST) continue;
        expectSeg(s, { flags: ACK, seq: ISS, ack: IRS + 1, len: 0 });
        probes.push(d);
      }
    }
    expect(probes).to.deep.equal([5010, 6010, 7010]);
    expect(c.error).to.equal('ETIMEDOUT');

    const a = established({ keepAliveInterval: 1000, keepAliveProbes: 3 });
    a.setKeepAlive(true, 5000, 10);
    a.onTimer(5010);
    expect(a.takeOutput()).to.have.length(1);
    a.input(ackOf(0), 5020); // answered
    a.onTimer(a.nextDeadline()!);
    expect(a.takeOutput()).to.have.length(0);
    expect(a.nextDeadline()).to.equal(10020);
    expect(a.state).to.equal('ESTABLISHED');
    // The peer's probe (SEQ = RCV.NXT-1) is answered with an ACK.
    a.input(seg({ seq: IRS, ack: ISS + 1 }), 6000);
    expectOut(a.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
  });

  it('47 writes issued in SYN-SENT are sent after the handshake', () => {
    const { c } = synSent();
    expect(c.send(Buffer.from('early data'), 1)).to.equal(10);
    expect(c.takeOutput()).to.have.length(0);
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 } }), 10);
    const out = c.takeOutput();
    expectOut(out, [{ flags: ACK | PSH, seq: ISS + 1, ack: IRS + 1, len: 10 }]);
    expect(out[0]!.payload.toString()).to.equal('early data');
  });

  it('49 sequence numbers wrap around 2^32 mid-transfer without loss or stall (fast retransmit and RTO across the wrap)', () => {
    const iss = 0xffffffff - 3000;
    const c = Connection.connect(TUPLE, cfg({ noDelay: true, cc: 'newreno' }), 0, { iss });
    c.takeOutput();
    c.input(seg({ seq: IRS, ack: seqAdd(iss, 1), flags: SYN | ACK, options: { mss: 1432 } }), 10);
    c.takeOutput();
    const base = seqAdd(iss, 1);
    const at = (n: number) => seqAdd(base, n);
    const ack = (n: number) => seg({ seq: IRS + 1, ack: at(n) });
    c.send(Buffer.alloc(5 * M), 100);
    const out = c.takeOutput();
    expect(seqs(out)).to.deep.equal([0, 1, 2, 3, 4].map((i) => at(i * M)));
    expect(out[3]!.seq).to.be.lessThan(out[0]!.seq); // wrapped
    for (const t of [110, 111, 112]) c.input(ack(0), t);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: at(0), len: M }]);
    c.input(ack(3 * M), 120); // partial ACK across the wrap
    expectOut(c.takeOutput(), [{ flags: ACK, seq: at(3 * M), len: M }]);
    c.input(ack(5 * M), 130);
    expect(c.getInfo(130).sndUna).to.equal(at(5 * M));
    expect(c.getInfo(130).bytesInFlight).to.equal(0);
    // RTO across the wrap.
    c.send(Buffer.alloc(M), 140);
    c.takeOutput();
    c.onTimer(c.nextDeadline()!);
    expectOut(c.takeOutput(), [{ flags: ACK | PSH, seq: at(5 * M), len: M }]);
    c.input(ack(6 * M), 500);
    expect(c.getInfo(500).bytesAcked).to.equal(6 * M);
  });
});
