/**
 * Where ping-pong's tail latency comes from: 64-byte ping-pong (raw dgram, overlay TCP with
 * noDelay), pinned like the TCP bench, with both processes recording their garbage-collection
 * pauses (perf_hooks 'gc' entries); prints p50/p99, how many of the slowest 1% of rounds
 * overlap a GC pause in either process, and the pauses per 1000 rounds. Then, in this
 * process, the heap bytes the overlay allocates per round trip (both ends, socket API to UDP
 * and back): what decides how often the young generation fills and a scavenge pauses a round,
 * and a figure load does not move.
 *
 *   node <out>/bench/latency.js [--rounds 20000] [--warmup 10000] [--repeat 1] [--no-direct] [--hist] [--probe [--probe-cpu]] [--keep-busy] [--no-pin] [--no-alloc | --alloc-only [--json]] [-- NODE_FLAGS for the children]
 *
 * --repeat N alternates N raw/overlay pairs and prints each pair's ratios and their median;
 * --no-direct adds to each pair a third run, the overlay with direct sends off (node:dgram's
 * send path: src/link/direct-send.ts), and prints its ratios too;
 * --hist prints each run's distribution of round trips; --probe preloads bench/latency-probe
 * into every ping process and prints each process's turn-around (from a datagram's arrival
 * to its answer's send) and its nextTick/setImmediate/timer calls and sends per message, and
 * what its slowest 1% of turn-arounds share (GC pauses, timer calls, idle time before them);
 * --probe-cpu adds each turn-around's CPU time (ran slowly, or was not running);
 * --keep-busy runs a busy loop at nice 19 on each pinned CPU during the runs, so that the
 * CPUs never go idle (bench/lib/child.ts spawnSpinner): what the round trip costs when a
 * process wakes with its caches warm, against the figures without it.
 *
 * Not a suite of `npm run bench`: a diagnosis, quoted in the README's p99 note.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GCProfiler } from 'node:v8';
import { Host } from '../src/host/host.js';
import { connect, createServer } from '../src/net.js';
import { exited, killChildren, pinnableCpus, spawnRole, spawnSpinner, withTimeout } from './lib/child.js';
import { isMain } from './lib/cli.js';
import { slowRoundsInGc } from './lib/measure.js';
import { median, overlapsPause, percentile } from './lib/stats.js';
import type { ProbeReport } from './latency-probe.js';
import { formatTable, type Row } from './main.js';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

interface Run {
  row: Row;
  /** With --probe: each process's turn-around report (bench/latency-probe.ts). */
  probes?: { client: ProbeReport; server: ProbeReport };
}

/** Starts a ping child; with `probe`, preloading the turn-around probe that writes to a file of its own. */
function spawnPing(script: string, role: string, args: string[], nodeArgs: string[], cpu: number | undefined, probe: { file: string; skip: number; cpu: boolean } | undefined): ReturnType<typeof spawnRole> {
  if (!probe) return spawnRole(script, role, args, nodeArgs, cpu);
  const saved = { out: process.env['LATENCY_PROBE_OUT'], skip: process.env['LATENCY_PROBE_SKIP'], cpu: process.env['LATENCY_PROBE_CPU'] };
  process.env['LATENCY_PROBE_OUT'] = probe.file;
  process.env['LATENCY_PROBE_SKIP'] = String(probe.skip);
  process.env['LATENCY_PROBE_CPU'] = probe.cpu ? '1' : '0';
  try {
    return spawnRole(script, role, args, ['--import', here('./latency-probe.js'), ...nodeArgs], cpu);
  } finally {
    for (const [k, v] of [['LATENCY_PROBE_OUT', saved.out], ['LATENCY_PROBE_SKIP', saved.skip], ['LATENCY_PROBE_CPU', saved.cpu]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function diagnose(label: string, script: string, server: string[], client: string[], rounds: number, warmup: number, pins: [number, number] | undefined, nodeArgs: string[], probe: boolean): Promise<Run> {
  const files = probe ? [0, 1].map((i) => join(tmpdir(), `latency-probe-${process.pid}-${randomUUID()}-${i}.json`)) : undefined;
  // The server's messages include the handshake's; a few more skipped is harmless.
  const skip = warmup + 2;
  const cpu = process.argv.includes('--probe-cpu');
  const rx = spawnPing(script, server[0]!, [...server.slice(1), '--gc'], nodeArgs, pins?.[1], files && { file: files[1]!, skip, cpu });
  const { port } = await withTimeout(rx.next(), 10_000, 'server start');
  const tx = spawnPing(script, client[0]!, ['--port', String(port), '--rounds', String(rounds), '--warmup', String(warmup), '--gc'], nodeArgs, pins?.[0], files && { file: files[0]!, skip, cpu });
  const r = (await withTimeout(tx.next(), 300_000, 'ping rounds')) as unknown as Record<string, unknown>;
  rx.proc.stdin!.end();
  const s = (await withTimeout(rx.next(), 10_000, 'server end')) as unknown as Record<string, unknown>;
  const pauses = [...(r['pauses'] as Array<[number, number]>), ...(s['pauses'] as Array<[number, number]>)];
  const g = slowRoundsInGc(r['rounds'] as Array<[number, number]>, pauses);
  if (process.argv.includes('--hist')) process.stdout.write(histogram(label, r['rounds'] as Array<[number, number]>) + '\n');
  const row: Row = {
    transport: label,
    'p50 us': Number((r['p50'] as number).toFixed(1)),
    'p99 us': Number((r['p99'] as number).toFixed(1)),
    'p99.9 us': Number((r['p999'] as number).toFixed(1)),
    'slowest 1%': g['slowRounds']!,
    'of them in a GC pause': g['slowRoundsInGc']!,
    'GC pauses (both)': g['gcPauses']!,
    'GC pauses per 1000 rounds': Number(((1000 * g['gcPauses']!) / rounds).toFixed(2)),
    'GC ms (both)': g['gcMs']!,
    'round after a pause: p50 us, >= p99': ((a) => `${a.p50}, ${a.slow} of ${a.n}`)(afterPause(r['rounds'] as Array<[number, number]>, pauses)),
  };
  if (!files) return { row };
  await withTimeout(Promise.all([exited(tx.proc), exited(rx.proc)]), 10_000, 'ping child exit');
  const read = (f: string): ProbeReport => {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as ProbeReport;
    } finally {
      rmSync(f, { force: true });
    }
  };
  return { row, probes: { client: read(files[0]!), server: read(files[1]!) } };
}

/** One row per process of a run's probe reports. */
export function probeRows(label: string, p: { client: ProbeReport; server: ProbeReport }): Row[] {
  return (['client', 'server'] as const).map((side) => {
    const x = p[side];
    return {
      transport: label,
      process: side,
      messages: x.messages,
      'turn-around p50 us': x.p50,
      'p90 us': x.p90,
      'p99 us': x.p99,
      'sends per message': x.sends,
      'CPU us per message, user / system': `${x.cpuUser} / ${x.cpuSystem}`,
      'nextTick per message': x.ticks,
      'setImmediate per message': x.immediates,
      'setTimeout / clearTimeout per message': `${x.setTimeouts} / ${x.clearTimeouts}`,
      // The slowest 1% of turn-arounds: how many overlapped a GC pause or called a timer, their
      // median idle time before the datagram (against all turn-arounds'), and with --probe-cpu
      // their median CPU time against their median wall time (and all turn-arounds' CPU).
      'slowest 1%: in GC / timer': `${x.slow.inGc} / ${x.slow.withTimer} of ${x.slow.n}`,
      'idle before us, slow / all': `${x.slow.idleP50} / ${x.slow.idleP50All}`,
      ...(x.slow.cpuP50 !== undefined && { 'CPU us, slow (wall) / all': `${x.slow.cpuP50} (${x.slow.wallP50}) / ${x.slow.cpuP50All}` }),
    };
  });
}

/**
 * The round right after each round that overlapped a GC pause (of either process): its median
 * RTT (us) and how many of them were at or above the p99 themselves. After a pause both
 * processes answer cold (the probe's slow turn-arounds follow long idle times), so a pause
 * can put a second round into the slowest 1%. `pauses` are [start epoch ms, duration ms],
 * `rounds` [start epoch ms, rtt us] in order.
 */
export function afterPause(rounds: Array<[number, number]>, pauses: Array<[number, number]>): { n: number; p50: number; slow: number } {
  const p99 = percentile(rounds.map(([, r]) => r).sort((a, b) => a - b), 99);
  const next: number[] = [];
  for (let i = 0; i + 1 < rounds.length; i++) {
    const [t, rtt] = rounds[i]!;
    if (overlapsPause(pauses, t, t + rtt / 1000)) next.push(rounds[i + 1]![1]);
  }
  return { n: next.length, p50: next.length ? Number(median(next).toFixed(1)) : NaN, slow: next.filter((r) => r >= p99).length };
}

/**
 * Where a transport's rounds fall: the share of rounds in 10 us buckets between 40 and 300
 * us (and beyond), and in which tenth of the run the rounds above the p99 fall (early ones
 * are warm-up: code still being optimised).
 */
export function histogram(label: string, rounds: Array<[number, number]>): string {
  const edges = [40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 175, 200, 250, 300, 500, 1000, Infinity];
  const counts = new Array<number>(edges.length).fill(0);
  for (const [, rtt] of rounds) counts[edges.findIndex((e) => rtt < e)]!++;
  const sorted = rounds.map(([, r]) => r).sort((a, b) => a - b);
  const p99 = percentile(sorted, 99);
  const tenths = new Array<number>(10).fill(0);
  let slow = 0;
  let afterSlow = 0;
  rounds.forEach(([, rtt], i) => {
    if (rtt < p99) return;
    tenths[Math.floor((10 * i) / rounds.length)]!++;
    slow++;
    if (i > 0 && rounds[i - 1]![1] >= p99) afterSlow++;
  });
  const rows = edges.map((e, i) => `${i === 0 ? '<' : ''}${e === Infinity ? `>=${edges[i - 1]}` : `<${e}`}: ${((100 * counts[i]!) / rounds.length).toFixed(2)}%`);
  // A round that follows a slow one starts after both processes sat idle through it: each
  // answers with cold caches (the probe's idle-before figures), so a stall can make two.
  return `${label}: ${rows.join('  ')}\n  rounds >= p99 (${p99.toFixed(1)} us) by tenth of the run: ${tenths.join(' ')}; ${afterSlow} of ${slow} right after another`;
}

/**
 * Round trips not counted at the start of each run. The overlay's hot functions are
 * optimised by TurboFan only after 2,000-3,000 messages (a few more by 6,000), on a
 * background thread that shares the pinned CPU with the round trips: counting from round
 * 2,000 put that compilation and the last unoptimised rounds into the measured tail of the
 * overlay (raw dgram's few functions are optimised long before). Both transports get the
 * same warm-up.
 */
export const DEFAULT_WARMUP = 10_000;

/** One alternating pair's ratios (overlay / raw dgram). */
export function pairRatios(pair: number, raw: Row, ov: Row): Row {
  const r = (k: string): number => Number(((ov[k] as number) / (raw[k] as number)).toFixed(2));
  const us = (row: Row): string => `${row['p50 us']} / ${row['p99 us']}`;
  return { pair, 'p50 ratio': r('p50 us'), 'p99 ratio': r('p99 us'), 'raw p50/p99 us': us(raw), 'overlay p50/p99 us': us(ov) };
}

/** The median of each ratio over the pairs. */
export function medianRatios(pairs: Row[]): Row {
  const med = (k: string): number => Number(median(pairs.map((p) => p[k] as number)).toFixed(3));
  return { pair: 'median', 'p50 ratio': med('p50 ratio'), 'p99 ratio': med('p99 ratio'), 'raw p50/p99 us': '', 'overlay p50/p99 us': '' };
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
  const num = (name: string, dflt: number): number => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const rounds = num('--rounds', 20_000);
  const warmup = num('--warmup', DEFAULT_WARMUP);
  const repeat = num('--repeat', 1);
  const dd = argv.indexOf('--');
  const nodeArgs = dd >= 0 ? argv.slice(dd + 1) : [];
  const pins = argv.includes('--no-pin') ? undefined : pinnableCpus();
  try {
    if (argv.includes('--keep-busy')) {
      if (!pins) throw new Error('--keep-busy needs two CPUs to pin to (taskset)');
      for (const cpu of pins) spawnSpinner(cpu);
    }
    if (!argv.includes('--alloc-only')) {
      // Alternating pairs, so that the machine's drifting load falls on both transports alike;
      // each pair's ratios are measured in one sitting.
      const rows: Row[] = [];
      const ratios: Row[] = [];
      const probes: Row[] = [];
      const probe = argv.includes('--probe');
      const noDirect = argv.includes('--no-direct');
      const noDirectRatios: Row[] = [];
      for (let k = 0; k < repeat; k++) {
        const raw = await diagnose('raw dgram', here('./peers/dgram.js'), ['udp-recv'], ['udp-ping'], rounds, warmup, pins, nodeArgs, probe);
        const ov = await diagnose(`overlay TCP noDelay${nodeArgs.length ? ` (${nodeArgs.join(' ')})` : ''}`, here('./peers/overlay.js'), ['tcp-server', '--echo'], ['tcp-ping'], rounds, warmup, pins, nodeArgs, probe);
        // With --no-direct, the same overlay with its datagrams sent through node:dgram (src/link/direct-send.ts's A/B).
        const nd = noDirect ? await diagnose('overlay TCP noDelay, --no-direct', here('./peers/overlay.js'), ['tcp-server', '--echo', '--no-direct'], ['tcp-ping', '--no-direct'], rounds, warmup, pins, nodeArgs, probe) : undefined;
        const runs = nd ? [raw, ov, nd] : [raw, ov];
        rows.push(...runs.map((r) => r.row));
        ratios.push(pairRatios(k + 1, raw.row, ov.row));
        if (nd) noDirectRatios.push(pairRatios(k + 1, raw.row, nd.row));
        for (const run of runs) if (run.probes) probes.push(...probeRows(run.row['transport'] as string, run.probes));
      }
      process.stdout.write(formatTable(rows) + '\n');
      if (repeat > 1) process.stdout.write(formatTable([...ratios, medianRatios(ratios)]) + '\n');
      if (repeat > 1 && noDirect) process.stdout.write('--no-direct against raw dgram:\n' + formatTable([...noDirectRatios, medianRatios(noDirectRatios)]) + '\n');
      if (probes.length > 0) process.stdout.write(formatTable(probes) + '\n');
    }
    if (!argv.includes('--no-alloc')) {
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
    }
  } catch (e) {
    process.stderr.write(`latency: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    killChildren();
  }
  process.exit();
}
