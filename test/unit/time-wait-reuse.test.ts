/**
 * The TIME-WAIT record's reuse rules, sans-IO on virtual time (src/tcp/time-wait.ts):
 * - passive, synIsNew: a SYN is provably new by RFC 6191 (timestamps) or RFC 1122 4.2.2.13 /
 *   RFC 9293 3.10.7.4 (sequence number), and every other SYN is refused (the record then
 *   answers it with the RFC 5961 challenge ACK);
 * - active, reusableAt: Linux's tcp_twsk_unique rule (timestamps seen, the last more than
 *   1 s old), and its refusals;
 * - the new incarnation's ISN (nextIss) and TSvals (nextTsOffset) lie above the old one's;
 * - both sides together: two connections that closed at once both hold a record; a new
 *   connection opened from one record passes the other's check, and the old connection's
 *   SYN does not.
 */
import { expect } from 'chai';
import { ACK, FIN, RST, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { REUSE_ISN_GAP, TIME_WAIT_REUSE_DELAY_MS, TimeWait } from '../../src/tcp/time-wait.js';
import { seqGt } from '../../src/tcp/seq.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { FourTuple } from '../../src/tcp/types.js';
import { IRS, seg } from '../scenarios/harness.js';
import { CLOSED_AT, PEER_TS, timeWaitRecord } from '../helpers/time-wait-record.js';

const record = timeWaitRecord;

function syn(seq: number, tsval?: number, flags = SYN): TcpSegment {
  return seg({ seq, flags, options: tsval === undefined ? { mss: 1432 } : { mss: 1432, ts: { val: tsval, ecr: 0 } } });
}

describe('TIME-WAIT reuse: the passive rule (a provably new SYN, RFC 6191 / RFC 1122 4.2.2.13)', () => {
  describe('the old connection used timestamps (RFC 6191)', () => {
    it('a SYN whose TSval is above TS.Recent is new, whatever its sequence number', () => {
      const { tw, rcvNxt, tsRecent } = record(true);
      expect(tw.synIsNew(syn(rcvNxt - 1000, tsRecent + 1))).to.equal(true);
      expect(tw.synIsNew(syn(rcvNxt + 5, tsRecent + 1))).to.equal(true);
    });

    it('a SYN with TSval equal to TS.Recent is new only with a sequence number above RCV.NXT', () => {
      const { tw, rcvNxt, tsRecent } = record(true);
      expect(tw.synIsNew(syn(rcvNxt + 1, tsRecent))).to.equal(true);
      expect(tw.synIsNew(syn(rcvNxt, tsRecent)), 'at RCV.NXT').to.equal(false);
      expect(tw.synIsNew(syn(rcvNxt - 1, tsRecent)), 'below RCV.NXT').to.equal(false);
    });

    it('refuses a SYN with an older TSval (PAWS), even with a sequence number far above RCV.NXT', () => {
      const { tw, rcvNxt, tsRecent } = record(true);
      expect(tw.synIsNew(syn(rcvNxt + 1_000_000, tsRecent - 1))).to.equal(false);
      expect(tw.synIsNew(syn(rcvNxt + 1_000_000, PEER_TS))).to.equal(false);
    });

    it('a SYN without timestamps falls back to the sequence number (RFC 6191: timestamps not enabled for the new incarnation)', () => {
      const { tw, rcvNxt } = record(true);
      expect(tw.synIsNew(syn(rcvNxt + 1))).to.equal(true);
      expect(tw.synIsNew(syn(rcvNxt))).to.equal(false);
    });
  });

  describe('the old connection had no timestamps (RFC 1122 4.2.2.13, RFC 9293 3.10.7.4)', () => {
    it('a SYN is new when its sequence number is above RCV.NXT, with or without a TSval', () => {
      const { tw, rcvNxt } = record(false);
      expect(tw.synIsNew(syn(rcvNxt + 1))).to.equal(true);
      expect(tw.synIsNew(syn(rcvNxt + 1, 5))).to.equal(true);
    });

    it('refuses a SYN at or below RCV.NXT (an old duplicate of the old connection\'s SYN)', () => {
      const { tw, rcvNxt } = record(false);
      expect(tw.synIsNew(syn(rcvNxt))).to.equal(false);
      expect(tw.synIsNew(syn(IRS))).to.equal(false);
      expect(tw.synIsNew(syn(rcvNxt - 1, 999_999_999))).to.equal(false);
    });

    it('compares modulo 2^32: RCV.NXT just below the wrap, a SYN just past it is new', () => {
      const { tw, rcvNxt } = record(false, 0xffffff00);
      expect(rcvNxt).to.be.above(0xffffff00);
      expect(tw.synIsNew(syn(10))).to.equal(true);
      expect(tw.synIsNew(syn(0xffffff00))).to.equal(false);
    });
  });

  it('only a bare SYN counts: SYN+ACK and SYN+RST are never new', () => {
    const { tw, rcvNxt, tsRecent } = record(true);
    expect(tw.synIsNew(syn(rcvNxt + 1, tsRecent + 1, SYN | ACK))).to.equal(false);
    expect(tw.synIsNew(syn(rcvNxt + 1, tsRecent + 1, SYN | RST))).to.equal(false);
    expect(tw.synIsNew(syn(rcvNxt + 1, tsRecent + 1, ACK))).to.equal(false);
  });

  it('a refused SYN still gets the RFC 5961 challenge ACK from the record', () => {
    const { tw, rcvNxt, sndNxt, tsRecent } = record(true);
    const old = syn(rcvNxt + 1_000, tsRecent - 10);
    expect(tw.synIsNew(old)).to.equal(false);
    tw.input(old, 600);
    const out = tw.takeOutput();
    expect(out).to.have.length(1);
    expect(out[0]!.flags).to.equal(ACK);
    expect(out[0]!.seq).to.equal(sndNxt);
    expect(out[0]!.ack).to.equal(rcvNxt);
    expect(tw.challengeAcks).to.equal(1);
  });
});

describe('TIME-WAIT reuse: the active rule (Linux tcp_twsk_unique)', () => {
  it(`a record that saw timestamps may be reused once the last one is more than ${TIME_WAIT_REUSE_DELAY_MS} ms old`, () => {
    const { tw } = record(true);
    expect(tw.reusableAt(CLOSED_AT)).to.equal(false);
    expect(tw.reusableAt(CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS)).to.equal(false);
    expect(tw.reusableAt(CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS + 1)).to.equal(true);
  });

  it('a newer timestamp the record takes as TS.Recent (an in-window ACK, RFC 7323 R3) restarts the wait; an old one does not', () => {
    const { tw, rcvNxt, sndNxt, tsRecent } = record(true);
    tw.input(seg({ seq: rcvNxt, ack: sndNxt, options: { ts: { val: tsRecent - 1, ecr: 0 } } }), 700); // PAWS-old: dropped
    expect(tw.reusableAt(CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS + 1)).to.equal(true);
    tw.input(seg({ seq: rcvNxt, ack: sndNxt, options: { ts: { val: tsRecent + 900, ecr: 0 } } }), 900);
    expect(tw.reusableAt(CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS + 1)).to.equal(false);
    expect(tw.reusableAt(900 + TIME_WAIT_REUSE_DELAY_MS)).to.equal(false);
    expect(tw.reusableAt(900 + TIME_WAIT_REUSE_DELAY_MS + 1)).to.equal(true);
  });

  it('a record without timestamps is never reused: it runs its 2*MSL', () => {
    const { tw } = record(false);
    expect(tw.reusableAt(CLOSED_AT + 59_999)).to.equal(false);
    expect(tw.reusableAt(1e12)).to.equal(false);
  });

  it(`the new ISN: the generator's when it is at least ${REUSE_ISN_GAP} above SND.NXT, else SND.NXT + ${REUSE_ISN_GAP}`, () => {
    const { tw, sndNxt } = record(true);
    const floor = (sndNxt + REUSE_ISN_GAP) >>> 0;
    expect(tw.nextIss(floor + 12345)).to.equal(floor + 12345);
    expect(tw.nextIss(floor)).to.equal(floor);
    expect(tw.nextIss(sndNxt)).to.equal(floor);
    expect(tw.nextIss(sndNxt + 100)).to.equal(floor);
    expect(tw.nextIss((sndNxt - 5) >>> 0), 'behind SND.NXT (modulo 2^32)').to.equal(floor);
  });

  it('the new TSvals: above every TSval the old connection and its record sent, even within the same millisecond', () => {
    const { tw, c, rcvNxt, sndNxt, tsRecent } = record(true);
    // The record answers a retransmitted FIN at 2000 ms: its TSval is the old connection's clock then.
    tw.input(seg({ seq: rcvNxt - 1, ack: sndNxt, flags: FIN | ACK, options: { ts: { val: tsRecent, ecr: 0 } } }), 2000);
    const oldTs = tw.takeOutput()[0]!.options.ts!.val;
    const tuple: FourTuple = c.tuple;
    const fresh = Connection.connect(tuple, defaultTcpConfig({ timestamps: true }), 2000, { iss: tw.nextIss(0), tsOffset: tw.nextTsOffset() });
    const newSyn = fresh.takeOutput()[0]!;
    expect(newSyn.flags).to.equal(SYN);
    expect(seqGt(newSyn.options.ts!.val, oldTs), `${newSyn.options.ts!.val} > ${oldTs}`).to.equal(true);
    expect(seqGt(newSyn.seq, (sndNxt + REUSE_ISN_GAP - 1) >>> 0)).to.equal(true);
  });
});

/** Two connections carried to each other by hand, in virtual time. */
function pump(a: Connection, b: Connection, now: number, log?: TcpSegment[]): void {
  for (let i = 0; i < 50; i++) {
    const ab = a.takeOutput();
    const ba = b.takeOutput();
    if (ab.length === 0 && ba.length === 0) return;
    for (const s of ab) {
      log?.push(s);
      b.input(s, now);
    }
    for (const s of ba) a.input(s, now);
  }
  throw new Error('pump did not settle in 50 rounds');
}

describe('TIME-WAIT reuse: both sides (simultaneous close leaves a record at each end)', () => {
  const A = 0x0a4d0001;
  const B = 0x0a4d0002;
  const tA: FourTuple = { localAddr: A, localPort: 50000, remoteAddr: B, remotePort: 80 };
  const tB: FourTuple = { localAddr: B, localPort: 80, remoteAddr: A, remotePort: 50000 };
  const config = defaultTcpConfig({ timestamps: true, msl: 30_000 });

  function closedPair(): { ra: TimeWait; rb: TimeWait; firstSyn: TcpSegment } {
    const a = Connection.connect(tA, config, 0);
    const firstSyn = a.takeOutput()[0]!;
    const b = Connection.accept(tB, config, firstSyn, 1);
    pump(a, b, 2);
    expect(a.state).to.equal('ESTABLISHED');
    expect(b.state).to.equal('ESTABLISHED');
    a.send(Buffer.alloc(3000, 7), 3);
    pump(a, b, 4);
    b.read();
    a.shutdown(10);
    b.shutdown(10);
    pump(a, b, 11);
    expect(a.state).to.equal('TIME-WAIT');
    expect(b.state).to.equal('TIME-WAIT');
    return { ra: new TimeWait(a), rb: new TimeWait(b), firstSyn };
  }

  it("a connection opened from A's record (ISN and TSvals above the old ones) passes B's record; the old SYN does not", () => {
    const { ra, rb, firstSyn } = closedPair();
    const at = 11 + TIME_WAIT_REUSE_DELAY_MS + 1;
    expect(ra.reusableAt(at)).to.equal(true);
    const fresh = Connection.connect(tA, config, at, { iss: ra.nextIss(0), tsOffset: ra.nextTsOffset() });
    const newSyn = fresh.takeOutput()[0]!;
    expect(rb.synIsNew(newSyn)).to.equal(true);
    expect(rb.synIsNew(firstSyn), 'the old connection\'s SYN, duplicated').to.equal(false);
  });

  it('within the same millisecond as the close, only the TSval offset one above the old makes the SYN provably new', () => {
    const { ra, rb } = closedPair();
    // At the millisecond of the last TSval B took from A (TS.Recent), A's old clock (offset 0)
    // gives the same TSval; with a sequence number below the old RCV.NXT that is not new.
    const { tsRecent: at, rcvNxt } = rb as unknown as { tsRecent: number; rcvNxt: number };
    expect(at).to.be.within(10, 11);
    const iss = (rcvNxt - 100) >>> 0;
    const same = Connection.connect(tA, config, at, { iss, tsOffset: 0 });
    expect(rb.synIsNew(same.takeOutput()[0]!)).to.equal(false);
    const bumped = Connection.connect(tA, config, at, { iss, tsOffset: ra.nextTsOffset() });
    expect(rb.synIsNew(bumped.takeOutput()[0]!)).to.equal(true);
  });
});
