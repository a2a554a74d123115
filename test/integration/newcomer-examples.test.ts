/**
 * Issue 12 item 9: stop-and-wait's TFTP timeout follows the RTT (RFC 6298), so at 100 ms RTT
 * and no loss it sends each block once; and a command writing a capture (--pcap) flushes it
 * when stopped by a real SIGINT/SIGTERM within a second of starting (no 0-byte file).
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '../../src/trace/pcap.js';
import { killTracked, spawnExample } from '../helpers/netns.js';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';

let dir = '';

describe('newcomer: teaching examples and captures on signals', function () {
  this.timeout(40_000);
  before(() => (dir = mkdtempSync(join(tmpdir(), 'overlay-nc-ex-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await killTracked();
    await killAll();
  });

  it('stop-and-wait --rtt 100: the TFTP timeout adapts to the RTT, so no block is sent twice without loss', async () => {
    const r = spawnExample('stop-and-wait', ['--kib', '8', '--rtt', '100', '--loss', '0']);
    expect(await r.exited, r.stderr).to.equal(0);
    const m = /stop-and-wait \(TFTP\/UDP\): .* (\d+) retransmissions/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    expect(Number(m![1]), r.stdout).to.equal(0);
    const srtt = Number(/SRTT ([\d.]+) ms/.exec(r.stdout)?.[1]);
    expect(srtt, r.stdout).to.be.within(95, 160);
  });

  it('tcp-echo-server --pcap stopped by SIGINT right after serving keeps its packets', async () => {
    const pcap = join(dir, 'server.pcap');
    const s = spawnExample('tcp-echo-server', ['--udp', '127.0.0.1:0', '--peer', '10.77.9.9=127.0.0.1:9', '--learn', '--pcap', pcap]);
    const m = await s.waitFor(/listening 10\.77\.0\.3 udp=([\d.]+:\d+) port=7/);
    const c = await runCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}`, '10.77.0.3', '7'], { input: 'hello\n' });
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout).to.equal('hello\n');
    s.proc.kill('SIGINT');
    await s.exited;
    const f = await readPcap(pcap);
    expect(f.records.length, 'packets in the capture').to.be.at.least(6);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`overlay cat -l --pcap stopped by ${signal} within a second leaves a valid capture`, async () => {
      const pcap = join(dir, `cat-${signal}.pcap`);
      const l = spawnCli(['cat', '--addr', '10.77.0.3', '--pcap', pcap, '-l', '0']);
      await l.waitFor(/listening /);
      l.kill(signal);
      const r = await l.exited;
      expect(r.code, 'cat ends cleanly on a signal').to.equal(0);
      expect(statSync(pcap).size).to.be.at.least(24);
      expect((await readPcap(pcap)).records).to.be.an('array');
    });
  }
});
