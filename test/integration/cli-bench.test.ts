/**
 * `overlay bench`: the benchmark suites from the CLI (what `npm run bench` runs). The cc
 * suite runs on virtual time, so it is the one run here in full.
 */
import { expect } from 'chai';
import { killAll, runCli } from '../helpers/proc.js';

describe('CLI: overlay bench', function () {
  this.timeout(90_000);
  afterEach(killAll);

  it('--help lists the suites; an unknown suite is one line on stderr and exit 2', async () => {
    const h = await runCli(['bench', '--help'], { timeoutMs: 10_000 });
    expect(h.code).to.equal(0);
    for (const s of ['udp', 'tcp', 'proxy', 'cc', 'metrics', 'linux']) expect(h.stdout).to.match(new RegExp(`^  ${s} `, 'm'));
    const bad = await runCli(['bench', 'nosuch'], { timeoutMs: 10_000 });
    expect(bad.code).to.equal(2);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
    expect(bad.stderr).to.match(/unknown suite 'nosuch'/);
  });

  it('runs a suite and prints its table (cc: every algorithm at three loss rates against the Mathis bound)', async () => {
    const r = await runCli(['bench', 'cc'], { timeoutMs: 80_000 });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^## cc: /m);
    const rows = r.stdout.split('\n').filter((l) => /^\| (tahoe|reno|newreno|cubic|bbr) /.test(l));
    expect(rows).to.have.length(15);
    // Reno on the Mathis bound (within 20%) at each loss rate: the suite measures, not prints constants.
    for (const row of rows.filter((l) => l.startsWith('| reno '))) {
      const ratio = Number(row.split('|')[5]!.trim());
      expect(ratio).to.be.within(0.8, 1.2);
    }
  });
});
