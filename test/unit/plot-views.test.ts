/**
 * The plot views beside cwnd/seq/rtt: throughput and goodput per bin, the window-scaling
 * view (outstanding bytes, advertised window, probes), several connections on one figure,
 * the proxy's queue from a decision log (through `overlay plot`), and `npm run figures`'
 * generator (every figure drawn, labelled, and the same on every run).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { plotMulti, plotThroughput, plotWindow, throughputSeries, windowSeries } from '../../src/trace/plot-views.js';
import { TraceWriter } from '../../src/trace/trace.js';
import { DecisionLogWriter } from '../../src/chaos/decision-log.js';
import { checkSvg } from '../helpers/svg.js';
import { runCli } from '../helpers/proc.js';

const ISS = 0xffffe000; // crosses the 2^32 wrap within the flow

/** 1000-byte segments every 10 ms for 1 s, ACKed 50 ms later; 5 retransmissions at 0.5 s; window 20000. */
function flow(t0 = 1000): TcpTraceEvent[] {
  const ev: TcpTraceEvent[] = [{ type: 'send', t: t0, seq: ISS, len: 0, flags: 0x02 }];
  for (let i = 0; i < 100; i++) {
    const t = t0 + 10 + i * 10;
    ev.push({ type: 'send', t, seq: (ISS + 1 + i * 1000) >>> 0, len: 1000, flags: 0x10 });
    if (i >= 5) ev.push({ type: 'ack', t, ack: (ISS + 1 + (i - 4) * 1000) >>> 0, window: 20000 });
    if (i === 50) {
      for (let k = 0; k < 5; k++) ev.push({ type: 'send', t, seq: (ISS + 1 + k * 1000) >>> 0, len: 1000, flags: 0x10, retransmit: 'fast' });
    }
    if (i % 20 === 0) ev.push({ type: 'cwnd', t, cwnd: 10000 + i * 100, ssthresh: 1e9, reason: 'slow_start', inFlight: 5000 });
  }
  return ev;
}

describe('plot views: throughput, window, several connections, queue', () => {
  it('throughput counts retransmissions, goodput only newly ACKed bytes, per bin in Mbit/s', () => {
    const { throughput, goodput } = throughputSeries(flow(), 0.1);
    // Bins of 100 ms hold 10 segments (0.8 Mbit/s); bin 5 also 5 retransmissions (+0.4).
    expect(throughput[3]!.y).to.be.closeTo(0.8, 1e-9);
    expect(throughput[5]!.y).to.be.closeTo(1.2, 1e-9);
    expect(goodput[5]!.y).to.be.closeTo(0.8, 1e-9);
    expect(goodput[3]!.x).to.be.closeTo(0.35, 1e-9);
    const svg = plotThroughput(flow(), 'c', { binS: 0.1 });
    const c = checkSvg(svg);
    expect(c.texts).to.include.members(['rate (Mbit/s)', 'goodput (newly ACKed)', 'throughput (sent, with retransmissions)']);
  });

  it('window view: outstanding = highest sent - ACK (across the wrap), the advertised window, probes', () => {
    const ev = flow();
    ev.push({ type: 'send', t: 2200, seq: (ISS + 100_001) >>> 0, len: 1, flags: 0x10, retransmit: 'probe' });
    const w = windowSeries(ev);
    // From the first ACK on: 6 segments out right after each send, 5 after its ACK.
    const afterAcks = w.outstanding.filter((p) => p.x > 0.2 && p.x < 0.9);
    expect(new Set(afterAcks.map((p) => p.y))).to.deep.equal(new Set([6000, 5000]));
    expect(w.adv.every((p) => p.y === 20000)).to.equal(true);
    expect(w.probes).to.have.length(1);
    expect(w.cwnd[w.cwnd.length - 1]!.y).to.equal(10000 + 80 * 100);
    const c = checkSvg(plotWindow(ev, 'c'));
    expect(c.texts).to.include.members(['window advertised by the peer (rwnd)', 'outstanding (sent, not ACKed)', 'window probes (1)']);
  });

  it('several connections on one figure: one labelled line each, times from the earliest', () => {
    const svg = plotMulti('cwnd', [{ label: 'flow A', events: flow(1000) }, { label: 'flow B', events: flow(1500) }]);
    const c = checkSvg(svg);
    expect(c.texts).to.include.members(['flow A', 'flow B']);
    expect(c.polylinePoints.length).to.be.at.least(2);
  });

  describe('overlay plot (CLI)', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'overlay-plot-views-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('--kind throughput, --kind window and --conn all write SVGs', async () => {
      const file = join(dir, 'two.trace');
      const w = await TraceWriter.open(file);
      for (const e of flow(1000)) w.write('10.77.0.2:40000-10.77.0.3:5001', e);
      for (const e of flow(1200)) w.write('10.77.0.2:40001-10.77.0.3:5001', e);
      await w.close();
      for (const args of [['--kind', 'throughput'], ['--kind', 'window'], ['--kind', 'cwnd', '--conn', 'all']]) {
        const r = await runCli(['plot', file, ...args]);
        expect(r.code, r.stderr).to.equal(0);
        const c = checkSvg(r.stdout);
        if (args.includes('all')) expect(c.texts).to.include.members(['10.77.0.2:40000-10.77.0.3:5001', '10.77.0.2:40001-10.77.0.3:5001']);
      }
      const bad = await runCli(['plot', file, '--kind', 'rtt', '--conn', 'all']);
      expect(bad.code).to.equal(2);
    });

    it('--kind queue draws the queueing delay and the tail drops from a decision log', async () => {
      const file = join(dir, 'proxy.log');
      const log = new DecisionLogWriter(file, { seed: 1, mode: 'router', started: new Date(0).toISOString() });
      for (let i = 0; i < 50; i++) {
        log.write({ t: i * 10, l: '10.77.0.2-10.77.0.3', d: 'up', n: i + 1, c: 0, g: 'bottleneck', s: '*/bottleneck-up', v: i % 10 === 9 ? 'dropped' : 'delayed', ...(i % 10 === 9 ? {} : { x: i }) });
        log.write({ t: i * 10, l: '10.77.0.2-10.77.0.3', d: 'up', n: i + 1, c: 0, g: 'loss', s: '*/loss-up', v: 'passed' });
      }
      log.close();
      const r = await runCli(['plot', file, '--kind', 'queue']);
      expect(r.code, r.stderr).to.equal(0);
      const c = checkSvg(r.stdout);
      expect(c.texts).to.include.members(['queueing delay (ms)', '10.77.0.2-10.77.0.3 up: tail drops (5)']);
      const notLog = await runCli(['plot', join(dir, 'proxy.log') + '.missing', '--kind', 'queue']);
      expect(notLog.code).to.not.equal(0);
      expect(notLog.stderr.trim().split('\n')).to.have.length(1);
    });
  });

  it('npm run figures draws every lecture figure, labelled, and the same on every run', function () {
    this.timeout(60_000);
    const gen = fileURLToPath(new URL('../../tools/figures/main.js', import.meta.url));
    const outs = [mkdtempSync(join(tmpdir(), 'overlay-figs-a-')), mkdtempSync(join(tmpdir(), 'overlay-figs-b-'))];
    try {
      for (const out of outs) {
        const r = spawnSync(process.execPath, [gen, '--out', out], { encoding: 'utf8', timeout: 50_000 });
        expect(r.status, r.stderr).to.equal(0);
      }
      const names = readdirSync(outs[0]!).sort();
      expect(names).to.deep.equal([
        'fig-aimd-two-flows.svg', 'fig-fast-retransmit-zoom.svg', 'fig-handshake-teardown.svg', 'fig-slow-start-congestion-avoidance.svg',
        'fig-stop-and-wait-vs-sliding-window.svg', 'fig-syn-flood-cookies.svg', 'fig-tahoe-vs-reno.svg', 'fig-zero-window.svg',
      ]);
      for (const n of names) {
        const a = readFileSync(join(outs[0]!, n), 'utf8');
        expect(a, `${n} is deterministic`).to.equal(readFileSync(join(outs[1]!, n), 'utf8'));
        const c = checkSvg(a);
        if (n !== 'fig-handshake-teardown.svg') expect(c.texts, `${n} has a time axis`).to.include('time (s)');
      }
      // The ladder shows the handshake and the FINs.
      const ladder = checkSvg(readFileSync(join(outs[0]!, 'fig-handshake-teardown.svg'), 'utf8')).texts.join('\n');
      expect(ladder).to.match(/SYN\s+seq=0/).and.to.match(/SYN\+ACK\s+seq=0 ack=1/).and.to.match(/FIN/).and.to.match(/TIME-WAIT/);
    } finally {
      for (const o of outs) rmSync(o, { recursive: true, force: true });
    }
  });
});
