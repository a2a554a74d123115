/**
 * The proxy configuration (the JSON config file and the TS API share it) and the quick
 * flags that become '*' toxics. Validation throws ChaosConfigError with one line.
 */
import { parseEndpoint, parseIpv4, parsePrefix } from '../wire/addr.js';
import {
  ChaosConfigError,
  compileToxic,
  normalizeParams,
  parseDirection,
  parseQueue,
  parseRate,
  parseStage,
  type DirSpec,
  type StageName,
  type ToxicSpec,
} from './rules.js';
import { DEFAULT_ROUTER_ADDRESS, type Endpoint, type StaticPeer } from './router.js';

export interface ProxyConfig {
  /** router (default without upstream) or relay (default with upstream). */
  mode?: 'router' | 'relay';
  /** HOST:PORT to listen on (port 0 picks one). */
  listen: string;
  /** Relay mode: HOST:PORT of the upstream. */
  upstream?: string;
  /** Router mode: static routes, prefix -> HOST:PORT. */
  peers?: Record<string, string>;
  /** Router mode: learn routes from source addresses (default true). */
  learn?: boolean;
  /** Router mode: the router's overlay address (default 10.77.255.254). */
  routerAddress?: string;
  /** The run's seed (default: random, reported by stats()). */
  seed?: number;
  /** Base impairments (like setImpairment): `link` defaults to '*', `direction` to both. */
  impairments?: ImpairmentSpec[];
  /** Toxics (rules) to install at start; `link` defaults to '*' (every link). */
  toxics?: Array<ToxicSpec & { link?: string }>;
  /** HTTP control API HOST:PORT (loopback by default when only a port is given). */
  api?: string;
  /** Prometheus /metrics HOST:PORT. */
  metrics?: string;
  /** Decision log file (msgpack) to write. */
  log?: string;
  /** Decision log file to replay instead of drawing. */
  replay?: string;
  /** pcap file of every packet the proxy sends (after impairment). */
  pcap?: string;
}

const KNOWN = ['mode', 'listen', 'upstream', 'peers', 'learn', 'routerAddress', 'seed', 'impairments', 'toxics', 'api', 'metrics', 'log', 'replay', 'pcap'];

function fail(msg: string): never {
  throw new ChaosConfigError(msg);
}

/** `HOST:PORT`, or `PORT` alone meaning 127.0.0.1:PORT. */
export function parseHostPort(text: unknown, what: string): Endpoint {
  if (typeof text === 'number' || (typeof text === 'string' && /^\d+$/.test(text))) {
    const port = Number(text);
    if (port <= 65535) return { address: '127.0.0.1', port };
  }
  const e = typeof text === 'string' ? parseEndpoint(text) : undefined;
  if (!e) fail(`${what}: bad address ${JSON.stringify(text)} (HOST:PORT)`);
  return e;
}

export interface ImpairmentSpec {
  link?: string;
  direction?: 'up' | 'down' | 'both';
  stage: string;
  params?: Record<string, unknown>;
}

export interface ResolvedConfig {
  mode: 'router' | 'relay';
  listen: Endpoint;
  upstream?: Endpoint;
  peers: StaticPeer[];
  learn: boolean;
  routerAddress: number;
  seed: number;
  impairments: Array<{ link: string; direction: DirSpec; stage: StageName; params: Record<string, unknown> }>;
  toxics: Array<{ link: string; spec: ToxicSpec }>;
  api?: Endpoint;
  metrics?: Endpoint;
  log?: string;
  replay?: string;
  pcap?: string;
}

/** Validates a config object (from JSON or code). */
export function resolveConfig(raw: unknown): ResolvedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('config must be a JSON object');
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!KNOWN.includes(k)) fail(`unknown config field '${k}' (known: ${KNOWN.join(', ')})`);
  if (c.listen === undefined) fail('config needs listen (HOST:PORT)');
  const listen = parseHostPort(c.listen, 'listen');
  const upstream = c.upstream !== undefined ? parseHostPort(c.upstream, 'upstream') : undefined;
  const mode = c.mode ?? (upstream ? 'relay' : 'router');
  if (mode !== 'router' && mode !== 'relay') fail(`mode must be router or relay, not ${JSON.stringify(c.mode)}`);
  if (mode === 'relay' && !upstream) fail('relay mode needs upstream (HOST:PORT)');
  if (mode === 'router' && upstream) fail('upstream is only for relay mode');
  const peers: StaticPeer[] = [];
  if (c.peers !== undefined) {
    if (typeof c.peers !== 'object' || c.peers === null || Array.isArray(c.peers)) fail('peers must be an object {"PREFIX": "HOST:PORT"}');
    for (const [p, e] of Object.entries(c.peers as Record<string, unknown>)) peers.push(parsePeer(`${p}=${String(e)}`));
  }
  if (c.learn !== undefined && typeof c.learn !== 'boolean') fail('learn must be true or false');
  const ra = parseIpv4(String(c.routerAddress ?? DEFAULT_ROUTER_ADDRESS));
  if (ra === undefined) fail(`bad routerAddress ${JSON.stringify(c.routerAddress)}`);
  let seed: number;
  if (c.seed === undefined) seed = (Math.random() * 0x100000000) >>> 0;
  else if (typeof c.seed === 'number' && Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= 0xffffffff) seed = c.seed;
  else fail(`seed must be an integer 0..4294967295, not ${JSON.stringify(c.seed)}`);
  const toxics: ResolvedConfig['toxics'] = [];
  if (c.toxics !== undefined) {
    if (!Array.isArray(c.toxics)) fail('toxics must be a list');
    for (const t of c.toxics as Array<Record<string, unknown>>) {
      if (typeof t !== 'object' || t === null) fail('each toxic must be an object');
      const { link, ...spec } = t;
      if (link !== undefined && typeof link !== 'string') fail('toxic link must be a string');
      compileToxic(spec, 0); // validate now: a bad config fails at start, not at first packet
      toxics.push({ link: (link as string | undefined) ?? '*', spec: spec as ToxicSpec });
    }
  }
  const impairments: ResolvedConfig['impairments'] = [];
  if (c.impairments !== undefined) {
    if (!Array.isArray(c.impairments)) fail('impairments must be a list');
    for (const i of c.impairments as Array<Record<string, unknown>>) {
      if (typeof i !== 'object' || i === null) fail('each impairment must be an object');
      for (const k of Object.keys(i)) if (!['link', 'direction', 'stage', 'params'].includes(k)) fail(`unknown impairment field '${k}' (link, direction, stage, params)`);
      if (i.link !== undefined && typeof i.link !== 'string') fail('impairment link must be a string');
      const stage = parseStage(i.stage);
      const params = (i.params ?? {}) as Record<string, unknown>;
      normalizeParams(stage, params);
      impairments.push({ link: (i.link as string | undefined) ?? '*', direction: parseDirection(i.direction), stage, params });
    }
  }
  const out: ResolvedConfig = { mode, listen, peers, learn: (c.learn as boolean | undefined) ?? true, routerAddress: ra, seed, impairments, toxics };
  if (upstream) out.upstream = upstream;
  if (c.api !== undefined) out.api = parseHostPort(c.api, 'api');
  if (c.metrics !== undefined) out.metrics = parseHostPort(c.metrics, 'metrics');
  for (const k of ['log', 'replay', 'pcap'] as const) {
    if (c[k] === undefined) continue;
    if (typeof c[k] !== 'string' || c[k] === '') fail(`${k} must be a file name`);
    out[k] = c[k] as string;
  }
  return out;
}

/** `PREFIX=HOST:PORT` as given to --peer. */
export function parsePeer(text: string): StaticPeer {
  const eq = text.indexOf('=');
  const prefix = eq > 0 ? parsePrefix(text.slice(0, eq)) : undefined;
  const endpoint = eq > 0 ? parseEndpoint(text.slice(eq + 1)) : undefined;
  if (!prefix || !endpoint) fail(`bad peer '${text}' (PREFIX=HOST:PORT, e.g. 10.77.0.0/16=127.0.0.1:40000)`);
  return { prefix, endpoint };
}

export interface QuickFlags {
  loss?: number;
  burst?: number;
  dup?: number;
  reorder?: number;
  corrupt?: number;
  delay?: number;
  jitter?: number;
  rate?: string;
  queue?: string;
  mtu?: number;
}

function prob(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!(v >= 0 && v <= 1)) fail(`--${name} must be a probability in 0..1, not ${v}`);
  return v;
}

/** The quick flags as base impairments of every link ('*') in both directions. */
export function quickImpairments(f: QuickFlags): ImpairmentSpec[] {
  const out: ImpairmentSpec[] = [];
  const loss = prob(f.loss, 'loss');
  if (f.burst !== undefined) {
    if (loss === undefined) fail('--burst needs --loss (the mean loss rate)');
    if (!(f.burst >= 1)) fail(`--burst is a mean burst length >= 1, not ${f.burst}`);
    out.push({ stage: 'loss', params: { loss, burst: f.burst } });
  } else if (loss !== undefined) {
    out.push({ stage: 'loss', params: { p: loss } });
  }
  const dup = prob(f.dup, 'dup');
  if (dup !== undefined) out.push({ stage: 'duplicate', params: { p: dup } });
  const corrupt = prob(f.corrupt, 'corrupt');
  if (corrupt !== undefined) out.push({ stage: 'corrupt', params: { p: corrupt } });
  if (f.mtu !== undefined) out.push({ stage: 'mtu', params: { mtu: f.mtu } });
  const reorder = prob(f.reorder, 'reorder');
  if (reorder !== undefined) out.push({ stage: 'reorder', params: { p: reorder } });
  if (f.delay !== undefined || f.jitter !== undefined) {
    if (f.delay !== undefined && !(f.delay >= 0)) fail(`--delay must be >= 0 ms, not ${f.delay}`);
    if (f.jitter !== undefined && !(f.jitter >= 0)) fail(`--jitter must be >= 0 ms, not ${f.jitter}`);
    out.push({ stage: 'delay', params: { ms: f.delay ?? 0, jitter: f.jitter ?? 0 } });
  }
  if (f.rate !== undefined) {
    const params: Record<string, unknown> = { rate: parseRate(f.rate) };
    if (f.queue !== undefined) params.queue = f.queue;
    out.push({ stage: 'bottleneck', params });
  } else if (f.queue !== undefined) {
    parseQueue(f.queue);
    fail('--queue needs --rate (the bottleneck it belongs to)');
  }
  // Validate every one now.
  for (const t of out) normalizeParams(parseStage(t.stage), t.params);
  return out;
}
