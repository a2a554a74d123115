/**
 * What metrics cost: a scrape (all collectors over 64 live connections) and one RTT
 * sample into the histogram, the only per-packet-path work. docs/observability.md turns
 * these figures into the share of a bulk transfer's CPU.
 */
import { expect } from 'chai';
import { createMetrics } from '../../src/metrics/registry.js';
import { emptyTotals, type InventorySource } from '../../src/metrics/inventory.js';
import { fakeInfo } from '../helpers/metrics.js';

describe('metrics cost', () => {
  it('a scrape of 64 connections takes a few milliseconds at most', async () => {
    const conns = Array.from({ length: 64 }, (_, i) => fakeInfo({ localPort: 40000 + i }));
    const sources: InventorySource[] = [
      {
        host: () => ({ address: '10.77.0.2', packetsIn: 1, packetsOut: 2, bytesIn: 3, bytesOut: 4, drops: { spoofed: 1 } }),
        tcpConnections: () => conns,
        tcpTotals: () => emptyTotals(),
      },
    ];
    const m = createMetrics({ sources: () => sources });
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await m.registry.metrics();
      times.push(performance.now() - t0);
      await new Promise((r) => setImmediate(r));
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1]!;
    console.log(`      scrape, 64 connections: median ${median.toFixed(2)} ms (${((median / 1000) * 100).toFixed(3)}% of a core at 1 scrape/s)`);
    expect(median).to.be.lessThan(25);
  });

  it('an RTT sample costs well under a microsecond', () => {
    const m = createMetrics({ sources: () => [] });
    const n = 1_000_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) m.observeRtt(0.02 + (i & 1023) * 1e-5);
    const ns = ((performance.now() - t0) * 1e6) / n;
    console.log(`      RTT histogram: ${ns.toFixed(0)} ns per sample`);
    expect(ns).to.be.lessThan(1000);
  });
});
