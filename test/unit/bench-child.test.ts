/**
 * bench/lib/child.ts: a bench child's last report is read even when its exit is seen first
 * (the latency bench's `--repeat` once failed with "bench child udp-recv exited with 0":
 * the server printed its final line and exited, and 'exit' came before the line was read).
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnRole } from '../../bench/lib/child.js';

describe('bench/lib/child spawnRole', function () {
  this.timeout(30_000);
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-child-'));
    writeFileSync(join(dir, 'child.mjs'), "process.stdout.write(JSON.stringify({ n: 1 }) + '\\n');\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('next() gets the last line of a child that printed it and exited while the parent was busy', async () => {
    let got = 0;
    const failures: string[] = [];
    for (let i = 0; i < 8; i++) {
      const c = spawnRole(join(dir, 'child.mjs'), 'reporter');
      // Busy until the child has surely printed and exited: its line and its exit are then
      // both pending in the parent's event loop, in either order.
      const t = Date.now();
      while (Date.now() - t < 250) { /* busy */ }
      try {
        if ((await c.next())['n'] === 1) got++;
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    expect(failures, 'children whose last line was lost').to.deep.equal([]);
    expect(got).to.equal(8);
  });
});
