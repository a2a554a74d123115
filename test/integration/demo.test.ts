/** `overlay demo`: three processes, a verified transfer, and nothing left behind. */
import { expect } from 'chai';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';
import { freeTcpPortRange, pidAlive, waitUntil } from '../helpers/prometheus.js';

const pidsOf = (out: string): number[] => [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));

describe('overlay demo', function () {
  this.timeout(40_000);
  afterEach(killAll);

  it('streams through the chaos proxy for the duration, reports MATCH and exits 0 leaving no child', async () => {
    const base = await freeTcpPortRange(3);
    const r = await runCli(['demo', '--duration', '4', '--metrics-base', String(base)], { timeoutMs: 35_000 });
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/proxy\s+pid \d+.*RTT 50 ms, loss 1%/);
    expect(r.stdout).to.match(/\[\s*\d+\.\d s\] acked .* goodput .* cwnd .* srtt .* retrans \d+/);
    expect(r.stdout).to.match(/sha256 MATCH/);
    const sent = /sha256 sent\s+([0-9a-f]{64})/.exec(r.stdout)?.[1];
    const recv = /sha256 received\s+([0-9a-f]{64})/.exec(r.stdout)?.[1];
    expect(sent).to.be.a('string').and.equal(recv);
    expect(r.stdout).to.match(/retransmissions\s+\d+ \(rto \d+, fast \d+, tlp \d+, rack \d+, probe \d+, pmtu \d+\)/);
    const bytes = /bytes\s+sent (\d+) .*received (\d+)/.exec(r.stdout);
    expect(Number(bytes?.[1])).to.be.greaterThan(100_000).and.equal(Number(bytes?.[2]));
    const pids = pidsOf(r.stdout);
    expect(pids).to.have.length(3);
    await waitUntil(async () => pids.every((p) => !pidAlive(p)), 3000, 'no child left');
  });

  it('runs without the proxy (--no-proxy)', async () => {
    const r = await runCli(['demo', '--duration', '1', '--no-proxy', '--metrics-base', '0'], { timeoutMs: 25_000 });
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.not.match(/^proxy/m);
    expect(r.stdout).to.match(/sha256 MATCH/);
    expect(pidsOf(r.stdout)).to.have.length(2);
  });

  it('when a child dies, stops the others and exits non-zero naming it', async () => {
    const demo = spawnCli(['demo', '--duration', '20', '--metrics-base', '0']);
    await demo.waitFor(/acked/, { stream: 'stdout', timeoutMs: 15_000 });
    const pids = pidsOf(demo.stdout);
    const receiver = Number(/receiver\s+pid (\d+)/.exec(demo.stdout)![1]);
    process.kill(receiver, 'SIGKILL');
    const r = await demo.exited;
    expect(r.code).to.equal(1);
    expect(demo.stderr).to.match(/the receiver process \(pid \d+\) was killed by SIGKILL/);
    expect(demo.stderr.trim().split('\n')).to.have.length(1);
    await waitUntil(async () => pids.every((p) => !pidAlive(p)), 5000, 'no child left');
  });

  it('rejects bad options with one line and exit 2', async () => {
    const r = await runCli(['demo', '--cc', 'vegas']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/--cc must be one of/);
  });
});
