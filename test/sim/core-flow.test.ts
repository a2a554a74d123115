/**
 * Whole flows of the sans-IO core on the simulated network (src/sim), virtual time:
 * exact delivery under impairments for every recovery style, a shared bottleneck, the
 * 2^32 wrap, tail loss repaired by TLP, DSACK undo, pacing and delivery-rate samples.
 */
import { expect } from 'chai';
import { runTransfer, SimClock, SimNet, BulkApp } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { CcName, TcpConfig, TcpTraceEvent } from '../../src/tcp/types.js';
import { SYN } from '../../src/wire/tcp.js';
import { pattern } from '../helpers/data.js';

function conf(over: Partial<TcpConfig> = {}): TcpConfig {
  return defaultTcpConfig({ msl: 500, ...over });
}

describe('sim: core flows on the virtual clock', () => {
  const ccs: CcName[] = ['tahoe', 'reno', 'newreno', 'cubic'];
  for (const cc of ccs) {
    for (const sack of [false, true]) {
      it(`${cc}${sack ? ' + SACK' : ''}: 200 kB up, 50 kB down over 3% loss both ways arrive exactly, both sides CLOSED`, () => {
        const up = pattern(200_000, 1);
        const down = pattern(50_000, 2);
        const r = runTransfer({
          clientConfig: conf({ cc, sack }),
          ab: { delay: 15, loss: 0.03, seed: 11 },
          ba: { delay: 15, loss: 0.03, seed: 12 },
          upload: up,
          download: down,
          maxTime: 300_000,
        });
        expect(r.serverReceived.equals(up), 'upload intact').to.equal(true);
        expect(r.clientReceived.equals(down), 'download intact').to.equal(true);
        expect(r.bothClosed).to.equal(true);
        const info = r.client.getInfo(r.time);
        const rx = info.retransmits;
        expect(rx.fast + rx.rto + rx.rack + rx.tlp, 'losses were repaired').to.be.greaterThan(0);
        if (sack) expect(r.ab.stats.lost).to.be.greaterThan(0);
        // Recovery, D-SACK and reordering never reached the catch-all.
        expect(r.client.drops['internal_error'] ?? 0, 'client internal errors').to.equal(0);
        expect(r.server?.drops['internal_error'] ?? 0, 'server internal errors').to.equal(0);
      });
    }
  }

  it('a bottleneck with a drop-tail queue: queue overflow is repaired and goodput approaches the link rate', () => {
    const data = pattern(1_500_000, 3);
    const rate = 1_250_000; // 10 Mbit/s
    const r = runTransfer({
      clientConfig: conf({ cc: 'newreno', sack: true }),
      ab: { delay: 10, rate, queueBytes: 30_000 },
      ba: { delay: 10 },
      upload: data,
      maxTime: 120_000,
    });
    expect(r.serverReceived.equals(data)).to.equal(true);
    expect(r.ab.stats.queueDrops, 'the queue overflowed').to.be.greaterThan(0);
    expect(r.ab.stats.maxQueueBytes).to.be.at.most(30_000);
    // Transfer time excluding TIME-WAIT (2*MSL = 1 s) against the ideal serialization time.
    const ideal = (data.length * 1000) / rate;
    const took = r.time - 1000;
    expect(took).to.be.lessThan(ideal * 1.4);
    const info = r.client.getInfo(r.time);
    expect(info.deliveryRate ?? 0).to.be.greaterThan(rate * 0.5);
    expect(info.deliveryRate ?? 0).to.be.lessThan(rate * 1.2);
  });

  it('two flows share one bottleneck on one SimNet and both complete', () => {
    const clock = new SimClock();
    const net = new SimNet(clock);
    const a = net.host(1);
    const b = net.host(2);
    const links = net.link(a, b, { delay: 10, rate: 1_000_000, queueBytes: 40_000 }, { delay: 10 });
    const cfgS = conf({ cc: 'reno', allowHalfOpen: true });
    const received: BulkApp[] = [];
    b.listen(80, cfgS);
    b.onAccept = (c) => received.push(new BulkApp(b, c, Buffer.alloc(0)));
    const d1 = pattern(300_000, 5);
    const d2 = pattern(300_000, 6);
    const c1 = a.connect(2, 80, cfgS);
    const c2 = a.connect(2, 80, cfgS);
    const apps = [new BulkApp(a, c1, d1), new BulkApp(a, c2, d2)];
    const ok = clock.runUntil(() => apps.every((x) => x.conn.state === 'CLOSED') && received.length === 2 && received.every((x) => x.conn.state === 'CLOSED'), { maxTime: 120_000 });
    expect(ok).to.equal(true);
    const got = received.map((x) => x.receivedData);
    expect(got.some((g) => g.equals(d1)) && got.some((g) => g.equals(d2))).to.equal(true);
    expect(links.ab.stats.delivered).to.be.greaterThan(400);
  });

  it('sequence numbers wrap on both sides mid-transfer under loss (ISS and IRS near 2^32)', () => {
    const up = pattern(120_000, 7);
    const down = pattern(120_000, 8);
    for (const sack of [false, true]) {
      const r = runTransfer({
        clientConfig: conf({ cc: 'newreno', sack }),
        ab: { delay: 5, loss: 0.05, seed: 21 },
        ba: { delay: 5, loss: 0.05, seed: 22 },
        upload: up,
        download: down,
        clientIss: 0xffffffff - 50_000,
        serverIss: 0xffffffff - 70_000,
        maxTime: 300_000,
      });
      expect(r.ok, `sack=${sack}`).to.equal(true);
      expect(r.client.getInfo(r.time).retransmits.fast).to.be.greaterThan(0);
    }
  });

  it('a lost tail is repaired by a tail loss probe, not by an RTO (RACK-TLP with SACK)', () => {
    const data = pattern(20 * 1420, 9);
    let dataSegs = 0;
    const r = runTransfer({
      clientConfig: conf({ cc: 'newreno', sack: true, noDelay: true }),
      ab: {
        delay: 20,
        // Drop the whole tail: the first transmissions of the last three data segments (the
        // last one carries the FIN), so no later data can produce SACKs or duplicate ACKs.
        drop: (seg) => {
          if (seg.payload.length === 0 || seg.flags & SYN) return false;
          dataSegs++;
          return dataSegs >= 18 && dataSegs <= 20;
        },
      },
      ba: { delay: 20 },
      upload: data,
      maxTime: 60_000,
    });
    expect(r.ok).to.equal(true);
    const rx = r.client.getInfo(r.time).retransmits;
    expect(rx.rto).to.equal(0);
    expect(rx.tlp).to.be.greaterThan(0);
  });

  it('a spurious fast retransmit (reordering) is detected by D-SACK and undone', () => {
    const data = pattern(200 * 1420, 10);
    const trace: TcpTraceEvent[] = [];
    let n = 0;
    const r = runTransfer({
      clientConfig: conf({ cc: 'reno', sack: true, noDelay: true, timestamps: true }),
      ab: {
        delay: 20,
        // Hold one data segment back by 15 ms: three dupacks arrive before it does.
        extraDelay: (seg) => (seg.payload.length > 0 && ++n === 40 ? 15 : 0),
      },
      ba: { delay: 20 },
      upload: data,
      maxTime: 60_000,
      onTrace: (ev) => trace.push(ev),
    });
    expect(r.ok).to.equal(true);
    const reasons = trace.filter((e) => e.type === 'cwnd').map((e) => (e as { reason: string }).reason);
    expect(reasons).to.include('fast_retransmit');
    expect(reasons).to.include('undo');
    const fr = trace.findIndex((e) => e.type === 'cwnd' && e.reason === 'fast_retransmit');
    const undo = trace.findIndex((e) => e.type === 'cwnd' && e.reason === 'undo');
    expect(undo).to.be.greaterThan(fr);
  });

  it('pacing spreads a CUBIC flow out (no more than a pacing quantum leaves at one instant) and is off for Reno', () => {
    const burstiness = (cc: CcName, pacing?: boolean): number => {
      const times = new Map<number, number>();
      const r = runTransfer({
        clientConfig: conf({ cc, sack: true, ...(pacing === undefined ? {} : { pacing }) }),
        ab: { delay: 25 },
        ba: { delay: 25 },
        upload: pattern(600_000, 12),
        maxTime: 60_000,
        onTrace: (ev) => {
          if (ev.type === 'send' && ev.len > 0 && ev.t > 200) times.set(ev.t, (times.get(ev.t) ?? 0) + 1);
        },
      });
      expect(r.ok).to.equal(true);
      return Math.max(...times.values());
    };
    const paced = burstiness('cubic');
    const unpaced = burstiness('cubic', false);
    expect(paced).to.be.lessThan(unpaced);
    expect(paced).to.be.at.most(12);
    expect(burstiness('reno')).to.be.greaterThan(paced);
  });

  it('delivery-rate samples reach the congestion controller: BBR through a bottleneck measures the link rate and paces', () => {
    const rate = 1_250_000;
    const r = runTransfer({
      clientConfig: conf({ cc: 'bbr' }),
      ab: { delay: 20, rate, queueBytes: 150_000 },
      ba: { delay: 20 },
      upload: pattern(3_000_000, 14),
      maxTime: 60_000,
    });
    expect(r.ok).to.equal(true);
    const info = r.client.getInfo(r.time);
    expect(info.cc).to.equal('bbr');
    expect(info.deliveryRate ?? 0).to.be.within(rate * 0.6, rate * 1.2);
    expect(info.pacingRate ?? 0).to.be.greaterThan(0);
    expect(r.time - 1000, 'close to the serialization time (minus TIME-WAIT)').to.be.lessThan(((3_000_000 * 1000) / rate) * 1.35);
  });

  it('trace events cover state, send (with retransmit kind), ack (with SACK blocks), rtt and cwnd', () => {
    const trace: TcpTraceEvent[] = [];
    const r = runTransfer({
      clientConfig: conf({ cc: 'newreno', sack: true }),
      ab: { delay: 10, loss: 0.05, seed: 4 },
      ba: { delay: 10 },
      upload: pattern(100_000, 13),
      maxTime: 60_000,
      onTrace: (ev) => trace.push(ev),
    });
    expect(r.ok).to.equal(true);
    const types = new Set(trace.map((e) => e.type));
    for (const t of ['state', 'send', 'ack', 'rtt', 'cwnd', 'recv']) expect(types.has(t as TcpTraceEvent['type']), t).to.equal(true);
    expect(trace.some((e) => e.type === 'send' && e.retransmit !== undefined)).to.equal(true);
    expect(trace.some((e) => e.type === 'ack' && e.sack && e.sack.length > 0)).to.equal(true);
    const states = trace.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to);
    // The hooks are attached after connect() (SYN-SENT); the client writes everything at once and
    // half-closes, so its FIN crosses the server's: FIN-WAIT-1 -> CLOSING or FIN-WAIT-2 -> TIME-WAIT.
    expect(states[0]).to.equal('ESTABLISHED');
    expect(states[1]).to.equal('FIN-WAIT-1');
    expect(['CLOSING', 'FIN-WAIT-2']).to.include(states[2]);
    expect(states.slice(3)).to.deep.equal(['TIME-WAIT', 'CLOSED']);
  });
});
