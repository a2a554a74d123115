/**
 * `npm run bench`: runs the benchmark suites in one process run and prints one table each.
 * Every figure that matters is a ratio measured within the same run (the machine is shared
 * and noisy), next to its absolute value.
 *
 *   npm run bench                       all suites
 *   npm run bench -- tcp proxy          only these
 *   npm run bench -- --seconds 5        shorter measurement windows
 *   overlay bench tcp                   the same from the CLI, in a source checkout
 *
 * Suites are modules in this folder exporting `run(opts): Promise<Row[]>`.
 */
import { isMain } from './lib/cli.js';

export type Row = Record<string, string | number>;
export interface SuiteOptions {
  seconds?: number;
}

const SUITES: Record<string, string> = {
  udp: 'per-packet cost of the host layer and the overlay dgram socket vs raw node:dgram',
  tcp: 'single-connection goodput vs the raw UDP ceiling; ping-pong latency',
  proxy: 'chaos proxy forwarding rate vs a plain UDP relay',
  cc: 'congestion control goodput under random loss (simulated link, virtual time) vs the Mathis bound',
  metrics: 'cost of Prometheus metrics on bulk throughput',
  secure: 'secure mode (Noise IK, ChaCha20-Poly1305) vs plain FOU: one TCP connection\'s goodput at MTU 1472',
  linux: 'congestion control vs the Linux kernel over the same lossy path (needs root; skips otherwise)',
};

export function formatTable(rows: Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined): string =>
    v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1)) : v;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(cols), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** Runs the suites named in argv (all by default); the exit status. Also `overlay bench`. */
export async function main(argv: string[]): Promise<number> {
  let seconds: number | undefined;
  const wanted: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seconds') {
      seconds = Number(argv[++i]);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        process.stderr.write('bench: --seconds needs a positive number\n');
        return 2;
      }
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run bench -- [--seconds N] [SUITE ...]  (or: overlay bench [--seconds N] [SUITE ...])\nsuites:\n${Object.entries(SUITES).map(([k, v]) => `  ${k.padEnd(8)} ${v}`).join('\n')}\n`);
      return 0;
    } else if (Object.hasOwn(SUITES, a)) {
      wanted.push(a);
    } else {
      process.stderr.write(`bench: unknown suite '${a}' (one of ${Object.keys(SUITES).join(', ')})\n`);
      return 2;
    }
  }
  const names = wanted.length ? wanted : Object.keys(SUITES);
  let failed = 0;
  for (const name of names) {
    process.stdout.write(`\n## ${name}: ${SUITES[name]}\n\n`);
    try {
      const mod = (await import(`./${name}.js`)) as { run(o: SuiteOptions): Promise<Row[]> };
      const rows = await mod.run({ seconds });
      process.stdout.write(formatTable(rows) + '\n');
    } catch (err) {
      failed++;
      process.stdout.write(`suite ${name} failed: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then((c) => process.exit(c));
}
