/** Small shared pieces for running a bench suite on its own: `node dist/bench/NAME.js ...`. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatTable, type Row } from '../main.js';

/** True when the module at `metaUrl` is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  if (process.argv[1] === undefined) return false;
  // Node resolves symlinks for the main module (import.meta.url is the real path) but not in
  // argv[1]: started through a symlinked dist/, the script must still run, not exit 0 silently.
  let started: string;
  try {
    started = realpathSync(process.argv[1]);
  } catch {
    return false;
  }
  return fileURLToPath(metaUrl) === started;
}

/** `--name N` from argv: a number >= min, or `dflt` when absent; else one line and exit 2. */
export function numberArg(prog: string, argv: string[], name: string, dflt: number, min = 0): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`${prog}: --${name} needs a number >= ${min}\n`);
    process.exit(2);
  }
  return v;
}

/**
 * Runs a suite standalone: prints `usage` for --help, the table on success, one line on
 * failure. `ok(rows)` decides the exit status (default: 0).
 */
export function runStandalone(prog: string, usage: string, run: (argv: string[]) => Promise<Row[]>, ok: (rows: Row[]) => boolean = () => true): void {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: ${usage}\n`);
    process.exit(0);
  }
  run(argv).then(
    (rows) => {
      process.stdout.write(formatTable(rows) + '\n');
      process.exit(ok(rows) ? 0 : 1);
    },
    (e: Error) => {
      process.stderr.write(`${prog}: ${e.message}\n`);
      process.exit(1);
    },
  );
}
