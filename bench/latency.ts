/**
 * Where ping-pong's tail latency comes from: 64-byte ping-pong (raw dgram, overlay TCP with
 * noDelay), pinned like the TCP bench, with both processes recording their garbage-collection
 * pauses (perf_hooks 'gc' entries); prints p50/p99, how many of the slowest 1% of rounds
 * overlap a GC pause in either process, and the pauses per 1000 rounds. Then, in this
 * process, the heap bytes the overlay allocates per round trip (both ends, socket API to UDP
 * and back): what decides how often the young generation fills and a scavenge pauses a round,
 * and a figure load does not move.
 *
 *   node <out>/bench/latency.js [--rounds 20000] [--no-pin] [--alloc-only [--json]] [-- NODE_FLAGS for the overlay children]
 *
 * Not a suite of `npm run bench`: a diagnosis, quoted in the README's p99 note.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { GCProfiler } from 'node:v8';
import { Host } from '../src/host/host.js';
import { connect, createServer } from '../src/net.js';
import { killChildren, pinnableCpus, spawnRole, withTimeout } from './lib/child.js';
import { isMain } from './lib/cli.js';
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
    'GC pauses per 1000 rounds': Number(((1000 * g['gcPauses']!) / rounds).toFixed(2)),
    'GC ms (both)': g['gcMs']!,
  };
}

export interface AllocReport {
  /** Heap bytes allocated per 64-byte round trip, both hosts (the median window). */
  bytesPerRound: number;
  /** CPU time of this process per round trip, both hosts, us. */
  cpuUsPerRound: number;
  rounds: number;
}

/**
 * 64-byte ping-pong between two overlay hosts in this process (real loopback UDP, the
 * node:net-like API, noDelay, the server piping the socket to itself), measuring the heap
 * bytes allocated per round trip: windows of `perWindow` rounds, heapUsed before and after;
 * a window in which the collector ran (v8.GCProfiler saw it) is discarded, so heapUsed only
 * grew by what was allocated. The median of `windows` clean windows, divided by its rounds.
 * Bounded: at most 20 x `windows` windows, each at most 10 s.
 */
export async function allocPerRoundTrip(windows = 15, perWindow = 40): Promise<AllocReport> {
  const a = await Host.create({ address: '10.77.0.2' });
  const b = await Host.create({ address: '10.77.0.3' });
  try {
    a.addPeer('10.77.0.3/32', b.endpoint);
    b.addPeer('10.77.0.2/32', a.endpoint);
    const server = createServer({ host: b, noDelay: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    server.listen(5001);
    await once(server, 'listening');
    const s = connect({ via: a, host: '10.77.0.3', port: 5001, noDelay: true });
    await once(s, 'connect');
    const msg = Buffer.alloc(64, 1);
    let got = 0;
    let left = 0;
    let done: (() => void) | undefined;
    s.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= 64) {
        got -= 64;
        if (--left > 0) s.write(msg);
        else done?.();
      }
    });
    const rounds = async (n: number): Promise<void> => {
      left = n;
      const finished = new Promise<void>((r) => (done = r));
      s.write(msg);
      await withTimeout(finished, 10_000, 'ping-pong window');
    };
    await rounds(3000); // warm-up: the hot paths optimised
    const perRound: number[] = [];
    const cpu0 = process.cpuUsage();
    let measured = 0;
    for (let w = 0; w < 20 * windows && perRound.length < windows; w++) {
      const prof = new GCProfiler();
      prof.start();
      const h0 = process.memoryUsage().heapUsed;
      await rounds(perWindow);
      const h1 = process.memoryUsage().heapUsed;
      measured += perWindow;
      if (prof.stop().statistics.length === 0) perRound.push((h1 - h0) / perWindow);
    }
    if (perRound.length === 0) throw new Error('bench: the collector ran in every window');
    const cpu = process.cpuUsage(cpu0);
    perRound.sort((x, y) => x - y);
    s.destroy();
    server.close();
    return {
      bytesPerRound: Math.round(perRound[perRound.length >> 1]!),
      cpuUsPerRound: Number(((cpu.user + cpu.system) / measured).toFixed(1)),
      rounds: perRound.length * perWindow,
    };
  } finally {
    await a.close();
    await b.close();
  }
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--rounds');
  const rounds = i >= 0 ? Number(argv[i + 1]) : 20_000;
  const dd = argv.indexOf('--');
  const nodeArgs = dd >= 0 ? argv.slice(dd + 1) : [];
  const pins = argv.includes('--no-pin') ? undefined : pinnableCpus();
  try {
    if (!argv.includes('--alloc-only')) {
      const rows = [
        await diagnose('raw dgram', here('./peers/dgram.js'), ['udp-recv'], ['udp-ping'], rounds, pins, nodeArgs),
        await diagnose(`overlay TCP noDelay${nodeArgs.length ? ` (${nodeArgs.join(' ')})` : ''}`, here('./peers/overlay.js'), ['tcp-server', '--echo'], ['tcp-ping'], rounds, pins, nodeArgs),
      ];
      process.stdout.write(formatTable(rows) + '\n');
    }
    const al = await allocPerRoundTrip();
    if (argv.includes('--json')) {
      process.stdout.write(JSON.stringify(al) + '\n');
      process.exit(0);
    }
    process.stdout.write(
      formatTable([
        {
          'overlay TCP, both hosts in this process': '64-byte round trip',
          'heap bytes allocated per round trip': al.bytesPerRound,
          'CPU us per round trip': al.cpuUsPerRound,
          'rounds measured': al.rounds,
        },
      ]) + '\n',
    );
  } finally {
    killChildren();
  }
  process.exit(0);
}
