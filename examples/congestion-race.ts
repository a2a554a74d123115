/**
 * Three TCP flows, three congestion-control algorithms, one bottleneck. The chaos proxy
 * between the two hosts limits the link to --rate with a drop-tail queue of one
 * bandwidth-delay product (BDP = rate x RTT); the flows start together and compete.
 * Every 500 ms a table shows each flow's congestion window, smoothed RTT, goodput and
 * retransmissions; at the end, each flow's share of the total goodput.
 *
 *   node dist/examples/congestion-race.js                          # reno, cubic, bbr; 20 s
 *   node dist/examples/congestion-race.js --cc reno,reno,cubic --rate 50mbit --rtt 40
 *   node dist/examples/congestion-race.js --metrics 0.0.0.0:9464    # then watch it in Grafana
 *   node dist/examples/congestion-race.js --trace race.trace && overlay plot race.trace --conn all -o race.svg
 *
 * With --metrics HOST:PORT the chaos proxy serves its metrics on PORT and the two hosts on
 * PORT+1: with 9464 that is where grafana/docker-compose.yml's Prometheus already looks
 * (9464 proxy, 9465 stack), so `docker compose -f grafana/docker-compose.yml up` and
 * http://localhost:3000 show the race.
 *
 * What to look for: Reno's sawtooth (AIMD: +1 MSS per RTT, halve on loss), CUBIC's
 * faster regrowth towards the last maximum, BBR holding cwnd near its BDP estimate. Loss-
 * based flows fill the queue, so RTT grows above the base RTT.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs, usage } from '../src/cli/args.js';
import { startObservability, type Observability } from '../src/cli/observe.js';
import { parseRate } from '../src/chaos/rules.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { CC_NAMES, type CcName } from '../src/tcp/types.js';
import { UsageError } from '../src/util/errors.js';
import { SERVER, formatBytes, intFlag, mbps, runExample } from './lib/setup.js';
import { impairedPair } from './lib/path.js';

const specs = {
  cc: { kind: 'string' as const, description: `comma-separated algorithms, one flow each (${CC_NAMES.join(', ')})`, default: 'reno,cubic,bbr' },
  duration: { kind: 'number' as const, description: 'seconds to run', default: 20 },
  rate: { kind: 'string' as const, description: 'bottleneck rate', default: '20mbit' },
  rtt: { kind: 'number' as const, description: 'base round-trip time, ms', default: 20 },
  metrics: { kind: 'string' as const, description: 'Prometheus /metrics: the proxy on HOST:PORT, the hosts on PORT+1' },
  trace: { kind: 'string' as const, description: 'write every flow\'s TCP trace to FILE (overlay plot FILE --conn all)' },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

const PORT = 5001;
const REFRESH_MS = 500;

interface Flow {
  cc: CcName;
  sock: Socket;
  localPort: number;
  /** Bytes the receiver got from this flow, in total and at the last refresh. */
  received: number;
  lastReceived: number;
}

runExample('congestion-race', async () => {
  const p = parseArgs(process.argv.slice(2), specs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/congestion-race.js [options]', specs));
    return 0;
  }
  const ccs = String(p.flags.cc).split(',').map((s) => s.trim()) as CcName[];
  for (const c of ccs) if (!CC_NAMES.includes(c)) throw new UsageError(`option --cc: '${c}' is not one of ${CC_NAMES.join(', ')}`);
  if (ccs.length < 1 || ccs.length > 8) throw new UsageError('option --cc: give 1 to 8 algorithms');
  const duration = Number(p.flags.duration);
  if (!(duration > 0 && duration <= 3600)) throw new UsageError(`option --duration: ${duration} is not in (0, 3600] seconds`);
  const rtt = intFlag(p, 'rtt', 1, 10_000);
  let rateBps: number;
  try {
    rateBps = parseRate(String(p.flags.rate));
  } catch (e) {
    throw new UsageError(`option --rate: ${(e as Error).message}`);
  }
  // One bandwidth-delay product of queue: the classic rule of thumb for a router buffer.
  const bdpBytes = Math.max(3000, Math.round((rateBps / 8) * (rtt / 1000)));
  const proxyMetrics = p.flags.metrics === undefined ? undefined : String(p.flags.metrics);
  const metrics = proxyMetrics?.replace(/:(\d+)$/, (_, n: string) => `:${Number(n) + 1}`);

  const path = await impairedPair({
    delayMs: rtt / 2,
    rate: String(p.flags.rate),
    queue: `${bdpBytes}b`,
    ...(proxyMetrics ? { metrics: proxyMetrics } : {}),
  });
  let observe: Observability | undefined;
  const flows: Flow[] = [];
  try {
    const trace = p.flags.trace === undefined ? undefined : String(p.flags.trace);
    if (metrics || trace) observe = await startObservability([path.a, path.b], { ...(metrics ? { metrics } : {}), ...(trace ? { trace } : {}) });
    console.log(`bottleneck: ${path.describe}`);
    console.log(`queue: ${formatBytes(bdpBytes)} (one BDP = ${String(p.flags.rate)} x ${rtt} ms)`);
    if (metrics) {
      console.log(`metrics: http://${proxyMetrics}/metrics (proxy), http://${metrics}/metrics (hosts: cwnd, RTT, retransmissions per connection)`);
      console.log('Grafana: docker compose -f grafana/docker-compose.yml up, then http://localhost:3000 (its Prometheus scrapes 9464 and 9465).');
    } else {
      console.log('Tip: add --metrics 0.0.0.0:9464 and run grafana/docker-compose.yml to watch the race live in Grafana.');
    }

    // The receiver: discards, counting bytes per client port.
    const byPort = new Map<number, Flow>();
    const server = createServer({ host: path.b }, (s: Socket) => {
      const flow = byPort.get(s.remotePort ?? -1);
      s.on('data', (d: Buffer) => {
        if (flow) flow.received += d.length;
      });
      s.on('error', () => {});
    });
    server.listen(PORT);
    await once(server, 'listening');

    // The senders: start together, write as fast as the window allows.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (const cc of ccs) {
      const sock = connect({ via: path.a, host: SERVER.addr, port: PORT, cc });
      sock.on('error', () => {});
      await once(sock, 'connect');
      const flow: Flow = { cc, sock, localPort: sock.localPort!, received: 0, lastReceived: 0 };
      byPort.set(flow.localPort, flow);
      flows.push(flow);
    }
    let running = true;
    for (const f of flows) {
      const pump = (): void => {
        while (running && f.sock.write(chunk));
      };
      f.sock.on('drain', pump);
      pump();
    }

    const t0 = performance.now();
    const tty = process.stdout.isTTY === true;
    let drawn = 0;
    const draw = (final: boolean): void => {
      const now = performance.now();
      const rows = table(flows, (now - t0) / 1000, final);
      if (tty && drawn > 0) process.stdout.write(`\x1b[${drawn}A`);
      process.stdout.write(rows.map((r) => (tty ? `${r}\x1b[K` : r)).join('\n') + '\n');
      drawn = rows.length;
      for (const f of flows) f.lastReceived = f.received;
    };
    const timer = setInterval(() => draw(false), REFRESH_MS);
    await new Promise((r) => setTimeout(r, duration * 1000));
    clearInterval(timer);
    running = false;
    const elapsed = (performance.now() - t0) / 1000;

    const total = flows.reduce((s, f) => s + f.received, 0);
    console.log(`\nafter ${elapsed.toFixed(1)} s: ${formatBytes(total)} through the bottleneck, ${mbps(total, elapsed * 1000).toFixed(1)} of ${(rateBps / 1e6).toFixed(1)} Mbit/s`);
    for (const f of flows) {
      const share = total > 0 ? (100 * f.received) / total : 0;
      console.log(
        `  ${f.cc.padEnd(8)} :${f.localPort}  ${formatBytes(f.received).padStart(10)}  ${mbps(f.received, elapsed * 1000).toFixed(1).padStart(6)} Mbit/s  share ${share.toFixed(1)}%`,
      );
    }
    const jain = total > 0 ? total ** 2 / (flows.length * flows.reduce((s, f) => s + f.received ** 2, 0)) : 0;
    console.log(`Jain's fairness index: ${jain.toFixed(3)} (1 = equal shares)`);
    for (const f of flows) f.sock.destroy();
    server.close();
    return flows.every((f) => f.received > 0) ? 0 : 1;
  } finally {
    for (const f of flows) f.sock.destroy();
    await observe?.close();
    await path.close();
  }
});

function table(flows: Flow[], t: number, final: boolean): string[] {
  const rows = [
    `t=${t.toFixed(1)}s${final ? ' (final)' : ''}`,
    `  ${'flow'.padEnd(14)} ${'cwnd'.padStart(10)} ${'ssthresh'.padStart(10)} ${'srtt'.padStart(8)} ${'goodput'.padStart(13)} ${'total'.padStart(10)} ${'retrans'.padStart(7)}`,
  ];
  for (const f of flows) {
    const i = f.sock.getInfo();
    const goodput = mbps(f.received - f.lastReceived, REFRESH_MS);
    const retrans = i ? Object.values(i.retransmits).reduce((a, b) => a + b, 0) : 0;
    const ssthresh = i && i.ssthresh < 1e9 ? formatBytes(i.ssthresh) : 'inf';
    rows.push(
      `  ${`${f.cc}:${f.localPort}`.padEnd(14)} ${(i ? formatBytes(i.cwnd) : '-').padStart(10)} ${ssthresh.padStart(10)} ` +
        `${(i ? `${i.srtt.toFixed(1)}ms` : '-').padStart(8)} ${`${goodput.toFixed(2)} Mbit/s`.padStart(13)} ` +
        `${formatBytes(f.received).padStart(10)} ${String(retrans).padStart(7)}`,
    );
  }
  return rows;
}
