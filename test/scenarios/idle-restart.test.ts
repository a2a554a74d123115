/**
 * Idle restart (RFC 5681 4.1, RFC 7661): after more than one RTO without sending data and
 * with nothing in flight, cwnd restarts at min(IW, cwnd); a shorter pause keeps the window.
 * Driven on the virtual clock with crafted ACKs (see harness.ts: RTT 10 ms, MSS 1432).
 */
import { expect } from 'chai';
import { ACK } from '../../src/wire/tcp.js';
import type { Connection } from '../../src/tcp/connection.js';
import type { CcName, TcpTraceEvent } from '../../src/tcp/types.js';
import { IRS, ISS, established, seg } from './harness.js';

const MSS = 1432;
type CwndEv = Extract<TcpTraceEvent, { type: 'cwnd' }>;

/** Sends `segs` full segments at `t` and ACKs each one separately at t+10; returns the segments sent. */
function round(c: Connection, t: number, queueSegs: number): number {
  if (queueSegs > 0) c.send(Buffer.alloc(queueSegs * MSS, 0x61), t);
  const out = c.takeOutput().filter((s) => s.payload.length > 0);
  for (const s of out) c.input(seg({ seq: IRS + 1, ack: s.seq + s.payload.length, flags: ACK }), t + 10);
  return out.length;
}

/** ACK-clocked rounds until everything written is acknowledged; returns the time after. */
function drain(c: Connection, t: number): number {
  for (let i = 0; round(c, t, 0) > 0; i++) {
    if (i >= 1000) throw new Error('drain: still sending after 1000 rounds');
    t += 10;
  }
  return t;
}

/** Grows cwnd past IW in slow start, lets everything be acknowledged, pauses `idle` ms, writes 60 segments. */
function scenario(cc: CcName, idle: (rto: number) => number) {
  const events: TcpTraceEvent[] = [];
  const c = established({ cc, sndBuf: 1 << 20 }, { mss: MSS }, 65535);
  c.hooks.onTrace = (ev) => events.push(ev);
  expect(round(c, 20, 40)).to.equal(10); // IW 10
  const t0 = drain(c, 30);
  const cwndBefore = c.getInfo(t0).cwnd;
  expect(cwndBefore, 'cwnd grew past IW').to.be.greaterThan(20 * MSS);
  expect(c.getInfo(t0).bytesInFlight).to.equal(0);
  const rto = c.getInfo(t0).rto;
  const t = t0 + idle(rto);
  c.send(Buffer.alloc(60 * MSS, 0x62), t);
  const burst = c.takeOutput().filter((s) => s.payload.length > 0);
  const restart = events.filter((e): e is CwndEv => e.type === 'cwnd' && e.reason === 'idle_restart');
  return { c, burst, restart, cwndBefore, rto, t };
}

describe('scenario: idle restart (RFC 5681 4.1)', () => {
  for (const cc of ['reno', 'newreno', 'cubic'] as const) {
    it(`${cc}: idle longer than the RTO restarts cwnd at min(IW, cwnd), traced 'idle_restart'`, () => {
      const r = scenario(cc, (rto) => rto + 50);
      expect(r.restart, 'idle_restart trace events').to.have.length(1);
      expect(r.restart[0]!.cwnd).to.equal(10 * MSS);
      expect(r.restart[0]!.t).to.equal(r.t);
      expect(r.burst, 'segments sent after the pause').to.have.length(10);
      expect(r.burst[0]!.seq).to.equal(ISS + 1 + 40 * MSS);
      // ssthresh keeps the old operating point in reach (RFC 2861: max(ssthresh, 3/4 cwnd)).
      expect(r.c.getInfo(r.t).ssthresh).to.be.at.least(Math.floor((3 * r.cwndBefore) / 4));
    });

    it(`${cc}: a pause shorter than the RTO keeps the window`, () => {
      const r = scenario(cc, (rto) => rto / 2);
      expect(r.restart).to.have.length(0);
      // cwnd as before, within the peer's 65535-byte window.
      expect(r.burst).to.have.length(Math.min(Math.floor(r.cwndBefore / MSS), Math.floor(65535 / MSS)));
    });
  }

  it('the restart window is min(IW, cwnd): a window already below IW after an RTO is not raised', () => {
    const events: TcpTraceEvent[] = [];
    const c = established({ cc: 'reno', sndBuf: 1 << 20 }, { mss: MSS }, 65535);
    c.hooks.onTrace = (ev) => events.push(ev);
    c.send(Buffer.alloc(10 * MSS, 0x63), 20);
    expect(c.takeOutput()).to.have.length(10);
    const rtoAt = c.nextDeadline()!;
    c.onTimer(rtoAt); // RTO: cwnd = 1 MSS, the first segment again
    expect(c.takeOutput()).to.have.length(1);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 10 * MSS, flags: ACK }), rtoAt + 10);
    c.takeOutput();
    const cwndBefore = c.getInfo(rtoAt + 10).cwnd;
    expect(cwndBefore).to.be.lessThan(10 * MSS);
    const t = rtoAt + 10 + c.getInfo(rtoAt + 10).rto + 10;
    c.send(Buffer.alloc(20 * MSS, 0x64), t);
    expect(c.takeOutput().filter((s) => s.payload.length > 0)).to.have.length(Math.floor(cwndBefore / MSS));
    for (const e of events) if (e.type === 'cwnd' && e.reason === 'idle_restart') expect(e.cwnd).to.equal(cwndBefore);
  });

  it('BBR keeps its model across idle periods (no restart hook)', () => {
    const events: TcpTraceEvent[] = [];
    const c = established({ cc: 'bbr', sndBuf: 1 << 20 }, { mss: MSS }, 65535);
    c.hooks.onTrace = (ev) => events.push(ev);
    round(c, 20, 40);
    const t0 = drain(c, 30);
    const t = t0 + c.getInfo(t0).rto + 50;
    c.send(Buffer.alloc(40 * MSS, 0x62), t);
    expect(c.takeOutput().filter((s) => s.payload.length > 0).length).to.be.greaterThan(0);
    expect(events.filter((e) => e.type === 'cwnd' && e.reason === 'idle_restart')).to.have.length(0);
  });
});
