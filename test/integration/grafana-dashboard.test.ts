/**
 * The Grafana dashboard against a real Prometheus scraping the real demo (chaos proxy,
 * receiver and sender as three processes): every query of every panel must return data.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { spawnCli, killAll, type CliChild } from '../helpers/proc.js';
import {
  checkDashboardLive,
  ensurePrometheus,
  freeTcpPortRange,
  pidAlive,
  grafanaDir,
  startPrometheus,
  targetHealth,
  waitUntil,
  type RunningPrometheus,
} from '../helpers/prometheus.js';

describe('Grafana dashboard against a real Prometheus and the running demo', function () {
  this.timeout(60_000);
  let prom: RunningPrometheus | undefined;
  let demo: CliChild | undefined;
  let dashboard: Record<string, unknown>;
  let pids: number[] = [];

  before(async function () {
    const why = ensurePrometheus();
    if (why) {
      console.log(`skipped: ${why}`);
      this.skip();
    }
    dashboard = JSON.parse(readFileSync(`${grafanaDir()}dashboards/overlay.json`, 'utf8')) as Record<string, unknown>;
    const base = await freeTcpPortRange(3);
    demo = spawnCli(['demo', '--duration', '40', '--metrics-base', String(base), '--loss', '0.02']);
    await demo.waitFor(/sender\s+pid \d+/, { stream: 'stdout', timeoutMs: 15_000 });
    pids = [...demo.stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    prom = await startPrometheus([
      { target: `127.0.0.1:${base}`, labels: { role: 'proxy' } },
      { target: `127.0.0.1:${base + 1}`, labels: { role: 'receiver' } },
      { target: `127.0.0.1:${base + 2}`, labels: { role: 'sender' } },
    ]);
    await waitUntil(async () => {
      const t = await targetHealth(prom!.url).catch(() => []);
      return t.length === 3 && t.every((x) => x.health === 'up');
    }, 20_000, 'all three targets up');
  });

  after(async () => {
    await prom?.stop();
    await killAll();
  });

  it('every query of every panel returns data (variables at All and at concrete values)', async () => {
    let failures: string[] = ['not checked yet'];
    // Rates need a few scrapes: re-check until everything has data (bounded).
    const end = Date.now() + 25_000;
    while (Date.now() < end) {
      failures = await checkDashboardLive(prom!.url, dashboard);
      if (failures.length === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(failures).to.deep.equal([]);
  });

  it('the same checker fails a dashboard with a typo in a metric name', async () => {
    const typo = JSON.parse(JSON.stringify(dashboard).replace('"expr":"overlay_tcp_cwnd_bytes{', '"expr":"overlay_tcp_cwnd_byte{')) as Record<string, unknown>;
    const failures = await checkDashboardLive(prom!.url, typo);
    expect(failures.some((f) => /cwnd and ssthresh per connection/.test(f) && f.includes('overlay_tcp_cwnd_byte{'))).to.equal(true);
  });

  it('Ctrl-C stops the demo and every child', async () => {
    expect(pids.length).to.equal(3);
    demo!.kill('SIGINT');
    const r = await demo!.exited;
    expect(r.code).to.equal(130);
    await waitUntil(async () => pids.every((p) => !pidAlive(p)), 5000, 'the children to exit');
  });
});
