/**
 * Loss recovery on whole flows (issue: congestion control and loss recovery), on the
 * simulated link with a virtual clock: what each mechanism repairs and how fast.
 * RTT is 40 ms (20 ms each way) throughout.
 */
import { expect } from 'chai';
import { runTransfer } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { TcpConfig, TcpTraceEvent } from '../../src/tcp/types.js';
import type { TcpSegment } from '../../src/wire/tcp.js';
import { SYN } from '../../src/wire/tcp.js';
import { seqDiff } from '../../src/tcp/seq.js';

const RTT = 40;

function data(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 8)) & 0xff;
  return b;
}

function conf(over: Partial<TcpConfig>): TcpConfig {
  return defaultTcpConfig({ msl: 500, noDelay: true, pacing: false, ...over });
}

/**
 * Drops the first transmission of the data segments whose ordinal (1-based, in order of
 * first appearance) is in `which`; retransmissions pass. Records when each was dropped.
 */
function dropFirstTransmissions(which: number[]) {
  const seen = new Set<number>();
  const dropped = new Map<number, { seq: number; end: number; t: number }>();
  let ordinal = 0;
  const filter = (seg: TcpSegment): boolean => {
    if (seg.payload.length === 0 || seg.flags & SYN) return false;
    if (seen.has(seg.seq)) return false;
    seen.add(seg.seq);
    ordinal++;
    if (!which.includes(ordinal)) return false;
    dropped.set(ordinal, { seq: seg.seq, end: (seg.seq + seg.payload.length) >>> 0, t: -1 });
    return true;
  };
  return { filter, dropped };
}

/** One upload of `segments` full segments over the 40 ms path, dropping the first
 * transmissions of the given data-segment ordinals, with the client's trace. */
function flow(over: Partial<TcpConfig>, drop: number[], segments: number) {
  const trace: TcpTraceEvent[] = [];
  const loss = dropFirstTransmissions(drop);
  const r = runTransfer({
    clientConfig: conf(over),
    ab: { delay: RTT / 2, drop: loss.filter },
    ba: { delay: RTT / 2 },
    upload: data(segments * 1420),
    maxTime: 60_000,
    onTrace: (ev) => trace.push(ev),
  });
  return { r, trace, loss };
}

/** The first time the client saw an ACK at or beyond `seq`. */
function ackedAt(trace: TcpTraceEvent[], seq: number): number | undefined {
  for (const ev of trace) if (ev.type === 'ack' && seqDiff(ev.ack, seq) >= 0) return ev.t;
  return undefined;
}

function sends(trace: TcpTraceEvent[]) {
  return trace.filter((e): e is Extract<TcpTraceEvent, { type: 'send' }> => e.type === 'send');
}

describe('sim: loss recovery, mechanism by mechanism', () => {
  it('NewReno (no SACK) repairs three losses in one window without an RTO', () => {
    const { r, trace, loss } = flow({ cc: 'newreno', sack: false }, [40, 44, 48], 120);
    expect(r.ok).to.equal(true);
    const rx = r.client.getInfo(r.time).retransmits;
    expect(rx.rto, 'no RTO').to.equal(0);
    expect(loss.dropped.size).to.equal(3);
    // One fast retransmit starts recovery; each partial ACK retransmits the next hole (RFC 6582),
    // so all three holes are repaired inside that one recovery episode.
    const cwndReasons = trace.filter((e) => e.type === 'cwnd').map((e) => (e as { reason: string }).reason);
    expect(cwndReasons.filter((x) => x === 'fast_retransmit'), 'one recovery episode').to.have.length(1);
    const repaired = [...loss.dropped.values()].map((d) => sends(trace).some((s) => s.seq === d.seq && s.retransmit));
    expect(repaired).to.deep.equal([true, true, true]);
  });

  it('Reno (no SACK) leaves recovery at the first partial ACK, so the same three losses take longer than NewReno', () => {
    const elapsed = (cc: 'reno' | 'newreno'): number => {
      const { r, trace, loss } = flow({ cc, sack: false }, [40, 44, 48], 120);
      expect(r.ok, cc).to.equal(true);
      const last = loss.dropped.get(48)!;
      return ackedAt(trace, last.end)!;
    };
    expect(elapsed('reno')).to.be.greaterThan(elapsed('newreno'));
  });

  it('SACK recovery (RFC 6675) repairs ten scattered losses in one window in about one RTT', () => {
    // Slow start from IW10 sends flights of 10, 20, 40, 80 segments: ordinals 71..150 leave together.
    const which = [80, 86, 92, 98, 104, 110, 116, 122, 128, 134];
    const { r, trace, loss } = flow({ cc: 'newreno', sack: true }, which, 200);
    expect(r.ok).to.equal(true);
    expect(r.client.getInfo(r.time).retransmits.rto, 'no RTO').to.equal(0);
    const retx = sends(trace).filter((s) => s.retransmit);
    const firstRetx = retx[0]!.t;
    const allAcked = ackedAt(trace, loss.dropped.get(134)!.end)!;
    // Every hole is retransmitted once (no go-back-N), and the cumulative ACK covering the
    // last hole arrives within about one RTT of the first retransmission.
    for (const d of loss.dropped.values()) expect(retx.filter((s) => s.seq === d.seq)).to.have.length(1);
    expect(retx.length).to.equal(10);
    expect(Math.max(...retx.map((s) => s.t)) - firstRetx, 'all holes retransmitted at once').to.be.below(RTT / 4);
    expect(allAcked - firstRetx).to.be.at.most(1.25 * RTT);
  });

  it('a tail loss probe repairs a lost tail in about 2 RTTs (PTO = 2*SRTT), long before the RTO', () => {
    const { r, trace, loss } = flow({ cc: 'newreno', sack: true }, [28, 29, 30], 30);
    expect(r.ok).to.equal(true);
    const info = r.client.getInfo(r.time);
    expect(info.retransmits.rto).to.equal(0);
    expect(info.retransmits.tlp).to.equal(1);
    const tail = loss.dropped.get(30)!;
    const probeAt = sends(trace).find((s) => s.retransmit === 'tlp')!.t;
    const lastAck = Math.max(...trace.filter((e) => e.type === 'ack' && e.t < probeAt).map((e) => e.t));
    const srtt = [...trace].reverse().find((e): e is Extract<TcpTraceEvent, { type: 'rtt' }> => e.type === 'rtt' && e.t <= lastAck)!.srtt;
    const repairedAt = ackedAt(trace, tail.end)!;
    // RFC 8985 7.2: the probe fires PTO = 2*SRTT after the last ACK (about 2 RTTs); its SACK
    // lets RACK mark the other two lost, and their repair is acknowledged one RTT later,
    // while an RTO (at least 200 ms after that ACK) would not even have fired yet.
    expect(probeAt - lastAck).to.be.within(1.9 * srtt, 2.1 * srtt);
    expect(repairedAt - lastAck).to.be.below(200);
  });

  it('a lone lost segment whose PTO coincides with the RTO is retransmitted once, not by both timers', () => {
    const { r, trace, loss } = flow({ cc: 'newreno', sack: true }, [30], 30);
    expect(r.ok).to.equal(true);
    const tail = loss.dropped.get(30)!;
    const retx = sends(trace).filter((s) => s.seq === tail.seq && s.retransmit);
    expect(retx.map((s) => s.retransmit), 'retransmissions of the lost segment').to.have.length(1);
  });

  it("Tahoe: a fast retransmit or a timeout sets cwnd to 1 MSS and slow start begins again", () => {
    const { r, trace } = flow({ cc: 'tahoe', sack: false }, [25], 100);
    expect(r.ok).to.equal(true);
    const mss = r.client.getInfo(r.time).mss;
    const cw = trace.filter((e): e is Extract<TcpTraceEvent, { type: 'cwnd' }> => e.type === 'cwnd');
    const cut = cw.findIndex((e) => e.reason === 'fast_retransmit' || e.reason === 'rto');
    expect(cut).to.be.greaterThan(0);
    expect(cw[cut]!.cwnd).to.equal(mss);
    expect(cw[cut]!.ssthresh).to.be.at.least(2 * mss);
    // Then slow start again: the next changes grow cwnd towards ssthresh.
    expect(cw.slice(cut + 1).some((e) => e.reason === 'slow_start' && e.cwnd > mss)).to.equal(true);
  });
});
