/**
 * `overlay bench [--seconds N] [SUITE ...]`: the benchmark suites of `bench/` (what
 * `npm run bench` runs). They live in the source tree, not in the published package.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.js';

export async function run(argv: string[]): Promise<number> {
  // dist/src/cli/bench.js -> dist/bench/main.js
  const url = new URL('../../bench/main.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new UsageError('the benchmarks ship with the source tree: git clone it, then npm install && npm run bench');
  }
  const mod = (await import(url.href)) as { main(argv: string[]): Promise<number> };
  return mod.main(argv);
}
