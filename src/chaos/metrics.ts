/**
 * Prometheus metrics of the chaos proxy. Nothing is counted per packet here: the lanes
 * keep plain counters, and the collect() callbacks copy them into prom-client at scrape
 * time. Metrics are registered in the Registry passed in, never the global one.
 * `overlay proxy --metrics` serves them with src/metrics/server.ts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Proxy } from './proxy-types.js';
import { STAGES } from './rules.js';
import { VERDICTS } from './stages.js';

const LANE_LABELS = ['link', 'direction'] as const;
const STAGE_LABELS = ['link', 'direction', 'stage', 'verdict'] as const;

export function registerChaosMetrics(registry: Registry, proxy: Proxy): void {
  const eachLane = (fn: (link: string, dir: 'up' | 'down', lane: ReturnType<Proxy['model']['lane']>) => void): void => {
    for (const name of proxy.model.linkNames()) {
      const l = proxy.model.link(name);
      fn(name, 'up', l.up);
      fn(name, 'down', l.down);
    }
  };
  const stageCounter = (metric: Counter<(typeof STAGE_LABELS)[number]>, field: 'packets' | 'bytes'): void => {
    metric.reset();
    eachLane((link, direction, lane) => {
      for (const stage of STAGES) {
        const c = lane.stats.stages[stage];
        if (!c) continue;
        for (const verdict of VERDICTS) {
          const v = c[field][verdict];
          if (v > 0) metric.inc({ link, direction, stage, verdict }, v);
        }
      }
    });
  };
  new Counter({
    name: 'overlay_chaos_packets_total',
    help: 'Packets through each chaos stage by verdict (passed, dropped, duplicated, corrupted, reordered, delayed).',
    labelNames: STAGE_LABELS,
    registers: [registry],
    collect() {
      stageCounter(this, 'packets');
    },
  });
  new Counter({
    name: 'overlay_chaos_bytes_total',
    help: 'Bytes through each chaos stage by verdict.',
    labelNames: STAGE_LABELS,
    registers: [registry],
    collect() {
      stageCounter(this, 'bytes');
    },
  });
  new Counter({
    name: 'overlay_chaos_link_packets_total',
    help: 'Packets into and out of each link direction (after all stages).',
    labelNames: ['link', 'direction', 'way'] as const,
    registers: [registry],
    collect() {
      this.reset();
      eachLane((link, direction, lane) => {
        this.inc({ link, direction, way: 'in' }, lane.stats.packetsIn);
        this.inc({ link, direction, way: 'out' }, lane.stats.packetsOut);
      });
    },
  });
  new Counter({
    name: 'overlay_chaos_proxy_drops_total',
    help: 'Packets the proxy dropped before any link (not IPv4, no route, TTL expired, ...).',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(proxy.stats().drops)) this.inc({ reason }, v);
    },
  });
  const queueGauge = (name: string, help: string, index: 0 | 1 | 2, scale = 1): void => {
    new Gauge({
      name,
      help,
      labelNames: LANE_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        const now = proxy.now();
        eachLane((link, direction, lane) => {
          if (lane.bottlenecks().length === 0) return;
          this.set({ link, direction }, lane.queue(now)[index] * scale);
        });
      },
    });
  };
  queueGauge('overlay_chaos_queue_bytes', 'Bytes in the bottleneck queue (including the packet in service).', 1);
  queueGauge('overlay_chaos_queue_packets', 'Packets in the bottleneck queue (including the packet in service).', 0);
  queueGauge('overlay_chaos_queue_delay_seconds', 'Queueing delay a packet arriving now would see at the bottleneck.', 2, 1 / 1000);
}
