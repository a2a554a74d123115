/**
 * Issue 12 item 10: a half-closed receiver (we sent our FIN; the peer still sends) coalesces
 * ACKs exactly like ESTABLISHED: one ACK per receive burst in FIN-WAIT-1 and FIN-WAIT-2. On
 * the sans-IO core, virtual time, exact segments (see burst.test.ts for ESTABLISHED).
 */
import { expect } from 'chai';
import { ACK, FIN } from '../../src/wire/tcp.js';
import { IRS, ISS, established, expectOut, seg } from './harness.js';

const M = 1432;
const data = (i: number, ack: number) => seg({ seq: IRS + 1 + i * M, ack, payload: M });

describe('scenarios (newcomer): a half-closed receiver coalesces ACKs', () => {
  it('FIN-WAIT-2: one ACK for a burst of 8 in-order segments, when the burst ends', () => {
    const c = established();
    c.shutdown(50);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1 }]);
    c.input(seg({ seq: IRS + 1, ack: ISS + 2 }), 60); // our FIN is acknowledged
    expect(c.state).to.equal('FIN-WAIT-2');
    c.takeOutput();
    for (let i = 0; i < 8; i++) c.input(data(i, ISS + 2), 100, true);
    expect(c.takeOutput(), 'nothing before the burst ends').to.have.length(0);
    c.endBurst(100);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 2, ack: IRS + 1 + 8 * M }]);
  });

  it('FIN-WAIT-1 (our FIN not yet acknowledged): one ACK per burst too', () => {
    const c = established();
    c.shutdown(50);
    c.takeOutput();
    expect(c.state).to.equal('FIN-WAIT-1');
    for (let i = 0; i < 6; i++) c.input(data(i, ISS + 1), 100, true);
    expect(c.state).to.equal('FIN-WAIT-1');
    expect(c.takeOutput()).to.have.length(0);
    c.endBurst(100);
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 6 * M }]);
  });

  it('a state change inside the burst still leaves at once (the ACK of our FIN moves to FIN-WAIT-2)', () => {
    const c = established();
    c.shutdown(50);
    c.takeOutput();
    c.input(data(0, ISS + 1), 100, true);
    c.input(data(1, ISS + 2), 100, true); // acknowledges our FIN: FIN-WAIT-1 -> FIN-WAIT-2
    expect(c.state).to.equal('FIN-WAIT-2');
    expectOut(c.takeOutput(), [{ flags: ACK, ack: IRS + 1 + 2 * M }]);
  });
});
