/** `overlay plot TRACE -o FILE.svg --kind cwnd|seq|rtt [--conn LABEL] [--list]` */
import { writeFile } from 'node:fs/promises';
import { UsageError } from '../util/errors.js';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { groupByConnection, pickConnection, plot, summarize, PLOT_KINDS, type PlotKind } from '../trace/plot.js';
import { readTrace, type TraceRecord } from '../trace/trace.js';
import { plotMulti, plotQueue, plotThroughput, plotWindow } from '../trace/plot-views.js';
import { readDecisionLog } from '../chaos/decision-log.js';

/** Views of plot-views.ts: `--kind throughput|window`, `--conn all` (every connection on one figure), `--kind queue` (a proxy's decision log). */
const VIEW_KINDS = ['throughput', 'window', 'queue'] as const;

const SPECS: FlagSpecs = {
  kind: { kind: 'string', short: 'k', description: 'cwnd | seq | rtt | throughput | window | queue (a proxy --log FILE)', default: 'cwnd' },
  output: { kind: 'string', short: 'o', description: 'SVG file to write (default: standard output)' },
  conn: { kind: 'string', short: 'c', description: 'connection LADDR:LPORT-RADDR:RPORT (default: the one that sent most); "all": every sender on one figure' },
  bin: { kind: 'number', description: 'time bin for throughput, seconds' },
  title: { kind: 'string', description: 'plot title' },
  from: { kind: 'number', description: 'start of the time window, seconds after the connection began' },
  to: { kind: 'number', description: 'end of the time window, seconds' },
  list: { kind: 'boolean', description: 'list the connections in the trace and exit' },
  json: { kind: 'boolean', description: 'print the events as JSON lines (for jq, pandas, ...) instead of plotting' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};
const SYNOPSIS = 'overlay plot TRACE [-o FILE.svg] [--kind cwnd|seq|rtt] [--conn LABEL] [--from S] [--to S] [--list] [--json]';

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, SPECS);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, SPECS) + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(`expected one trace file (${SYNOPSIS})`);
  const kind = stringFlag(p, 'kind') as PlotKind;
  const viewKind = VIEW_KINDS.find((k) => k === (kind as string));
  if (!PLOT_KINDS.includes(kind) && !viewKind) throw new UsageError(`--kind must be one of ${[...PLOT_KINDS, ...VIEW_KINDS].join(', ')}`);
  const file = p.positional[0]!;
  if (viewKind === 'queue') return writeSvg(p, queueFromLog(file), 'queue', file);
  if (boolFlag(p, 'json')) {
    const wanted = stringFlag(p, 'conn');
    for await (const r of readTrace(file)) {
      if (wanted !== undefined && r.c !== wanted) continue;
      if (!process.stdout.write(JSON.stringify(r) + '\n')) await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
    return 0;
  }
  const records: TraceRecord[] = [];
  for await (const r of readTrace(file)) records.push(r);
  const groups = groupByConnection(records);
  if (boolFlag(p, 'list')) {
    for (const s of summarize(groups)) {
      process.stdout.write(`${s.conn}  events ${s.events}  bytes sent ${s.bytesSent}  retransmits ${s.retransmits}\n`);
    }
    return 0;
  }
  if (stringFlag(p, 'conn') === 'all' || viewKind) {
    const bin = numberFlag(p, 'bin', 0.001, 3600, false);
    const vo = { ...(stringFlag(p, 'title') ? { title: stringFlag(p, 'title')! } : {}), ...(bin !== undefined ? { binS: bin } : {}) };
    if (stringFlag(p, 'conn') === 'all') {
      const mk = kind as string;
      if (mk !== 'cwnd' && mk !== 'seq' && mk !== 'throughput') throw new UsageError('--conn all plots cwnd, seq or throughput');
      const senders = summarize(groups).filter((c) => c.bytesSent > 0);
      if (!senders.length) throw new UsageError(`${file}: no connection sent data`);
      return writeSvg(p, plotMulti(mk, senders.map((c) => ({ label: c.conn, events: groups.get(c.conn)! })), vo), kind, 'all connections');
    }
    let one: string;
    try {
      one = pickConnection(groups, stringFlag(p, 'conn'));
    } catch (e) {
      throw new UsageError(`${file}: ${(e as Error).message}`);
    }
    const evs = groups.get(one)!;
    return writeSvg(p, viewKind === 'window' ? plotWindow(evs, one, vo) : plotThroughput(evs, one, vo), kind, one);
  }
  let conn: string;
  try {
    conn = pickConnection(groups, stringFlag(p, 'conn'));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  const title = stringFlag(p, 'title');
  const from = numberFlag(p, 'from', 0, 1e9, false);
  const to = numberFlag(p, 'to', 0, 1e9, false);
  if (from !== undefined && to !== undefined && to <= from) throw new UsageError('--to must be after --from');
  const svg = plot(kind, groups.get(conn)!, { conn, ...(title ? { title } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  const out = stringFlag(p, 'output');
  if (out) {
    await writeFile(out, svg);
    process.stderr.write(`wrote ${out} (${kind}, ${conn})\n`);
  } else {
    process.stdout.write(svg);
  }
  return 0;
}

async function writeSvg(p: ReturnType<typeof parseArgs>, svg: string, kind: string, what: string): Promise<number> {
  const out = stringFlag(p, 'output');
  if (out) {
    await writeFile(out, svg);
    process.stderr.write(`wrote ${out} (${kind}, ${what})\n`);
  } else {
    process.stdout.write(svg);
  }
  return 0;
}

/** The bottleneck decisions of a proxy's decision log (`overlay proxy --log FILE`). */
function queueFromLog(file: string): string {
  let decisions: ReturnType<typeof readDecisionLog>['decisions'];
  try {
    decisions = readDecisionLog(file).decisions;
  } catch (e) {
    throw new UsageError(`${file}: not a decision log (${(e as Error).message})`);
  }
  const samples = decisions
    .filter((d) => d.g === 'bottleneck')
    .map((d) => ({ t: d.t, lane: `${d.l} ${d.d}`, dropped: d.v === 'dropped', ...(typeof d.x === 'number' ? { delayMs: d.x } : {}) }));
  if (!samples.length) throw new UsageError(`${file}: no bottleneck decisions (was the proxy run with --rate?)`);
  return plotQueue(samples);
}
