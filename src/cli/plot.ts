/** `overlay plot TRACE -o FILE.svg --kind cwnd|seq|rtt [--conn LABEL] [--list]` */
import { writeFile } from 'node:fs/promises';
import { UsageError } from '../util/errors.js';
import { boolFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { groupByConnection, pickConnection, plot, summarize, PLOT_KINDS, type PlotKind } from '../trace/plot.js';
import { readTrace, type TraceRecord } from '../trace/trace.js';

const SPECS: FlagSpecs = {
  kind: { kind: 'string', short: 'k', description: 'cwnd | seq | rtt', default: 'cwnd' },
  output: { kind: 'string', short: 'o', description: 'SVG file to write (default: standard output)' },
  conn: { kind: 'string', short: 'c', description: 'connection LADDR:LPORT-RADDR:RPORT (default: the one that sent most)' },
  title: { kind: 'string', description: 'plot title' },
  list: { kind: 'boolean', description: 'list the connections in the trace and exit' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};
const SYNOPSIS = 'overlay plot TRACE [-o FILE.svg] [--kind cwnd|seq|rtt] [--conn LABEL] [--list]';

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
  const svg = plot(kind, groups.get(conn)!, { conn, ...(title ? { title } : {}) });
  const out = stringFlag(p, 'output');
  if (out) {
    await writeFile(out, svg);
    process.stderr.write(`wrote ${out} (${kind}, ${conn})\n`);
  } else {
    process.stdout.write(svg);
  }
  return 0;
}
