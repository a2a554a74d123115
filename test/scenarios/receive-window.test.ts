/**
 * Issue 14: the advertised window can reach the receive buffer when data arrives in large
 * receive bursts (large MTUs: 32 datagrams of 64 KB are 2 MiB, half the default buffer).
 * The ACK that ends a burst is computed before the application reads the burst, so it
 * offers the buffer minus the burst; without a window update after the read, the peer's
 * flight stayed at rcvBuf minus one burst. On the sans-IO core, on virtual time.
 */
import { expect } from 'chai';
import { ACK, PSH, type TcpSegment } from '../../src/wire/tcp.js';
import { seqAdd, seqDiff } from '../../src/tcp/seq.js';
import { IRS, ISS, established, seg } from './harness.js';

const M = 1432;
const RCVBUF = 64000;

describe('scenarios: receive window under large receive bursts (issue 14)', () => {
  it('a peer that fills the window, 18 segments per receive burst, keeps about rcvBuf in flight once the application reads each burst', () => {
    const r = established({ rcvBuf: RCVBUF, delayedAckMs: 40 });
    let sent = IRS + 1; // the peer's SND.NXT
    let rcvd = IRS + 1; // what has reached us (the network delivers in order)
    let edge = seqAdd(IRS + 1, RCVBUF); // the right edge the peer knows (our SYN offered rcvBuf)
    const learn = (out: TcpSegment[]) => {
      for (const s of out) if (s.flags & ACK) edge = seqAdd(s.ack, s.window);
    };
    const usable: number[] = [];
    let now = 20;
    for (let round = 0; round < 12; round++) {
      // The peer sends everything its window allows (the network queues it).
      sent = edge;
      // One receive burst: at most 18 segments (about 0.4 * rcvBuf) arrive together.
      for (let i = 0; i < 18 && seqDiff(sent, rcvd) > 0; i++) {
        const len = Math.min(M, seqDiff(sent, rcvd));
        r.input(seg({ seq: rcvd, ack: ISS + 1, payload: len, flags: ACK | PSH }), now, true);
        rcvd = seqAdd(rcvd, len);
      }
      r.endBurst(now);
      learn(r.takeOutput());
      // The application reads everything (as Socket does on 'readable'), in 64 KiB chunks.
      for (let i = 0; i < 100 && r.read(64 * 1024); i++) learn(r.takeOutput());
      learn(r.takeOutput());
      // The window the peer may fill beyond what it already has in flight to us.
      usable.push(seqDiff(edge, rcvd));
      // Never more than the buffer holds (everything was read).
      expect(seqDiff(edge, rcvd), 'offer within the buffer').to.be.at.most(RCVBUF);
      now += 1;
    }
    // Steady state: the peer can have the whole buffer in flight, not rcvBuf minus a burst.
    for (const u of usable.slice(4)) expect(u, `usable window per round: ${usable.join(' ')}`).to.be.at.least(RCVBUF - M);
    expect(r.getInfo(now).rcvNxt).to.equal(rcvd);
  });
});
