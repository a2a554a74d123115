/**
 * Unit tests of the core's helpers on their own (no Connection): duplicate-ACK
 * classification, the RFC 6675 scoreboard, RACK-TLP, reassembly and the receive window,
 * delivery-rate samples and timers as data.
 */
import { expect } from 'chai';
import { ACK, FIN, type TcpSegment } from '../../src/wire/tcp.js';
import { isDuplicateAck } from '../../src/tcp/recovery/dupack.js';
import { applySack, DUP_THRESH, markLostBySack, nextLost } from '../../src/tcp/recovery/scoreboard.js';
import { MIN_PTO, probeTimeout, Rack, WC_DEL_ACK_T } from '../../src/tcp/recovery/rack.js';
import { Reassembly, receiveWindow } from '../../src/tcp/receive.js';
import { RateSampler } from '../../src/tcp/rate.js';
import { Timers, TIMER_KINDS, type TimerKind } from '../../src/tcp/timers.js';
import { newTxSegment, txEnd, type TxSegment } from '../../src/tcp/send.js';

const M = 1000;
/** n segments of M bytes from seq 1, sent at t = 0, 1, 2 ... */
function queue(n: number, base = 1): TxSegment[] {
  return Array.from({ length: n }, (_, i) => newTxSegment(base + i * M, M, false, false, i));
}
function ackSeg(ack: number, extra: Partial<TcpSegment> = {}): TcpSegment {
  return { srcPort: 1, dstPort: 2, seq: 0, ack, flags: ACK, window: 1000, urgent: 0, options: {}, payload: Buffer.alloc(0), ...extra };
}

describe('tcp parts: recovery/dupack', () => {
  const base = { sndUna: 100, outstanding: true, window: 1000, prevWindow: 1000, newSackInfo: false };
  it('a duplicate ACK needs outstanding data, no payload, no SYN/FIN, SEG.ACK = SND.UNA and an unchanged window', () => {
    expect(isDuplicateAck({ ...base, seg: ackSeg(100) })).to.equal(true);
    expect(isDuplicateAck({ ...base, outstanding: false, seg: ackSeg(100) })).to.equal(false);
    expect(isDuplicateAck({ ...base, seg: ackSeg(100, { payload: Buffer.alloc(1) }) })).to.equal(false);
    expect(isDuplicateAck({ ...base, seg: ackSeg(100, { flags: ACK | FIN }) })).to.equal(false);
    expect(isDuplicateAck({ ...base, seg: ackSeg(101) })).to.equal(false);
    expect(isDuplicateAck({ ...base, window: 2000, seg: ackSeg(100) }), 'a window update').to.equal(false);
  });
  it('with new SACK information the window may change (RFC 6675 2)', () => {
    expect(isDuplicateAck({ ...base, window: 2000, newSackInfo: true, seg: ackSeg(100) })).to.equal(true);
  });
});

describe('tcp parts: recovery/scoreboard', () => {
  it('applySack marks whole segments inside blocks, ignores blocks outside (SND.UNA, SND.NXT] and inverted ones', () => {
    const q = queue(5);
    const r = applySack(q, [{ left: 1 + 3 * M, right: 1 + 5 * M }, { left: 1 + 5 * M, right: 1 + 9 * M }, { left: 1 + 2 * M, right: 1 + M }], 1, 1 + 5 * M);
    expect(q.map((s) => s.sacked)).to.deep.equal([false, false, false, true, true]);
    expect(r.newlySacked).to.equal(2 * M);
    expect(r.newly).to.have.length(2);
    expect(r.dsack).to.equal(undefined);
    // The same block again: nothing new.
    expect(applySack(q, [{ left: 1 + 3 * M, right: 1 + 5 * M }], 1, 1 + 5 * M).newlySacked).to.equal(0);
  });
  it('a first block below the cumulative ACK, or inside the second, is a D-SACK (RFC 2883 4)', () => {
    const q = queue(5);
    expect(applySack(q, [{ left: 1, right: 1 + M }], 1 + M, 1 + 5 * M).dsack).to.deep.equal({ left: 1, right: 1 + M });
    const r = applySack(q, [{ left: 1 + 3 * M, right: 1 + 4 * M }, { left: 1 + 2 * M, right: 1 + 5 * M }], 1, 1 + 5 * M);
    expect(r.dsack).to.deep.equal({ left: 1 + 3 * M, right: 1 + 4 * M });
    expect(r.newly.map((s) => s.seq)).to.deep.equal([1 + 2 * M, 1 + 3 * M, 1 + 4 * M]);
  });
  it('a lost segment that gets SACKed leaves the lost tally', () => {
    const q = queue(3);
    q[1]!.lost = true;
    const r = applySack(q, [{ left: 1 + M, right: 1 + 2 * M }], 1, 1 + 3 * M);
    expect(r.wasLostSegs).to.equal(1);
    expect(r.wasLostBytes).to.equal(M);
    expect(q[1]!.lost).to.equal(false);
  });
  it(`IsLost: a segment is lost once ${DUP_THRESH} segments above it are SACKed, not before`, () => {
    const q = queue(6);
    const state = { doneUpTo: 1 };
    applySack(q, [{ left: 1 + 4 * M, right: 1 + 6 * M }], 1, 1 + 6 * M);
    expect(markLostBySack(q, M, 1 + 6 * M, state)).to.have.length(0);
    applySack(q, [{ left: 1 + 3 * M, right: 1 + 6 * M }], 1, 1 + 6 * M);
    const lost = markLostBySack(q, M, 1 + 6 * M, state);
    expect(lost.map((s) => s.seq)).to.deep.equal([1, 1 + M, 1 + 2 * M]);
    expect(nextLost(q)).to.equal(q[0]);
    // A retransmitted segment is never re-marked by IsLost.
    const q2 = queue(5);
    q2[0]!.retransmits = 1;
    applySack(q2, [{ left: 1 + 2 * M, right: 1 + 5 * M }], 1, 1 + 5 * M);
    expect(markLostBySack(q2, M, 1 + 5 * M, { doneUpTo: 1 }).map((s) => s.seq)).to.deep.equal([1 + M]);
  });
});

describe('tcp parts: recovery/rack', () => {
  it('the PTO is 2*SRTT, plus WCDelAckT for a single segment, floored at MIN_PTO and capped by the RTO', () => {
    expect(probeTimeout(50, 3, 1000)).to.equal(100);
    expect(probeTimeout(50, 1, 1000)).to.equal(100 + WC_DEL_ACK_T);
    expect(probeTimeout(0.1, 3, 1000)).to.equal(MIN_PTO);
    expect(probeTimeout(4.9, 3, 1000)).to.equal(MIN_PTO);
    expect(probeTimeout(5.1, 3, 1000)).to.be.closeTo(10.2, 1e-9);
    expect(probeTimeout(800, 3, 1000)).to.equal(1000);
  });
  it('segments sent before the most recently delivered one are lost after RACK.rtt + reo_wnd; the timeout is the earliest pending deadline', () => {
    const q = queue(4); // sent at 0, 1, 2, 3
    const rack = new Rack();
    rack.onDelivered(q[2]!, 52, 40); // delivered at 52: RACK.rtt = 50
    q[2]!.sacked = true;
    const early = rack.detectLoss(q, 52, 10);
    expect(early.lost).to.have.length(0);
    expect(early.timeout).to.equal(0 + 50 + 10); // segment 0's deadline
    const later = rack.detectLoss(q, 61, 10);
    expect(later.lost.map((s) => s.seq)).to.deep.equal([1, 1 + M]);
    expect(q[3]!.lost, 'sent after the RACK segment').to.equal(false);
  });
  it('reo_wnd is min_RTT/4 (at most SRTT) and 0 in recovery until reordering is seen', () => {
    const rack = new Rack();
    expect(rack.reoWnd(40, 50, false)).to.equal(10);
    expect(rack.reoWnd(40, 5, false)).to.equal(5);
    expect(rack.reoWnd(40, 50, true)).to.equal(0);
    const q = queue(2);
    rack.onDelivered(q[1]!, 50, 10);
    rack.onDelivered(q[0]!, 51, 10); // a lower segment delivered later: reordering
    expect(rack.reorderingSeen).to.equal(true);
    expect(rack.reoWnd(40, 50, true)).to.equal(10);
  });
  it('a retransmission ACKed faster than min_RTT is not taken as the RACK segment (ambiguous, 6.2 step 2)', () => {
    const rack = new Rack();
    const s = newTxSegment(1, M, false, false, 100);
    s.retransmits = 1;
    rack.onDelivered(s, 105, 40);
    expect(rack.xmitTime).to.equal(-Infinity);
    s.tsVal = 7;
    rack.onDelivered(s, 105, 40, 7); // the echo names this transmission
    expect(rack.xmitTime).to.equal(100);
  });
});

describe('tcp parts: receive (reassembly and window)', () => {
  const b = (n: number, v = 0x61) => Buffer.alloc(n, v);
  it('holds out-of-order runs, coalesces adjacent ones, drains what became in order', () => {
    const r = new Reassembly(10_000);
    expect(r.insert(200, b(100), false).kind).to.equal('queued');
    expect(r.insert(300, b(100), false).kind).to.equal('queued');
    expect(r.runs()).to.deep.equal([{ left: 200, right: 400 }]);
    expect(r.insert(500, b(50), true).kind).to.equal('queued');
    expect(r.size).to.equal(250);
    expect(r.drain(100).data, 'hole at 100').to.have.length(0);
    const d = r.drain(200);
    expect(Buffer.concat(d.data).length).to.equal(200);
    expect(d.rcvNxt).to.equal(400);
    expect(d.fin).to.equal(false);
    r.insert(400, b(100), false);
    const e = r.drain(400);
    expect(e.fin).to.equal(true);
    expect(e.rcvNxt).to.equal(551); // 500 + 50 + FIN
    expect(r.isEmpty).to.equal(true);
  });
  it('a segment already held is a duplicate with its D-SACK block; overlaps keep only the new bytes', () => {
    const r = new Reassembly(10_000);
    r.insert(200, b(100, 1), false);
    expect(r.insert(220, b(50), false)).to.deep.equal({ kind: 'duplicate', dsack: { left: 220, right: 270 } });
    r.insert(150, b(100, 2), false); // 150..250: only 150..200 is new
    expect(r.size).to.equal(150);
    const d = Buffer.concat(r.drain(150).data);
    expect(d.length).to.equal(150);
    expect(d[49]).to.equal(2);
    expect(d[50]).to.equal(1);
  });
  it('the byte bound drops what does not fit', () => {
    const r = new Reassembly(150);
    expect(r.insert(200, b(100), false).kind).to.equal('queued');
    expect(r.insert(400, b(100), false).kind).to.equal('dropped');
    expect(r.size).to.equal(100);
  });
  it('SACK blocks: the most recent arrival first, then earlier ones (RFC 2018 4), at most `max`', () => {
    const r = new Reassembly(10_000);
    r.insert(200, b(10), false);
    r.insert(400, b(10), false);
    r.insert(600, b(10), false);
    expect(r.sackBlocks(3).map((x) => x.left)).to.deep.equal([600, 400, 200]);
    expect(r.sackBlocks(1)).to.deep.equal([{ left: 600, right: 610 }]);
    r.insert(210, b(10), false);
    expect(r.sackBlocks(2)).to.deep.equal([{ left: 200, right: 220 }, { left: 600, right: 610 }]);
  });
  it('receiver SWS: the offer grows only by min(rcvBuf/2, MSS) or more, and never shrinks', () => {
    expect(receiveWindow({ free: 1000, offered: 0, rcvBuf: 64000, mss: 1460 })).to.equal(0);
    expect(receiveWindow({ free: 1460, offered: 0, rcvBuf: 64000, mss: 1460 })).to.equal(1460);
    expect(receiveWindow({ free: 600, offered: 0, rcvBuf: 1000, mss: 1460 })).to.equal(600);
    expect(receiveWindow({ free: 100, offered: 500, rcvBuf: 64000, mss: 1460 })).to.equal(500);
  });
});

describe('tcp parts: rate (delivery-rate samples)', () => {
  it('one sample per ACK: bytes delivered over max(send, ack) interval, from the newest delivered segment', () => {
    const r = new RateSampler();
    const q = queue(4);
    q.forEach((s, i) => r.onSend(s, i, i * M));
    // All four delivered at t = 100.
    for (const s of q) r.onDelivered(s, 100, true);
    const rs = r.finish(100, 4 * M, 0, 50)!;
    expect(rs.delivered).to.equal(4 * M);
    expect(rs.interval).to.equal(100); // ack elapsed 100 - 0 > send elapsed 3 - 0
    expect(rs.deliveryRate).to.equal((4 * M * 1000) / 100);
    expect(rs.rtt).to.equal(97);
    expect(r.lastRate).to.equal(rs.deliveryRate);
    expect(r.finish(101, 0, 0, 50), 'nothing new delivered').to.equal(undefined);
  });
  it('an interval below min_RTT gives no sample; losses are reported once', () => {
    const r = new RateSampler();
    const s = newTxSegment(1, M, false, false, 0);
    r.onSend(s, 0, 0);
    r.onLost(500);
    r.onDelivered(s, 10, true);
    expect(r.finish(10, M, 0, 50)).to.equal(undefined);
    const t = newTxSegment(1 + M, M, false, false, 10);
    r.onSend(t, 10, 0);
    r.onDelivered(t, 100, false);
    const rs = r.finish(100, M, 0, 50)!;
    expect(rs.lost).to.equal(500);
    expect(rs.rtt, 'not Karn-safe').to.equal(-1);
  });
  it('app-limited marks make samples app-limited until the marked data is delivered', () => {
    const r = new RateSampler();
    r.markAppLimited(0);
    const s = newTxSegment(1, M, false, false, 0);
    r.onSend(s, 0, 0);
    r.onDelivered(s, 100, true);
    expect(r.finish(100, M, 0, 10)!.isAppLimited).to.equal(true);
    expect(r.appLimited).to.equal(0); // cleared once delivered passed the mark
  });
});

describe('tcp parts: timers', () => {
  it('next() is the earliest armed deadline; setIfUnset keeps an armed one', () => {
    const t = new Timers();
    expect(t.next()).to.equal(undefined);
    t.set('keepalive', 500);
    t.set('retransmit', 300);
    t.setIfUnset('retransmit', 100);
    expect(t.next()).to.equal(300);
    t.clear('retransmit');
    expect(t.next()).to.equal(500);
    expect(t.isSet('retransmit')).to.equal(false);
    expect(t.get('keepalive')).to.equal(500);
    t.clearAll();
    expect(t.next()).to.equal(undefined);
  });
  it('fireExpired fires due kinds once, in kind order; a handler clearing a later kind stops it', () => {
    const t = new Timers();
    for (const k of TIMER_KINDS) t.set(k, 10);
    t.set('keepalive', 20);
    const fired: TimerKind[] = [];
    t.fireExpired(10, (k) => {
      fired.push(k);
      if (k === 'retransmit') t.clear('tlp');
      if (k === 'persist') t.set('persist', 10); // re-armed at now: not fired again in this pass
    });
    expect(fired).to.deep.equal(TIMER_KINDS.filter((k) => k !== 'keepalive' && k !== 'tlp'));
    expect(t.next()).to.equal(10);
    expect(txEnd(newTxSegment(1, 5, true, true, 0))).to.equal(8);
  });
});
