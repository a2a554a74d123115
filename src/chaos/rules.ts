/**
 * The chaos model: stages, their parameters, matches on inner headers, schedules, and the
 * "toxic" (Toxiproxy's word) that binds them: a named impairment of one stage on one link
 * (or every link, '*') in one or both directions, optionally restricted by a match and a
 * schedule. Everything a user hands in (TS API, JSON config, HTTP) is validated here and
 * normalized; a bad value throws a ChaosConfigError with a one-line message.
 */
import { parsePrefix, prefixContains, type Prefix } from '../wire/addr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import type { InnerView } from './inner.js';

export type Direction = 'up' | 'down';
export type DirSpec = Direction | 'both';

/** The fixed stage order of every link direction. */
export const STAGES = ['partition', 'loss', 'duplicate', 'corrupt', 'mtu', 'reorder', 'delay', 'bottleneck'] as const;
export type StageName = (typeof STAGES)[number];

const STAGE_ALIASES: Record<string, StageName> = {
  blackhole: 'partition',
  timeout: 'partition',
  drop: 'loss',
  dup: 'duplicate',
  latency: 'delay',
  rate: 'bottleneck',
  bandwidth: 'bottleneck',
};

export class ChaosConfigError extends Error {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  constructor(message: string) {
    super(message);
    this.name = 'ChaosConfigError';
  }
}

function fail(msg: string): never {
  throw new ChaosConfigError(msg);
}

export function parseStage(name: unknown): StageName {
  if (typeof name !== 'string') fail(`stage must be one of ${STAGES.join(', ')}`);
  const s = name.toLowerCase();
  if ((STAGES as readonly string[]).includes(s)) return s as StageName;
  const a = STAGE_ALIASES[s];
  if (a) return a;
  return fail(`unknown stage '${name}' (one of ${STAGES.join(', ')})`);
}

export function parseDirection(d: unknown, dflt: DirSpec = 'both'): DirSpec {
  if (d === undefined || d === null) return dflt;
  if (d === 'up' || d === 'upstream') return 'up';
  if (d === 'down' || d === 'downstream') return 'down';
  if (d === 'both') return 'both';
  return fail(`direction must be up, down or both, not '${String(d)}'`);
}

// ---------------------------------------------------------------------------- values

function num(o: Record<string, unknown>, key: string, min: number, max: number, dflt?: number, integer = false): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) fail(`${key} is required`);
    return dflt;
  }
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) fail(`${key} must be a number, not ${JSON.stringify(v)}`);
  if (n < min || n > max) fail(`${key} must be in ${min}..${max}, not ${n}`);
  if (integer && !Number.isInteger(n)) fail(`${key} must be an integer, not ${n}`);
  return n;
}

function bool(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return fail(`${key} must be true or false, not ${JSON.stringify(v)}`);
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, values: readonly T[], dflt: T): T {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  return fail(`${key} must be one of ${values.join(', ')}, not ${JSON.stringify(v)}`);
}

/** Rates like tc: `20mbit`, `1gbit`, `500kbit`, `9600bit` or a plain number of bits/s (SI prefixes). */
export function parseRate(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(bit|k|kbit|m|mbit|g|gbit)?(?:\/s|ps)?\s*$/i.exec(v);
    if (m) {
      const mult: Record<string, number> = { '': 1, bit: 1, k: 1e3, kbit: 1e3, m: 1e6, mbit: 1e6, g: 1e9, gbit: 1e9 };
      const r = Number(m[1]) * mult[(m[2] ?? '').toLowerCase()]!;
      if (r > 0) return r;
    }
  }
  return fail(`bad rate ${JSON.stringify(v)} (e.g. 20mbit, 1gbit, 500kbit)`);
}

/** A queue limit: a number of packets, or bytes with a unit like tc (`64kb` = 65536 bytes, `1mb`, `1500b`). */
export function parseQueue(v: unknown): { packets?: number; bytes?: number } {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return { packets: v };
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*(p|pkt|packets|b|kb|k|mb|m)?\s*$/i.exec(v);
    if (m) {
      const n = Number(m[1]);
      const u = (m[2] ?? '').toLowerCase();
      if (n >= 1) {
        if (u === '' || u === 'p' || u === 'pkt' || u === 'packets') return { packets: n };
        const mult: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1048576, m: 1048576 };
        return { bytes: n * mult[u]! };
      }
    }
  }
  return fail(`bad queue ${JSON.stringify(v)} (packets like 100, or bytes like 64kb)`);
}

// ---------------------------------------------------------------------------- stage params

export interface PartitionParams {
  stage: 'partition';
}
export interface LossParams {
  stage: 'loss';
  model: 'bernoulli' | 'gilbert-elliott';
  /** Bernoulli: loss probability. Gilbert-Elliott: P(good -> bad). */
  p: number;
  /** Gilbert-Elliott: P(bad -> good). */
  r: number;
  /** Gilbert-Elliott: P(delivered | bad) (netem's 1-h is the loss in the bad state). */
  h: number;
  /** Gilbert-Elliott: P(delivered | good). */
  k: number;
  /** Packet numbers (per link direction, from 1) that are always dropped. */
  drop: number[];
  /** At most this many consecutive drops by this toxic (0 = no cap). */
  maxConsecutive: number;
}
export interface DuplicateParams {
  stage: 'duplicate';
  p: number;
  count: number;
}
export type CorruptWhere = 'transport' | 'payload' | 'ip' | 'any';
export interface CorruptParams {
  stage: 'corrupt';
  p: number;
  bits: number;
  where: CorruptWhere;
}
export interface MtuParams {
  stage: 'mtu';
  mtu: number;
  icmp: boolean;
}
export interface ReorderParams {
  stage: 'reorder';
  p: number;
  /** Displacement: the packet is held behind this many later packets. */
  k: number;
  /** Longest hold, ms, so the tail of a flow is not stuck. */
  maxHold: number;
}
export interface DelayParams {
  stage: 'delay';
  ms: number;
  jitter: number;
  dist: 'uniform' | 'normal';
  reorder: boolean;
}
export interface BottleneckParams {
  stage: 'bottleneck';
  /** Bits per second. */
  rate: number;
  queuePackets?: number;
  queueBytes?: number;
  codel?: { target: number; interval: number };
}
export type StageParams =
  | PartitionParams
  | LossParams
  | DuplicateParams
  | CorruptParams
  | MtuParams
  | ReorderParams
  | DelayParams
  | BottleneckParams;

const KNOWN: Record<StageName, string[]> = {
  partition: [],
  loss: ['p', 'model', 'r', 'h', 'k', 'loss', 'burst', 'drop', 'maxConsecutive'],
  duplicate: ['p', 'count'],
  corrupt: ['p', 'bits', 'where'],
  mtu: ['mtu', 'icmp'],
  reorder: ['p', 'k', 'displacement', 'maxHold'],
  delay: ['ms', 'latency', 'jitter', 'dist', 'reorder'],
  bottleneck: ['rate', 'queue', 'queueBytes', 'codel', 'target', 'interval'],
};

/** The parameter `overlay chaos set STAGE VALUE` sets when no name is given. */
export const PRIMARY_PARAM: Record<StageName, string> = {
  partition: '',
  loss: 'p',
  duplicate: 'p',
  corrupt: 'p',
  mtu: 'mtu',
  reorder: 'p',
  delay: 'ms',
  bottleneck: 'rate',
};

/**
 * Validates and normalizes the parameters of a stage. A probability left out defaults to 1
 * (the stage acts on every packet the toxic matches), so `{stage: 'loss', match: {flags:
 * 'SA', count: 1}}` drops exactly the first SYN-ACK.
 */
export function normalizeParams(stage: StageName, raw: unknown): StageParams {
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o)) fail(`${stage} params must be an object`);
  for (const key of Object.keys(o)) {
    if (key === 'stage') continue;
    if (!KNOWN[stage].includes(key)) fail(`unknown ${stage} parameter '${key}'${KNOWN[stage].length ? ` (known: ${KNOWN[stage].join(', ')})` : ''}`);
  }
  switch (stage) {
    case 'partition':
      return { stage };
    case 'loss': {
      const drop = o.drop === undefined ? [] : o.drop;
      if (!Array.isArray(drop) || !drop.every((n) => Number.isInteger(n) && n >= 1)) fail('drop must be a list of packet numbers >= 1');
      const maxConsecutive = num(o, 'maxConsecutive', 0, 1e9, 0, true);
      if (o.loss !== undefined || o.burst !== undefined) {
        // Mean loss L and mean burst length B (simple Gilbert: h = 0, k = 1):
        // r = 1/B, and the stationary P(bad) = p/(p+r) = L gives p = L r / (1 - L).
        const L = num(o, 'loss', 0, 0.999999);
        const B = num(o, 'burst', 1, 1e9, 1);
        const r = 1 / B;
        const p = (L * r) / (1 - L);
        if (p > 1) fail(`loss ${L} with mean burst ${B} is impossible (needs P(good->bad) = ${p.toFixed(3)} > 1)`);
        return { stage, model: 'gilbert-elliott', p, r, h: 0, k: 1, drop: drop as number[], maxConsecutive };
      }
      if (o.model !== undefined && !['bernoulli', 'gilbert-elliott', 'ge'].includes(String(o.model))) fail(`model must be bernoulli or gilbert-elliott`);
      // An explicit model wins; r alone (no model named) selects Gilbert-Elliott.
      const ge = o.model === 'gilbert-elliott' || o.model === 'ge' || (o.model === undefined && o.r !== undefined);
      if (o.model === 'bernoulli' && (o.r !== undefined || o.h !== undefined || o.k !== undefined)) fail('r, h and k belong to model gilbert-elliott, not bernoulli');
      const p = num(o, 'p', 0, 1, drop.length > 0 ? 0 : 1);
      if (!ge) return { stage, model: 'bernoulli', p, r: 1, h: 0, k: 1, drop: drop as number[], maxConsecutive };
      return { stage, model: 'gilbert-elliott', p, r: num(o, 'r', 0, 1), h: num(o, 'h', 0, 1, 0), k: num(o, 'k', 0, 1, 1), drop: drop as number[], maxConsecutive };
    }
    case 'duplicate':
      return { stage, p: num(o, 'p', 0, 1, 1), count: num(o, 'count', 1, 100, 1, true) };
    case 'corrupt':
      return { stage, p: num(o, 'p', 0, 1, 1), bits: num(o, 'bits', 1, 64, 1, true), where: oneOf(o, 'where', ['transport', 'payload', 'ip', 'any'] as const, 'transport') };
    case 'mtu':
      return { stage, mtu: num(o, 'mtu', 28, 65535, undefined, true), icmp: bool(o, 'icmp', false) };
    case 'reorder': {
      const k = o.displacement !== undefined ? num(o, 'displacement', 1, 1000, 1, true) : num(o, 'k', 1, 1000, 1, true);
      return { stage, p: num(o, 'p', 0, 1, 1), k, maxHold: num(o, 'maxHold', 0, 60000, 50) };
    }
    case 'delay': {
      const ms = o.latency !== undefined ? num(o, 'latency', 0, 600000) : num(o, 'ms', 0, 600000, 0);
      return { stage, ms, jitter: num(o, 'jitter', 0, 600000, 0), dist: oneOf(o, 'dist', ['uniform', 'normal'] as const, 'uniform'), reorder: bool(o, 'reorder', false) };
    }
    case 'bottleneck': {
      if (o.rate === undefined) fail('bottleneck needs a rate (e.g. 20mbit)');
      const out: BottleneckParams = { stage, rate: parseRate(o.rate) };
      if (o.queue !== undefined) Object.assign(out, renameQueue(parseQueue(o.queue)));
      if (o.queueBytes !== undefined) out.queueBytes = num(o, 'queueBytes', 1, 1e12, undefined, true);
      if (out.queuePackets === undefined && out.queueBytes === undefined) out.queuePackets = 1000;
      const c = o.codel;
      if (c === true || (typeof c === 'object' && c !== null) || o.target !== undefined) {
        const co = (typeof c === 'object' && c !== null ? c : o) as Record<string, unknown>;
        out.codel = { target: num(co, 'target', 0.001, 60000, 5), interval: num(co, 'interval', 0.001, 600000, 100) };
      } else if (c !== undefined && c !== false && c !== 'false') {
        fail('codel must be true, false or {target, interval} in ms');
      }
      return out;
    }
  }
}

/**
 * An update of a toxic's params: the old params (as JSON) with the patch on top, keeping
 * every field the patch does not name, the loss model included. A patch that describes a
 * loss model of its own (model, r/h/k, or loss/burst) replaces the old model's fields.
 */
export function mergeParams(old: StageParams, patch: Record<string, unknown>): Record<string, unknown> {
  const base = paramsToJson(old);
  if (old.stage === 'loss') {
    if ('loss' in patch || 'burst' in patch) for (const k of ['model', 'p', 'r', 'h', 'k']) delete base[k];
    else if (!('model' in patch) && ('r' in patch || 'h' in patch || 'k' in patch)) delete base.model;
  }
  return { ...base, ...patch };
}

function renameQueue(q: { packets?: number; bytes?: number }): Partial<BottleneckParams> {
  return q.packets !== undefined ? { queuePackets: q.packets } : { queueBytes: q.bytes! };
}

/** Params back to the JSON a user would write (for GET /links and merges). */
export function paramsToJson(p: StageParams): Record<string, unknown> {
  const { stage: _s, ...rest } = p as unknown as Record<string, unknown>;
  if (p.stage === 'loss' && p.model === 'bernoulli') {
    // Only the fields of its own model: a Bernoulli toxic carries no r, h, k.
    return { model: 'bernoulli', p: p.p, drop: p.drop, maxConsecutive: p.maxConsecutive };
  }
  if (p.stage === 'bottleneck') {
    const out: Record<string, unknown> = { rate: p.rate };
    if (p.queuePackets !== undefined) out.queue = p.queuePackets;
    if (p.queueBytes !== undefined) out.queueBytes = p.queueBytes;
    if (p.codel) out.codel = p.codel;
    return out;
  }
  return rest;
}

// ---------------------------------------------------------------------------- match

export interface MatchSpec {
  protocol?: 'tcp' | 'udp' | 'icmp' | number;
  src?: string;
  dst?: string;
  srcPort?: number | string;
  dstPort?: number | string;
  /** Either port. */
  port?: number | string;
  /** TCP flags letters S A F R P U E W ('.' = A): all must be set; a leading '=' means exactly these. */
  flags?: string;
  /** true: only packets with transport payload; false: only without. */
  payload?: boolean;
  /** Packet-number range per link direction, "A-B", [A, B] or N. */
  packets?: string | number | [number, number];
  /** Apply to at most this many matching packets (per link direction). */
  count?: number;
}

export interface Match {
  protocol?: number;
  src?: Prefix;
  dst?: Prefix;
  srcPort?: [number, number];
  dstPort?: [number, number];
  port?: [number, number];
  flags?: { mask: number; value: number };
  payload?: boolean;
  packets?: [number, number];
  count?: number;
  /** True when any inner-header field is tested. */
  needsInner: boolean;
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, '.': 0x10, U: 0x20, E: 0x40, W: 0x80, C: 0x80 };

function parseRange(v: unknown, what: string, max: number): [number, number] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n) && n >= 0 && n <= max) && v[0] <= v[1]) return [v[0], v[1]];
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)?)?\s*$/.exec(v);
    if (m) {
      const lo = Number(m[1]);
      const hi = m[2] !== undefined ? Number(m[2]) : v.includes('-') ? max : lo;
      if (lo <= hi && hi <= max) return [lo, hi];
    }
  }
  return fail(`bad ${what} ${JSON.stringify(v)} (N, "A-B" or [A, B])`);
}

export function compileMatch(spec: unknown): Match | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (typeof spec !== 'object' || Array.isArray(spec)) fail('match must be an object');
  const s = spec as Record<string, unknown>;
  const known = ['protocol', 'src', 'dst', 'srcPort', 'dstPort', 'port', 'flags', 'payload', 'packets', 'count'];
  for (const k of Object.keys(s)) if (!known.includes(k)) fail(`unknown match field '${k}' (known: ${known.join(', ')})`);
  const m: Match = { needsInner: false };
  if (s.protocol !== undefined) {
    const names: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP };
    const p = typeof s.protocol === 'string' ? names[s.protocol.toLowerCase()] : s.protocol;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 255) fail(`bad protocol ${JSON.stringify(s.protocol)} (tcp, udp, icmp or 0..255)`);
    m.protocol = p;
  }
  for (const k of ['src', 'dst'] as const) {
    if (s[k] === undefined) continue;
    const p = typeof s[k] === 'string' ? parsePrefix(s[k]) : undefined;
    if (!p) fail(`bad ${k} ${JSON.stringify(s[k])} (an address or CIDR prefix)`);
    m[k] = p;
  }
  for (const k of ['srcPort', 'dstPort', 'port'] as const) if (s[k] !== undefined) m[k] = parseRange(s[k], k, 65535);
  if (s.flags !== undefined) {
    if (typeof s.flags !== 'string') fail('flags must be a string like "SA" or "=S"');
    const exact = s.flags.startsWith('=');
    let value = 0;
    for (const ch of (exact ? s.flags.slice(1) : s.flags).toUpperCase()) {
      const b = FLAG_BITS[ch];
      if (b === undefined) fail(`bad TCP flag '${ch}' in "${s.flags}" (S A F R P U E W)`);
      value |= b;
    }
    m.flags = { mask: exact ? 0xff : value, value };
  }
  if (s.payload !== undefined) {
    if (typeof s.payload !== 'boolean') fail('payload must be true or false');
    m.payload = s.payload;
  }
  if (s.packets !== undefined) m.packets = parseRange(s.packets, 'packets', Number.MAX_SAFE_INTEGER);
  if (s.count !== undefined) {
    if (!Number.isInteger(s.count) || (s.count as number) < 1) fail('count must be an integer >= 1');
    m.count = s.count as number;
  }
  m.needsInner = m.protocol !== undefined || !!m.src || !!m.dst || !!m.srcPort || !!m.dstPort || !!m.port || !!m.flags || m.payload !== undefined;
  return m;
}

/** Header tests only (count is per toxic instance, packets by the caller). */
export function matchHeaders(m: Match, v: InnerView): boolean {
  if (!v.ipv4) return false;
  if (m.protocol !== undefined && v.protocol !== m.protocol) return false;
  if (m.src && !prefixContains(m.src, v.src)) return false;
  if (m.dst && !prefixContains(m.dst, v.dst)) return false;
  if (m.srcPort && !(v.srcPort >= m.srcPort[0] && v.srcPort <= m.srcPort[1])) return false;
  if (m.dstPort && !(v.dstPort >= m.dstPort[0] && v.dstPort <= m.dstPort[1])) return false;
  if (m.port && !((v.srcPort >= m.port[0] && v.srcPort <= m.port[1]) || (v.dstPort >= m.port[0] && v.dstPort <= m.port[1]))) return false;
  if (m.flags && (v.tcpFlags < 0 || (v.tcpFlags & m.flags.mask) !== m.flags.value)) return false;
  if (m.payload !== undefined && (v.payloadLength < 0 || v.payloadLength > 0 !== m.payload)) return false;
  return true;
}

// ---------------------------------------------------------------------------- schedule

export interface ScheduleSpec {
  /** ms after the base time when the toxic turns on (default 0). */
  start?: number;
  /** ms after the base time when it turns off for good. */
  stop?: number;
  /** Flapping: a period in ms ... */
  every?: number;
  /** ... of which the toxic is on for this many ms (from the start of each period). */
  for?: number;
  /** The base time: proxy start, or when the toxic was added (default). */
  from?: 'start' | 'added';
}

export interface Schedule {
  start: number;
  stop: number;
  every: number;
  on: number;
  from: 'start' | 'added';
}

export function compileSchedule(spec: unknown): Schedule | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (typeof spec !== 'object' || Array.isArray(spec)) fail('schedule must be an object');
  const s = spec as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!['start', 'stop', 'every', 'for', 'from'].includes(k)) fail(`unknown schedule field '${k}' (start, stop, every, for, from)`);
  const out: Schedule = {
    start: num(s, 'start', 0, 1e12, 0),
    stop: num(s, 'stop', 0, 1e12, Infinity),
    every: num(s, 'every', 0, 1e12, 0),
    on: 0,
    from: oneOf(s, 'from', ['start', 'added'] as const, 'added'),
  };
  if (out.stop <= out.start) fail('schedule stop must be after start');
  if (out.every > 0) {
    out.on = num(s, 'for', 0, out.every);
  } else if (s.for !== undefined) {
    fail('schedule "for" needs "every" (a flapping period)');
  }
  return out;
}

/** Whether a schedule is on at `rel` ms after its base time. */
export function scheduleActive(s: Schedule, rel: number): boolean {
  if (rel < s.start || rel >= s.stop) return false;
  if (s.every > 0) return (rel - s.start) % s.every < s.on;
  return true;
}

// ---------------------------------------------------------------------------- toxic

export interface ToxicSpec {
  name?: string;
  /** The stage; `type` (Toxiproxy's word) is accepted as well. */
  stage?: string;
  type?: string;
  /** up, down or both (default both); `stream` upstream/downstream is accepted. */
  direction?: string;
  stream?: string;
  match?: MatchSpec;
  /** `attributes` (Toxiproxy's word) is accepted as well. */
  params?: Record<string, unknown>;
  attributes?: Record<string, unknown>;
  schedule?: ScheduleSpec;
  /** Probability that the toxic acts on a matching packet (default 1). */
  toxicity?: number;
}

export interface Toxic {
  name: string;
  stage: StageName;
  direction: DirSpec;
  params: StageParams;
  match?: Match;
  schedule?: Schedule;
  /** The match and schedule as given, for JSON output. */
  matchSpec?: MatchSpec;
  scheduleSpec?: ScheduleSpec;
  /** Proxy-clock ms when the toxic was added (schedule base for from: 'added'). */
  addedAt: number;
  /** Bumped on every update so instances know to reload. */
  version: number;
  /** Toxiproxy's toxicity: the probability the toxic acts on a matching packet (default 1). */
  toxicity: number;
}

const NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function compileToxic(raw: unknown, addedAt: number, defaultName?: string): Toxic {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('a toxic must be a JSON object');
  const t = raw as ToxicSpec & Record<string, unknown>;
  const allowed = ['name', 'stage', 'type', 'direction', 'stream', 'match', 'params', 'attributes', 'schedule', 'toxicity', 'link'];
  for (const k of Object.keys(t)) if (!allowed.includes(k)) fail(`unknown toxic field '${k}' (known: ${allowed.join(', ')})`);
  const stage = parseStage(t.stage ?? t.type);
  const direction = parseDirection(t.direction ?? t.stream);
  const name = t.name ?? defaultName ?? `${stage}-${direction}`;
  if (typeof name !== 'string' || !NAME_RE.test(name)) fail(`bad toxic name ${JSON.stringify(name)} (letters, digits, _ . : -)`);
  const toxic: Toxic = {
    name,
    stage,
    direction,
    params: normalizeParams(stage, t.params ?? t.attributes),
    addedAt,
    version: 0,
    toxicity: num(t as Record<string, unknown>, 'toxicity', 0, 1, 1),
  };
  const match = compileMatch(t.match);
  if (match) {
    toxic.match = match;
    toxic.matchSpec = t.match;
  }
  const schedule = compileSchedule(t.schedule);
  if (schedule) {
    toxic.schedule = schedule;
    toxic.scheduleSpec = t.schedule;
  }
  return toxic;
}

export function toxicToJson(t: Toxic, link: string): Record<string, unknown> {
  const out: Record<string, unknown> = { name: t.name, link, stage: t.stage, type: t.stage, direction: t.direction, params: paramsToJson(t.params) };
  if (t.matchSpec) out.match = t.matchSpec;
  if (t.scheduleSpec) out.schedule = t.scheduleSpec;
  if (t.toxicity !== 1) out.toxicity = t.toxicity;
  return out;
}

export function toxicApplies(t: Toxic, dir: Direction): boolean {
  return t.direction === 'both' || t.direction === dir;
}

export function stageIndex(s: StageName): number {
  return STAGES.indexOf(s);
}
