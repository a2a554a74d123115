/**
 * `overlay forward [host flags] -L [BIND_ADDR:]PORT:DEST:DPORT ... -R OPORT:HOST:PORT ...`
 * Port forwarding between this machine's real TCP and the overlay, like ssh -L / -R:
 *   -L 127.0.0.1:8080:10.77.0.3:80   real 127.0.0.1:8080 -> overlay 10.77.0.3:80
 *   -R 80:127.0.0.1:8000             overlay port 80 of this host -> real 127.0.0.1:8000
 * Byte copying, half-close and reset propagation live in src/apps/forward.ts.
 * When ready, stderr gets one line per forward and then the usual `listening ...` line:
 *   forward -L 127.0.0.1:8080 -> 10.77.0.3:80
 *   forward -R 10.77.0.2:80 -> 127.0.0.1:8000
 *   listening 10.77.0.2 udp=127.0.0.1:40123
 * With -v, one line per finished connection:
 *   L 127.0.0.1:51234 -> 10.77.0.3:80 closed out=20971520 in=311 ms=412
 *   R 10.77.0.3:40001 -> 127.0.0.1:8000 reset (ECONNREFUSED) out=0 in=0 ms=3
 */
import { Counter } from 'prom-client';
import { forwardLocal, forwardRemote, isLoopbackTarget, type Forwarder, type ForwardEvent, type OverlayTcpOptions } from '../apps/forward.js';
import { UsageError } from '../util/errors.js';
import { parseIpv4 } from '../wire/addr.js';
import { boolFlag, listFlag, numberFlag, parseArgs, usage, type FlagSpecs } from './args.js';
import { announceListening, hostFlagSpecs, hostFromFlags, onShutdown, tcpOptionsFromFlags } from './common.js';

const specs: FlagSpecs = {
  ...hostFlagSpecs,
  local: { kind: 'list', short: 'L', description: 'forward real [BIND_ADDR:]PORT to overlay DEST:DPORT, as [BIND_ADDR:]PORT:DEST:DPORT (repeatable)' },
  remote: { kind: 'list', short: 'R', description: 'forward overlay port OPORT of this host to real HOST:PORT, as OPORT:HOST:PORT (repeatable)' },
  'allow-remote': { kind: 'boolean', description: '-R: allow targets that are not loopback addresses' },
  verbose: { kind: 'boolean', short: 'v', description: 'one line per connection on stderr' },
  cc: { kind: 'string', description: 'overlay TCP congestion control: tahoe, reno, newreno, cubic, bbr (default cubic)' },
  nodelay: { kind: 'boolean', description: 'overlay TCP: disable Nagle' },
  keepalive: { kind: 'number', description: 'overlay TCP keepalive: probe after SECONDS idle (0 = off); a dead peer is found 3 probes later (every min(SECONDS, 10))', default: 60 },
};

const SYNOPSIS = 'overlay forward --addr A.B.C.D [--peer PREFIX=HOST:PORT ...] [-L [BIND_ADDR:]PORT:DEST:DPORT ...] [-R OPORT:HOST:PORT ...] [-v]';

function portOf(text: string, what: string, spec: string, allowZero: boolean): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535 || (n === 0 && !allowZero)) {
    throw new UsageError(`forward: ${what} '${text}' in '${spec}' is not a port (${allowZero ? 0 : 1}..65535)`);
  }
  return n;
}

export interface LocalSpec {
  bind: string;
  port: number;
  dest: string;
  dport: number;
}

export interface RemoteSpec {
  oport: number;
  host: string;
  port: number;
}

/** Parses -L [BIND_ADDR:]PORT:DEST:DPORT. */
export function parseLocalSpec(spec: string): LocalSpec {
  const parts = spec.split(':');
  if (parts.length !== 3 && parts.length !== 4) throw new UsageError(`forward: -L '${spec}' is not [BIND_ADDR:]PORT:DEST:DPORT`);
  const [bind, portText, dest, dportText] = parts.length === 4 ? parts : ['127.0.0.1', ...parts];
  if (!bind) throw new UsageError(`forward: -L '${spec}' has an empty BIND_ADDR`);
  if (parseIpv4(dest!) === undefined) throw new UsageError(`forward: -L destination '${dest}' in '${spec}' is not an overlay IPv4 address`);
  return { bind: bind!, port: portOf(portText!, 'port', spec, true), dest: dest!, dport: portOf(dportText!, 'destination port', spec, false) };
}

/** Parses -R OPORT:HOST:PORT. */
export function parseRemoteSpec(spec: string, allowRemote: boolean): RemoteSpec {
  const parts = spec.split(':');
  if (parts.length !== 3) throw new UsageError(`forward: -R '${spec}' is not OPORT:HOST:PORT`);
  const [oport, host, port] = parts as [string, string, string];
  if (!host) throw new UsageError(`forward: -R '${spec}' has an empty HOST`);
  if (!allowRemote && !isLoopbackTarget(host)) {
    throw new UsageError(`forward: -R target '${host}' is not a loopback address (add --allow-remote to allow it)`);
  }
  return { oport: portOf(oport, 'overlay port', spec, true), host, port: portOf(port, 'port', spec, false) };
}

function describe(ev: ForwardEvent): string {
  const r = ev.result;
  const how = r.how === 'closed' ? 'closed' : `reset${r.error?.code ? ` (${r.error.code})` : ''}`;
  return `${ev.kind} ${ev.from} -> ${ev.to} ${how} out=${r.aToB} in=${r.bToA} ms=${ev.ms}`;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, specs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, specs) + '\n');
    return 0;
  }
  if (p.positional.length > 0) throw new UsageError(`forward: unexpected argument '${p.positional[0]}'`);
  const allowRemote = boolFlag(p, 'allow-remote');
  const locals = listFlag(p, 'local').map(parseLocalSpec);
  const remotes = listFlag(p, 'remote').map((s) => parseRemoteSpec(s, allowRemote));
  if (locals.length + remotes.length === 0) throw new UsageError('forward needs at least one -L or -R');
  const keepaliveS = numberFlag(p, 'keepalive', 0, 86400, false)!;
  const tcp: OverlayTcpOptions = { ...tcpOptionsFromFlags(p) };
  if (keepaliveS > 0) Object.assign(tcp, { keepAlive: true, keepAliveIdle: keepaliveS * 1000, keepAliveInterval: Math.min(10_000, keepaliveS * 1000), keepAliveProbes: 3 });
  const verbose = boolFlag(p, 'verbose');

  const { host, observe } = await hostFromFlags(p);
  const counter = observe.registry
    ? new Counter({
        name: 'overlay_forward_connections_total',
        help: 'Forwarded connections that finished, by direction (L, R) and how they ended (closed, reset)',
        labelNames: ['kind', 'how'],
        registers: [observe.registry],
      })
    : undefined;
  const onConnection = (ev: ForwardEvent): void => {
    counter?.inc({ kind: ev.kind, how: ev.result.how });
    if (verbose) process.stderr.write(describe(ev) + '\n');
  };
  const forwarders: Forwarder[] = [];
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const stop = async (): Promise<void> => {
    await Promise.all(forwarders.map((f) => f.close().catch(() => {})));
    await observe.close().catch(() => {});
    await host.close();
  };
  try {
    for (const l of locals) {
      const f = await forwardLocal({ host, tcp, onConnection, bindAddress: l.bind, port: l.port, dest: l.dest, destPort: l.dport });
      forwarders.push(f);
      process.stderr.write(`forward -L ${l.bind}:${f.port} -> ${l.dest}:${l.dport}\n`);
    }
    for (const r of remotes) {
      const f = await forwardRemote({ host, tcp, onConnection, overlayPort: r.oport, targetHost: r.host, targetPort: r.port, allowRemote });
      forwarders.push(f);
      process.stderr.write(`forward -R ${host.addressString}:${f.port} -> ${r.host}:${r.port}\n`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  onShutdown(async () => {
    await stop();
    process.exitCode = 0;
    finish(0);
  });
  announceListening(host);
  return done;
}
