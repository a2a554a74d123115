/** `overlay plot TRACE -o FILE.svg --kind cwnd|seq|rtt [--conn LABEL] [--list]` */
import { writeFile } from 'node:fs/promises';
import { UsageError } from '../util/errors.js';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { groupByConnection, pickConnection, plot, summarize, PLOT_KINDS, type PlotKind } from '../trace/plot.js';
import { readTrace, type TraceRecord } from '../trace/trace.js';

const SPECS: FlagSpecs = {
  kind: { kind: 'string', short: 'k', description: 'cwnd | seq | rtt', default: 'cwnd' },
  output: { kind: 'string', short: 'o', description: 'SVG file to write (default: standard output)' },
  conn: { kind: 'string', short: 'c', description: 'connection LADDR:LPORT-RADDR:RPORT (default: the one that sent most)' },
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
  if (!PLOT_KINDS.includes(kind)) throw new UsageError(`--kind must be one of ${PLOT_KINDS.join(', ')}`);
  const file = p.positional[0]!;
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
  const ev = groups.get(conn)!;
  const span = ev.length ? (ev[ev.length - 1]!.t - ev[0]!.t) / 1000 : 0;
  if (from !== undefined && from > span) throw new UsageError(`--from ${from}: past the end of ${conn} in ${file} (its events span ${span.toFixed(3)} s)`);
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
