/** The chaos proxy: public surface. */
export { createProxy, type Proxy, type ProxyStats, type LinkInfo, type LaneInfo } from './proxy.js';
export { type ProxyConfig, type ImpairmentSpec, quickImpairments, resolveConfig, parsePeer } from './config.js';
export { registerChaosMetrics } from './metrics.js';
export { startApi, handleApi } from './api.js';
export { ChaosModel, ALL_LINKS } from './model.js';
export { Lane, type LaneStats, type ScopedToxic } from './pipeline.js';
export { Router, linkOf, DEFAULT_ROUTER_ADDRESS, type Endpoint, type RouteResult } from './router.js';
export {
  STAGES,
  ChaosConfigError,
  compileToxic,
  normalizeParams,
  parseRate,
  parseQueue,
  type StageName,
  type Direction,
  type DirSpec,
  type ToxicSpec,
  type Toxic,
  type MatchSpec,
  type ScheduleSpec,
} from './rules.js';
export { type Decision, type Verdict, VERDICTS } from './stages.js';
export { DecisionLogWriter, readDecisionLog, replayTable } from './decision-log.js';
export { Xoshiro128, streamKey, u01 } from './prng.js';
