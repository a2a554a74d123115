import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics/registry.js';
import { registerChaosMetrics } from '../../src/chaos/metrics.js';
import type { Proxy } from '../../src/chaos/proxy.js';
import { checkDashboardNames, dashboardTargets, dashboardVariables, grafanaDir, substitute } from '../helpers/prometheus.js';

const GRAFANA = grafanaDir();
const load = (): Record<string, unknown> => JSON.parse(readFileSync(`${GRAFANA}dashboards/overlay.json`, 'utf8')) as Record<string, unknown>;

/** Every metric name a process of the demo exports: the overlay registry plus the proxy's. */
function exportedNames(): string[] {
  const registry = new Registry();
  createMetrics({ registry, sources: () => [] });
  // Registration only reads the names; the proxy is consulted at scrape time.
  registerChaosMetrics(registry, {} as Proxy);
  return registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name);
}

describe('Grafana dashboard and provisioning (static checks)', () => {
  it('uses the provisioned datasource uid everywhere and has no __inputs', () => {
    const dash = load();
    expect(dash).to.not.have.property('__inputs');
    const text = JSON.stringify(dash);
    const uids = [...text.matchAll(/"uid":\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(uids).to.include('overlay-prom');
    expect(new Set(uids.filter((u) => u !== dash.uid))).to.deep.equal(new Set(['overlay-prom']));
    const ds = readFileSync(`${GRAFANA}provisioning/datasources/prometheus.yml`, 'utf8');
    expect(ds).to.match(/uid:\s*overlay-prom/);
  });

  it('has the instance and connection variables and the panels the brief asks for', () => {
    const dash = load();
    expect(dashboardVariables(dash).map((v) => v.name)).to.deep.equal(['instance', 'conn']);
    const titles = dashboardTargets(dash).map((t) => t.panel);
    for (const t of ['cwnd and ssthresh per connection', 'sRTT and RTO per connection', 'RTT quantiles (all connections)', 'Retransmissions by kind', 'Goodput in and out', 'Connections by state', 'IP drops by reason', 'Chaos verdicts by stage', 'Chaos queue depth']) {
      expect(titles, t).to.include(t);
    }
    const exprs = dashboardTargets(dash).map((t) => t.expr).join('\n');
    expect(exprs).to.contain('histogram_quantile(').and.contain('$__rate_interval');
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const boxes = (load().panels as Array<{ title: string; gridPos: { x: number; y: number; w: number; h: number } }>).map((p) => ({ t: p.title, ...p.gridPos }));
    for (const b of boxes) expect(b.x + b.w, b.t).to.be.at.most(24);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.t} overlaps ${b.t}`).to.equal(false);
      }
    }
  });

  it('names only metrics that are exported', () => {
    expect(checkDashboardNames(load(), exportedNames())).to.deep.equal([]);
  });

  it('the same checker rejects a dashboard with a typo in a metric name', () => {
    const typo = JSON.parse(JSON.stringify(load()).replace('overlay_tcp_srtt_seconds{', 'overlay_tcp_srt_seconds{')) as Record<string, unknown>;
    const failures = checkDashboardNames(typo, exportedNames());
    expect(failures).to.have.length(1);
    expect(failures[0]).to.match(/sRTT and RTO per connection.*overlay_tcp_srt_seconds/);
  });

  it('substitutes variables the way Grafana does', () => {
    const e = 'rate(x{instance=~"$instance", conn=~"${conn}"}[$__rate_interval]) + [[instance]]';
    expect(substitute(e, { instance: '.*', conn: '10\\.77\\.0\\.2:1-10\\.77\\.0\\.3:2' })).to.equal(
      'rate(x{instance=~".*", conn=~"10\\.77\\.0\\.2:1-10\\.77\\.0\\.3:2"}[4s]) + .*',
    );
  });

  it('the Prometheus config passes promtool and the YAML files parse', function () {
    const r = spawnSync('/usr/bin/promtool', ['check', 'config', `${GRAFANA}prometheus.yml`], { encoding: 'utf8', timeout: 10000 });
    if (r.error) {
      console.log(`skipped: promtool not runnable (${r.error.message})`);
      this.skip();
    }
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    const files = ['docker-compose.yml', 'prometheus.yml', 'provisioning/datasources/prometheus.yml', 'provisioning/dashboards/overlay.yml'];
    const py = spawnSync('python3', ['-c', 'import sys,yaml\nfor f in sys.argv[1:]: yaml.safe_load(open(f))', ...files.map((f) => GRAFANA + f)], { encoding: 'utf8' });
    if (py.error || /No module named/.test(py.stderr)) {
      console.log('skipped YAML parse: python3 with PyYAML not available');
      return;
    }
    expect(py.status, py.stderr).to.equal(0);
    // The compose file mounts what exists and wires Prometheus to the host gateway.
    const compose = readFileSync(`${GRAFANA}docker-compose.yml`, 'utf8');
    expect(compose).to.contain('prom/prometheus').and.contain('grafana/grafana').and.contain('host-gateway');
    expect(readFileSync(`${GRAFANA}prometheus.yml`, 'utf8')).to.contain('host.docker.internal:9464');
  });
});
