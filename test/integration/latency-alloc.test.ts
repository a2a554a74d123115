/**
 * Tail latency is garbage collection: every scavenge pauses whatever round trip it falls in,
 * and how often one runs is set by the bytes allocated per round trip. This pins that figure
 * for a 64-byte ping-pong over the node:net-like API (two hosts in one process, real loopback
 * UDP), measured by `bench/latency.js --alloc-only` (heap growth over windows in which the
 * collector did not run) in a fresh child process, so that what other tests left in this one
 * (optimised code, observers) does not move it. It was 11.5 KB; the driver, the engine and the
 * socket layer no longer allocate per burst or per call (closures, sets, arrays, held-write
 * objects); then 8.0-8.3 KB. About 5.0-5.4 KB since the TCP core reuses its per-ACK event and
 * lists, its retransmission-queue entries and the receive path's IPv4 header, and decodes
 * without result wrappers or views (see docs/benchmarks-latency.md). About 4.6 KB since a
 * pushed segment that owes no ACK is delivered at once, without an Immediate per message
 * (5.2-5.3 KB before in the same sitting, so that regression fails the 5,000-byte budget).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../bench/latency.js', import.meta.url));

describe('ping-pong allocation budget (heap bytes per 64-byte round trip, both ends)', function () {
  this.timeout(60_000);

  it('stays under 5,000 bytes per round trip', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [SCRIPT, '--alloc-only', '--json'], { timeout: 50_000, killSignal: 'SIGKILL' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { bytesPerRound: number; rounds: number };
    expect(r.rounds).to.be.greaterThan(0);
    expect(r.bytesPerRound).to.be.lessThan(5_000);
  });
});
