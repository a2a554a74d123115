/**
 * The chaos proxy: binds the sans-IO model (lanes of stages) to real UDP sockets and
 * timers, in router mode (forward by inner IPv4 destination) or relay mode (an opaque
 * UDP relay, one upstream socket per client). The per-packet path uses the raw dgram
 * socket's synchronous 'message' event and never awaits (see /work/shared/anchors.md).
 */
import dgram, { type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { parseIpv4 } from '../wire/addr.js';
import { resolveConfig, type ProxyConfig, type ResolvedConfig } from './config.js';
import { DecisionLogWriter, readDecisionLog, replayTable } from './decision-log.js';
import { ALL_LINKS, ChaosModel } from './model.js';
import { PcapWriter } from '../trace/pcap.js';
import type { Lane, LaneStats, ReplayTable } from './pipeline.js';
import { Router, type Endpoint } from './router.js';
import { toxicToJson, type DirSpec, type Direction, type Toxic, type ToxicSpec } from './rules.js';
import { ReleaseQueue } from './timers.js';
import type { Decision } from './stages.js';

export const SOCKET_BUFFER = 4 * 1024 * 1024;

export interface LaneInfo extends LaneStats {
  queuePackets: number;
  queueBytes: number;
  /** The queueing delay a packet arriving now would see (ms). */
  queueDelayMs: number;
}

export interface LinkInfo {
  name: string;
  up: LaneInfo;
  down: LaneInfo;
  /** Toxics in force on this link (its own and the '*' ones). */
  toxics: Array<Record<string, unknown>>;
}

export interface ProxyStats {
  mode: 'router' | 'relay';
  seed: number;
  listen: string;
  uptimeMs: number;
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Packets the proxy refused before any link (not IPv4, no route, TTL expired, ...). */
  drops: Record<string, number>;
  /** ICMP errors and echo replies the router sent. */
  icmpSent: number;
  sendErrors: number;
  links: Record<string, { up: LaneInfo; down: LaneInfo }>;
}

export interface Proxy {
  readonly mode: 'router' | 'relay';
  readonly seed: number;
  /** The bound listen address. */
  address(): Endpoint;
  /** Proxy-clock ms since start. */
  now(): number;
  /** Sets the base impairment of a stage (toxic `STAGE-DIR`); link '*' means every link. */
  setImpairment(link: string, dir: DirSpec, stage: string, params: Record<string, unknown>, opts?: { merge?: boolean }): Toxic[];
  /** Removes every toxic of a stage on a link (or '*'). */
  clearStage(link: string, stage: string): number;
  addRule(link: string, spec: ToxicSpec): Toxic;
  updateRule(link: string, name: string, patch: Record<string, unknown>): Toxic;
  removeRule(link: string, name: string): boolean;
  rules(link: string): Array<Record<string, unknown>>;
  /** Removes every toxic and its state. */
  reset(): void;
  links(): LinkInfo[];
  link(name: string): LinkInfo | undefined;
  stats(): ProxyStats;
  /** The model (lanes and toxics), for metrics and tests. */
  readonly model: ChaosModel;
  readonly router: Router | undefined;
  close(): Promise<void>;
  /** Set by api.ts / metrics when started through createProxy. */
  apiAddress?: Endpoint;
  metricsAddress?: Endpoint;
}

function bindSocket(sock: Socket, ep: { address: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    sock.once('error', onError);
    sock.bind(ep.port, ep.address, () => {
      sock.off('error', onError);
      try {
        sock.setRecvBufferSize(SOCKET_BUFFER);
        sock.setSendBufferSize(SOCKET_BUFFER);
      } catch {
        // The kernel may cap the buffers; keep its default.
      }
      resolve();
    });
  });
}

function emptyInfo(): LaneInfo {
  return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, stages: {}, queuePackets: 0, queueBytes: 0, queueDelayMs: 0 };
}

class ChaosProxy implements Proxy {
  readonly mode: 'router' | 'relay';
  readonly seed: number;
  readonly model: ChaosModel;
  readonly router: Router | undefined;
  apiAddress?: Endpoint;
  metricsAddress?: Endpoint;
  private readonly t0 = performance.now();
  private readonly epoch0 = Date.now();
  private readonly releases: ReleaseQueue;
  private readonly sock: Socket;
  private readonly sessions = new Map<string, { sock: Socket; client: Endpoint }>();
  private readonly counters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, icmpSent: 0, sendErrors: 0 };
  private readonly relayDrops: Record<string, number> = {};
  private readonly pollAt = new Map<Lane, number>();
  private log: DecisionLogWriter | undefined;
  private pcap: PcapWriter | undefined;
  private closers: Array<() => Promise<void> | void> = [];
  private closed = false;
  private readonly onSendDone = (err: Error | null): void => {
    if (err) this.counters.sendErrors++;
  };

  constructor(readonly cfg: ResolvedConfig, replay: ReplayTable | undefined) {
    this.mode = cfg.mode;
    this.seed = cfg.seed;
    this.releases = new ReleaseQueue(() => this.now());
    if (cfg.log) this.log = new DecisionLogWriter(cfg.log, { seed: cfg.seed, mode: cfg.mode, started: new Date(this.epoch0).toISOString() });
    const logw = this.log;
    const opts: ConstructorParameters<typeof ChaosModel>[0] = { seed: cfg.seed, now: () => this.now() };
    if (logw) opts.log = (d: Decision) => logw.write(d);
    if (replay) opts.replay = replay;
    if (cfg.mode === 'router') {
      const router = new Router({ routerAddress: cfg.routerAddress, peers: cfg.peers, learn: cfg.learn });
      this.router = router;
      opts.fragNeeded = (_link, _dir, p, mtu) => {
        const icmp = router.fragNeeded(p.data, mtu);
        const src = p.data.readUInt32BE(12);
        const to = router.lookup(src);
        if (icmp && to) this.sendNow(icmp, to, true);
      };
    }
    this.model = new ChaosModel(opts);
    this.model.onLane = (lane) => this.bindLane(lane);
    this.sock = dgram.createSocket('udp4');
    this.sock.on('error', () => this.counters.sendErrors++);
    this.sock.on('message', cfg.mode === 'router' ? (m, r) => this.onRouterMessage(m, r) : (m, r) => this.onClientMessage(m, r));
  }

  async start(): Promise<void> {
    if (this.cfg.pcap) this.pcap = await PcapWriter.open(this.cfg.pcap);
    await bindSocket(this.sock, this.cfg.listen);
    for (const i of this.cfg.impairments) this.model.setImpairment(i.link, i.direction, i.stage, i.params);
    for (const t of this.cfg.toxics) this.model.addToxic(t.link, t.spec);
  }

  now(): number {
    return performance.now() - this.t0;
  }

  address(): Endpoint {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  // ------------------------------------------------------------------ data path

  private sendNow(data: Buffer, to: Endpoint, icmp = false, sock: Socket = this.sock): void {
    if (this.closed) return;
    this.counters.packetsOut++;
    this.counters.bytesOut += data.length;
    if (icmp) this.counters.icmpSent++;
    this.pcap?.write(data, this.epoch0 + this.now());
    try {
      sock.send(data, to.port, to.address, this.onSendDone);
    } catch {
      this.counters.sendErrors++;
    }
  }

  /** Where a lane's packets go, resolved at send time (routes may be learned later). */
  private bindLane(lane: Lane): void {
    let deliver: (data: Buffer) => void;
    if (this.mode === 'router') {
      const [a, b] = lane.link.split('-');
      const dst = parseIpv4((lane.dir === 'up' ? b : a) ?? '') ?? 0;
      const router = this.router!;
      deliver = (data) => {
        const to = router.lookup(dst);
        if (to) this.sendNow(data, to);
        else router.drops.no_route = (router.drops.no_route ?? 0) + 1;
      };
    } else {
      const session = this.sessions.get(lane.link);
      const up = this.cfg.upstream!;
      deliver =
        lane.dir === 'up'
          ? (data) => {
              const s = this.sessions.get(lane.link) ?? session;
              if (s) this.sendNow(data, up, false, s.sock);
            }
          : (data) => {
              const s = this.sessions.get(lane.link) ?? session;
              if (s) this.sendNow(data, s.client);
            };
    }
    lane.out = (data, at) => {
      if (at <= this.now()) deliver(data);
      else this.releases.push(at, () => deliver(data));
    };
  }

  /** After a push: if the lane holds packets (reorder), make sure a poll is scheduled. */
  private watch(lane: Lane): void {
    const d = lane.nextDeadline();
    if (d === Infinity) return;
    const armed = this.pollAt.get(lane);
    if (armed !== undefined && armed <= d) return;
    this.pollAt.set(lane, d);
    this.releases.push(d, () => {
      if (this.pollAt.get(lane) === d) this.pollAt.delete(lane);
      lane.poll(this.now());
      this.watch(lane);
    });
  }

  private push(lane: Lane, data: Buffer): void {
    lane.push(data, this.now());
    if (!lane.empty) this.watch(lane);
  }

  private onRouterMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    const r = this.router!.route(msg, rinfo);
    if (r.kind === 'forward') this.push(this.model.lane(r.link, r.dir), r.data);
    else if (r.kind === 'reply') this.sendNow(r.data, r.to, true);
  }

  private onClientMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    const key = `${rinfo.address}:${rinfo.port}`;
    if (!this.sessions.has(key)) {
      const client = { address: rinfo.address, port: rinfo.port };
      const sock = dgram.createSocket('udp4');
      const up = this.cfg.upstream!;
      sock.on('error', () => this.counters.sendErrors++);
      sock.on('message', (m, r) => {
        this.counters.packetsIn++;
        this.counters.bytesIn += m.length;
        if (r.port !== up.port) {
          this.relayDrops.not_upstream = (this.relayDrops.not_upstream ?? 0) + 1;
          return;
        }
        this.push(this.model.lane(key, 'down'), m);
      });
      sock.bind(0, this.cfg.listen.address === '0.0.0.0' ? undefined : this.cfg.listen.address, () => {
        try {
          sock.setRecvBufferSize(SOCKET_BUFFER);
          sock.setSendBufferSize(SOCKET_BUFFER);
        } catch {
          // keep the kernel default
        }
      });
      this.sessions.set(key, { sock, client });
    }
    this.push(this.model.lane(key, 'up'), msg);
  }

  // ------------------------------------------------------------------ control

  setImpairment(link: string, dir: DirSpec, stage: string, params: Record<string, unknown>, opts: { merge?: boolean } = {}): Toxic[] {
    return this.model.setImpairment(link, dir, stage, params, opts.merge ?? false);
  }

  clearStage(link: string, stage: string): number {
    return this.model.clearStage(link, stage);
  }

  addRule(link: string, spec: ToxicSpec): Toxic {
    return this.model.addToxic(link, spec);
  }

  updateRule(link: string, name: string, patch: Record<string, unknown>): Toxic {
    return this.model.updateToxic(link, name, patch);
  }

  removeRule(link: string, name: string): boolean {
    return this.model.removeToxic(link, name);
  }

  rules(link: string): Array<Record<string, unknown>> {
    return this.model.listToxics(link).map((t) => toxicToJson(t, link));
  }

  reset(): void {
    this.model.reset();
  }

  private laneInfo(lane: Lane, now: number): LaneInfo {
    const [queuePackets, queueBytes, queueDelayMs] = lane.queue(now);
    return { ...structuredClone(lane.stats), queuePackets, queueBytes, queueDelayMs };
  }

  link(name: string): LinkInfo | undefined {
    const now = this.now();
    const known = this.model.hasLink(name);
    if (!known && name !== ALL_LINKS && this.model.listToxics(name).length === 0) return undefined;
    const toxics = (dir: Direction): Array<Record<string, unknown>> =>
      this.model.toxicsFor(name, dir).map(({ scope, toxic }) => toxicToJson(toxic, scope));
    const seen = new Set<string>();
    const all = [...toxics('up'), ...toxics('down')].filter((t) => {
      const k = `${String(t.link)}/${String(t.name)}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    if (!known) return { name, up: emptyInfo(), down: emptyInfo(), toxics: all };
    const l = this.model.link(name);
    return { name, up: this.laneInfo(l.up, now), down: this.laneInfo(l.down, now), toxics: all };
  }

  links(): LinkInfo[] {
    return this.model.linkNames().map((n) => this.link(n)!);
  }

  stats(): ProxyStats {
    const now = this.now();
    const links: ProxyStats['links'] = {};
    for (const n of this.model.linkNames()) {
      const l = this.model.link(n);
      links[n] = { up: this.laneInfo(l.up, now), down: this.laneInfo(l.down, now) };
    }
    const a = this.address();
    return {
      mode: this.mode,
      seed: this.seed,
      listen: `${a.address}:${a.port}`,
      uptimeMs: now,
      ...this.counters,
      drops: { ...(this.router?.drops ?? {}), ...this.relayDrops },
      links,
    };
  }

  /** Registers a cleanup to run on close (API and metrics servers). */
  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.releases.close();
    for (const c of this.closers) await c();
    for (const s of this.sessions.values()) s.sock.close();
    this.sessions.clear();
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
    this.log?.close();
    await this.pcap?.close();
  }
}

/**
 * Creates and starts a proxy. `api` and `metrics` in the config start the HTTP control API
 * and the /metrics server (imported lazily so the core has no HTTP dependency).
 */
export async function createProxy(config: ProxyConfig): Promise<Proxy> {
  const cfg = resolveConfig(config);
  let replay: ReplayTable | undefined;
  if (cfg.replay) replay = replayTable(readDecisionLog(cfg.replay).decisions);
  const proxy = new ChaosProxy(cfg, replay);
  try {
    await proxy.start();
    if (cfg.api) {
      const { startApi } = await import('./api.js');
      const server = await startApi(proxy, cfg.api);
      proxy.apiAddress = server.address;
      proxy.onClose(() => server.close());
    }
    if (cfg.metrics) {
      const [{ Registry }, { registerChaosMetrics }, { startMetricsServer }] = await Promise.all([
        import('prom-client'),
        import('./metrics.js'),
        import('../metrics/server.js'),
      ]);
      const registry = new Registry();
      registerChaosMetrics(registry, proxy);
      const server = await startMetricsServer(`${cfg.metrics.address}:${cfg.metrics.port}`, registry);
      proxy.metricsAddress = { address: cfg.metrics.address, port: server.port };
      proxy.onClose(() => server.close());
    }
  } catch (err) {
    await proxy.close();
    throw err;
  }
  return proxy;
}

export function formatEndpoint(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}


