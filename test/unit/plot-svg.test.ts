import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSvg } from '../helpers/svg.js';
import { runCli } from '../helpers/proc.js';
import { niceTicks } from '../../src/trace/svg.js';
import { plotCwnd, plotRtt, plotSeq, pickConnection, groupByConnection } from '../../src/trace/plot.js';
import { TraceWriter, type TraceRecord } from '../../src/trace/trace.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

const CONN = '10.77.0.2:40000-10.77.0.3:5001';
const MSS = 1000;

/**
 * A synthetic Reno flow on a 50 ms RTT: slow start from 10 segments, a loss repaired by
 * fast retransmit and recovery, congestion avoidance, then an RTO. Sequence numbers start
 * just below 2^32 so the plot must unwrap them.
 */
function syntheticFlow(): TcpTraceEvent[] {
  const evs: TcpTraceEvent[] = [];
  const iss = 0xffffffff - 30_000;
  let t = 0;
  let cwnd = 10 * MSS;
  let ssthresh = 0xffffffff;
  let next = 1;
  let una = 1;
  const seq = (rel: number): number => (iss + rel) >>> 0;
  evs.push({ type: 'state', t, from: 'CLOSED', to: 'SYN-SENT' });
  evs.push({ type: 'send', t, seq: iss, len: 0, flags: 0x02 });
  evs.push({ type: 'cwnd', t, cwnd, ssthresh, reason: 'init', inFlight: 0 });
  t += 50;
  evs.push({ type: 'state', t, from: 'SYN-SENT', to: 'ESTABLISHED' });
  for (let round = 0; round < 30; round++) {
    const burst = Math.floor(cwnd / MSS);
    for (let i = 0; i < burst; i++) {
      const lost = round === 4 && i === 3;
      evs.push({ type: 'send', t: t + i * 0.2, seq: seq(next), len: MSS, flags: 0x18 });
      if (lost) evs.push({ type: 'send', t: t + 55, seq: seq(next), len: MSS, flags: 0x18, retransmit: 'fast' });
      next += MSS;
    }
    t += 50;
    const sample = 50 + (round % 5);
    evs.push({ type: 'rtt', t, sample, srtt: 50 + (round % 3), rttvar: 5, rto: 200 });
    if (round === 4) {
      ssthresh = cwnd / 2;
      cwnd = ssthresh + 3 * MSS;
      evs.push({ type: 'ack', t, ack: seq(una + 3 * MSS), window: 65535, sack: [{ left: seq(una + 4 * MSS), right: seq(una + 8 * MSS) }] });
      evs.push({ type: 'cwnd', t, cwnd, ssthresh, reason: 'fast_retransmit', inFlight: next - una });
      t += 50;
      cwnd = ssthresh;
      evs.push({ type: 'cwnd', t, cwnd, ssthresh, reason: 'recovery_exit', inFlight: 0 });
    } else if (round === 20) {
      ssthresh = cwnd / 2;
      cwnd = MSS;
      t += 200;
      evs.push({ type: 'cwnd', t, cwnd, ssthresh, reason: 'rto', inFlight: 0 });
      evs.push({ type: 'send', t, seq: seq(una), len: MSS, flags: 0x18, retransmit: 'rto' });
    } else {
      cwnd += cwnd < ssthresh ? burst * MSS : MSS;
      evs.push({ type: 'cwnd', t, cwnd, ssthresh, reason: cwnd <= ssthresh ? 'slow_start' : 'congestion_avoidance', inFlight: 0 });
    }
    una = next;
    evs.push({ type: 'ack', t, ack: seq(una), window: 65535 });
  }
  return evs;
}

describe('SVG plots', () => {
  it('picks tick steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(0, 1.1, 6).step).to.equal(0.2);
    expect(niceTicks(0, 870, 9).ticks).to.deep.equal([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
    expect(niceTicks(3, 3).ticks.length).to.be.greaterThan(1);
  });

  it('draws cwnd and ssthresh with phases, RTO marker, axes and legend', () => {
    const svg = plotCwnd(syntheticFlow(), { conn: CONN });
    const c = checkSvg(svg);
    const all = c.texts.join('|');
    for (const label of ['cwnd', 'ssthresh', 'bytes in flight', 'slow start', 'congestion avoidance', 'fast recovery', 'RTO', 'time (s)', 'window (KiB)']) {
      expect(all, label).to.contain(label);
    }
    expect(c.polylinePoints.length).to.be.greaterThanOrEqual(3);
    expect(c.polylinePoints.every((p) => p.length >= 4)).to.equal(true);
    expect(c.elements.get('rect')!).to.be.greaterThan(4); // background + shaded phases + legend boxes
  });

  it('draws a time-sequence graph with unwrapped sequence numbers', () => {
    const svg = plotSeq(syntheticFlow(), { conn: CONN });
    const c = checkSvg(svg);
    const all = c.texts.join('|');
    for (const label of ['segments sent', 'retransmissions', 'ACK', 'SACK blocks', 'relative sequence number']) expect(all).to.contain(label);
    // Unwrapped: the largest y tick is a few hundred KiB, not ~4 GiB.
    const ticks = c.texts.map(Number).filter((n) => Number.isFinite(n));
    expect(Math.max(...ticks)).to.be.lessThan(10_000);
    expect(svg).to.match(/<path d="M[\d.]+ [\d.]+V[\d.]+/);
    expect(c.polylinePoints.length).to.be.greaterThanOrEqual(2);
  });

  it('draws RTT samples, SRTT and RTO in milliseconds', () => {
    const c = checkSvg(plotRtt(syntheticFlow(), { conn: CONN }));
    const all = c.texts.join('|');
    for (const label of ['RTT sample', 'SRTT', 'RTO', 'time (ms)']) expect(all).to.contain(label);
    expect(c.polylinePoints.length).to.equal(2);
  });

  it('the checker rejects broken markup', () => {
    expect(() => checkSvg('<svg><g></svg>')).to.throw();
    expect(() => checkSvg('<svg><polyline points="1,2 3"/></svg>')).to.throw();
    expect(() => checkSvg('<div></div>')).to.throw();
  });

  it('picks the connection that sent the most data, or the one asked for', () => {
    const recs: TraceRecord[] = [
      ...syntheticFlow().map((e) => ({ ...e, c: CONN })),
      { c: 'x:1-y:2', type: 'send', t: 1, seq: 1, len: 10, flags: 0x18 },
    ];
    const g = groupByConnection(recs);
    expect(pickConnection(g)).to.equal(CONN);
    expect(pickConnection(g, 'x:1-y:2')).to.equal('x:1-y:2');
    expect(() => pickConnection(g, 'nope')).to.throw(/no connection 'nope'/);
  });

  describe('overlay plot (CLI)', () => {
    let dir: string;
    let trace: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'obs-plot-'));
      trace = join(dir, 'flow.trace');
      const w = await TraceWriter.open(trace, 0);
      for (const e of syntheticFlow()) w.write(CONN, e);
      w.write('10.77.0.3:5001-10.77.0.2:40000', { type: 'recv', t: 60, seq: 1, len: 1000, flags: 0x18 });
      await w.close();
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const kind of ['cwnd', 'seq', 'rtt']) {
      it(`writes a ${kind} SVG`, async () => {
        const out = join(dir, `${kind}.svg`);
        const r = await runCli(['plot', trace, '-o', out, '--kind', kind]);
        expect(r.code, `signal ${r.signal}; ${r.stderr}`).to.equal(0);
        expect(r.stderr).to.contain(CONN);
        const c = checkSvg(readFileSync(out, 'utf8'));
        expect(c.polylinePoints.length).to.be.greaterThan(0);
      });
    }

    it('prints the events as JSON lines with --json (filtered by --conn)', async () => {
      const r = await runCli(['plot', trace, '--json', '--conn', '10.77.0.3:5001-10.77.0.2:40000']);
      expect(r.code, `signal ${r.signal}; ${r.stderr}`).to.equal(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);
      expect(lines).to.deep.equal([{ c: '10.77.0.3:5001-10.77.0.2:40000', type: 'recv', t: 60, seq: 1, len: 1000, flags: 0x18 }]);
      const all = await runCli(['plot', trace, '--json']);
      expect(all.stdout.trim().split('\n').length).to.equal(syntheticFlow().length + 1);
    });

    it('lists connections, and rejects a bad kind or unknown connection with exit 2', async () => {
      const l = await runCli(['plot', trace, '--list']);
      expect(l.code).to.equal(0);
      expect(l.stdout).to.contain(CONN).and.contain('10.77.0.3:5001-10.77.0.2:40000');
      const k = await runCli(['plot', trace, '--kind', 'pie']);
      expect(k.code).to.equal(2);
      expect(k.stderr.trim().split('\n')).to.have.length(1);
      const c = await runCli(['plot', trace, '--conn', 'a:1-b:2']);
      expect(c.code).to.equal(2);
      expect(c.stderr).to.match(/no connection 'a:1-b:2'/);
    });
  });
});
