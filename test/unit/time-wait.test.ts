/**
 * The compact TIME-WAIT record (src/tcp/time-wait.ts) against the Connection it replaces:
 * the same segments fed to both, in TIME-WAIT, must give the same replies (every header
 * field and option), the same 2*MSL deadline, the same drops and the same TCP_INFO. With and
 * without the options (timestamps, SACK, window scale), and for both ways into TIME-WAIT.
 */
import { expect } from 'chai';
import { ACK, FIN, RST, SYN, type TcpOptions, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { TimeWait, TimeWaitTable } from '../../src/tcp/time-wait.js';
import type { ConnectionDropReason } from '../../src/tcp/drops.js';
import { cfg, IRS, ISS, seg, synSent } from '../scenarios/harness.js';

interface Pair {
  c: Connection;
  tw: TimeWait;
  cDrops: ConnectionDropReason[];
  twDrops: ConnectionDropReason[];
  /** The peer's SND.NXT (our RCV.NXT) and our SND.NXT. */
  rcvNxt: number;
  sndNxt: number;
}

const PEER_TS = 777_000;

/** A connection in TIME-WAIT (active close; `combined`: the peer's FIN also ACKs ours), and its record. */
function timeWaitPair(options: boolean, combined = false): Pair {
  const over = options ? { sack: true, timestamps: true, windowScale: true, rcvBuf: 1 << 20, msl: 1000 } : { msl: 1000 };
  const { c } = synSent(over);
  const peer: TcpOptions = options ? { mss: 1432, sackPermitted: true, wscale: 7, ts: { val: PEER_TS, ecr: 0 } } : { mss: 1432 };
  c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: peer }), 10);
  expect(c.state).to.equal('ESTABLISHED');
  const ts = (v: number): TcpOptions => (options ? { ts: { val: PEER_TS + v, ecr: 0 } } : {});
  // Some data each way, then our FIN.
  c.send(Buffer.alloc(100, 1), 20);
  c.input(seg({ seq: IRS + 1, ack: ISS + 101, payload: 50, options: ts(20) }), 30);
  c.read();
  c.shutdown(40);
  if (combined) {
    c.input(seg({ seq: IRS + 51, ack: ISS + 102, flags: FIN | ACK, options: ts(50) }), 50);
  } else {
    c.input(seg({ seq: IRS + 51, ack: ISS + 102, options: ts(45) }), 45);
    c.input(seg({ seq: IRS + 51, ack: ISS + 102, flags: FIN | ACK, options: ts(50) }), 50);
  }
  expect(c.state).to.equal('TIME-WAIT');
  c.takeOutput();
  expect(TimeWait.canCompact(c)).to.equal(true);
  const cDrops: ConnectionDropReason[] = [];
  const twDrops: ConnectionDropReason[] = [];
  c.hooks = { onDrop: (r) => cDrops.push(r) };
  const tw = new TimeWait(c);
  tw.onDrop = (r) => twDrops.push(r);
  return { c, tw, cDrops, twDrops, rcvNxt: IRS + 52, sndNxt: ISS + 102 };
}

/** Feeds `s` at `now` to both; their replies, deadlines, drops and TCP_INFO must agree. */
function both(p: Pair, s: TcpSegment, now: number): readonly TcpSegment[] {
  p.c.input(s, now, true);
  p.tw.input(s, now);
  const a = p.c.takeOutput();
  const b = p.tw.takeOutput();
  expect(b, `replies at ${now}`).to.deep.equal(a);
  expect(p.tw.deadline, `deadline at ${now}`).to.equal(p.c.timers.get('timeWait'));
  expect(p.twDrops, `drops at ${now}`).to.deep.equal(p.cDrops);
  expect(p.tw.getInfo(), `TCP_INFO at ${now}`).to.deep.equal(p.c.getInfo(now));
  expect(p.c.state).to.equal('TIME-WAIT');
  return b;
}

for (const options of [false, true]) {
  for (const combined of [false, true]) {
    describe(`compact TIME-WAIT answers as the connection did (${options ? 'timestamps, SACK, window scale' : 'no options'}${combined ? ', FIN-WAIT-1 -> TIME-WAIT' : ''})`, () => {
      const ts = (v: number): TcpOptions => (options ? { ts: { val: PEER_TS + v, ecr: 1 } } : {});

      it('a retransmitted FIN is re-ACKed and restarts 2*MSL (scenario 16)', () => {
        const p = timeWaitPair(options, combined);
        const r = both(p, seg({ seq: p.rcvNxt - 1, ack: p.sndNxt, flags: FIN | ACK, options: ts(300) }), 300);
        expect(r).to.have.length(1);
        expect(r[0]!.flags).to.equal(ACK);
        expect(r[0]!.ack).to.equal(p.rcvNxt);
        expect(p.tw.deadline).to.equal(300 + 2000);
        both(p, seg({ seq: p.rcvNxt - 1, ack: p.sndNxt, flags: FIN | ACK, options: ts(900) }), 900.5);
        expect(p.tw.deadline).to.equal(900.5 + 2000);
      });

      it('a SYN gets a challenge ACK, rate-limited to one per 500 ms (RFC 5961 4)', () => {
        const p = timeWaitPair(options, combined);
        expect(both(p, seg({ seq: p.rcvNxt + 100_000, flags: SYN, options: { mss: 1432, ...ts(100) } }), 100)).to.have.length(1);
        expect(both(p, seg({ seq: p.rcvNxt + 100_000, flags: SYN, options: { mss: 1432, ...ts(200) } }), 200)).to.have.length(0);
        expect(both(p, seg({ seq: p.rcvNxt + 100_000, flags: SYN, options: { mss: 1432, ...ts(700) } }), 700)).to.have.length(1);
        expect(p.tw.challengeAcks).to.equal(2);
        expect(p.tw.challengeAcksLimited).to.equal(1);
      });

      it('RSTs: at RCV.NXT ignored (RFC 1337), elsewhere in the window a challenge ACK, outside dropped', () => {
        const p = timeWaitPair(options, combined);
        expect(both(p, seg({ seq: p.rcvNxt, flags: RST }), 100)).to.have.length(0);
        expect(both(p, seg({ seq: p.rcvNxt + 10, flags: RST }), 200)).to.have.length(1);
        expect(both(p, seg({ seq: p.rcvNxt - 5000, flags: RST }), 300)).to.have.length(0);
        expect(both(p, seg({ seq: p.rcvNxt + 10, flags: RST | ACK, ack: p.sndNxt }), 400)).to.have.length(0); // rate-limited
        expect(p.cDrops).to.include.members(['rst_in_time_wait', 'rst_out_of_window']);
      });

      it('ACKs, old and new data, bad ACK numbers, no ACK flag, a window update', () => {
        const p = timeWaitPair(options, combined);
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt, options: ts(100) }), 100); // a plain ACK: nothing
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt, window: 1000, options: ts(110) }), 110); // window update
        both(p, seg({ seq: p.rcvNxt - 40, ack: p.sndNxt, payload: 30, options: ts(120) }), 120); // old data: ACK (+ D-SACK)
        both(p, seg({ seq: p.rcvNxt - 10, ack: p.sndNxt, payload: 30, options: ts(130) }), 130); // overlapping: D-SACK kept
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt, flags: FIN | ACK, options: ts(140) }), 140); // the D-SACK leaves here
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt + 500, options: ts(150) }), 150); // ACK of unsent data
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt - 2_000_000_000, options: ts(160) }), 160); // far too old
        both(p, seg({ seq: p.rcvNxt, flags: 0, payload: 10, options: ts(170) }), 170); // no ACK flag
        both(p, seg({ seq: p.rcvNxt + 5_000_000, ack: p.sndNxt, payload: 10, options: ts(180) }), 180); // beyond the window
        both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt, payload: 2_000_000, options: ts(190) }), 190); // past the right edge
        if (options) {
          // PAWS (RFC 7323): an old TSval is answered with an ACK and dropped.
          const r = both(p, seg({ seq: p.rcvNxt, ack: p.sndNxt, options: { ts: { val: PEER_TS - 1000, ecr: 1 } } }), 200);
          expect(r).to.have.length(1);
          expect(p.cDrops).to.include('paws');
        }
        expect(p.cDrops.length).to.be.greaterThan(4);
      });
    });
  }
}

describe('compact TIME-WAIT: what cannot be compacted', () => {
  it('a connection with a trace hook, unread data or another timer armed stays whole', () => {
    const { c } = synSent({ msl: 1000 });
    c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 } }), 10);
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10 }), 20);
    c.shutdown(30);
    c.input(seg({ seq: IRS + 11, ack: ISS + 2, flags: FIN | ACK }), 40);
    expect(c.state).to.equal('TIME-WAIT');
    expect(TimeWait.canCompact(c), 'unread data').to.equal(false);
    c.read();
    expect(TimeWait.canCompact(c)).to.equal(true);
    c.hooks = { onTrace: () => {} };
    expect(TimeWait.canCompact(c), 'traced').to.equal(false);
    c.hooks = {};
    c.timers.set('keepalive', 5000);
    expect(TimeWait.canCompact(c), 'a timer').to.equal(false);
    const d = Connection.connect({ localAddr: 1, localPort: 2, remoteAddr: 3, remotePort: 4 }, cfg(), 0, { iss: ISS });
    expect(TimeWait.canCompact(d), 'SYN-SENT').to.equal(false);
  });
});

/** A virtual clock with one-shot timers, for TimeWaitTable. */
class VirtualTimers {
  now = 0;
  sets = 0;
  private pending: Array<{ at: number; fn: () => void; live: boolean }> = [];
  readonly host = {
    set: (fn: () => void, ms: number): unknown => {
      this.sets++;
      const t = { at: this.now + ms, fn, live: true };
      this.pending.push(t);
      return t;
    },
    clear: (h: unknown): void => {
      (h as { live: boolean }).live = false;
    },
  };
  get armed(): number {
    return this.pending.filter((t) => t.live).length;
  }
  /** Runs the due timers up to `t`, in time order (bounded). */
  advance(t: number): void {
    for (let guard = 0; guard < 1000; guard++) {
      const due = this.pending.filter((x) => x.live && x.at <= t).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.now = due.at;
      due.fn();
    }
    this.now = t;
  }
}

/** A connection in TIME-WAIT on local port `port` at time `t0`, with this MSL. */
function timeWaitOn(port: number, msl: number, t0: number): Connection {
  const c = Connection.connect({ localAddr: 0x0a4d0001, localPort: port, remoteAddr: 0x0a4d0002, remotePort: 80 }, cfg({ msl }), t0, { iss: ISS });
  c.takeOutput();
  c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 }, srcPort: 80 }), t0);
  c.shutdown(t0);
  c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK, srcPort: 80 }), t0);
  c.takeOutput();
  expect(c.state).to.equal('TIME-WAIT');
  return c;
}

describe('TimeWaitTable: one timer for a stack\'s TIME-WAIT records (virtual time)', () => {
  it('expires records in deadline order, whatever the order they came in, with one timer armed at a time', () => {
    const vt = new VirtualTimers();
    const gone: number[] = [];
    const table = new TimeWaitTable(() => vt.now, (tw) => gone.push(tw.tuple.localPort), vt.host);
    for (const [port, msl] of [[1001, 100], [1002, 50], [1003, 200]] as const) table.add(new TimeWait(timeWaitOn(port, msl, 0)));
    expect(table.size).to.equal(3);
    expect(vt.armed).to.equal(1);
    expect(vt.sets, 'armed for 200, re-armed for the earlier 100, not for 400').to.equal(2);
    expect(table.lookup(1002, 80, 0x0a4d0002)?.deadline).to.equal(100);
    vt.advance(99);
    expect(gone).to.deep.equal([]);
    vt.advance(100);
    expect(gone).to.deep.equal([1002]);
    expect(table.lookup(1002, 80, 0x0a4d0002)).to.equal(undefined);
    vt.advance(1000);
    expect(gone).to.deep.equal([1002, 1001, 1003]);
    expect(table.size).to.equal(0);
    expect(vt.armed).to.equal(0);
  });

  it('a deadline restarted by a retransmitted FIN is honoured (re-queued when the old one comes up)', () => {
    const vt = new VirtualTimers();
    const gone: Array<[number, number]> = [];
    const table = new TimeWaitTable(() => vt.now, (tw) => gone.push([tw.tuple.localPort, vt.now]), vt.host);
    const tw = new TimeWait(timeWaitOn(2001, 100, 0));
    table.add(tw);
    table.add(new TimeWait(timeWaitOn(2002, 150, 0)));
    vt.advance(150);
    tw.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK, srcPort: 80 }), 150);
    expect(tw.takeOutput()).to.have.length(1);
    expect(tw.deadline).to.equal(350);
    vt.advance(349);
    expect(gone).to.deep.equal([[2002, 300]]); // its own 2*MSL; 2001's old deadline (200) passed without expiring it
    vt.advance(400);
    expect(gone).to.deep.equal([
      [2002, 300],
      [2001, 350],
    ]);
  });

  it('records of several remote addresses on one port pair: each found, listed and expired on its own', () => {
    const vt = new VirtualTimers();
    const gone: number[] = [];
    const table = new TimeWaitTable(() => vt.now, (tw) => gone.push(tw.tuple.remoteAddr), vt.host);
    const on = (remoteAddr: number, msl: number): TimeWait => {
      const c = Connection.connect({ localAddr: 0x0a4d0001, localPort: 5001, remoteAddr, remotePort: 80 }, cfg({ msl }), 0, { iss: ISS });
      c.takeOutput();
      c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: { mss: 1432 }, srcPort: 80 }), 0);
      c.shutdown(0);
      c.input(seg({ seq: IRS + 1, ack: ISS + 2, flags: FIN | ACK, srcPort: 80 }), 0);
      expect(c.state).to.equal('TIME-WAIT');
      return new TimeWait(c);
    };
    // 0xc0a80001 is above 2^31: it must be found whatever sign its key takes.
    const addrs = [0x0a4d0002, 0xc0a80001, 0x0a4d0003];
    addrs.forEach((r, i) => table.add(on(r, 100 * (i + 1))));
    expect(table.size).to.equal(3);
    for (const r of addrs) expect(table.lookup(5001, 80, r)?.tuple.remoteAddr, `lookup ${r}`).to.equal(r);
    expect(table.lookup(5001, 80, 0x0a4d0004)).to.equal(undefined);
    expect([...table.values()].map((tw) => tw.tuple.remoteAddr).sort()).to.deep.equal([...addrs].sort());
    vt.advance(200); // the first record expires: two are left on the port pair
    expect(gone).to.deep.equal([0x0a4d0002]);
    expect(table.lookup(5001, 80, 0x0a4d0002)).to.equal(undefined);
    expect(table.lookup(5001, 80, 0xc0a80001)?.tuple.remoteAddr).to.equal(0xc0a80001);
    vt.advance(400); // the second: one left
    expect(table.size).to.equal(1);
    expect(table.lookup(5001, 80, 0xc0a80001)).to.equal(undefined);
    expect(table.lookup(5001, 80, 0x0a4d0003)?.tuple.remoteAddr).to.equal(0x0a4d0003);
    expect([...table.values()]).to.have.length(1);
    table.add(on(0x0a4d0002, 1000)); // and a new one beside it
    expect(table.size).to.equal(2);
    expect(table.lookup(5001, 80, 0x0a4d0002)?.tuple.remoteAddr).to.equal(0x0a4d0002);
    vt.advance(10_000);
    expect(gone).to.deep.equal([0x0a4d0002, 0xc0a80001, 0x0a4d0003, 0x0a4d0002]);
    expect(table.size).to.equal(0);
    expect([...table.values()]).to.have.length(0);
  });

  it('clear() hands every record back and cancels the timer', () => {
    const vt = new VirtualTimers();
    const gone: number[] = [];
    const table = new TimeWaitTable(() => vt.now, (tw) => gone.push(tw.tuple.localPort), vt.host);
    table.add(new TimeWait(timeWaitOn(3001, 100, 0)));
    table.add(new TimeWait(timeWaitOn(3002, 100, 0)));
    table.clear();
    expect(gone.sort()).to.deep.equal([3001, 3002]);
    expect(vt.armed).to.equal(0);
    vt.advance(10_000);
    expect(gone).to.have.length(2);
  });
});

describe('a TIME-WAIT record holds figures, not a TCP_INFO', () => {
  it('builds none when made (only when asked for), and still reports the connection\'s', () => {
    const c = timeWaitOn(4001, 100, 0);
    const expected = c.getInfo(0);
    let built = 0;
    const orig = Connection.prototype.getInfo;
    Connection.prototype.getInfo = function (this: Connection, now: number) {
      built++;
      return orig.call(this, now);
    };
    let tw: TimeWait;
    try {
      tw = new TimeWait(c);
    } finally {
      Connection.prototype.getInfo = orig;
    }
    expect(built, 'TCP_INFOs built for the record').to.equal(0);
    expect(tw.getInfo()).to.deep.equal(expected);
    // Each call is a fresh object: a caller cannot change the record's figures through it.
    const a = tw.getInfo();
    a.retransmits.rto = 99;
    a.segmentsIn = -1;
    expect(tw.getInfo()).to.deep.equal(expected);
  });
});
