/**
 * Scenario harness for the sans-IO core (smoltcp tcp.rs style): craft a segment from the
 * peer, feed it at a chosen millisecond, assert the exact reply segments and the next deadline.
 *
 * Conventions: we are LOCAL:80, the peer is REMOTE:5000. Our ISS is 1000, the peer's is 5000,
 * so after the handshake SND.NXT = 1001 and RCV.NXT = 5001.
 */
import { expect } from 'chai';
import { ACK, SYN, flagsToString, type TcpOptions, type TcpSegment } from '../../src/wire/tcp.js';
import { Connection } from '../../src/tcp/connection.js';
import { Listener } from '../../src/tcp/listener.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { FourTuple, TcpConfig } from '../../src/tcp/types.js';

export const LOCAL = 0x0a4d0001;
export const REMOTE = 0x0a4d0002;
export const LPORT = 80;
export const RPORT = 5000;
export const ISS = 1000;
export const IRS = 5000;
export const TUPLE: FourTuple = { localAddr: LOCAL, localPort: LPORT, remoteAddr: REMOTE, remotePort: RPORT };

/** A plain configuration: no options, Reno, no pacing, 64 000-byte buffers. Override per test. */
export function cfg(over: Partial<TcpConfig> = {}): TcpConfig {
  return defaultTcpConfig({
    cc: 'newreno',
    pacing: false,
    sack: false,
    timestamps: false,
    windowScale: false,
    rcvBuf: 64000,
    sndBuf: 64000,
    ...over,
  });
}

/** A segment from the peer to us. */
export function seg(p: {
  seq: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: TcpOptions;
  payload?: Buffer | number;
  srcPort?: number;
}): TcpSegment {
  const payload = typeof p.payload === 'number' ? Buffer.alloc(p.payload, 0x61) : (p.payload ?? Buffer.alloc(0));
  return {
    srcPort: p.srcPort ?? RPORT,
    dstPort: LPORT,
    seq: p.seq >>> 0,
    ack: (p.ack ?? 0) >>> 0,
    flags: p.flags ?? ACK,
    window: p.window ?? 65535,
    urgent: 0,
    options: p.options ?? {},
    payload,
  };
}

export interface Expect {
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  len?: number;
}

/** Asserts one segment's header fields. */
export function expectSeg(s: TcpSegment | undefined, e: Expect): void {
  expect(s, 'a segment').to.not.equal(undefined);
  const got = s!;
  expect(flagsToString(got.flags), 'flags').to.equal(flagsToString(e.flags));
  if (e.seq !== undefined) expect(got.seq, 'seq').to.equal(e.seq >>> 0);
  if (e.ack !== undefined) expect(got.ack, 'ack').to.equal(e.ack >>> 0);
  if (e.window !== undefined) expect(got.window, 'window').to.equal(e.window);
  if (e.len !== undefined) expect(got.payload.length, 'payload length').to.equal(e.len);
}

/** Asserts the exact list of segments. */
export function expectOut(out: TcpSegment[], es: Expect[]): void {
  expect(out.map((s) => `${flagsToString(s.flags)} ${s.seq}:${s.ack} len ${s.payload.length}`), 'segments').to.have.length(es.length);
  es.forEach((e, i) => expectSeg(out[i], e));
}

/** Active open at t=0 with ISS 1000; returns the connection after taking the SYN. */
export function synSent(over: Partial<TcpConfig> = {}): { c: Connection; syn: TcpSegment } {
  const c = Connection.connect(TUPLE, cfg(over), 0, { iss: ISS });
  const out = c.takeOutput();
  expect(out).to.have.length(1);
  return { c, syn: out[0]! };
}

/**
 * ESTABLISHED by an active open: SYN at t=0, SYN-ACK at t=10 (RTT 10 ms), our ACK taken.
 * `peer` are the SYN-ACK's options (default MSS 1432 only).
 */
export function established(over: Partial<TcpConfig> = {}, peer: TcpOptions = { mss: 1432 }, window = 65535): Connection {
  const { c } = synSent(over);
  c.input(seg({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, options: peer, window }), 10);
  expect(c.state).to.equal('ESTABLISHED');
  c.takeOutput();
  return c;
}

/** A listener whose children get ISS 7000. */
export function listener(over: Partial<TcpConfig> = {}, backlog?: number): Listener {
  return new Listener({ addr: LOCAL, port: LPORT }, cfg(over), { backlog, isn: { isn: () => 7000 } });
}

/** The peer's SYN to our listener. */
export function peerSyn(options: TcpOptions = { mss: 1432 }, srcPort = RPORT, seq = IRS): TcpSegment {
  return seg({ seq, flags: SYN, options, srcPort });
}

/** Sum of payload bytes in segments. */
export function payloadBytes(out: TcpSegment[]): number {
  return out.reduce((n, s) => n + s.payload.length, 0);
}
