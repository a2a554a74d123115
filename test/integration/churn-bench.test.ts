/**
 * The churn bench (bench/churn.ts) for a second per set-up: every cycle's echo checks out, and
 * its total rows carry the load-independent figures, CPU and datagrams per handshake, and the
 * MTU the hosts ran at (1472 and 65000 in two processes, or `--mtu N`).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../../bench/churn.js';

const BENCH = fileURLToPath(new URL('../../bench/churn.js', import.meta.url));

describe('churn bench: a second per set-up', function () {
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

  it('two processes: the overlay at MTU 1472 and at 65000, each row labelled with its MTU and datagrams per handshake, then a kernel-TCP (node:net) row measured in the same run, and each overlay rate as a ratio of it', async function () {
    this.timeout(90_000);
    const rows = await run({ seconds: 1, parallel: 4, mode: 'two', msl: 200, noPin: true });
    const totals = rows.filter((r) => String(r['phase']).endsWith('total'));
    expect(totals.map((r) => r['phase'])).to.deep.equal(['two processes, MTU 1472 total', 'two processes, MTU 65000 total', 'kernel TCP (node:net), two processes total']);
    const [small, large, kernel] = totals as [Record<string, string | number>, Record<string, string | number>, Record<string, string | number>];
    expect(kernel['failed']).to.equal(0);
    expect(Number(kernel['completed'])).to.be.greaterThan(0);
    expect(Number(kernel['CPU us/handshake'])).to.be.greaterThan(0);
    expect(kernel['MTU'], 'the kernel row has no overlay MTU').to.equal(undefined);
    for (const [overlay, mtu] of [[small, 1472], [large, 65000]] as const) {
      expect(overlay['failed']).to.equal(0);
      expect(overlay['MTU']).to.equal(mtu);
      expect(overlay['client UDP']).to.equal('connected');
      const ratio = Number(overlay['handshakes/s']) / Number(kernel['handshakes/s']);
      expect(overlay['vs kernel TCP']).to.be.closeTo(ratio, 0.006);
    }
    // Each child really runs its host at the row's MTU: 28 datagrams for the 16 KiB echo at
    // 1472 (12 segments each way), about 7 at 65000 (one each way).
    expect(Number(small['datagrams/handshake'])).to.be.within(27, 40);
    expect(Number(large['datagrams/handshake'])).to.be.within(5, 10);
  });

  it('--mtu N: one process runs at that MTU; two processes run the overlay at that MTU only', async function () {
    this.timeout(60_000);
    const one = (await run({ seconds: 1, parallel: 4, mode: 'one', msl: 200, mtu: 65000 })).find((r) => String(r['phase']).endsWith('total'))!;
    expect(one['phase']).to.equal('one process, MTU 65000 total');
    expect(one['failed']).to.equal(0);
    expect(one['MTU']).to.equal(65000);
    // The 16 KiB echo is one segment each way: SYN, SYN-ACK, the data, the echo, ACKs.
    expect(Number(one['datagrams/handshake'])).to.be.within(5, 10);
    const two = (await run({ seconds: 1, parallel: 4, mode: 'two', msl: 200, noPin: true, noKernel: true, mtu: 9000 })).filter((r) => String(r['phase']).endsWith('total'));
    expect(two.map((r) => r['phase'])).to.deep.equal(['two processes, MTU 9000 total']);
    expect(two[0]!['failed']).to.equal(0);
    // At 9000 (MSS 8948) the 16 KiB echo is 2 segments each way.
    expect(Number(two[0]!['datagrams/handshake'])).to.be.within(7, 14);
  });

  it('--mtu outside 68-65507 is a usage error: one line on stderr, exit 2', () => {
    for (const bad of ['50', '70000', 'x']) {
      const r = spawnSync(process.execPath, [BENCH, '--mtu', bad, '--seconds', '1'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, `--mtu ${bad}`).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^churn: --mtu needs/);
    }
  });
});
