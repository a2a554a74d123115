/**
 * Fuzz (fast-check): hostile segment sequences near the live sequence numbers, mixed with user
 * calls and timer firings, in every state. input()/onTimer() swallow internal exceptions to
 * protect the driver, so this test asserts that none happened (drops.internal_error) and that
 * the RFC invariants hold after every step.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Connection } from '../../src/tcp/connection.js';
import { Listener } from '../../src/tcp/listener.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import { seqLe } from '../../src/tcp/seq.js';
import type { TcpSegment } from '../../src/wire/tcp.js';

const tuple = { localAddr: 1, localPort: 80, remoteAddr: 2, remotePort: 5000 };

type Step =
  | { k: 'seg'; flags: number; dseq: number; dack: number; ackFrac: number; len: number; window: number; sack: boolean; ts: boolean; mss?: number; wscale?: number }
  | { k: 'send'; len: number }
  | { k: 'read' }
  | { k: 'shutdown' }
  | { k: 'close' }
  | { k: 'abort' }
  | { k: 'timer' }
  | { k: 'wait'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('seg' as const),
      // Mostly plausible: ACK set, SEQ at or near RCV.NXT, SEG.ACK within the outstanding data.
      flags: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0x10, 0x18, 0x11, 0x19) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3f }) }),
      dseq: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: -3000, max: 3000 }) },
        { weight: 1, arbitrary: fc.integer({ min: -70000, max: 70000 }) },
      ),
      dack: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -70000, max: 70000 }) }),
      ackFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      len: fc.integer({ min: 0, max: 3000 }),
      window: fc.integer({ min: 0, max: 65535 }),
      sack: fc.boolean(),
      ts: fc.boolean(),
      mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
      wscale: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('send' as const), len: fc.integer({ min: 0, max: 20000 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'shutdown' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'close' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'abort' as const }) },
  { weight: 2, arbitrary: fc.constant({ k: 'timer' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 5000 }) }) },
);

function craft(c: Connection, s: Extract<Step, { k: 'seg' }>, now: number): TcpSegment {
  const info = c.getInfo(now);
  const flight = (info.sndNxt - info.sndUna) >>> 0;
  const ack = (info.sndUna + Math.floor(s.ackFrac * (flight + 1)) + s.dack) >>> 0;
  const o: TcpSegment['options'] = {};
  if (s.sack) o.sack = [{ left: (info.sndUna + s.dack) >>> 0, right: (info.sndUna + s.dack + s.len) >>> 0 }];
  if (s.ts) o.ts = { val: (now + s.dseq) >>> 0, ecr: now >>> 0 };
  if (s.mss !== undefined) o.mss = s.mss;
  if (s.wscale !== undefined) o.wscale = s.wscale;
  return {
    srcPort: 5000,
    dstPort: 80,
    seq: (info.rcvNxt + s.dseq) >>> 0,
    ack,
    flags: s.flags,
    window: s.window,
    urgent: 0,
    options: o,
    payload: Buffer.alloc(s.len, 7),
  };
}

describe('sim: core fuzz - hostile segments and user calls in every state', () => {
  it('never hits an internal error and keeps SND.UNA <= SND.NXT (from SYN-SENT, SYN-RECEIVED and ESTABLISHED; 200 runs, seed 424242)', () => {
    const visited: string[] = [];
    fc.assert(
      fc.property(fc.constantFrom('active', 'passive', 'established'), fc.boolean(), fc.array(step, { minLength: 1, maxLength: 60 }), (start, opts, steps) => {
        const cfg = defaultTcpConfig({ sack: opts, timestamps: opts, windowScale: opts, rcvBuf: 20000, maxOutOfOrderBytes: 8000, msl: 1000 });
        let now = 0;
        let c: Connection;
        const states = new Set<string>();
        if (start === 'passive') {
          const l = new Listener({ addr: 1, port: 80 }, cfg, { isn: { isn: () => 7000 } });
          const child = l.input(
            { srcPort: 5000, dstPort: 80, seq: 5000, ack: 0, flags: 0x02, window: 65535, urgent: 0, options: opts ? { mss: 1000, sackPermitted: true, wscale: 2, ts: { val: 1, ecr: 0 } } : {}, payload: Buffer.alloc(0) },
            2,
            0,
          );
          c = child!;
        } else {
          c = Connection.connect(tuple, cfg, 0, { iss: 0xfffff000 });
          if (start === 'established') {
            c.input(
              { srcPort: 5000, dstPort: 80, seq: 5000, ack: 0xfffff001, flags: 0x12, window: 65535, urgent: 0, options: opts ? { mss: 1000, sackPermitted: true, wscale: 2, ts: { val: 1, ecr: 0 } } : { mss: 1000 }, payload: Buffer.alloc(0) },
              1,
            );
            expect(c.state).to.equal('ESTABLISHED');
          }
        }
        for (const st of steps) {
          try {
            switch (st.k) {
              case 'seg':
                c.input(craft(c, st, now), now);
                break;
              case 'send':
                if (!['CLOSED', 'TIME-WAIT', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSING', 'LAST-ACK'].includes(c.state)) c.send(Buffer.alloc(st.len, 1), now);
                break;
              case 'read':
                c.read();
                break;
              case 'shutdown':
                c.shutdown(now);
                break;
              case 'close':
                c.close(now);
                break;
              case 'abort':
                c.abort(now);
                break;
              case 'timer': {
                const d = c.nextDeadline();
                if (d !== undefined) {
                  now = Math.max(now, d);
                  c.onTimer(now);
                }
                break;
              }
              case 'wait':
                now += st.ms;
                break;
            }
          } catch (e) {
            // Only user calls may throw, and only the documented EPIPE.
            expect((e as { code?: string }).code).to.equal('EPIPE');
          }
          c.takeOutput();
          states.add(c.state);
          const i = c.getInfo(now);
          expect(c.drops['internal_error'], `internal error in ${c.state}`).to.equal(undefined);
          expect(seqLe(i.sndUna, i.sndNxt), 'SND.UNA <= SND.NXT').to.equal(true);
          expect(i.bytesInFlight).to.be.at.least(0);
          expect(i.outOfOrderBytes).to.be.at.most(8000);
          const d = c.nextDeadline();
          if (d !== undefined) expect(Number.isFinite(d)).to.equal(true);
        }
        visited.push(...states);
      }),
      { numRuns: 200, seed: 424242 },
    );
    // The fuzz reaches the interesting states, not just the opening ones.
    const seen = new Set(visited);
    for (const st of ['ESTABLISHED', 'FIN-WAIT-1', 'CLOSE-WAIT', 'LAST-ACK', 'CLOSED']) expect(seen.has(st), st).to.equal(true);
  });
});
