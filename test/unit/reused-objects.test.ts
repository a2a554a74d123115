/**
 * The per-segment path reuses objects instead of allocating one per ACK or per packet (ping-pong
 * tail latency is set by garbage: docs/benchmarks-latency.md). A reused object is only safe if
 * nobody keeps it past the call that received it; these tests keep what they are handed and
 * check it was not changed by later calls.
 */
import { expect } from 'chai';
import { Bbr } from '../../src/tcp/cc/bbr.js';
import type { AckEvent, RateSample } from '../../src/tcp/cc/types.js';
import { prng } from './cc-harness.js';

const MSS = 1000;

/** A random ACK sequence: some ACKs come without a rate sample (BBR then stashes the event). */
function events(n: number, seed: number): { ev: AckEvent; rs: RateSample | undefined }[] {
  const rand = prng(seed);
  const out: { ev: AckEvent; rs: RateSample | undefined }[] = [];
  let now = 0;
  let delivered = 0;
  for (let i = 0; i < n; i++) {
    now += 0.05 + rand() * 2;
    delivered += MSS;
    const inFlight = Math.floor(rand() * 60) * MSS;
    const rtt = 20 + rand() * 30;
    const ev: AckEvent = { now, bytesAcked: MSS * (1 + Math.floor(rand() * 3)), rttSample: rand() < 0.2 ? undefined : rtt, srtt: 30, minRtt: 20, priorInFlight: inFlight + MSS, inFlight, inRecovery: false, appLimited: rand() < 0.1 };
    const rs: RateSample | undefined = rand() < 0.4 ? undefined : { now, deliveryRate: 1e6 + rand() * 4e6, delivered: 10 * MSS, interval: rtt, rtt, lost: rand() < 0.05 ? MSS : 0, priorInFlight: inFlight + MSS, inFlight, isAppLimited: false, totalDelivered: delivered };
    out.push({ ev, rs });
  }
  return out;
}

describe('reused per-ACK objects', () => {
  it('BBR given one AckEvent refilled per ACK (as the sender does) behaves as with a fresh one per ACK', () => {
    const seq = events(3000, 99);
    const fresh = new Bbr({ mss: MSS, initialWindowSegments: 10, now: 0 });
    const reused = new Bbr({ mss: MSS, initialWindowSegments: 10, now: 0 });
    const scratch: AckEvent = { ...seq[0]!.ev };
    let differ = 0;
    for (const { ev, rs } of seq) {
      fresh.onAck({ ...ev });
      Object.assign(scratch, ev);
      reused.onAck(scratch);
      if (rs) {
        fresh.onRateSample(rs);
        reused.onRateSample(rs);
      }
      if (fresh.cwnd !== reused.cwnd || fresh.pacingRate() !== reused.pacingRate()) differ++;
    }
    expect(differ, 'ACKs after which cwnd or pacing differed').to.equal(0);
    expect(reused.maxBw, "the model took bandwidth samples").to.be.greaterThan(0);
    expect(reused.pacingRate()).to.not.equal(new Bbr({ mss: MSS, initialWindowSegments: 10, now: 0 }).pacingRate());
  });
});
