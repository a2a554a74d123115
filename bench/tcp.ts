/**
 * TCP benchmark: one stream's bulk goodput between two pinned processes on loopback, for
 * every peer side by side, in alternating rounds, with both ends' CPU seconds per GiB, the
 * sender's TLP and RTO retransmissions and the kernel's UDP receive drops per round; and
 * 64-byte ping-pong latency (p50/p99) for each.
 *
 *   MTU 1472:  raw dgram unconnected (the reference, ratio 1), raw dgram connected,
 *              udx-native, utp-native, overlay TCP
 *   MTU 65000: raw dgram unconnected (65000-byte datagrams), overlay TCP, kernel TCP
 *              (node:net; the overlay's ratio to it is shown too)
 *
 *   node <out>/bench/tcp.js [--seconds N] [--rounds N] [--no-pin] [--only 1472,65000,ping,link,pacing,reuse,offload,batch,cli]
 *   npm run bench -- tcp                      the same through the bench orchestrator
 *
 * Goodput and CPU are counted after a 1 s warm-up (like iperf3 --omit); the whole-run
 * ratio, warm-up included, is shown too. The figures that matter are ratios measured in one
 * run on the same (shared, noisy) machine. Each peer is a module in bench/peers/ whose
 * children are that module run with `--role NAME` (bench/lib/peer.ts has the protocol);
 * udx-native and utp-native are devDependencies, skipped with a printed reason when they
 * do not load.
 */
import { fileURLToPath } from 'node:url';
import { killChildren, pinnableCpus } from './lib/child.js';
import { median } from './lib/stats.js';
import type { BulkResult, Peer } from './lib/peer.js';
import { dgramPeer } from './peers/dgram.js';
import { kernelTcpPeer } from './peers/kernel.js';
import { overlayPeer } from './peers/overlay.js';
import { udxPeer } from './peers/udx.js';
import { utpPeer } from './peers/utp.js';
import { cliPathRow } from './cli-path.js';
import { isMain } from './lib/cli.js';

type Row = Record<string, string | number>;
const SELF = fileURLToPath(import.meta.url);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const note = (s: string): void => {
  process.stderr.write(`tcp: ${s}\n`);
};

interface Group {
  /** Datagram size for raw dgram and the overlay MTU. */
  size: number;
  peers: Peer[];
  /** Index of a second reference whose ratio gets its own column (udx-native at 1472, kernel TCP at 65000). */
  second?: number;
  secondName?: string;
}

/** Runs the group's peers in alternating rounds; rows with medians and ranges. */
async function runGroup(g: Group, seconds: number, rounds: number, pins: [number, number] | undefined): Promise<Row[]> {
  const peers = g.peers.filter((p) => {
    if (p.skip) note(`skipping ${p.label}: ${p.skip}`);
    return !p.skip;
  });
  const results: BulkResult[][] = peers.map(() => []);
  const failures: string[][] = peers.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      try {
        const res = await p.bulk(g.size, seconds, pins);
        results[i]!.push(res);
        note(
          `size ${g.size} round ${r + 1}: ${p.label}: ${res.mbs.toFixed(1)} MB/s, CPU-s/GiB tx ${res.txCpuPerGiB.toFixed(2)} rx ${res.rxCpuPerGiB.toFixed(2)}, ` +
            `kernel UDP drops ${res.kernelDrops}${res.tlp !== undefined ? `, TLP ${res.tlp}` : ''}${res.spuriousTlp ? ` (${res.spuriousTlp} spurious)` : ''}${res.rto !== undefined ? `, RTO ${res.rto}` : ''}` +
            `${res.acksPerSegment !== undefined ? `, ACKs/segment ${res.acksPerSegment.toFixed(3)}` : ''}` +
            `${res.faultsPerSegment !== undefined ? `, faults/segment ${res.faultsPerSegment.toFixed(3)}` : ''}` +
            `${res.datagramsPerSend !== undefined ? `, datagrams per send ${res.datagramsPerSend.toFixed(1)} / per read ${(res.datagramsPerRead ?? 1).toFixed(1)}` : ''}` +
            `${res.pacerWaitsPerSegment !== undefined ? `, pacer waits/segment ${res.pacerWaitsPerSegment.toFixed(3)}, ${res.ssthresh !== undefined ? `slow start left at ${(res.ssthresh / 1024).toFixed(0)} KiB` : 'still in slow start'}` : ''}`,
        );
      } catch (e) {
        failures[i]!.push((e as Error).message);
        note(`size ${g.size} round ${r + 1}: ${p.label} failed: ${(e as Error).message}`);
        killChildren();
      }
    }
  }
  const rows: Row[] = [];
  const ref = results[0]!;
  const second = g.second === undefined ? undefined : results[peers.indexOf(g.peers[g.second]!)];
  peers.forEach((p, i) => {
    const rs = results[i]!;
    if (rs.length === 0) {
      rows.push({ transport: p.label, size: g.size, 'MB/s': `failed: ${failures[i]![0] ?? '?'}` });
      return;
    }
    // Per-round ratios: the round's own reference (same conditions).
    const ratios = rs.map((x, k) => (ref[k] ? x.mbs / ref[k]!.mbs : NaN)).filter((x) => Number.isFinite(x));
    const whole = rs.map((x, k) => (ref[k] ? x.wholeMbs / ref[k]!.wholeMbs : NaN)).filter((x) => Number.isFinite(x));
    const row: Row = {
      transport: p.label,
      size: rs[0]!.packet !== undefined ? `${g.size} (own ${rs[0]!.packet})` : g.size,
      'MB/s': median(rs.map((x) => x.mbs)),
      ratio: ratios.length ? median(ratios) : '-',
      'ratio range': ratios.length ? `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}` : '-',
      'incl. warm-up': whole.length ? median(whole) : '-',
      'tx CPU-s/GiB': median(rs.map((x) => x.txCpuPerGiB)),
      'rx CPU-s/GiB': median(rs.map((x) => x.rxCpuPerGiB)),
      'kernel drops/round': rs.map((x) => x.kernelDrops).join(' '),
    };
    if (second) {
      const sr = rs.map((x, k) => (second[k] ? x.mbs / second[k]!.mbs : NaN)).filter((x) => Number.isFinite(x));
      row[`vs ${g.secondName ?? 'second'}`] = sr.length ? median(sr) : '-';
    }
    // Retransmissions summed over the rounds; '-' where the transport does not report them.
    const sum = (f: (x: BulkResult) => number | undefined): number | string => (f(rs[0]!) === undefined ? '-' : rs.reduce((a, x) => a + (f(x) ?? 0), 0));
    row['TLP'] = sum((x) => x.tlp);
    // Found spurious by the sender (Eifel: the ACK after the probe was for earlier data).
    if (rs[0]!.spuriousTlp !== undefined) row['TLP'] = `${row['TLP']} (${sum((x) => x.spuriousTlp)} spurious)`;
    row['RTO'] = sum((x) => x.rto);
    row['other rtx'] = sum((x) => x.otherRetransmits);
    if (failures[i]!.length) row['failed rounds'] = failures[i]!.length;
    rows.push(row);
  });
  return rows;
}

async function runPings(peers: Peer[], probes: number, pins: [number, number] | undefined): Promise<Row[]> {
  const rows: Row[] = [];
  let refP99 = NaN;
  for (const p of peers) {
    if (p.skip || !p.ping) continue;
    try {
      const r = await p.ping(probes, pins);
      if (rows.length === 0) refP99 = r['p99']!;
      rows.push({ transport: `ping-pong 64 B: ${p.label}`, 'p50 us': r['p50']!, 'p99 us': r['p99']!, 'p99.9 us': r['p999']!, 'p99 vs raw dgram': r['p99']! / refP99 });
      note(`ping ${p.label}: p50 ${r['p50']!.toFixed(1)} p99 ${r['p99']!.toFixed(1)} p99.9 ${r['p999']!.toFixed(1)} max ${r['max']!.toFixed(1)} us`);
    } catch (e) {
      rows.push({ transport: `ping-pong 64 B: ${p.label}`, 'p50 us': `failed: ${(e as Error).message}` });
      killChildren();
    }
  }
  return rows;
}

export async function run(opts: { seconds?: number; rounds?: number; pin?: boolean; only?: string } = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 5;
  // The machine is shared: its speed drifts over tens of seconds. So the peers alternate,
  // each round gives one ratio per peer, and the table shows the median and the range.
  const rounds = opts.rounds ?? 3;
  const pins = opts.pin === false ? undefined : pinnableCpus();
  note(pins ? `senders pinned to CPU ${pins[0]}, receivers to CPU ${pins[1]} (every peer alike)` : 'processes not pinned');
  // The A/B groups 'link' (connectPeer), 'pacing', 'reuse' (packet slabs), 'offload' (UDP GSO/GRO) and 'batch' (batched reads) run only when asked for.
  const want = (k: string): boolean => (opts.only ? opts.only.split(',').includes(k) : !['link', 'pacing', 'reuse', 'offload', 'batch'].includes(k));
  const rows: Row[] = [];
  try {
    if (want('1472')) {
      rows.push(...(await runGroup({ size: 1472, peers: [dgramPeer(false), dgramPeer(true), udxPeer(), utpPeer(), overlayPeer(1472)], second: 2, secondName: 'udx-native' }, seconds, rounds, pins)));
    }
    if (want('65000')) {
      rows.push(...(await runGroup({ size: 65000, peers: [dgramPeer(false), kernelTcpPeer(), overlayPeer(65000)], second: 1, secondName: 'kernel TCP' }, seconds, rounds, pins)));
    }
    if (want('link')) {
      // A/B of the sender's link: connected UDP socket (connectPeer) or not.
      rows.push(...(await runGroup({ size: 1472, peers: [dgramPeer(false), overlayPeer(1472, 'unconnected'), overlayPeer(1472)] }, seconds, rounds, pins)));
    }
    if (want('pacing')) {
      // A/B of the sender's pacing (CUBIC's default) at MTU 1472 (docs/benchmarks-bulk.md, bulk6).
      rows.push(...(await runGroup({ size: 1472, peers: [dgramPeer(false), overlayPeer(1472, 'no-pacing'), overlayPeer(1472)] }, seconds, rounds, pins)));
    }
    if (want('reuse')) {
      // A/B of packet slab reuse (src/util/slab.ts) at MTU 1472 (docs/benchmarks-bulk.md, bulk6).
      rows.push(...(await runGroup({ size: 1472, peers: [dgramPeer(false), overlayPeer(1472, 'no-packet-reuse'), overlayPeer(1472)] }, seconds, rounds, pins)));
    }
    if (want('offload')) {
      // A/B of UDP GSO/GRO (src/link/udp-offload.ts) at MTU 1472, off at both ends against on.
      rows.push(...(await runGroup({ size: 1472, peers: [dgramPeer(false), overlayPeer(1472, 'no-offload'), overlayPeer(1472)] }, seconds, rounds, pins)));
    }
    if (want('batch')) {
      // A/B of batched reads (src/link/batch-read.ts) at MTU 65000, off at both ends against on.
      rows.push(...(await runGroup({ size: 65000, peers: [dgramPeer(false), overlayPeer(65000, 'no-batch-reads'), overlayPeer(65000)] }, seconds, rounds, pins)));
    }
    if (want('ping')) {
      rows.push(...(await runPings([dgramPeer(false), kernelTcpPeer(), udxPeer(), utpPeer(), overlayPeer(1472)], 5000, pins)));
    }
    if (want('cli')) {
      // The CLI path as users run it, as a ratio to the API path (bench/cli-path.ts).
      rows.push(await cliPathRow({ pins }));
    }
  } finally {
    killChildren();
  }
  return rows;
}

// ---------------------------------------------------------------- entry

if (isMain(import.meta.url)) {
  const seconds = arg('seconds') !== undefined ? Number(arg('seconds')) : undefined;
  const rounds = arg('rounds') !== undefined ? Number(arg('rounds')) : undefined;
  const only = arg('only');
  const { formatTable } = await import('./main.js');
  const rows = await run({ ...(seconds ? { seconds } : {}), ...(rounds ? { rounds } : {}), ...(only ? { only } : {}), pin: !process.argv.includes('--no-pin') });
  process.stdout.write(formatTable(rows) + '\n');
  process.exit(0);
}
