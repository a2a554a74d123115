/**
 * Packet slabs are reused (src/util/slab.ts), and no packet is overwritten while something
 * still holds it: libuv's send queue, a tap. Each case runs one 6 MiB overlay TCP transfer
 * in a fresh child process (test/helpers/slab-transfer.ts), whose receiving host records the
 * IPv4 identification of every data segment: an overwritten queued packet leaves as a second
 * copy of a later one (see the helper).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../helpers/slab-transfer.js', import.meta.url));

interface Dups {
  data: number;
  dups: number;
  bad: number;
}
interface Result {
  digestOk: boolean;
  received: Dups;
  kept: Dups;
  reusedPackets: number;
  reusedSlabs: number;
}

function transfer(nodeFlags: string[], args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...nodeFlags, SCRIPT, ...args], { timeout: 50_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Result),
    );
  });
}

describe('packet slab reuse', function () {
  this.timeout(60_000);

  it('reuses the slabs of sent packets, and the data arrives intact', async () => {
    const r = await transfer([], []);
    expect(r.digestOk).to.equal(true);
    expect(r.received.bad).to.equal(0);
    expect(r.received.dups).to.equal(0);
    // About 4,400 data segments: nearly all given back, their slabs taken again.
    expect(r.reusedPackets).to.be.greaterThan(r.received.data / 2);
    expect(r.reusedSlabs).to.be.greaterThan(0);
  });

  it('never overwrites a packet libuv still queues (every send queued: --test-udp-no-try-send)', async () => {
    const r = await transfer(['--test-udp-no-try-send'], []);
    expect(r.digestOk).to.equal(true);
    expect(r.received.data).to.be.greaterThan(4000);
    expect(r.received.bad).to.equal(0);
    expect(r.received.dups).to.equal(0);
    // The packets came back once libuv's queue was seen empty, and their slabs were reused.
    expect(r.reusedPackets).to.be.greaterThan(r.received.data / 2);
    expect(r.reusedSlabs).to.be.greaterThan(0);
  });

  it('never overwrites a packet a tap saw (the tap keeps every packet, unread until the end)', async () => {
    const r = await transfer([], ['--tap']);
    expect(r.digestOk).to.equal(true);
    expect(r.kept.data).to.be.greaterThan(4000);
    expect(r.kept.bad).to.equal(0);
    expect(r.kept.dups).to.equal(0);
  });
});
