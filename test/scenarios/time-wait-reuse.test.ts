/**
 * Scenarios 50 and 51 of docs/scenarios.md (TIME-WAIT reuse) on the sans-IO core, on virtual
 * time: the compact TIME-WAIT record (src/tcp/time-wait.ts) decides, and a Listener or
 * Connection.connect opens the new incarnation as the driver does (src/tcp/driver.ts).
 * Each rule's refusals are in test/unit/time-wait-reuse.test.ts.
 */
import { expect } from 'chai';
import { ACK, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { Listener } from '../../src/tcp/listener.js';
import { REUSE_ISN_GAP, TIME_WAIT_REUSE_DELAY_MS } from '../../src/tcp/time-wait.js';
import { seqGt } from '../../src/tcp/seq.js';
import { cfg, expectSeg, LOCAL, LPORT, REMOTE, seg } from './harness.js';
import { CLOSED_AT, timeWaitRecord } from '../helpers/time-wait-record.js';

describe('scenarios: TIME-WAIT reuse', () => {
  it('50 in TIME-WAIT a provably new SYN (TSval above TS.Recent; without timestamps SEQ above RCV.NXT) opens a new connection, its ISN above SND.NXT + 65537; any other SYN gets the challenge ACK', () => {
    const { tw, rcvNxt, sndNxt, tsRecent } = timeWaitRecord(true);
    const newSyn: TcpSegment = seg({ seq: rcvNxt - 5000, flags: SYN, options: { mss: 1432, ts: { val: tsRecent + 1, ecr: 0 } } });
    expect(tw.synIsNew(newSyn)).to.equal(true);
    // The driver hands it to the listener, whose ISN source keeps above the old SND.NXT.
    const l = new Listener({ addr: LOCAL, port: LPORT }, cfg({ timestamps: true }), { isn: { isn: () => tw.nextIss(sndNxt) } });
    const child = l.input(newSyn, REMOTE, 2000)!;
    expect(child.state).to.equal('SYN-RECEIVED');
    expectSeg(child.takeOutput()[0], { flags: SYN | ACK, seq: sndNxt + REUSE_ISN_GAP, ack: rcvNxt - 4999 });
    // A SYN with an older TSval is not new: the record answers it with the challenge ACK.
    const old = seg({ seq: rcvNxt + 5000, flags: SYN, options: { mss: 1432, ts: { val: tsRecent - 1, ecr: 0 } } });
    expect(tw.synIsNew(old)).to.equal(false);
    tw.input(old, 2000);
    const [ack, ...more] = tw.takeOutput();
    expect(more).to.have.length(0);
    expectSeg(ack, { flags: ACK, seq: sndNxt, ack: rcvNxt });
    // Without timestamps, the sequence number decides.
    const plain = timeWaitRecord(false);
    expect(plain.tw.synIsNew(seg({ seq: plain.rcvNxt + 1, flags: SYN }))).to.equal(true);
    expect(plain.tw.synIsNew(seg({ seq: plain.rcvNxt, flags: SYN }))).to.equal(false);
  });

  it('51 an active open may take a TIME-WAIT 4-tuple once the peer\'s last timestamp is over 1 s old: its SYN starts at SND.NXT + 65537 or above, its TSval above the old ones; never without timestamps', () => {
    const { tw, c, sndNxt } = timeWaitRecord(true);
    const oldTs = c.handshake.tsNow(); // the old connection's clock at the close
    expect(tw.reusableAt(CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS)).to.equal(false);
    const at = CLOSED_AT + TIME_WAIT_REUSE_DELAY_MS + 1;
    expect(tw.reusableAt(at)).to.equal(true);
    const fresh = Connection.connect(c.tuple, cfg({ timestamps: true }), at, { iss: tw.nextIss(sndNxt), tsOffset: tw.nextTsOffset() });
    const [syn, ...more] = fresh.takeOutput();
    expect(more).to.have.length(0);
    expectSeg(syn, { flags: SYN, seq: sndNxt + REUSE_ISN_GAP });
    expect(seqGt(syn!.options.ts!.val, oldTs + TIME_WAIT_REUSE_DELAY_MS)).to.equal(true);
    expect(timeWaitRecord(false).tw.reusableAt(1e9)).to.equal(false);
  });
});
