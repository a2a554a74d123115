/**
 * The proxy's public shape (what the HTTP API, the metrics and callers see), apart from its
 * implementation in proxy.ts: api.ts and metrics.ts depend on this interface, and proxy.ts
 * starts them, with no import cycle.
 */
import type { ChaosModel } from './model.js';
import type { LaneStats } from './pipeline.js';
import type { Endpoint, Router } from './router.js';
import type { DirSpec, Toxic, ToxicSpec } from './rules.js';

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
