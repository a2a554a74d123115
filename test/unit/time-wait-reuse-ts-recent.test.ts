/**
 * TIME-WAIT reuse carries TS.Recent (src/tcp/time-wait.ts reuseOptions, src/tcp/handshake.ts),
 * sans-IO on virtual time. Linux's tcp_twsk_unique copies the TIME-WAIT's ts_recent and
 * ts_recent_stamp into the socket that reuses its 4-tuple, so PAWS guards the new connection
 * from its first segment on: in SYN-SENT, the old incarnation's SYN (the simultaneous-open
 * path, tcp_rcv_synsent_state_process's PAWS check) is dropped and counted instead of taking
 * the connection to SYN-RECEIVED with the old IRS. Once the peer's SYN-ACK arrives, its TSval
 * is TS.Recent (Linux stores it unconditionally), above every old one from a peer whose
 * clock runs forward, and PAWS keeps the old duplicates out against it.
 */
import { expect } from 'chai';
import { ACK, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { TIME_WAIT_REUSE_DELAY_MS } from '../../src/tcp/time-wait.js';
import { cfg, IRS, seg, TUPLE } from '../scenarios/harness.js';
import { CLOSED_AT, PEER_TS, timeWaitRecord } from '../helpers/time-wait-record.js';

const CONFIG = { timestamps: true, sack: true, windowScale: true, msl: 30_000 };
/** When the 4-tuple is reused: past the reuse delay. */
const REUSED_AT = CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS + 1;

/** The connection that reuses the record's 4-tuple, its SYN taken; `carry` false leaves TS.Recent out (as before). */
function reusing(carry = true): { c: Connection; syn: TcpSegment; tsRecent: number; rcvNxt: number } {
  const { tw, tsRecent, rcvNxt } = timeWaitRecord(true);
  expect(tw.reusableAt(REUSED_AT)).to.equal(true);
  const opts = tw.reuseOptions(TUPLE, REUSED_AT);
  if (!carry) delete opts.tsRecent;
  const c = Connection.connect(TUPLE, cfg(CONFIG), REUSED_AT, opts);
  const out = c.takeOutput();
  expect(out).to.have.length(1);
  return { c, syn: out[0]!, tsRecent, rcvNxt };
}

/** The old incarnation's SYN (no ACK): its sequence number and TSval are the old ones. */
function oldSyn(tsval: number): TcpSegment {
  return seg({ seq: IRS, flags: SYN, options: { mss: 1432, sackPermitted: true, wscale: 7, ts: { val: tsval, ecr: 0 } } });
}

describe('TIME-WAIT reuse carries TS.Recent into the new connection (PAWS from its first segment)', () => {
  it('the reusing connection starts with the record\'s TS.Recent and the time it was stored', () => {
    const { c, tsRecent } = reusing();
    expect(c.state).to.equal('SYN-SENT');
    expect(c.handshake.tsRecentValid).to.equal(true);
    expect(c.handshake.tsRecent).to.equal(tsRecent);
    expect(c.handshake.tsRecentAt).to.equal(CLOSED_AT);
  });

  it('in SYN-SENT, the old incarnation\'s SYN (TSval below the inherited TS.Recent) is dropped by PAWS, counted, unanswered', () => {
    const { c } = reusing();
    c.input(oldSyn(PEER_TS), REUSED_AT + 5);
    expect(c.state).to.equal('SYN-SENT');
    expect(c.drops.paws).to.equal(1);
    expect(c.takeOutput()).to.have.length(0);
  });

  it('without the inherited TS.Recent that SYN was taken: SYN-RECEIVED with the old IRS, a SYN-ACK sent', () => {
    const { c } = reusing(false);
    c.input(oldSyn(PEER_TS), REUSED_AT + 5);
    expect(c.state).to.equal('SYN-RECEIVED');
    expect(c.drops.paws ?? 0).to.equal(0);
    const out = c.takeOutput();
    expect(out.map((s) => s.flags)).to.deep.equal([SYN | ACK]);
    expect(out[0]!.ack).to.equal(IRS + 1);
  });

  it('a SYN at or above the inherited TS.Recent (a new peer SYN, simultaneous open) is taken', () => {
    const { c, tsRecent } = reusing();
    c.input(oldSyn(tsRecent), REUSED_AT + 5);
    expect(c.state).to.equal('SYN-RECEIVED');
    expect(c.drops.paws ?? 0).to.equal(0);
  });

  it("after the SYN-ACK, its TSval is TS.Recent, and an old duplicate in the new window (old TSval) is dropped by PAWS and counted", () => {
    const { c, syn, tsRecent } = reusing();
    const newIrs = 900_000;
    const synAckTs = tsRecent + (REUSED_AT - CLOSED_AT); // the peer's clock ran on
    c.input(seg({ seq: newIrs, ack: syn.seq + 1, flags: SYN | ACK, options: { mss: 1432, sackPermitted: true, wscale: 7, ts: { val: synAckTs, ecr: syn.options.ts!.val } } }), REUSED_AT + 10);
    expect(c.state).to.equal('ESTABLISHED');
    expect(c.handshake.tsRecent).to.equal(synAckTs);
    c.takeOutput();
    // The old connection's data segment, as if its sequence number fell in the new window.
    c.input(seg({ seq: newIrs + 1, ack: syn.seq + 1, payload: 100, options: { ts: { val: tsRecent, ecr: 0 } } }), REUSED_AT + 20);
    expect(c.drops.paws).to.equal(1);
    expect(c.readableLength).to.equal(0);
    // The new connection's own segment is taken.
    c.input(seg({ seq: newIrs + 1, ack: syn.seq + 1, payload: 100, options: { ts: { val: synAckTs + 10, ecr: 0 } } }), REUSED_AT + 30);
    expect(c.readableLength).to.equal(100);
  });
});
