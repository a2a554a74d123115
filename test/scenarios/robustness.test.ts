/**
 * Scenarios 20-28 of docs/scenarios.md (robustness and security) on the sans-IO
 * core, and 46 / 48 (accept queue, API misuse).
 */
import { expect } from 'chai';
import { ACK, FIN, RST, SYN, decodeTcp, encodeTcp } from '../../src/wire/tcp.js';
import { CHALLENGE_ACK_INTERVAL_MS } from '../../src/tcp/connection.js';
import { IRS, ISS, LOCAL, REMOTE, RPORT, established, expectOut, expectSeg, listener, peerSyn, seg } from './harness.js';

describe('scenarios: robustness and security', () => {
  it('20 RFC 5961 RST: outside the window dropped silently; inside but not RCV.NXT -> challenge ACK; exactly RCV.NXT -> abort', () => {
    const c = established();
    c.input(seg({ seq: IRS + 1 + 100000, flags: RST }), 20);
    expect(c.takeOutput()).to.have.length(0);
    expect(c.state).to.equal('ESTABLISHED');
    c.input(seg({ seq: IRS + 1 - 1, flags: RST }), 21); // just left of the window
    expect(c.takeOutput()).to.have.length(0);
    c.input(seg({ seq: IRS + 2, flags: RST }), 22);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.state).to.equal('ESTABLISHED');
    c.input(seg({ seq: IRS + 1, flags: RST }), 23);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ECONNRESET');
    expect(c.takeOutput()).to.have.length(0);
  });

  it('21 SYN on a synchronized connection -> rate-limited challenge ACK, no reset', () => {
    const c = established();
    c.input(seg({ seq: IRS + 1, flags: SYN }), 20);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    c.input(seg({ seq: IRS + 50, flags: SYN }), 30);
    expect(c.takeOutput(), 'rate limited').to.have.length(0);
    c.input(seg({ seq: IRS + 1 + 1e6, flags: SYN | ACK, ack: ISS + 1 }), 20 + CHALLENGE_ACK_INTERVAL_MS);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.state).to.equal('ESTABLISHED');
  });

  it('an exception inside the core aborts the connection (RST, ECONNABORTED, no timer) instead of leaving it stalled', () => {
    const c = established();
    expect(c.send(Buffer.alloc(3000, 1), 11)).to.equal(3000);
    expect(c.takeOutput().length).to.be.greaterThan(0);
    expect(c.nextDeadline(), 'the RTO runs').to.be.a('number');
    // A bug in ACK processing (as the path-MTU probe's was, f873cc5): the ACK throws halfway.
    const snd = c.snd as unknown as { processNewAck: (...a: unknown[]) => number };
    snd.processNewAck = () => {
      throw new TypeError('a bug in the core');
    };
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 1000 }), 20);
    expect(c.drops['internal_error']).to.equal(1);
    expect(c.state).to.equal('CLOSED');
    expect(c.error).to.equal('ECONNABORTED');
    expectOut(c.takeOutput(), [{ flags: RST | ACK }]);
    expect(c.nextDeadline(), 'no timer left behind').to.equal(undefined);
    // Later input is answered as CLOSED answers it, without a second internal error.
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 1000 }), 21);
    expectOut(c.takeOutput(), [{ flags: RST }]);
    expect(c.drops['internal_error']).to.equal(1);
  });

  it('22 segment outside the receive window (data, bare ACK, SYN) -> duplicate ACK carrying RCV.NXT', () => {
    const far = IRS + 1 + 70000; // the window is 64000
    for (const s of [
      seg({ seq: far, ack: ISS + 1, payload: 100 }),
      seg({ seq: far, ack: ISS + 1 }),
      seg({ seq: IRS - 5000, ack: ISS + 1, payload: 10 }),
      seg({ seq: far, flags: SYN }),
    ]) {
      const c = established();
      c.input(s, 20);
      expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1, window: 64000 }]);
      expect(c.readableLength).to.equal(0);
      expect(c.state).to.equal('ESTABLISHED');
    }
  });

  it('23 ACK for data never sent (SEG.ACK > SND.NXT) -> ACK and drop', () => {
    const c = established();
    c.input(seg({ seq: IRS + 1, ack: ISS + 1 + 5000, payload: 10 }), 20);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(c.readableLength).to.equal(0);
    expect(c.getInfo(20).sndUna).to.equal(ISS + 1);
  });

  it('24 bad checksum -> silent drop, counted (at the decode layer: the core only sees decoded segments)', () => {
    const c = established();
    const s = seg({ seq: IRS + 1, ack: ISS + 1, payload: 20 });
    const wire = encodeTcp(s, REMOTE, LOCAL);
    const bad = Buffer.from(wire);
    bad[bad.length - 1] ^= 0x40;
    const d = decodeTcp(bad, REMOTE, LOCAL);
    expect(d.ok).to.equal(false);
    if (!d.ok) expect(d.reason).to.equal('tcp_bad_checksum');
    // Nothing reached the connection: no reply, nothing readable. (The driver counts the
    // reason at the host: test/unit/host-bounds.test.ts.)
    expectOut(c.takeOutput(), []);
    expect(c.readableLength).to.equal(0);
    // The peer's retransmission with a good checksum is accepted and ACKed (delayed ACK).
    const g = decodeTcp(wire, REMOTE, LOCAL);
    expect(g.ok).to.equal(true);
    if (g.ok) c.input(g.segment, 20);
    expectOut(c.takeOutput(), []);
    expect(c.nextDeadline()).to.equal(60);
    c.onTimer(60);
    expectOut(c.takeOutput(), [{ flags: ACK, seq: ISS + 1, ack: IRS + 21, window: 64000 - 20, len: 0 }]);
    expect(c.readableLength).to.equal(20);
  });

  it('25 MSS: absent -> 536; tiny values clamped; 0 ignored; an MSS option outside a SYN ignored', () => {
    const mssFor = (options: object) => {
      const l = listener();
      const child = l.input(peerSyn(options), REMOTE, 0)!;
      return child.getInfo(0).mss;
    };
    expect(mssFor({})).to.equal(536);
    expect(mssFor({ mss: 0 })).to.equal(536);
    expect(mssFor({ mss: 10 })).to.equal(88);
    expect(mssFor({ mss: 1000 })).to.equal(1000);
    expect(mssFor({ mss: 9000 })).to.equal(1432); // never above our own

    const c = established({ noDelay: true }, { mss: 1000 });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, options: { mss: 100 } }), 20);
    expect(c.getInfo(20).mss).to.equal(1000);
    c.send(Buffer.alloc(2500), 30);
    expect(c.takeOutput().map((s) => s.payload.length)).to.deep.equal([1000, 1000, 500]);
    // Without MSS at all, segments are 536 bytes.
    const d = established({ noDelay: true }, {});
    d.send(Buffer.alloc(1200), 30);
    expect(d.takeOutput().map((s) => s.payload.length)).to.deep.equal([536, 536, 128]);
  });

  it('26 malformed or unknown options never crash and are skipped or dropped', () => {
    const s = seg({ seq: IRS + 1, ack: ISS + 1, payload: 4 });
    const wire = encodeTcp(s, REMOTE, LOCAL);
    // Unknown option kind 99 (length 4) + NOP NOP NOP NOP: skipped by length.
    const withUnknown = Buffer.concat([wire.subarray(0, 20), Buffer.from([99, 4, 1, 2, 1, 1, 1, 1]), wire.subarray(20)]);
    withUnknown[12] = (28 / 4) << 4;
    const u = decodeTcp(withUnknown);
    expect(u.ok).to.equal(true);
    // A length that runs past the header, a zero length, a wrong MSS length: dropped, no throw.
    for (const opt of [[2, 9, 0, 0], [8, 0, 0, 0], [2, 3, 5, 1], [5, 2, 1, 1]]) {
      const b = Buffer.concat([wire.subarray(0, 20), Buffer.from(opt), wire.subarray(20)]);
      b[12] = (24 / 4) << 4;
      const d = decodeTcp(b);
      expect(d.ok).to.equal(false);
      if (!d.ok) expect(d.reason).to.equal('tcp_bad_option');
    }
    // Nonsense option values reaching the core: huge window scale, SACK garbage, TS on a non-TS connection.
    const l = listener({ windowScale: true, sack: true });
    const child = l.input(peerSyn({ mss: 1432, wscale: 200, sackPermitted: true }), REMOTE, 0)!;
    child.input(seg({ seq: IRS + 1, ack: 7001, window: 100 }), 1);
    expect(child.getInfo(1).sndWnd).to.equal(100 * 2 ** 14); // shift clamped to 14 (RFC 7323 2.3)
    expectOut(child.takeOutput(), [{ flags: SYN | ACK, seq: 7000, ack: IRS + 1 }]);
    child.input(seg({ seq: IRS + 1, ack: 7001, options: { sack: [{ left: 1, right: 0 }, { left: 7001, right: 9e9 }], ts: { val: -1, ecr: 2 ** 40 } } }), 2);
    // A bare ACK with nonsense options: nothing to answer, nothing broken.
    expectOut(child.takeOutput(), []);
    expect(child.state).to.equal('ESTABLISHED');
    expect(child.drops['internal_error'] ?? 0).to.equal(0);
    // The connection still works: data is ACKed exactly as usual.
    child.input(seg({ seq: IRS + 1, ack: 7001, payload: 4 }), 3);
    child.onTimer(child.nextDeadline()!);
    expectOut(child.takeOutput(), [{ flags: ACK, seq: 7001, ack: IRS + 5, len: 0 }]);
  });

  it('27 window scaling only when both SYNs carry it; the window field of a SYN is never scaled', () => {
    const l = listener({ windowScale: true, rcvBuf: 1 << 20 });
    const child = l.input(peerSyn({ mss: 1432, wscale: 3 }, RPORT, IRS), REMOTE, 0)!;
    expect(child.takeOutput()[0]!.window).to.equal(65535);
    child.input(seg({ seq: IRS, flags: SYN, window: 1000, options: { wscale: 3 } }), 1); // retransmitted SYN
    child.takeOutput();
    child.input(seg({ seq: IRS + 1, ack: 7001, window: 1000 }), 2);
    expect(child.getInfo(2).sndWnd).to.equal(8000);
    // Our scaled advertisement: 1 MiB >> 5.
    child.input(seg({ seq: IRS + 1, ack: 7001, window: 1000, payload: 10 }), 3);
    child.onTimer(child.nextDeadline()!);
    const [ack] = child.takeOutput();
    expect(ack!.window).to.equal(Math.ceil(((1 << 20) - 10) / 32));

    // The peer's SYN has no WS: none in our SYN-ACK, and no scaling either way.
    const l2 = listener({ windowScale: true, rcvBuf: 1 << 20 });
    const c2 = l2.input(peerSyn({ mss: 1432 }), REMOTE, 0)!;
    expect(c2.takeOutput()[0]!.options.wscale).to.equal(undefined);
    c2.input(seg({ seq: IRS + 1, ack: 7001, window: 1000 }), 1);
    expect(c2.getInfo(1).sndWnd).to.equal(1000);
    c2.input(seg({ seq: IRS + 1, ack: 7001, payload: 1 }), 2);
    c2.onTimer(c2.nextDeadline()!);
    expect(c2.takeOutput()[0]!.window).to.equal(65535);

    // Active side: the SYN-ACK's window is not scaled even though both offered WS.
    const c3 = established({ windowScale: true }, { mss: 1432, wscale: 4 }, 5000);
    expect(c3.getInfo(10).sndWnd).to.equal(5000);
  });

  it('28 PAWS: a segment with an old TSval is dropped and ACKed', () => {
    const c = established({ timestamps: true }, { mss: 1432, ts: { val: 100, ecr: 0 } });
    c.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10, options: { ts: { val: 200, ecr: 0 } } }), 20);
    expect(c.readableLength).to.equal(10);
    c.onTimer(c.nextDeadline()!);
    c.takeOutput();
    c.input(seg({ seq: IRS + 11, ack: ISS + 1, payload: 10, options: { ts: { val: 150, ecr: 0 } } }), 30);
    const out = c.takeOutput();
    expectOut(out, [{ flags: ACK, seq: ISS + 1, ack: IRS + 11 }]);
    expect(out[0]!.options.ts?.ecr).to.equal(200);
    expect(c.readableLength).to.equal(10);
    // A TSval across the 2^32 wrap is newer, not older.
    const d = established({ timestamps: true }, { mss: 1432, ts: { val: 0xfffffff0, ecr: 0 } });
    d.input(seg({ seq: IRS + 1, ack: ISS + 1, payload: 10, options: { ts: { val: 5, ecr: 0 } } }), 20);
    expect(d.readableLength).to.equal(10);
  });

  it('46 full accept queue: further SYNs are dropped (no cookie hook); an ACK completing a handshake is ignored while the queue is full', () => {
    const l = listener({}, 1);
    const a = l.input(peerSyn({}, 6001), REMOTE, 0)!;
    const b = l.input(peerSyn({}, 6002), REMOTE, 0)!;
    a.takeOutput();
    b.takeOutput();
    a.input(seg({ seq: IRS + 1, ack: 7001, srcPort: 6001 }), 1);
    expect(l.acceptQueueLength).to.equal(1);
    // The queue is full: B's handshake-completing ACK is ignored, B stays SYN-RECEIVED.
    b.input(seg({ seq: IRS + 1, ack: 7001, srcPort: 6002 }), 2);
    expect(b.state).to.equal('SYN-RECEIVED');
    expect(b.takeOutput()).to.have.length(0);
    // A new SYN is dropped.
    expect(l.input(peerSyn({}, 6003), REMOTE, 3)).to.equal(undefined);
    expect(l.takeOutput()).to.have.length(0);
    expect(l.drops['queue_full']).to.equal(1);
    // Once the application accepts, B's retransmitted SYN-ACK and the peer's ACK complete it.
    expect(l.accept()).to.equal(a);
    b.onTimer(b.nextDeadline()!);
    expectOut(b.takeOutput(), [{ flags: SYN | ACK, seq: 7000, ack: IRS + 1 }]);
    b.input(seg({ seq: IRS + 1, ack: 7001, srcPort: 6002 }), 1100);
    expect(b.state).to.equal('ESTABLISHED');
    expect(l.accept()).to.equal(b);
    // With a cookie hook, the SYN is answered statelessly instead.
    const l2 = listener({}, 0);
    l2.synCookies = { issForSyn: () => 424242, checkAck: () => undefined };
    expect(l2.input(peerSyn({ mss: 1432 }, 6004), REMOTE, 5)).to.equal(undefined);
    const [o] = l2.takeOutput();
    expectSeg(o!.seg, { flags: SYN | ACK, seq: 424242, ack: IRS + 1 });
  });

  it('48 API misuse (write after end, write/read after close, double close, connect twice) gives a clear error, never a crash', () => {
    const c = established();
    c.shutdown(20);
    expectOut(c.takeOutput(), [{ flags: FIN | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(() => c.send(Buffer.from('x'), 21)).to.throw().with.property('code', 'EPIPE');
    c.shutdown(22); // a second end(): nothing more is sent
    expectOut(c.takeOutput(), []);
    c.close(23); // FIN already sent: close() only marks the connection orphaned
    expectOut(c.takeOutput(), []);
    c.close(24);
    expectOut(c.takeOutput(), []);
    expect(c.state).to.equal('FIN-WAIT-1');
    const d = established();
    d.abort(20);
    expectOut(d.takeOutput(), [{ flags: RST | ACK, seq: ISS + 1, ack: IRS + 1 }]);
    expect(d.state).to.equal('CLOSED');
    expect(() => d.send(Buffer.from('x'), 21)).to.throw().with.property('code', 'EPIPE');
    expect(d.read()).to.equal(null);
    d.abort(22);
    d.setNoDelay(true, 23);
    d.setKeepAlive(true, 1000, 23);
    expectOut(d.takeOutput(), []);
    expect(d.nextDeadline()).to.equal(undefined);
    // CLOSED answers anything but a RST with a RST; a RST gets nothing.
    d.input(seg({ seq: IRS, flags: FIN | SYN | ACK, ack: 777, payload: 5 }), 24);
    expectOut(d.takeOutput(), [{ flags: RST, seq: 777 }]);
    d.input(seg({ seq: IRS, flags: FIN | SYN | RST | ACK, payload: 5 }), 25);
    expectOut(d.takeOutput(), []);
    expect(d.drops['internal_error'] ?? 0).to.equal(0);
    // Connect twice: a Connection is opened only by the static Connection.connect, so an
    // instance cannot be re-opened; the socket layer maps that to EISCONN/ERR_SOCKET_CONNECTING.
    expect((d as unknown as { connect?: unknown }).connect).to.equal(undefined);
    // Garbage segments (fixed pattern) in ESTABLISHED: every reply is one of ours, and the
    // catch-all never fires.
    const e = established();
    for (let i = 0; i < 200; i++) {
      e.input(seg({ seq: (i * 2654435761) >>> 0, ack: (i * 40503) >>> 0, flags: i & 0xff, window: i * 331, payload: i % 7, options: i % 3 ? {} : { sack: [{ left: i, right: i * 3 }] } }), 30 + i);
    }
    for (const s of e.takeOutput()) expect(s.srcPort).to.equal(80);
    expect(e.drops['internal_error'] ?? 0).to.equal(0);
  });
});
