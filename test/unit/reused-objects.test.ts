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
import { Host } from '../../src/host/host.js';
import { decodeTcpAt, encodeTcpPacket, ACK, PSH, type TcpSegment } from '../../src/wire/tcp.js';
import { encodeIpv4, IPV4_HEADER_LEN, type Ipv4Header } from '../../src/wire/ipv4.js';

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

describe('reused objects on the per-segment path', () => {
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

  it('decoded TCP segments kept across decodes keep their own headers and options (nothing aliases a reused object)', () => {
    const rand = prng(7);
    const kept: { seg: TcpSegment; want: TcpSegment }[] = [];
    for (let i = 0; i < 500; i++) {
      const want: TcpSegment = {
        srcPort: 1 + Math.floor(rand() * 65534), dstPort: 1 + Math.floor(rand() * 65534),
        seq: Math.floor(rand() * 2 ** 32), ack: Math.floor(rand() * 2 ** 32), flags: ACK | (rand() < 0.5 ? PSH : 0),
        window: Math.floor(rand() * 65536), urgent: 0,
        options: rand() < 0.7 ? { ts: { val: Math.floor(rand() * 2 ** 32), ecr: Math.floor(rand() * 2 ** 32) } } : {},
        payload: Buffer.from(Array.from({ length: Math.floor(rand() * 100) }, () => Math.floor(rand() * 256))),
      };
      if (rand() < 0.3) want.options.sack = [{ left: Math.floor(rand() * 2 ** 32), right: Math.floor(rand() * 2 ** 32) }];
      const src = 0x0a000001;
      const dst = 0x0a000002;
      const pkt = encodeTcpPacket({ src, dst, id: i }, want);
      const seg = decodeTcpAt(pkt, IPV4_HEADER_LEN, pkt.length, src, dst);
      expect(seg, 'decoded').to.not.be.a('string');
      kept.push({ seg: seg as TcpSegment, want: structuredClone({ ...want, payload: undefined }) as unknown as TcpSegment });
      (kept[kept.length - 1]!.want as { payload: Buffer }).payload = Buffer.from(want.payload);
    }
    for (const { seg, want } of kept) {
      expect({ ...seg, payload: Buffer.from(seg.payload) }).to.deep.equal(want);
    }
  });

  it('the host decodes each packet into one reused IPv4 header, but a receive nested in a handler gets its own', async () => {
    const host = await Host.create({ address: '10.79.0.1', peers: [{ prefix: '10.79.0.0/24', endpoint: { address: '127.0.0.1', port: 9 } }] });
    try {
      const from = { address: '127.0.0.1', port: 9 };
      const packet = (id: number, src: number) => encodeIpv4({ src, dst: 0x0a4f0001, protocol: 253, id }, Buffer.from([1, 2, 3, 4]));
      const seen: string[] = [];
      let nested = false;
      host.setProtocolHandler(253, {
        onPacket() {
          seen.push('onPacket');
        },
        onPacketAt(ip: Ipv4Header, pkt: Buffer) {
          const before = `${ip.id}/${ip.src}/${ip.totalLength}`;
          expect(pkt.subarray(ip.headerLength, ip.totalLength)).to.deep.equal(Buffer.from([1, 2, 3, 4]));
          if (!nested) {
            // Another packet arrives while this one is being handled (an in-process link
            // delivering synchronously): it must not overwrite this call's header.
            nested = true;
            host.link.deliver(packet(2, 0x0a4f0003), from);
          }
          seen.push(`${before}->${ip.id}/${ip.src}/${ip.totalLength}`);
        },
      });
      host.link.deliver(packet(1, 0x0a4f0002), from);
      host.link.deliver(packet(3, 0x0a4f0004), from);
      expect(seen).to.deep.equal([`2/${0x0a4f0003}/24->2/${0x0a4f0003}/24`, `1/${0x0a4f0002}/24->1/${0x0a4f0002}/24`, `3/${0x0a4f0004}/24->3/${0x0a4f0004}/24`]);
      expect(host.stats.drops.get('internal_error') ?? 0).to.equal(0);
    } finally {
      await host.close();
    }
  });
});
