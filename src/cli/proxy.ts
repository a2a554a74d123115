/**
 * `overlay proxy`: the chaos proxy as a process.
 *
 *   overlay proxy --listen 127.0.0.1:40000 [--peer 10.77.0.0/16=127.0.0.1:40001 ...] [--loss 0.01 ...]
 *   overlay proxy --listen 127.0.0.1:40000 --upstream 127.0.0.1:5000 --delay 20 --jitter 5
 *
 * Prints `READY proxy listen=HOST:PORT mode=... seed=N api=... metrics=...` once bound,
 * runs until SIGINT/SIGTERM. Bad flags or config: one line on stderr, exit status 2.
 */
import { readFileSync } from 'node:fs';
import { numberFlag, parseArgs, stringFlag, listFlag, usage, type FlagSpecs, type Parsed } from './args.js';
import { UsageError } from '../util/errors.js';
import { createProxy, type Proxy } from '../chaos/proxy.js';
import { parsePeer, quickImpairments, type ProxyConfig, type QuickFlags } from '../chaos/config.js';
import { ChaosConfigError } from '../chaos/rules.js';

const SPECS: FlagSpecs = {
  listen: { kind: 'string', short: 'l', description: 'HOST:PORT to listen on (UDP)' },
  upstream: { kind: 'string', short: 'u', description: 'relay mode: HOST:PORT to relay to' },
  peer: { kind: 'list', description: 'router mode: static route PREFIX=HOST:PORT (repeatable)' },
  learn: { kind: 'boolean', description: 'router mode: learn routes from source addresses (default on; --learn=false to disable)' },
  'router-address': { kind: 'string', description: 'router overlay address for ICMP errors (default 10.77.255.254)' },
  seed: { kind: 'number', description: 'the run\'s seed (default random, printed)' },
  loss: { kind: 'number', description: 'loss probability on every link, both directions' },
  burst: { kind: 'number', description: 'mean loss burst length (switches --loss to Gilbert-Elliott)' },
  dup: { kind: 'number', description: 'duplicate probability' },
  reorder: { kind: 'number', description: 'reorder probability (held behind the next packet)' },
  corrupt: { kind: 'number', description: 'corrupt probability (one bit in the transport header/payload)' },
  delay: { kind: 'number', description: 'one-way delay, ms' },
  jitter: { kind: 'number', description: 'delay jitter, ms (uniform, order preserved)' },
  rate: { kind: 'string', description: 'bottleneck rate, e.g. 20mbit, 1gbit, 500kbit' },
  queue: { kind: 'string', description: 'bottleneck queue: packets (100) or bytes (64kb)' },
  mtu: { kind: 'number', description: 'drop packets larger than this' },
  config: { kind: 'string', short: 'c', description: 'JSON config file (see docs/chaos.md)' },
  api: { kind: 'string', description: 'HTTP control API HOST:PORT (PORT alone: loopback)' },
  metrics: { kind: 'string', description: 'Prometheus /metrics HOST:PORT' },
  log: { kind: 'string', description: 'write the decision log (msgpack) to FILE' },
  replay: { kind: 'string', description: 'apply the decisions of a recorded log instead of drawing' },
  pcap: { kind: 'string', description: 'write every packet the proxy sends to a pcap FILE' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};

const SYNOPSIS = 'overlay proxy --listen HOST:PORT [--peer PREFIX=HOST:PORT ...] [--upstream HOST:PORT] [options]';

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`config ${path} is not a JSON object: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Builds the proxy config from the flags (and the config file they name). */
export function configFromArgs(p: Parsed): ProxyConfig {
  const configPath = stringFlag(p, 'config');
  const cfg = (configPath ? readConfigFile(configPath) : {}) as Record<string, unknown>;
  const set = (key: string, v: unknown): void => {
    if (v !== undefined) cfg[key] = v;
  };
  set('listen', stringFlag(p, 'listen'));
  set('upstream', stringFlag(p, 'upstream'));
  set('routerAddress', stringFlag(p, 'router-address'));
  set('seed', numberFlag(p, 'seed', 0, 0xffffffff));
  if (p.flags.learn !== undefined) set('learn', p.flags.learn === true);
  for (const k of ['api', 'metrics', 'log', 'replay', 'pcap']) set(k, stringFlag(p, k));
  const peers = listFlag(p, 'peer');
  if (peers.length) {
    const map = { ...((cfg.peers as Record<string, string> | undefined) ?? {}) };
    for (const text of peers) {
      parsePeer(text);
      const eq = text.indexOf('=');
      map[text.slice(0, eq)] = text.slice(eq + 1);
    }
    cfg.peers = map;
  }
  if (cfg.listen === undefined) throw new UsageError('--listen HOST:PORT is required');
  if (cfg.upstream !== undefined && peers.length) throw new UsageError('--peer is for router mode, --upstream for relay mode: not both');
  const quick: QuickFlags = {};
  for (const k of ['loss', 'burst', 'dup', 'reorder', 'corrupt', 'delay', 'jitter', 'mtu'] as const) {
    const v = p.flags[k];
    if (v !== undefined) quick[k] = v as number;
  }
  if (p.flags.rate !== undefined) quick.rate = String(p.flags.rate);
  if (p.flags.queue !== undefined) quick.queue = String(p.flags.queue);
  const imp = quickImpairments(quick);
  if (imp.length) cfg.impairments = [...((cfg.impairments as unknown[] | undefined) ?? []), ...imp];
  return cfg as unknown as ProxyConfig;
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, SPECS);
  if (p.flags.help) {
    process.stdout.write(usage(SYNOPSIS, SPECS) + '\n');
    return 0;
  }
  if (p.positional.length) throw new UsageError(`unexpected argument '${p.positional[0]}'`);
  let proxy: Proxy;
  try {
    proxy = await createProxy(configFromArgs(p));
  } catch (err) {
    if (err instanceof ChaosConfigError) throw new UsageError(err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES') throw new UsageError(e.message);
    throw err;
  }
  const a = proxy.address();
  const show = (e?: { address: string; port: number }): string => (e ? `${e.address}:${e.port}` : '-');
  process.stdout.write(`READY proxy listen=${a.address}:${a.port} mode=${proxy.mode} seed=${proxy.seed} api=${show(proxy.apiAddress)} metrics=${show(proxy.metricsAddress)}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await proxy.close();
  return 0;
}
