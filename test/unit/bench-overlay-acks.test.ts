/**
 * bench/peers/overlay.ts reports the ACK rate of a bulk transfer: segments the sender
 * received per data segment it sent (each ACK costs the sender a recvmsg and a TCP input,
 * and the receiver an encode and a send; docs/benchmarks-bulk.md, bulk5). The rate also
 * guards the receive-burst ACK coalescing (Connection.input, coalesceAcks): with one ACK
 * per two full segments (RFC 5681 4.2) it would be 0.5.
 */
import { expect } from 'chai';
import { overlayPeer } from '../../bench/peers/overlay.js';

describe('bench overlay peer: ACKs per data segment', function () {
  // One bulk transfer of 0.5 s after the bench's 1 s warm-up, two child processes.
  this.timeout(40_000);

  it('reports the ACK rate, well below one ACK per two segments on a bulk flow', async () => {
    const r = await overlayPeer(1472).bulk(1472, 0.5, undefined);
    expect(r.mbs).to.be.greaterThan(0);
    expect(r.acksPerSegment, 'acksPerSegment reported').to.be.a('number');
    expect(r.acksPerSegment!).to.be.greaterThan(0);
    expect(r.acksPerSegment!).to.be.lessThan(0.25);
    // The sender's page faults and pacer waits per segment (bulk6): reported, and sane.
    expect(r.faultsPerSegment, 'faultsPerSegment reported').to.be.a('number');
    expect(r.faultsPerSegment!).to.be.at.least(0).and.lessThan(5);
    expect(r.pacerWaitsPerSegment, 'pacerWaitsPerSegment reported').to.be.a('number');
    expect(r.pacerWaitsPerSegment!).to.be.at.least(0).and.at.most(1);
  });
});
