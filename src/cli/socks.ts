/**
 * `overlay socks [host flags] [--listen 127.0.0.1:1080] [--hosts FILE] [--auth FILE] [-v]`
 * A SOCKS5 proxy (RFC 1928 CONNECT, RFC 1929 username/password with --auth) whose targets
 * are overlay hosts: IPv4 addresses this host has a route to (--peer, or learned with
 * --learn), or names from --hosts FILE (/etc/hosts format). The protocol lives in
 * src/apps/socks.ts. When ready, stderr gets:
 *   socks 127.0.0.1:1080
 *   listening 10.77.0.2 udp=127.0.0.1:40123
 * and with -v one line per request:
 *   socks 127.0.0.1:51234 -> web.overlay:80=10.77.0.3 ok out=75 in=20971726 ms=412
 *   socks 127.0.0.1:51240 -> 8.8.8.8:53 refused 3
 */
import { readFileSync } from 'node:fs';
import { Counter } from 'prom-client';
import { createSocksServer, parseAuthFile, parseHostsFile, type SocksEvent } from '../apps/socks.js';
import { listened } from '../apps/listen.js';
import { UsageError } from '../util/errors.js';
import { parseEndpoint } from '../wire/addr.js';
import { boolFlag, numberFlag, parseArgs, stringFlag, usage, type FlagSpecs } from './args.js';
import { announceListening, hostFlagSpecs, hostFromFlags, onShutdown, tcpOptionsFromFlags } from './common.js';

const specs: FlagSpecs = {
  ...hostFlagSpecs,
  listen: { kind: 'string', short: 'l', description: 'real HOST:PORT to serve SOCKS5 on (port 0 = any)', default: '127.0.0.1:1080' },
  hosts: { kind: 'string', description: 'names of overlay hosts, /etc/hosts format (ADDRESS NAME...)' },
  auth: { kind: 'string', description: 'require RFC 1929 username/password; FILE has USER:PASSWORD lines' },
  'connect-timeout': { kind: 'number', description: 'seconds an overlay connection may take before the client gets reply 4 (host unreachable)', default: 10 },
  verbose: { kind: 'boolean', short: 'v', description: 'one line per request on stderr' },
  cc: { kind: 'string', description: 'overlay TCP congestion control: tahoe, reno, newreno, cubic, bbr (default cubic)' },
  nodelay: { kind: 'boolean', description: 'overlay TCP: disable Nagle' },
};

const SYNOPSIS = 'overlay socks --addr A.B.C.D [--peer PREFIX=HOST:PORT ...] [--listen 127.0.0.1:1080] [--hosts FILE] [--auth FILE] [-v]';

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const err = new Error(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`) as Error & { code?: string };
    err.code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw err;
  }
}

function describe(ev: SocksEvent): string {
  if (ev.reply !== 0) return `socks ${ev.client} -> ${ev.target} refused ${ev.reply}`;
  const r = ev.result!;
  const how = r.how === 'closed' ? 'ok' : `reset${r.error?.code ? ` (${r.error.code})` : ''}`;
  return `socks ${ev.client} -> ${ev.target} ${how} out=${r.aToB} in=${r.bToA} ms=${ev.ms}`;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, specs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, specs) + '\n');
    return 0;
  }
  if (p.positional.length > 0) throw new UsageError(`socks: unexpected argument '${p.positional[0]}'`);
  const listenText = stringFlag(p, 'listen')!;
  const listen = parseEndpoint(listenText);
  if (!listen) throw new UsageError(`option --listen: '${listenText}' is not HOST:PORT (port 0..65535)`);
  const tcp = tcpOptionsFromFlags(p);
  const hostsFile = stringFlag(p, 'hosts');
  const authFile = stringFlag(p, 'auth');
  const hosts = hostsFile !== undefined ? parseHostsFile(readText('hosts', hostsFile)) : undefined;
  let users: Map<string, string> | undefined;
  if (authFile !== undefined) {
    try {
      users = parseAuthFile(readText('auth', authFile));
    } catch (e) {
      if ((e as { code?: string }).code) throw e;
      throw new UsageError(`option --auth: ${(e as Error).message}`);
    }
    if (users.size === 0) throw new UsageError(`option --auth: ${authFile} has no USER:PASSWORD line`);
  }
  const verbose = boolFlag(p, 'verbose');
  const connectTimeoutS = numberFlag(p, 'connect-timeout', 0.1, 3600, false)!;

  const { host, observe } = await hostFromFlags(p);
  const counter = observe.registry
    ? new Counter({
        name: 'overlay_socks_requests_total',
        help: 'SOCKS5 requests by reply code (0 = succeeded)',
        labelNames: ['reply'],
        registers: [observe.registry],
      })
    : undefined;
  const socks = createSocksServer({
    host,
    tcp,
    ...(hosts ? { hosts } : {}),
    ...(users ? { users } : {}),
    connectTimeoutMs: connectTimeoutS * 1000,
    reachable: (a) => a === host.addressString || host.route(a) !== undefined,
    onRequest: (ev) => {
      counter?.inc({ reply: String(ev.reply) });
      if (verbose) process.stderr.write(describe(ev) + '\n');
    },
  });
  const stop = async (): Promise<void> => {
    await socks.close();
    await observe.close().catch(() => {});
    await host.close();
  };
  try {
    await listened(socks.server, (done) => socks.server.listen({ host: listen.address, port: listen.port }, done));
  } catch (e) {
    await stop();
    throw e;
  }
  socks.server.on('error', () => {});
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  onShutdown(async () => {
    await stop();
    process.exitCode = 0;
    finish(0);
  });
  const a = socks.server.address() as { address: string; port: number };
  process.stderr.write(`socks ${a.address}:${a.port}\n`);
  announceListening(host);
  return done;
}
