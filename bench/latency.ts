/**
 * Where ping-pong's tail latency comes from: 64-byte ping-pong (raw dgram, overlay TCP with
 * noDelay), pinned like the TCP bench, with both processes recording their garbage-collection
 * pauses (perf_hooks 'gc' entries); prints p50/p99 and how many of the slowest 1% of rounds
 * overlap a GC pause in either process.
 *
 *   node <out>/bench/latency.js [--rounds 20000] [--no-pin] [-- NODE_FLAGS for the overlay children]
 *
 * Not a suite of `npm run bench`: a diagnosis, quoted in the README's p99 note.
 */
import { fileURLToPath } from 'node:url';
import { killChildren, pinnableCpus, spawnRole, withTimeout } from './lib/child.js';
import { slowRoundsInGc } from './lib/measure.js';
import { formatTable, type Row } from './main.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

async function diagnose(label: string, script: string, server: string[], client: string[], rounds: number, pins: [number, number] | undefined, nodeArgs: string[]): Promise<Row> {
  const rx = spawnRole(script, server[0]!, [...server.slice(1), '--gc'], nodeArgs, pins?.[1]);
  const { port } = await withTimeout(rx.next(), 10_000, 'server start');
  const tx = spawnRole(script, client[0]!, ['--port', String(port), '--rounds', String(rounds), '--gc'], nodeArgs, pins?.[0]);
  const r = (await withTimeout(tx.next(), 300_000, 'ping rounds')) as unknown as Record<string, unknown>;
  rx.proc.stdin!.end();
  const s = (await withTimeout(rx.next(), 10_000, 'server end')) as unknown as Record<string, unknown>;
  const pauses = [...(r['pauses'] as Array<[number, number]>), ...(s['pauses'] as Array<[number, number]>)];
  const g = slowRoundsInGc(r['rounds'] as Array<[number, number]>, pauses);
  return {
    transport: label,
    'p50 us': r['p50'] as number,
    'p99 us': r['p99'] as number,
    'p99.9 us': r['p999'] as number,
    'slowest 1%': g['slowRounds']!,
    'of them in a GC pause': g['slowRoundsInGc']!,
    'GC pauses (both)': g['gcPauses']!,
    'GC ms (both)': g['gcMs']!,
  };
}

const argv = process.argv.slice(2);
const i = argv.indexOf('--rounds');
const rounds = i >= 0 ? Number(argv[i + 1]) : 20_000;
const dd = argv.indexOf('--');
const nodeArgs = dd >= 0 ? argv.slice(dd + 1) : [];
const pins = argv.includes('--no-pin') ? undefined : pinnableCpus();
try {
  const rows = [
    await diagnose('raw dgram', here('./peers/dgram.js'), ['udp-recv'], ['udp-ping'], rounds, pins, nodeArgs),
    await diagnose(`overlay TCP noDelay${nodeArgs.length ? ` (${nodeArgs.join(' ')})` : ''}`, here('./peers/overlay.js'), ['tcp-server', '--echo'], ['tcp-ping'], rounds, pins, nodeArgs),
  ];
  process.stdout.write(formatTable(rows) + '\n');
} finally {
  killChildren();
}
process.exit(0);
