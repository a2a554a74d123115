/**
 * A real Prometheus for tests, and the dashboard checker.
 *
 *   const why = ensurePrometheus();                 // undefined, or why it cannot run
 *   const prom = await startPrometheus([{ target: '127.0.0.1:9464', labels: { role: 'proxy' } }]);
 *   const failures = await checkDashboardLive(prom.url, dashboard);   // [] when every query has data
 *   await prom.stop();
 *
 * Debian's `prometheus` is installed on demand when missing and running as root
 * (idempotent). Prometheus runs on 127.0.0.1 with a temp config (1 s scrape interval) and
 * a temp storage path, both removed on stop().
 *
 * The checker evaluates every query of a Grafana dashboard through the HTTP API, with
 * the variables substituted the way Grafana does: template variables from their
 * label_values() queries (multi-value, regex-capable: All becomes `.*`, concrete values
 * are regex-escaped), `$__rate_interval` as 4 x the scrape interval, `$__interval` as it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROMETHEUS = '/usr/bin/prometheus';

/** The repository's grafana/ folder (with a trailing slash): the nearest ancestor of this compiled file that has one. */
export function grafanaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'grafana', 'dashboards', 'overlay.json'))) return join(dir, 'grafana') + '/';
    const up = dirname(dir);
    if (up === dir) throw new Error('grafana/ not found above the tests');
    dir = up;
  }
}

/** undefined when Prometheus can run here; else the reason to skip. Installs it if it can. */
export function ensurePrometheus(): string | undefined {
  if (existsSync(PROMETHEUS)) return undefined;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return `${PROMETHEUS} missing and not root (apt-get install prometheus)`;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
      stdio: 'pipe',
      timeout: 120_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (e) {
    return `apt-get install prometheus failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop()}`;
  }
  return existsSync(PROMETHEUS) ? undefined : 'prometheus still missing after apt-get install';
}

export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A base port such that base .. base+n-1 are all free (TCP, 127.0.0.1). */
export async function freeTcpPortRange(n: number): Promise<number> {
  const tryListen = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let k = 0; k < n && ok; k++) ok = await tryListen(base + k);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

export interface ScrapeTarget {
  target: string;
  labels?: Record<string, string>;
}

export interface RunningPrometheus {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export const SCRAPE_INTERVAL_S = 1;

export async function startPrometheus(targets: ScrapeTarget[], job = 'overlay-demo'): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'overlay-prom-'));
  const config = [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL_S}s`,
    `  evaluation_interval: ${SCRAPE_INTERVAL_S}s`,
    'scrape_configs:',
    `  - job_name: ${job}`,
    `    scrape_timeout: ${SCRAPE_INTERVAL_S}s`,
    '    static_configs:',
    ...targets.flatMap((t) => [
      `      - targets: ["${t.target}"]`,
      ...(t.labels ? ['        labels:', ...Object.entries(t.labels).map(([k, v]) => `          ${k}: "${v}"`)] : []),
    ]),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freeTcpPort();
  const proc = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
        const r = await fetch(`${url}/-/ready`).catch(() => undefined);
        return r?.ok === true;
      },
      10_000,
      'prometheus to be ready',
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, proc, stop };
}

/** Polls `check` (every 250 ms) until it returns true; throws after timeoutMs. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

export async function promApi<T>(base: string, path: string, params: Record<string, string | string[]>): Promise<T> {
  const u = new URL(path, base);
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) u.searchParams.append(k, x);
  const res = await fetch(u, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as ApiResponse<T>;
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
  return body.data;
}

/** Target health by scrape URL. */
export async function targetHealth(base: string): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>> {
  const d = await promApi<{ activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }> }>(base, '/api/v1/targets', {});
  return d.activeTargets;
}

// ---------------------------------------------------------------- the dashboard model

export interface DashboardTarget {
  panel: string;
  refId: string;
  expr: string;
}

export interface DashboardVariable {
  name: string;
  query: string;
  allValue: string;
}

type Json = Record<string, unknown>;

/** Every panel target with an expr (rows and nested panels included). */
export function dashboardTargets(dash: Json): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const walk = (panels: unknown): void => {
    for (const p of (panels as Json[] | undefined) ?? []) {
      for (const t of (p.targets as Json[] | undefined) ?? []) {
        if (typeof t.expr === 'string' && t.hide !== true) out.push({ panel: String(p.title), refId: String(t.refId), expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dash.panels);
  return out;
}

export function dashboardVariables(dash: Json): DashboardVariable[] {
  const list = ((dash.templating as Json | undefined)?.list as Json[] | undefined) ?? [];
  return list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const q = v.query as Json | string | undefined;
      const query = typeof q === 'string' ? q : typeof q?.query === 'string' ? q.query : String(v.definition ?? '');
      return { name: String(v.name), query, allValue: typeof v.allValue === 'string' ? v.allValue : '.*' };
    });
}

/**
 * A concrete value as Grafana puts it into a Prometheus regex matcher: regex specials
 * escaped with a backslash, itself escaped for the PromQL string (`127\\.0\\.0\\.1`).
 */
const escapeRegex = (s: string): string => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\\\$&');

/**
 * Substitutes Grafana's variables: `$name`, `${name}`, `[[name]]` with the value (a
 * concrete value is regex-escaped, as Grafana formats multi-value variables for
 * Prometheus), and the built-in intervals.
 */
export function substitute(expr: string, values: Record<string, string>, intervals = { rate: `${4 * SCRAPE_INTERVAL_S}s`, interval: `${SCRAPE_INTERVAL_S}s`, range: '60s' }): string {
  let out = expr
    .replace(/\$__rate_interval\b|\$\{__rate_interval\}/g, intervals.rate)
    .replace(/\$__interval\b|\$\{__interval\}/g, intervals.interval)
    .replace(/\$__range\b|\$\{__range\}/g, intervals.range);
  out = out.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (m, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const name = a ?? b ?? c!;
    return Object.hasOwn(values, name) ? values[name]! : m;
  });
  return out;
}

/** Metric names a PromQL expression refers to (the overlay_ ones). */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(overlay_[a-zA-Z0-9_]+)\b/g)].map((m) => m[1]!))];
}

/**
 * The static half of the checker: every overlay_ metric a query names must be one that
 * is exported (`known`: metric names as registered; a histogram's _bucket/_sum/_count
 * series are accepted for its name).
 */
export function checkDashboardNames(dash: Json, known: Iterable<string>): string[] {
  const names = new Set(known);
  const ok = (n: string): boolean => names.has(n) || ['_bucket', '_sum', '_count'].some((s) => n.endsWith(s) && names.has(n.slice(0, -s.length)));
  const failures: string[] = [];
  for (const t of dashboardTargets(dash)) {
    for (const n of metricNames(t.expr)) if (!ok(n)) failures.push(`panel '${t.panel}' ${t.refId}: unknown metric ${n}`);
  }
  for (const v of dashboardVariables(dash)) {
    for (const n of metricNames(v.query)) if (!ok(n)) failures.push(`variable '${v.name}': unknown metric ${n}`);
  }
  return failures;
}

/** Values of a `label_values(...)` variable query, evaluated like Grafana does. */
export async function labelValues(base: string, query: string, windowS = 60): Promise<string[]> {
  const m = /^\s*label_values\(\s*(?:(.*)\s*,\s*)?(\w+)\s*\)\s*$/.exec(query);
  if (!m) throw new Error(`unsupported variable query '${query}'`);
  const [, selector, label] = m;
  const end = Date.now() / 1000;
  if (!selector) return promApi<string[]>(base, `/api/v1/label/${label}/values`, {});
  const series = await promApi<Array<Record<string, string>>>(base, '/api/v1/series', {
    'match[]': selector,
    start: String(end - windowS),
    end: String(end),
  });
  return [...new Set(series.map((s) => s[label!]).filter((v): v is string => v !== undefined))].sort();
}

/** Whether a range query returns at least one series with a value that is not NaN. */
export async function hasData(base: string, expr: string, windowS = 20): Promise<{ ok: boolean; series: number; error?: string }> {
  const end = Date.now() / 1000;
  try {
    const d = await promApi<{ result: Array<{ values: Array<[number, string]> }> }>(base, '/api/v1/query_range', {
      query: expr,
      start: String(end - windowS),
      end: String(end),
      step: String(SCRAPE_INTERVAL_S),
    });
    const ok = d.result.some((s) => s.values.some(([, v]) => !Number.isNaN(Number(v))));
    return { ok, series: d.result.length };
  } catch (e) {
    return { ok: false, series: 0, error: (e as Error).message };
  }
}

/**
 * The live half of the checker: every variable has values, and every query returns data
 * with all variables at All, and for some concrete value of each variable it uses.
 * Returns one line per failure (empty: the dashboard works).
 */
export async function checkDashboardLive(base: string, dash: Json): Promise<string[]> {
  const failures: string[] = [];
  const vars = dashboardVariables(dash);
  const all: Record<string, string> = Object.fromEntries(vars.map((v) => [v.name, v.allValue]));
  const concrete = new Map<string, string[]>();
  for (const v of vars) {
    let values: string[] = [];
    try {
      values = await labelValues(base, substitute(v.query, all));
    } catch (e) {
      failures.push(`variable '${v.name}': ${(e as Error).message}`);
    }
    if (values.length === 0) failures.push(`variable '${v.name}' (${v.query}) has no values`);
    concrete.set(v.name, values);
  }
  for (const t of dashboardTargets(dash)) {
    const where = `panel '${t.panel}' ${t.refId}`;
    const r = await hasData(base, substitute(t.expr, all));
    if (!r.ok) {
      failures.push(`${where}: no data with all variables at All (${r.error ?? `${r.series} series, all NaN or none`}): ${t.expr}`);
      continue;
    }
    for (const v of vars) {
      if (!new RegExp(`\\$\\{?${v.name}\\b|\\[\\[${v.name}\\]\\]`).test(t.expr)) continue;
      let found = false;
      for (const value of concrete.get(v.name) ?? []) {
        if ((await hasData(base, substitute(t.expr, { ...all, [v.name]: escapeRegex(value) }))).ok) {
          found = true;
          break;
        }
      }
      if (!found) failures.push(`${where}: no data for any single value of $${v.name}: ${t.expr}`);
    }
  }
  return failures;
}
