/**
 * The chaos proxy: binds the sans-IO model (lanes of stages) to real UDP sockets and
 * timers, in router mode (forward by inner IPv4 destination) or relay mode (an opaque
 * UDP relay, one upstream socket per client). The per-packet path uses the raw dgram
 * socket's synchronous 'message' event and never awaits (see /work/shared/anchors.md).
 */
import dgram, { type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { literalLookup } from '../link/lookup.js';
import { parseIpv4 } from '../wire/addr.js';
import { resolveConfig, type ProxyConfig, type ResolvedConfig } from './config.js';
import { DecisionLogWriter, readDecisionLog, replayTable } from './decision-log.js';
import { ALL_LINKS, ChaosModel } from './model.js';
import { PcapWriter } from '../trace/pcap.js';
import type { Lane, LaneStats, ReplayTable } from './pipeline.js';
import { Router, linkOf, type Endpoint } from './router.js';
import { toxicToJson, type DirSpec, type Direction, type Toxic, type ToxicSpec } from './rules.js';
import { ReleaseQueue } from './timers.js';
import type { Decision } from './stages.js';
import type { LaneInfo, LinkInfo, Proxy, ProxyStats } from './proxy-types.js';

export type { LaneInfo, LinkInfo, Proxy, ProxyStats } from './proxy-types.js';

export const SOCKET_BUFFER = 4 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** A relay session (one upstream socket per client) is closed after this long without a client packet. */
export const RELAY_IDLE_MS = 120_000;

interface Session {
  sock: Socket;
  client: Endpoint;
  connected: boolean;
  closed: boolean;
  /** Proxy-clock ms of the client's last packet. */
  lastSeen: number;
  up: Lane;
  down: Lane;
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
  private bound = false;
  private readonly sessions = new Map<string, Session>();
  private readonly sessionByPort = new Map<number, Session>();
  private readonly counters = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, icmpSent: 0, sendErrors: 0 };
  private readonly relayDrops: Record<string, number> = {};
  private readonly pollAt = new Map<Lane, number>();
  private readonly laneCache = new Map<number, Map<number, Lane>>();
  private log: DecisionLogWriter | undefined;
  private pcap: PcapWriter | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private closers: Array<() => Promise<void> | void> = [];
  private closed = false;

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
    // Sends to IPv4 literals skip node:dgram's deferred DNS step once bound (see literalLookup).
    this.sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup(() => this.bound) });
    this.sock.on('error', () => this.counters.sendErrors++);
    this.sock.on('message', cfg.mode === 'router' ? (m, r) => this.onRouterMessage(m, r) : (m, r) => this.onClientMessage(m, r));
  }

  async start(): Promise<void> {
    if (this.cfg.pcap) this.pcap = await PcapWriter.open(this.cfg.pcap);
    await bindSocket(this.sock, this.cfg.listen);
    this.bound = true;
    if (this.mode === 'relay') {
      this.sweeper = setInterval(() => this.sweepSessions(), RELAY_IDLE_MS / 4);
      this.sweeper.unref();
    }
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
      sock.send(data, to.port, to.address);
    } catch {
      this.counters.sendErrors++;
    }
  }

  private sendConnected(data: Buffer, sock: Socket): void {
    if (this.closed) return;
    this.counters.packetsOut++;
    this.counters.bytesOut += data.length;
    this.pcap?.write(data, this.epoch0 + this.now());
    try {
      sock.send(data);
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
      const up = this.cfg.upstream!;
      let session: Session | undefined;
      deliver =
        lane.dir === 'up'
          ? (data) => {
              if (!session || session.closed) session = this.sessions.get(lane.link);
              if (!session) return;
              if (session.connected) this.sendConnected(data, session.sock);
              else this.sendNow(data, up, false, session.sock);
            }
          : (data) => {
              if (!session || session.closed) session = this.sessions.get(lane.link);
              if (session) this.sendNow(data, session.client);
            };
    }
    // Departures of a lane are nearly always in order (delay preserves order, the
    // bottleneck is FIFO): keep them in a FIFO drained by one release task at a time;
    // only an out-of-order departure (delay in reorder mode) gets its own task.
    const q: Buffer[] = [];
    const qAt: number[] = [];
    let head = 0;
    const drain = (): void => {
      const limit = this.now() + 0.5;
      while (head < q.length && qAt[head]! <= limit) {
        const d = q[head]!;
        q[head++] = EMPTY;
        deliver(d);
      }
      if (head === q.length) {
        q.length = qAt.length = head = 0;
      } else {
        if (head > 1024) {
          q.splice(0, head);
          qAt.splice(0, head);
          head = 0;
        }
        this.releases.push(qAt[head]!, drain);
      }
    };
    lane.out = (data, at) => {
      if (head === q.length) {
        if (at <= this.now()) return deliver(data);
        q.push(data);
        qAt.push(at);
        this.releases.push(at, drain);
      } else if (at >= qAt[qAt.length - 1]!) {
        q.push(data);
        qAt.push(at);
      } else {
        this.releases.push(at, () => deliver(data));
      }
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

  /** The lane of a (src, dst) pair, cached by number so the hot path formats no names. */
  private laneFor(src: number, dst: number): Lane {
    let m = this.laneCache.get(src);
    if (!m) {
      m = new Map();
      this.laneCache.set(src, m);
    }
    let lane = m.get(dst);
    if (!lane) {
      const { link, dir } = linkOf(src, dst);
      lane = this.model.lane(link, dir);
      m.set(dst, lane);
    }
    return lane;
  }

  private onRouterMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    const r = this.router!.route(msg, rinfo);
    if (r.kind === 'forward') this.push(this.laneFor(r.src, r.dst), r.data);
    else if (r.kind === 'reply') this.sendNow(r.data, r.to, true);
  }

  private onClientMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    // Sessions by port first (no string per packet), then the address must match.
    let session = this.sessionByPort.get(rinfo.port);
    if (!session || session.client.address !== rinfo.address) {
      const key = `${rinfo.address}:${rinfo.port}`;
      session = this.sessions.get(key) ?? this.openSession(key, { address: rinfo.address, port: rinfo.port });
      this.sessionByPort.set(rinfo.port, session);
    }
    session.lastSeen = this.now();
    this.push(session.up, msg);
  }

  /** Closes relay sessions idle (no packet from the client) for RELAY_IDLE_MS; their link stats stay. */
  private sweepSessions(): void {
    const limit = this.now() - RELAY_IDLE_MS;
    for (const [key, s] of this.sessions) {
      if (s.lastSeen >= limit) continue;
      s.closed = true;
      s.sock.close();
      this.sessions.delete(key);
      if (this.sessionByPort.get(s.client.port) === s) this.sessionByPort.delete(s.client.port);
    }
  }

  /** A relay client's session: its own upstream socket (connected once bound) and its two lanes. */
  private openSession(key: string, client: Endpoint): Session {
    const sock = dgram.createSocket('udp4');
    const up = this.cfg.upstream!;
    const session: Session = { sock, client, connected: false, closed: false, lastSeen: this.now(), up: undefined as unknown as Lane, down: undefined as unknown as Lane };
    this.sessions.set(key, session);
    const lanes = this.model.link(key);
    session.up = lanes.up;
    session.down = lanes.down;
    sock.on('error', () => this.counters.sendErrors++);
    sock.on('message', (m, r) => {
      this.counters.packetsIn++;
      this.counters.bytesIn += m.length;
      if (r.port !== up.port) {
        this.relayDrops.not_upstream = (this.relayDrops.not_upstream ?? 0) + 1;
        return;
      }
      this.push(session.down, m);
    });
    sock.bind(0, this.cfg.listen.address === '0.0.0.0' ? undefined : this.cfg.listen.address, () => {
      try {
        sock.setRecvBufferSize(SOCKET_BUFFER);
        sock.setSendBufferSize(SOCKET_BUFFER);
      } catch {
        // keep the kernel default
      }
      // A connected socket sends cheaper and only receives from the upstream.
      sock.connect(up.port, up.address, () => {
        session.connected = true;
      });
    });
    return session;
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
    if (this.sweeper) clearInterval(this.sweeper);
    for (const s of this.sessions.values()) {
      s.closed = true;
      s.sock.close();
    }
    this.sessions.clear();
    this.sessionByPort.clear();
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
      // The live page shows the links; its controls go to the control API when there is one.
      const chaos = { links: () => proxy.links(), ...(proxy.apiAddress ? { api: proxy.apiAddress } : {}) };
      const server = await startMetricsServer(`${cfg.metrics.address}:${cfg.metrics.port}`, registry, { chaos });
      proxy.metricsAddress = { address: cfg.metrics.address, port: server.port };
      proxy.onClose(() => server.close());
    }
  } catch (err) {
    await proxy.close();
    throw err;
  }
  return proxy;
}


