/**
 * The churn bench (bench/churn.ts) in one process for a second: every cycle's echo checks
 * out, and its total row carries the load-independent figures, CPU and datagrams per handshake.
 */
import { expect } from 'chai';
import { run } from '../../bench/churn.js';

describe('churn bench: one process, one second', function () {
  this.timeout(30_000);

  it('completes cycles without failures and reports datagrams per handshake (a 16 KiB echo: 24 data segments and the handshake)', async () => {
    const rows = await run({ seconds: 1, parallel: 4, mode: 'one', msl: 200 });
    const total = rows.find((r) => String(r['phase']).endsWith('total'))!;
    expect(total, 'a total row').to.not.equal(undefined);
    expect(total['failed']).to.equal(0);
    expect(Number(total['completed'])).to.be.greaterThan(0);
    expect(Number(total['CPU us/handshake'])).to.be.greaterThan(0);
    const dgrams = Number(total['datagrams/handshake']);
    // 12 full-or-last segments each way, SYN, SYN-ACK and the client's ACKs: never fewer than 27.
    expect(dgrams).to.be.within(27, 40);
    expect(total['client UDP'], 'the client host sends through a connected UDP socket (connectPeer)').to.equal('connected');
  });

  it('--unconnected: the client host sends through its unconnected socket, and the row says so', async () => {
    const rows = await run({ seconds: 1, parallel: 4, mode: 'one', msl: 200, unconnected: true });
    const total = rows.find((r) => String(r['phase']).endsWith('total'))!;
    expect(total['failed']).to.equal(0);
    expect(total['client UDP']).to.equal('unconnected');
  });

  it('two processes: a kernel-TCP (node:net) row measured in the same run, and the overlay\'s rate as a ratio of it', async function () {
    this.timeout(60_000);
    const rows = await run({ seconds: 1, parallel: 4, mode: 'two', msl: 200, noPin: true });
    const totals = rows.filter((r) => String(r['phase']).endsWith('total'));
    expect(totals.map((r) => r['phase'])).to.deep.equal(['two processes total', 'kernel TCP (node:net), two processes total']);
    const [overlay, kernel] = totals as [Record<string, string | number>, Record<string, string | number>];
    expect(kernel['failed']).to.equal(0);
    expect(Number(kernel['completed'])).to.be.greaterThan(0);
    expect(Number(kernel['CPU us/handshake'])).to.be.greaterThan(0);
    expect(overlay['failed']).to.equal(0);
    expect(overlay['client UDP']).to.equal('connected');
    const ratio = Number(overlay['handshakes/s']) / Number(kernel['handshakes/s']);
    expect(overlay['vs kernel TCP']).to.be.closeTo(ratio, 0.006);
  });
});
