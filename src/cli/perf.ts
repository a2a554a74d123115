/**
 * `overlay perf -s [host flags] [-p PORT]`
 * `overlay perf -c DEST [host flags] [-p PORT] [-t SECONDS] [-i INTERVAL] [-P N] [-R] [--bidir]
 *      [-O SECONDS] [-J] [--json-stream] [--cc NAME] [-l LEN]`
 * iperf3-style throughput tests over overlay TCP (src/apps/perf/): the server serves one
 * test at a time and keeps serving; the client prints interval lines (bytes, bitrate,
 * retransmissions, cwnd and sRTT per stream, a SUM line with -P) and the sender/receiver
 * summary with both ends' CPU utilisation; -J prints iperf3's JSON document, --json-stream
 * one {"event":...,"data":...} object per line.
 */
import { runClient, type StartSection } from '../apps/perf/client.js';
import { DEFAULT_PORT, type TestParams } from '../apps/perf/protocol.js';
import { intervalHeader, intervalLines, summaryLines, SEPARATOR } from '../apps/perf/report.js';
import { startPerfServer } from '../apps/perf/server.js';
import type { Interval } from '../apps/perf/session.js';
import { UsageError } from '../util/errors.js';
import { parseIpv4 } from '../wire/addr.js';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { announceListening, hostFlagSpecs, hostFromFlags, onShutdown, tcpOptionsFromFlags } from './common.js';

const specs: FlagSpecs = {
  ...hostFlagSpecs,
  server: { kind: 'boolean', short: 's', description: 'run the server' },
  client: { kind: 'string', short: 'c', description: 'run a test against the server at overlay address DEST' },
  port: { kind: 'number', short: 'p', description: 'overlay TCP port of the server', default: DEFAULT_PORT },
  time: { kind: 'number', short: 't', description: 'client: seconds to transmit (0.1..86400, default 10)' },
  interval: { kind: 'number', short: 'i', description: 'client: seconds between interval reports (0 = none, default 1)' },
  parallel: { kind: 'number', short: 'P', description: 'client: parallel streams (1..128, default 1)' },
  reverse: { kind: 'boolean', short: 'R', description: 'client: the server sends, the client receives' },
  bidir: { kind: 'boolean', description: 'client: both directions at once' },
  omit: { kind: 'number', short: 'O', description: 'client: omit the first SECONDS from the totals (default 0)' },
  json: { kind: 'boolean', short: 'J', description: 'client: print one JSON document (iperf3 field names)' },
  'json-stream': { kind: 'boolean', description: 'client: print one JSON object per line as the test runs' },
  length: { kind: 'number', short: 'l', description: 'client: bytes per write (1..16777216, default 131072)' },
  cc: { kind: 'string', description: 'TCP congestion control: tahoe, reno, newreno, cubic, bbr (default cubic)' },
};

const SYNOPSIS =
  'overlay perf -s --addr A.B.C.D [--peer ...] [-p PORT] | perf -c DEST --addr A.B.C.D --peer ... [-p PORT] [-t S] [-i S] [-P N] [-R] [--bidir] [-O S] [-J] [--json-stream] [--cc NAME] [-l LEN]';

const CLIENT_ONLY = ['time', 'interval', 'parallel', 'reverse', 'bidir', 'omit', 'json', 'json-stream', 'length'];

function out(line: string): void {
  process.stdout.write(line + '\n');
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, specs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, specs) + '\n');
    return 0;
  }
  if (p.positional.length > 0) throw new UsageError(`perf: unexpected argument '${p.positional[0]}'`);
  const isServer = boolFlag(p, 'server');
  const dest = stringFlag(p, 'client');
  if (isServer && dest !== undefined) throw new UsageError('perf: -s and -c cannot be used together');
  if (!isServer && dest === undefined) throw new UsageError('perf needs -s (server) or -c DEST (client)');
  const port = numberFlag(p, 'port', 1, 65535)!;
  const tcp = tcpOptionsFromFlags(p);
  if (isServer) {
    for (const f of CLIENT_ONLY) {
      if (p.flags[f] !== undefined) throw new UsageError(`perf: option --${f} applies to the client (-c) only`);
    }
    return runServer(p, port, tcp);
  }
  if (parseIpv4(dest!) === undefined) throw new UsageError(`perf: -c '${dest}' is not an overlay IPv4 address`);
  if (boolFlag(p, 'reverse') && boolFlag(p, 'bidir')) throw new UsageError('perf: -R and --bidir cannot be used together');
  const params: TestParams = {
    streams: numberFlag(p, 'parallel', 1, 128) ?? 1,
    reverse: boolFlag(p, 'reverse'),
    bidir: boolFlag(p, 'bidir'),
    duration: numberFlag(p, 'time', 0.1, 86400, false) ?? 10,
    omit: numberFlag(p, 'omit', 0, 3600, false) ?? 0,
    interval: numberFlag(p, 'interval', 0, 3600, false) ?? 1,
    len: numberFlag(p, 'length', 1, 16 * 1024 * 1024) ?? 128 * 1024,
    ...(tcp.cc ? { cc: tcp.cc } : {}),
  };
  if (params.interval > 0 && params.interval < 0.1) throw new UsageError(`option --interval: ${params.interval} is below 0.1 (0 = no intervals)`);
  return runClientCli(p, dest!, port, params, tcp);
}

async function runClientCli(
  p: ReturnType<typeof parseArgs>,
  dest: string,
  port: number,
  params: TestParams,
  tcp: ReturnType<typeof tcpOptionsFromFlags>,
): Promise<number> {
  const json = boolFlag(p, 'json');
  const stream = boolFlag(p, 'json-stream');
  const { host, observe } = await hostFromFlags(p);
  const stop = async (): Promise<void> => {
    await observe.close().catch(() => {});
    await host.close();
  };
  onShutdown(async () => {
    await stop();
  });
  const role = (sender: boolean): string | undefined => (params.bidir ? (sender ? 'TX-C' : 'RX-C') : undefined);
  let headerDone = false;
  try {
    if (!json && !stream) out(`Connecting to host ${dest}, port ${port}`);
    const report = await runClient({
      host,
      dest,
      port,
      params,
      tcp,
      onStart: (start: StartSection) => {
        if (stream) out(JSON.stringify({ event: 'start', data: start }));
        if (json || stream) return;
        if (params.reverse) out(`Reverse mode, remote host ${dest} is sending`);
        for (const c of start.connected) {
          out(`[${String(c.socket).padStart(3)}] local ${c.local_host} port ${c.local_port} connected to ${c.remote_host} port ${c.remote_port}`);
        }
      },
      onInterval: (iv: Interval) => {
        if (stream) out(JSON.stringify({ event: 'interval', data: iv }));
        if (json || stream) return;
        if (!headerDone) {
          headerDone = true;
          out(intervalHeader(!params.reverse, params.bidir));
        }
        for (const line of intervalLines(iv, role)) out(line);
      },
    });
    if (stream) out(JSON.stringify({ event: 'end', data: report.end }));
    else if (json) out(JSON.stringify(report, null, 2));
    else {
      for (const line of summaryLines(report.end, params, role, true)) out(line);
      out('');
      out('perf Done.');
    }
  } finally {
    await stop();
  }
  return 0;
}

async function runServer(p: ReturnType<typeof parseArgs>, port: number, tcp: ReturnType<typeof tcpOptionsFromFlags>): Promise<number> {
  const { host, observe } = await hostFromFlags(p);
  const bar = '-----------------------------------------------------------';
  let headerDone = false;
  let srv: Awaited<ReturnType<typeof startPerfServer>>;
  try {
    srv = await startPerfServer({
      host,
      port,
      tcp,
      onTest: (client, params) => {
        headerDone = false;
        out(`Accepted connection from ${client.replace(/:(\d+)$/, ', port $1')}`);
        if (params.reverse) out('Reverse mode: this server is sending');
      },
      onConnected: (id, s) => out(`[${String(id).padStart(3)}] local ${s.localAddress} port ${s.localPort} connected to ${s.remoteAddress} port ${s.remotePort}`),
      onInterval: (iv, params) => {
        if (!headerDone) {
          headerDone = true;
          out(intervalHeader(params.reverse || params.bidir, params.bidir));
        }
        for (const line of intervalLines(iv, (sender) => (params.bidir ? (sender ? 'TX-S' : 'RX-S') : undefined))) out(line);
      },
      onEnd: (end, params) => {
        for (const line of summaryLines(end, params, (sender) => (params.bidir ? (sender ? 'TX-S' : 'RX-S') : undefined), false)) out(line);
        out(bar);
        out(`Server listening on ${port}`);
        out(bar);
      },
      onAbort: (why) => {
        out(`perf: test abandoned: ${why}`);
        out(bar);
        out(`Server listening on ${port}`);
        out(bar);
      },
    });
  } catch (e) {
    await observe.close().catch(() => {});
    await host.close();
    throw e;
  }
  out(bar);
  out(`Server listening on ${srv.port} (overlay ${host.addressString})`);
  out(bar);
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  onShutdown(async () => {
    await srv.close();
    await observe.close().catch(() => {});
    await host.close();
    process.exitCode = 0;
    finish(0);
  });
  announceListening(host, srv.port);
  return done;
}
