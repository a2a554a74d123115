/**
 * A connection closed actively (with timestamps or none) and the compact TIME-WAIT record
 * made of it, for the reuse tests (test/unit/time-wait-reuse.test.ts, test/scenarios/time-wait-reuse.test.ts).
 */
import { expect } from 'chai';
import { ACK, FIN, SYN, type TcpOptions } from '../../src/wire/tcp.js';
import type { Connection } from '../../src/tcp/connection.js';
import { TimeWait } from '../../src/tcp/time-wait.js';
import { IRS, ISS, seg, synSent } from '../scenarios/harness.js';

export const PEER_TS = 777_000;
/** The virtual time (ms) at which the connection reaches TIME-WAIT. */
export const CLOSED_AT = 50;

/** The record, its connection, and RCV.NXT, SND.NXT and TS.Recent at the close. */
export function timeWaitRecord(timestamps: boolean, irs = IRS): { tw: TimeWait; c: Connection; rcvNxt: number; sndNxt: number; tsRecent: number } {
  const { c } = synSent({ timestamps, sack: true, windowScale: true, msl: 30_000 });
  const peer: TcpOptions = timestamps ? { mss: 1432, sackPermitted: true, wscale: 7, ts: { val: PEER_TS, ecr: 0 } } : { mss: 1432, sackPermitted: true, wscale: 7 };
  c.input(seg({ seq: irs, ack: ISS + 1, flags: SYN | ACK, options: peer }), 10);
  const ts = (v: number): TcpOptions => (timestamps ? { ts: { val: PEER_TS + v, ecr: 0 } } : {});
  c.send(Buffer.alloc(100, 1), 20);
  c.input(seg({ seq: irs + 1, ack: ISS + 101, payload: 50, options: ts(20) }), 30);
  c.read();
  c.shutdown(40);
  c.input(seg({ seq: irs + 51, ack: ISS + 102, options: ts(45) }), 45);
  c.input(seg({ seq: irs + 51, ack: ISS + 102, flags: FIN | ACK, options: ts(50) }), CLOSED_AT);
  expect(c.state).to.equal('TIME-WAIT');
  c.takeOutput();
  expect(TimeWait.canCompact(c)).to.equal(true);
  return { tw: new TimeWait(c), c, rcvNxt: (irs + 52) >>> 0, sndNxt: ISS + 102, tsRecent: PEER_TS + 50 };
}
