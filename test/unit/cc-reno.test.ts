import { DEFAULT_RECOVERY } from '../../src/tcp/recovery/strategies.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { createCongestionControl, isCcName } from '../../src/tcp/cc/index.js';
import { Reno } from '../../src/tcp/cc/reno.js';
import { NewReno } from '../../src/tcp/cc/newreno.js';
import { Tahoe } from '../../src/tcp/cc/tahoe.js';
import { CC_NAMES } from '../../src/tcp/types.js';
import type { AckEvent } from '../../src/tcp/cc/types.js';
import { ackClockRound } from './cc-harness.js';

const MSS = 1000;
const opts = { mss: MSS, initialWindowSegments: 10, now: 0 };

function ack(bytesAcked: number, extra: Partial<AckEvent> = {}): AckEvent {
  return {
    now: 0, bytesAcked, rttSample: 10, srtt: 10, minRtt: 10, priorInFlight: 10 * MSS,
    inFlight: 9 * MSS, inRecovery: false, appLimited: false, ...extra,
  };
}

describe('cc: Reno (RFC 5681 + ABC RFC 3465)', () => {
  it('starts with IW = initialWindowSegments * MSS and ssthresh = Infinity', () => {
    const cc = new Reno(opts);
    expect(cc.cwnd).to.equal(10 * MSS);
    expect(cc.ssthresh).to.equal(Infinity);
    expect(cc.paces, 'Reno does not ask for pacing').to.equal(false);
    expect(DEFAULT_RECOVERY.reno).to.equal('reno');
  });

  it('slow start doubles cwnd per RTT of 1-MSS ACKs', () => {
    const cc = new Reno(opts);
    let t = 0;
    for (const expected of [20, 40, 80, 160]) {
      t = ackClockRound(cc, t, 50, MSS);
      expect(cc.cwnd).to.equal(expected * MSS);
    }
  });

  it('ABC limits slow-start growth to L = 2*SMSS per ACK (stretch ACK)', () => {
    const cc = new Reno(opts);
    cc.onAck(ack(8 * MSS));
    expect(cc.cwnd).to.equal(12 * MSS);
    cc.onAck(ack(MSS / 2));
    expect(cc.cwnd).to.equal(12 * MSS + MSS / 2);
  });

  it('slow start stops at ssthresh and the rest of the ACK counts for congestion avoidance', () => {
    const cc = new Reno(opts);
    cc.onCongestion({ kind: 'rto', now: 0, inFlight: 11 * MSS }); // ssthresh 5500, cwnd 1000
    expect(cc.ssthresh).to.equal(5500);
    for (let i = 0; i < 4; i++) cc.onAck(ack(MSS));
    expect(cc.cwnd).to.equal(5000);
    cc.onAck(ack(2 * MSS)); // 500 bytes reach ssthresh, 1500 go to the CA accumulator
    expect(cc.cwnd).to.equal(5500);
  });

  it('congestion avoidance adds exactly 1 MSS per RTT (byte counting)', () => {
    const cc = new Reno(opts);
    cc.onCongestion({ kind: 'fast', now: 0, inFlight: 40 * MSS });
    cc.onRecoveryExit(1);
    expect(cc.cwnd).to.equal(20 * MSS);
    let t = 100;
    for (let r = 1; r <= 10; r++) {
      t = ackClockRound(cc, t, 50, MSS);
      expect(cc.cwnd).to.equal((20 + r) * MSS);
    }
    // Sub-MSS ACKs accumulate to the same result.
    const before = cc.cwnd;
    for (let i = 0; i < 2 * (before / MSS); i++) cc.onAck(ack(MSS / 2));
    expect(cc.cwnd).to.equal(before + MSS);
  });

  it('fast retransmit: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh, no growth in recovery', () => {
    const cc = new Reno(opts);
    cc.onCongestion({ kind: 'fast', now: 0, inFlight: 30 * MSS });
    expect(cc.ssthresh).to.equal(15 * MSS);
    expect(cc.cwnd).to.equal(15 * MSS);
    cc.onAck(ack(5 * MSS, { inRecovery: true }));
    expect(cc.cwnd).to.equal(15 * MSS);
    // A second signal in the same episode does not reduce again.
    cc.onCongestion({ kind: 'fast', now: 1, inFlight: 14 * MSS });
    expect(cc.ssthresh).to.equal(15 * MSS);

    const small = new Reno(opts);
    small.onCongestion({ kind: 'fast', now: 0, inFlight: 3 * MSS });
    expect(small.ssthresh).to.equal(2 * MSS);
  });

  it('recovery exit sets cwnd = ssthresh and growth resumes', () => {
    const cc = new Reno(opts);
    cc.onCongestion({ kind: 'fast', now: 0, inFlight: 30 * MSS });
    cc.onRecoveryExit(10);
    expect(cc.cwnd).to.equal(cc.ssthresh);
    ackClockRound(cc, 10, 50, MSS);
    expect(cc.cwnd).to.equal(16 * MSS);
  });

  it('RTO: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 MSS; a repeated RTO keeps ssthresh', () => {
    const cc = new Reno(opts);
    cc.onCongestion({ kind: 'rto', now: 0, inFlight: 20 * MSS });
    expect(cc.cwnd).to.equal(MSS);
    expect(cc.ssthresh).to.equal(10 * MSS);
    cc.onCongestion({ kind: 'rto', now: 1000, inFlight: MSS });
    expect(cc.ssthresh).to.equal(10 * MSS);
    expect(cc.cwnd).to.equal(MSS);
  });

  it('undo restores cwnd and ssthresh from before the reduction', () => {
    const cc = new Reno(opts);
    ackClockRound(cc, 0, 50, MSS);
    cc.onCongestion({ kind: 'fast', now: 60, inFlight: 20 * MSS });
    expect(cc.cwnd).to.equal(10 * MSS);
    cc.onSpuriousCongestion(70);
    expect(cc.cwnd).to.equal(20 * MSS);
    expect(cc.ssthresh).to.equal(Infinity);
    const rto = new Reno(opts);
    rto.onCongestion({ kind: 'rto', now: 0, inFlight: 10 * MSS });
    rto.onSpuriousCongestion(1);
    expect(rto.cwnd).to.equal(10 * MSS);
  });

  it('does not grow while application-limited (RFC 7661)', () => {
    const cc = new Reno(opts);
    ackClockRound(cc, 0, 50, MSS, { appLimited: true });
    expect(cc.cwnd).to.equal(10 * MSS);
  });

  it('setMss before any ACK recomputes the initial window; later it keeps the segment count', () => {
    const cc = new Reno({ mss: 536, initialWindowSegments: 10, now: 0 });
    cc.setMss(1460);
    expect(cc.cwnd).to.equal(14600);
    cc.onAck(ack(1460));
    cc.setMss(1000);
    expect(cc.cwnd).to.equal(11000); // 11 segments of 1460 -> 11 of 1000
  });
});

describe('cc: Tahoe and NewReno', () => {
  it('Tahoe starts at 1 MSS whatever the connection asks', () => {
    const cc = new Tahoe(opts);
    expect(cc.cwnd).to.equal(MSS);
    expect(DEFAULT_RECOVERY[cc.name]).to.equal('tahoe');
    ackClockRound(cc, 0, 50, MSS);
    expect(cc.cwnd).to.equal(2 * MSS);
  });

  it('Tahoe: a fast retransmit also drops cwnd to 1 MSS and halves ssthresh', () => {
    const cc = new Tahoe(opts);
    for (let i = 0; i < 5; i++) ackClockRound(cc, i * 50, 50, MSS);
    expect(cc.cwnd).to.equal(32 * MSS);
    cc.onCongestion({ kind: 'fast', now: 300, inFlight: 32 * MSS });
    expect(cc.cwnd).to.equal(MSS);
    expect(cc.ssthresh).to.equal(16 * MSS);
    // Slow start again up to ssthresh, then linear.
    let t = 300;
    for (let i = 0; i < 4; i++) t = ackClockRound(cc, t, 50, MSS);
    expect(cc.cwnd).to.equal(16 * MSS);
    ackClockRound(cc, t, 50, MSS);
    expect(cc.cwnd).to.equal(17 * MSS);
  });

  it('NewReno has Reno arithmetic and the newreno recovery style', () => {
    const cc = new NewReno(opts);
    expect(cc.name).to.equal('newreno');
    expect(DEFAULT_RECOVERY[cc.name]).to.equal('newreno');
    cc.onCongestion({ kind: 'fast', now: 0, inFlight: 30 * MSS });
    expect(cc.cwnd).to.equal(15 * MSS);
  });
});

describe('cc: factory', () => {
  it('creates every algorithm by name', () => {
    for (const name of CC_NAMES) {
      const cc = createCongestionControl(name, opts);
      expect(cc.name).to.equal(name);
      expect(cc.cwnd).to.be.greaterThan(0);
      expect(isCcName(name)).to.equal(true);
    }
    expect(isCcName('vegas')).to.equal(false);
  });

  it('throws a Node-style ERR_INVALID_ARG_VALUE listing the valid names', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      createCongestionControl('vegas' as never, opts);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).to.equal('ERR_INVALID_ARG_VALUE');
    expect(err?.message).to.contain('vegas');
    for (const name of CC_NAMES) expect(err?.message).to.contain(name);
    expect(() => createCongestionControl('reno', { ...opts, mss: 0 })).to.throw(/mss/);
  });

  it('property: any event sequence keeps cwnd >= 1 MSS, finite, and ssthresh >= 2 MSS after a loss', () => {
    const event = fc.oneof(
      fc.record({ k: fc.constant('ack' as const), bytes: fc.integer({ min: 0, max: 20 * MSS }), rec: fc.boolean(), app: fc.boolean() }),
      fc.record({ k: fc.constantFrom('fast' as const, 'rto' as const), flight: fc.integer({ min: 0, max: 200 * MSS }) }),
      fc.record({ k: fc.constantFrom('exit' as const, 'undo' as const) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...CC_NAMES), fc.array(event, { maxLength: 200 }), (name, events) => {
        const cc = createCongestionControl(name, opts);
        let t = 0;
        let lost = false;
        for (const e of events) {
          t += 5;
          if (e.k === 'ack') {
            cc.onRateSample?.({
              now: t, deliveryRate: 1e6, delivered: e.bytes, interval: 10, rtt: 20, lost: 0,
              priorInFlight: 10 * MSS, inFlight: 9 * MSS, isAppLimited: e.app, totalDelivered: t * 100,
            });
            cc.onAck(ack(e.bytes, { now: t, inRecovery: e.rec, appLimited: e.app, srtt: 20, minRtt: 20 }));
          } else if (e.k === 'fast' || e.k === 'rto') {
            cc.onCongestion({ kind: e.k, now: t, inFlight: e.flight });
            lost = true;
          } else if (e.k === 'exit') cc.onRecoveryExit(t);
          else cc.onSpuriousCongestion?.(t);
          expect(cc.cwnd).to.be.at.least(MSS);
          expect(Number.isFinite(cc.cwnd)).to.equal(true);
          if (lost && name !== 'bbr') expect(cc.ssthresh).to.be.at.least(2 * MSS);
        }
      }),
      { numRuns: 300 },
    );
  });
});
