/**
 * What Prometheus metrics cost (issue: observability, "metrics cost under 2% of bulk
 * throughput"). Measured in one run, interleaved A/B rounds:
 *
 *  - bulk: an in-process transfer between two overlay hosts over loopback UDP, with metrics
 *    OFF and ON (the RTT histogram fed per sample, and a scrape of the registry every 100 ms,
 *    ten times Grafana's 1 s interval). CPU time per MiB (process.cpuUsage) is compared, and
 *    the minimum over the rounds is used: on a shared machine a single round can take 2-3x
 *    longer than the next for reasons that have nothing to do with the code under test.
 *    The A/B difference is at the mercy of the machine's noise (several % between runs), so
 *    the metrics code's own share is also measured directly: RTT observations times their
 *    cost plus the time spent inside scrapes, over the "on" transfer's CPU.
 *  - scrape: milliseconds to render /metrics with 64 live-looking connections.
 *  - rtt sample: nanoseconds per observation into the histogram.
 *  - live page: the same transfer with the live view served and one page (an SSE client on
 *    /events) open: the trace rings record every segment and ACK, frames go out 5 times/s.
 *
 *   node dist/bench/metrics.js [--seconds N]
 */
import { createHash } from 'node:crypto';
import { Host } from '../src/host/host.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { createMetrics } from '../src/metrics/registry.js';
import { emptyTotals, observers, type InventorySource } from '../src/metrics/inventory.js';
import { startMetricsServer } from '../src/metrics/server.js';
import type { TcpInfo } from '../src/tcp/types.js';
import type { Row } from './main.js';
import { isMain, numberArg, runStandalone } from './lib/cli.js';
import { median } from './lib/stats.js';

const MIB = 1 << 20;

interface Transfer {
  cpuMs: number;
  wallMs: number;
  /** With metrics: RTT samples observed, and the time spent inside scrapes. */
  rttSamples: number;
  scrapeMs: number;
}

/** `page`: also serve the live view and keep one page (an SSE client reading /events) open. */
async function transfer(bytes: number, withMetrics: boolean, page = false): Promise<Transfer> {
  const server = page ? await startMetricsServer('127.0.0.1:0', new (await import('prom-client')).Registry()) : undefined;
  const ac = new AbortController();
  if (server) {
    void fetch(`${server.url}/events`, { signal: ac.signal })
      .then(async (res) => {
        for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>) void _;
      })
      .catch(() => {});
  }
  try {
    return await transferInner(bytes, withMetrics);
  } finally {
    ac.abort();
    await server?.close();
  }
}

async function transferInner(bytes: number, withMetrics: boolean): Promise<Transfer> {
  const a = await Host.create({ address: '10.77.0.2', mtu: 1472 });
  const b = await Host.create({ address: '10.77.0.3', mtu: 1472, peers: [{ prefix: '10.77.0.2', endpoint: a.endpoint }] });
  a.addPeer('10.77.0.3', b.endpoint);
  let scrape: NodeJS.Timeout | undefined;
  let rttSamples = 0;
  let scrapeMs = 0;
  if (withMetrics) {
    const m = createMetrics();
    observers.rtt = (s) => {
      rttSamples++;
      m.observeRtt(s);
    };
    scrape = setInterval(() => {
      const t = performance.now();
      void m.registry.metrics().then(() => (scrapeMs += performance.now() - t));
    }, 100);
  }
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const server = createServer({ host: b }, (s: Socket) => {
    const h = createHash('sha1');
    s.on('data', (d: Buffer) => h.update(d));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(5001, r));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const s = connect({ via: a, host: '10.77.0.3', port: 5001 });
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
    s.on('error', reject);
    s.resume();
    s.on('close', () => resolve());
  });
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  if (scrape) clearInterval(scrape);
  observers.rtt = undefined;
  await new Promise<void>((r) => server.close(() => r()));
  await a.close();
  await b.close();
  return { cpuMs: (c.user + c.system) / 1000, wallMs, rttSamples, scrapeMs };
}

function fakeConnections(n: number): TcpInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    state: 'ESTABLISHED', localAddress: '10.77.0.2', localPort: 40000 + i, remoteAddress: '10.77.0.3', remotePort: 5001,
    cc: 'cubic', mss: 1432, cwnd: 14320 * (i + 1), ssthresh: 1e6, srtt: 50.5, rttvar: 3.2, rto: 250, minRtt: 49.8,
    sndUna: 1, sndNxt: 1000, rcvNxt: 7, sndWnd: 65535, rcvWnd: 131072, bytesInFlight: 999, sendQueue: 5000, recvQueue: 0,
    outOfOrderBytes: 0, retransmits: { rto: 1, fast: 2, tlp: 0, rack: 0, probe: 0, pmtu: 0 }, segmentsIn: 10, segmentsOut: 20,
    bytesSent: 1e6, bytesReceived: 10, bytesAcked: 1e6, inRecovery: false,
  }));
}

export async function run(opts: { seconds?: number } = {}): Promise<Row[]> {
  const rounds = 5;
  const bytes = Math.max(8, Math.round((opts.seconds ?? 10) * 4)) * MIB;
  const off: number[] = [];
  const on: number[] = [];
  const direct: number[] = [];
  const onRuns: Transfer[] = [];
  const page: number[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push((await transfer(bytes, false)).cpuMs);
    const t = await transfer(bytes, true);
    on.push(t.cpuMs);
    onRuns.push(t);
    page.push((await transfer(bytes, true, true)).cpuMs);
  }
  const perMibPage = Math.min(...page) / (bytes / MIB);
  const perMibOff = Math.min(...off) / (bytes / MIB);
  const perMibOn = Math.min(...on) / (bytes / MIB);

  const conns = fakeConnections(64);
  const sources: InventorySource[] = [{ tcpConnections: () => conns, tcpTotals: () => emptyTotals() }];
  const m = createMetrics({ sources: () => sources });
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await m.registry.metrics();
    times.push(performance.now() - t0);
  }
  const n = 1_000_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) m.observeRtt(0.02 + (i & 1023) * 1e-5);
  const nsPerSample = ((performance.now() - t0) * 1e6) / n;
  // The metrics code's own CPU inside each "on" transfer: its RTT observations (at the
  // measured ns per sample) plus the time spent rendering scrapes, over the transfer's CPU.
  // Unlike the A/B difference, this does not drown in the machine's round-to-round noise.
  for (const t of onRuns) direct.push((100 * (t.rttSamples * nsPerSample * 1e-6 + t.scrapeMs)) / t.cpuMs);

  return [
    { measure: `bulk ${bytes / MIB} MiB x ${rounds}, CPU ms per MiB, metrics off (best round)`, value: perMibOff },
    { measure: 'bulk, CPU ms per MiB, metrics on, scrape every 100 ms (best round)', value: perMibOn },
    { measure: 'metrics overhead on bulk CPU, A/B (on/off - 1), % (noise here is several %)', value: (perMibOn / perMibOff - 1) * 100 },
    { measure: 'bulk, CPU ms per MiB, metrics on + live page open (trace rings, SSE at 5 frames/s)', value: perMibPage },
    { measure: 'live page overhead on bulk CPU, A/B (page/on - 1), %', value: (perMibPage / perMibOn - 1) * 100 },
    { measure: 'metrics code share of bulk CPU, direct (samples x ns + scrape time), %, median', value: median(direct) },
    { measure: 'scrape of 64 connections, ms (median of 30)', value: median(times) },
    { measure: 'share of one core for a 1 s scrape of 64 connections, %', value: median(times) / 10 },
    { measure: 'RTT histogram, ns per sample', value: nsPerSample },
  ];
}

if (isMain(import.meta.url)) {
  runStandalone('bench metrics', 'node bench/metrics.js [--seconds N]', (argv) => run({ seconds: numberArg('bench metrics', argv, 'seconds', 10, 1) }));
}
