/**
 * `overlay chaos [--api HOST:PORT] COMMAND ...`: changes a running proxy through its HTTP
 * API (started with `overlay proxy --api HOST:PORT`).
 *
 *   links                                   list links with counters and toxics
 *   show LINK                               one link as JSON
 *   set STAGE [PARAM] VALUE [--link L] [--dir up|down|both]
 *                                           e.g. set loss 0.02 --link 10.77.0.2-10.77.0.3 --dir up
 *   clear STAGE [--link L]                  remove a stage's toxics
 *   add JSON [--link L]                     add a toxic (rule), e.g. '{"stage":"loss","match":{"flags":"SA","count":1}}'
 *   rm NAME [--link L]                      remove a toxic
 *   reset                                   remove every toxic
 *   stats                                   counters as JSON
 *
 * A bad value is one line on stderr and exit 2; an unreachable API exit 1.
 */
import { ApiError, request } from './http-json.js';
import { parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { UsageError } from '../util/errors.js';
import { parseEndpoint } from '../wire/addr.js';
import { PRIMARY_PARAM, parseDirection, parseStage, ChaosConfigError } from '../chaos/rules.js';

export const DEFAULT_API = '127.0.0.1:8474';

const SPECS: FlagSpecs = {
  api: { kind: 'string', description: `the proxy's API HOST:PORT (default $OVERLAY_CHAOS_API or ${DEFAULT_API})` },
  link: { kind: 'string', description: "link name (e.g. 10.77.0.2-10.77.0.3) or '*' for every link", default: '*' },
  dir: { kind: 'string', description: 'up, down or both', default: 'both' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};

const SYNOPSIS = 'overlay chaos [--api HOST:PORT] links|show LINK|set STAGE [PARAM] VALUE|clear STAGE|add JSON|rm NAME|reset|stats [--link L] [--dir D]';

/** A command-line value: number, boolean, or the string as given (e.g. 20mbit). */
function parseValue(text: string): unknown {
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text.startsWith('[') || text.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(`bad JSON value ${text}`);
    }
  }
  return text;
}

function linksTable(links: Array<Record<string, any>>): string {
  if (links.length === 0) return 'no links yet (a link appears with its first packet)';
  const rows = [['LINK', 'UP in/out', 'DOWN in/out', 'QUEUE up/down', 'TOXICS']];
  for (const l of links) {
    const toxics = (l.toxics as Array<Record<string, unknown>>).map((t) => `${t.link === '*' ? '*/' : ''}${String(t.name)}`).join(',');
    rows.push([
      String(l.name),
      `${l.up.packetsIn}/${l.up.packetsOut}`,
      `${l.down.packetsIn}/${l.down.packetsOut}`,
      `${l.up.queuePackets}/${l.down.queuePackets}`,
      toxics || '-',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, SPECS);
  if (p.flags.help) {
    process.stdout.write(usage(SYNOPSIS, SPECS) + '\n');
    return 0;
  }
  const apiText = stringFlag(p, 'api') ?? process.env.OVERLAY_CHAOS_API ?? DEFAULT_API;
  const api = /^\d+$/.test(apiText) ? { address: '127.0.0.1', port: Number(apiText) } : parseEndpoint(apiText);
  if (!api) throw new UsageError(`bad --api '${apiText}' (HOST:PORT)`);
  const link = encodeURIComponent(stringFlag(p, 'link') ?? '*');
  const [cmd, ...args] = p.positional;
  const out = (v: unknown): void => {
    process.stdout.write((typeof v === 'string' ? v : JSON.stringify(v, null, 2)) + '\n');
  };
  const need = (n: number, what: string): void => {
    if (args.length < n) throw new UsageError(`${cmd} needs ${what}`);
  };
  try {
    switch (cmd) {
      case 'links':
        out(linksTable((await request(api, 'GET', '/links')) as Array<Record<string, unknown>>));
        return 0;
      case 'show':
        need(1, 'a LINK');
        out(await request(api, 'GET', `/links/${encodeURIComponent(args[0]!)}`));
        return 0;
      case 'set': {
        need(1, 'a STAGE');
        const stage = parseStage(args[0]);
        const dir = parseDirection(stringFlag(p, 'dir'));
        const params: Record<string, unknown> = {};
        if (args.length === 2) {
          if (!PRIMARY_PARAM[stage]) throw new UsageError(`${stage} takes no value`);
          params[PRIMARY_PARAM[stage]] = parseValue(args[1]!);
        } else if (args.length === 3) {
          params[args[1]!] = parseValue(args[2]!);
        } else if (args.length > 3) {
          throw new UsageError('set takes STAGE [PARAM] VALUE');
        } else if (stage !== 'partition') {
          throw new UsageError(`set ${stage} needs a VALUE`);
        }
        out(await request(api, 'POST', `/links/${link}/stages/${stage}`, { direction: dir, params, merge: true }));
        return 0;
      }
      case 'clear':
        need(1, 'a STAGE');
        out(await request(api, 'DELETE', `/links/${link}/stages/${parseStage(args[0])}`));
        return 0;
      case 'add': {
        need(1, 'a JSON toxic');
        let spec: unknown;
        try {
          spec = JSON.parse(args[0]!);
        } catch {
          throw new UsageError('add needs a JSON object, e.g. \'{"stage":"loss","params":{"p":0.1}}\'');
        }
        out(await request(api, 'POST', `/links/${link}/toxics`, spec));
        return 0;
      }
      case 'rm':
        need(1, 'a toxic NAME');
        await request(api, 'DELETE', `/links/${link}/toxics/${encodeURIComponent(args[0]!)}`);
        return 0;
      case 'reset':
        await request(api, 'POST', '/reset');
        return 0;
      case 'stats':
        out(await request(api, 'GET', '/stats'));
        return 0;
      case undefined:
        throw new UsageError(`a command is needed: ${SYNOPSIS}`);
      default:
        throw new UsageError(`unknown chaos command '${cmd}' (links, show, set, clear, add, rm, reset, stats)`);
    }
  } catch (err) {
    if (err instanceof ChaosConfigError) throw new UsageError(err.message);
    if (err instanceof ApiError) {
      process.stderr.write(`overlay: ${err.message}\n`);
      return err.exit;
    }
    throw err;
  }
}
