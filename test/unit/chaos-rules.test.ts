/**
 * Rules, schedules, determinism and replay of the chaos pipeline, and the router's
 * forwarding logic, on a virtual clock with packets built by src/wire.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ChaosModel } from '../../src/chaos/model.js';
import { ChaosConfigError, compileToxic } from '../../src/chaos/rules.js';
import { replayTable } from '../../src/chaos/decision-log.js';
import type { Decision } from '../../src/chaos/stages.js';
import { Router, linkOf } from '../../src/chaos/router.js';
import { quickImpairments, resolveConfig } from '../../src/chaos/config.js';
import { parseIpv4, parsePrefix } from '../../src/wire/addr.js';
import { decodeIpv4 } from '../../src/wire/ipv4.js';
import { ACK, PSH, SYN, decodeTcp, encodeTcpPacket, type TcpSegment } from '../../src/wire/tcp.js';
import { decodeUdp, encodeUdpPacket } from '../../src/wire/udp.js';
import { decodeIcmp, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, UNREACH_FRAG_NEEDED, UNREACH_NET } from '../../src/wire/icmp.js';
import { internetChecksum } from '../../src/wire/checksum.js';

const A = parseIpv4('10.77.0.2')!;
const B = parseIpv4('10.77.0.3')!;

function seg(flags: number, payload = 0, seq = 1000): TcpSegment {
  return { srcPort: 40000, dstPort: 80, seq, ack: 1, flags, window: 65535, urgent: 0, options: {}, payload: Buffer.alloc(payload, 0x61) };
}

function tcp(src: number, dst: number, s: TcpSegment): Buffer {
  return encodeTcpPacket({ src, dst, id: 1 }, s);
}

/** A model on a virtual clock; outputs collected per lane. */
function vmodel(seed: number, log?: Decision[], replay?: Map<string, Decision>) {
  const clock = { now: 0 };
  const opts: ConstructorParameters<typeof ChaosModel>[0] = { seed, now: () => clock.now };
  if (log) opts.log = (d) => log.push(d);
  if (replay) opts.replay = replay;
  const model = new ChaosModel(opts);
  const out: Array<{ dir: string; data: Buffer; at: number }> = [];
  model.onLane = (lane) => {
    lane.out = (data, at) => out.push({ dir: lane.dir, data, at });
  };
  return { model, out, clock };
}

describe('chaos rules: matching on inner headers', () => {
  it('drops only the first SYN-ACK (flags SA, count 1)', () => {
    const { model, out } = vmodel(1);
    model.addToxic('*', { name: 'first-synack', stage: 'loss', match: { flags: 'SA', count: 1 } });
    const link = linkOf(A, B).link;
    model.lane(link, 'up').push(tcp(A, B, seg(SYN)), 0);
    model.lane(link, 'down').push(tcp(B, A, seg(SYN | ACK)), 1);
    model.lane(link, 'up').push(tcp(A, B, seg(SYN)), 1000); // SYN retransmitted
    model.lane(link, 'down').push(tcp(B, A, seg(SYN | ACK)), 1001); // SYN-ACK retransmitted
    model.lane(link, 'up').push(tcp(A, B, seg(ACK)), 1002);
    const flags = out.map((o) => `${o.dir}:${o.data[33]!.toString(16)}`);
    expect(flags).to.deep.equal(['up:2', 'up:2', 'down:12', 'up:10']);
  });

  it('exact flags (=S) match a SYN but not a SYN-ACK', () => {
    const { model, out } = vmodel(1);
    model.addToxic('*', { name: 'syn', stage: 'loss', match: { flags: '=S' } });
    const link = linkOf(A, B).link;
    model.lane(link, 'up').push(tcp(A, B, seg(SYN)), 0);
    model.lane(link, 'down').push(tcp(B, A, seg(SYN | ACK)), 0);
    expect(out.map((o) => o.dir)).to.deep.equal(['down']);
  });

  it('corrupts only TCP data segments, so the receiver sees tcp_bad_checksum', () => {
    const { model, out } = vmodel(2);
    model.addToxic('*', { name: 'data', stage: 'corrupt', match: { protocol: 'tcp', payload: true } });
    const lane = model.lane(linkOf(A, B).link, 'up');
    for (let i = 0; i < 50; i++) {
      lane.push(tcp(A, B, seg(ACK)), i);
      lane.push(tcp(A, B, seg(ACK | PSH, 100 + i, 2000 + i)), i);
    }
    expect(out).to.have.length(100);
    for (const o of out) {
      const ip = decodeIpv4(o.data);
      expect(ip.ok, 'IP header still valid').to.equal(true);
      if (!ip.ok) continue;
      const t = decodeTcp(ip.payload, ip.header.src, ip.header.dst);
      const hasData = ip.payload.length > 20;
      if (hasData) expect(t.ok ? 'ok' : t.reason).to.equal('tcp_bad_checksum');
      else expect(t.ok).to.equal(true);
    }
  });

  it('corrupt where=ip breaks the IP header checksum; UDP corruption gives udp_bad_checksum', () => {
    const { model, out } = vmodel(3);
    model.addToxic('*', { name: 'ip', stage: 'corrupt', direction: 'up', params: { where: 'ip', bits: 3 } });
    model.addToxic('*', { name: 'udp', stage: 'corrupt', direction: 'down' });
    const link = linkOf(A, B).link;
    for (let i = 0; i < 200; i++) {
      model.lane(link, 'up').push(tcp(A, B, seg(ACK, 10)), i);
      model.lane(link, 'down').push(encodeUdpPacket({ src: B, dst: A, id: i }, { srcPort: 53, dstPort: 5353, payload: Buffer.alloc(i % 40, 7) }), i);
    }
    for (const o of out) {
      const ip = decodeIpv4(o.data);
      if (o.dir === 'up') {
        expect(ip.ok ? 'ok' : ip.reason).to.equal('ip_bad_checksum');
      } else {
        expect(ip.ok).to.equal(true);
        if (!ip.ok) continue;
        const u = decodeUdp(ip.payload, ip.header.src, ip.header.dst);
        expect(u.ok ? 'ok' : u.reason).to.equal('udp_bad_checksum');
      }
    }
  });

  it('matches addresses (CIDR), ports and packet-number ranges', () => {
    const { model, out } = vmodel(4);
    model.addToxic('*', { name: 'p', stage: 'loss', match: { dst: '10.77.0.0/30', dstPort: '80-81' } });
    model.addToxic('*', { name: 'n', stage: 'loss', match: { packets: '5-6' } });
    const lane = model.lane(linkOf(A, B).link, 'up');
    const C = parseIpv4('10.77.0.9')!;
    lane.push(tcp(A, B, seg(ACK)), 0); // 1: dst in /30 and port 80: dropped
    lane.push(tcp(A, C, seg(ACK)), 0); // 2: dst outside: passes
    lane.push(tcp(A, B, { ...seg(ACK), dstPort: 443 }), 0); // 3: passes
    lane.push(Buffer.from('not ip at all'), 0); // 4: non-IPv4 never matches a header rule
    lane.push(tcp(A, C, seg(ACK)), 0); // 5: packet-number rule
    lane.push(tcp(A, C, seg(ACK)), 0); // 6: packet-number rule
    lane.push(tcp(A, C, seg(ACK)), 0); // 7
    expect(out.length).to.equal(4);
  });

  it('toxicity: a toxic acts on that fraction of matching packets', () => {
    const { model, out } = vmodel(9);
    model.addToxic('*', { name: 'half', stage: 'loss', toxicity: 0.25 });
    const lane = model.lane('a-b', 'up');
    for (let i = 0; i < 40_000; i++) lane.push(Buffer.alloc(1), i);
    expect(1 - out.length / 40_000).to.be.within(0.235, 0.265);
  });

  it('rejects bad values with one-line messages', () => {
    const bad: unknown[] = [
      { stage: 'loss', params: { p: 1.5 } },
      { stage: 'lose' },
      { stage: 'loss', params: { q: 1 } },
      { stage: 'loss', params: { loss: 0.6, burst: 1 } },
      { stage: 'delay', params: { ms: -1 } },
      { stage: 'bottleneck', params: { rate: 'fast' } },
      { stage: 'bottleneck', params: { rate: '1mbit', queue: '0' } },
      { stage: 'loss', match: { flags: 'SX' } },
      { stage: 'loss', match: { src: '10.0.0.0/33' } },
      { stage: 'loss', schedule: { every: 100, for: 200 } },
      { stage: 'loss', direction: 'sideways' },
    ];
    for (const b of bad) {
      expect(() => compileToxic(b, 0), JSON.stringify(b)).to.throw(ChaosConfigError).with.property('message').that.does.not.include('\n');
    }
    expect(() => quickImpairments({ burst: 3 })).to.throw(ChaosConfigError, /--burst needs --loss/);
    expect(() => resolveConfig({ listen: '127.0.0.1:0', nonsense: 1 })).to.throw(ChaosConfigError, /unknown config field/);
  });
});

describe('chaos schedules', () => {
  it('flaps: partition 200 ms every 1000 ms', () => {
    const { model, out, clock } = vmodel(5);
    model.addToxic('*', { name: 'flap', stage: 'partition', schedule: { every: 1000, for: 200 } });
    const lane = model.lane('a-b', 'up');
    for (let t = 0; t < 10_000; t++) {
      clock.now = t;
      const b = Buffer.alloc(4);
      b.writeUInt32BE(t);
      lane.push(b, t);
    }
    expect(out).to.have.length(8000);
    for (const o of out) expect(o.data.readUInt32BE(0) % 1000).to.be.at.least(200);
  });

  it('starts and stops at given times relative to when the toxic was added', () => {
    const { model, out, clock } = vmodel(6);
    clock.now = 500;
    model.addToxic('*', { name: 'window', stage: 'loss', schedule: { start: 100, stop: 300 } });
    const lane = model.lane('a-b', 'up');
    for (let t = 500; t < 1000; t++) lane.push(Buffer.alloc(1), t);
    // Active for [600, 800): 200 packets dropped.
    expect(out).to.have.length(300);
  });
});

describe('chaos determinism and replay', () => {
  const run = (seed: number, configure: (m: ChaosModel) => void, n = 20_000) => {
    const log: Decision[] = [];
    const v = vmodel(seed, log);
    configure(v.model);
    const lane = v.model.lane('10.77.0.2-10.77.0.3', 'up');
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(i, 0);
      lane.push(b, i);
    }
    lane.poll(Infinity);
    return { log, out: v.out.map((o) => `${o.data.readUInt32BE(0)}@${o.at.toFixed(6)}:${o.data.toString('hex')}`) };
  };
  const base = (loss: number, delay = 5) => (m: ChaosModel) => {
    m.setImpairment('*', 'both', 'loss', { p: loss });
    m.setImpairment('*', 'both', 'duplicate', { p: 0.05 });
    m.setImpairment('*', 'both', 'corrupt', { p: 0.05 });
    m.setImpairment('*', 'both', 'reorder', { p: 0.05, k: 2 });
    m.setImpairment('*', 'both', 'delay', { ms: delay, jitter: 2, dist: 'normal' });
  };
  const byStage = (log: Decision[], stage: string) => new Map(log.filter((d) => d.g === stage).map((d) => [`${d.n}/${d.c}`, `${d.v}:${JSON.stringify(d.x)}`]));

  it('same seed and same input give the same decisions and output; another seed differs', () => {
    const a = run(42, base(0.1));
    const b = run(42, base(0.1));
    const c = run(43, base(0.1));
    expect(a.out).to.deep.equal(b.out);
    expect(a.log).to.deep.equal(b.log);
    expect(c.out).to.not.deep.equal(a.out);
  });

  it('changing one stage leaves the other stages\' verdicts unchanged', () => {
    const a = run(42, base(0.1));
    const b = run(42, base(0.3, 9));
    for (const stage of ['duplicate', 'corrupt', 'reorder']) {
      const da = byStage(a.log, stage);
      const db = byStage(b.log, stage);
      let common = 0;
      for (const [k, v] of db) {
        if (!da.has(k)) continue;
        common++;
        expect(da.get(k), `${stage} ${k}`).to.equal(v);
      }
      expect(common).to.be.above(10_000);
    }
    // Loss is upstream of delay: changing the delay leaves loss identical.
    const c = run(42, base(0.1, 30));
    expect([...byStage(c.log, 'loss')]).to.deep.equal([...byStage(a.log, 'loss')]);
  });

  it('adding a rule does not shift the draws of an existing one', () => {
    const a = run(7, (m) => m.setImpairment('*', 'up', 'loss', { p: 0.2 }));
    const b = run(7, (m) => {
      m.setImpairment('*', 'up', 'loss', { p: 0.2 });
      m.addToxic('*', { name: 'extra', stage: 'loss', params: { p: 0.5 } });
    });
    const la = a.log.filter((d) => d.s === '*/loss-up');
    const lb = b.log.filter((d) => d.s === '*/loss-up');
    expect(lb).to.deep.equal(la);
  });

  it('replay applies a recorded log instead of drawing (even with another seed)', () => {
    const rec = run(99, base(0.1));
    const table = replayTable(rec.log);
    const log: Decision[] = [];
    const v = vmodel(12345, log, table);
    base(0.1)(v.model);
    const lane = v.model.lane('10.77.0.2-10.77.0.3', 'up');
    for (let i = 0; i < 20_000; i++) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(i, 0);
      lane.push(b, i);
    }
    lane.poll(Infinity);
    const out = v.out.map((o) => `${o.data.readUInt32BE(0)}@${o.at.toFixed(6)}:${o.data.toString('hex')}`);
    expect(out).to.deep.equal(rec.out);
  });

  it('updating a toxic keeps its state (held packets) and takes effect at the next packet', () => {
    const { model, out } = vmodel(8);
    model.setImpairment('*', 'up', 'reorder', { p: 1, k: 2, maxHold: 60000 });
    const lane = model.lane('a-b', 'up');
    lane.push(Buffer.from([1]), 0); // held
    model.setImpairment('*', 'up', 'reorder', { p: 0, k: 2, maxHold: 60000 });
    lane.push(Buffer.from([2]), 1);
    lane.push(Buffer.from([3]), 2); // second passing packet releases 1
    lane.push(Buffer.from([4]), 3);
    expect(out.map((o) => o.data[0])).to.deep.equal([2, 3, 1, 4]);
  });
});

describe('chaos router (forwarding logic)', () => {
  const router = () =>
    new Router({
      routerAddress: parseIpv4('10.77.255.254')!,
      peers: [{ prefix: parsePrefix('10.77.1.0/24')!, endpoint: { address: '127.0.0.1', port: 5001 } }],
      learn: true,
    });
  const from = { address: '127.0.0.1', port: 4000 };

  it('forwards by longest prefix or learned route, decrementing TTL with a valid checksum', () => {
    const r = router();
    const pkt = encodeUdpPacket({ src: A, dst: parseIpv4('10.77.1.7')!, id: 9, ttl: 17 }, { srcPort: 1, dstPort: 2, payload: Buffer.from('hi') });
    const res = r.route(Buffer.from(pkt), from);
    expect(res.kind).to.equal('forward');
    if (res.kind !== 'forward') return;
    expect(res.to.port).to.equal(5001);
    expect(res.data[8]).to.equal(16);
    expect(internetChecksum(res.data, 0, 20)).to.equal(0);
    expect(res.link).to.equal('10.77.0.2-10.77.1.7');
    expect(res.dir).to.equal('up');
    // A was learned from that packet.
    const back = r.route(encodeUdpPacket({ src: parseIpv4('10.77.1.7')!, dst: A, id: 1 }, { srcPort: 2, dstPort: 1, payload: Buffer.alloc(0) }), { address: '127.0.0.1', port: 5001 });
    expect(back.kind === 'forward' && back.to.port === 4000 && back.dir === 'down').to.equal(true);
  });

  it('answers TTL 1 with time exceeded and no route with net unreachable, quoting the packet', () => {
    const r = router();
    const pkt = tcp(A, B, seg(SYN));
    pkt[8] = 1;
    pkt.writeUInt16BE(0, 10);
    pkt.writeUInt16BE(internetChecksum(pkt, 0, 20), 10);
    r.learned.set(B, { address: '127.0.0.1', port: 4001 });
    for (const [p, type, code] of [
      [pkt, ICMP_TIME_EXCEEDED, 0],
      [tcp(A, parseIpv4('10.99.0.1')!, seg(SYN)), ICMP_DEST_UNREACH, UNREACH_NET],
    ] as const) {
      const res = r.route(Buffer.from(p), from);
      expect(res.kind).to.equal('reply');
      if (res.kind !== 'reply') continue;
      const ip = decodeIpv4(res.data);
      expect(ip.ok).to.equal(true);
      if (!ip.ok) continue;
      expect(ip.header.src).to.equal(parseIpv4('10.77.255.254'));
      expect(ip.header.dst).to.equal(A);
      const icmp = decodeIcmp(ip.payload);
      expect(icmp.ok && icmp.message.type === type && icmp.message.code === code).to.equal(true);
      if (icmp.ok) expect(icmp.message.payload.equals(p.subarray(0, 28))).to.equal(true);
    }
    expect(r.drops.ttl_expired).to.equal(1);
    expect(r.drops.no_route).to.equal(1);
  });

  it('drops and counts what is not valid IPv4, and never answers an ICMP error with one', () => {
    const r = router();
    expect(r.route(Buffer.from('hello world, not a packet'), from).kind).to.equal('drop');
    const bad = tcp(A, B, seg(SYN));
    bad[10]! ^= 0xff;
    expect(r.route(bad, from)).to.deep.equal({ kind: 'drop', reason: 'ip_bad_checksum' });
    expect(r.drops.ip_bad_version).to.equal(1);
    const frag = r.fragNeeded(tcp(A, B, seg(ACK, 1000)), 576);
    const ip = frag && decodeIpv4(frag);
    expect(ip && ip.ok).to.equal(true);
    if (!ip || !ip.ok) return;
    const icmp = decodeIcmp(ip.payload);
    expect(icmp.ok && icmp.message.code === UNREACH_FRAG_NEEDED && icmp.message.rest === 576).to.equal(true);
    // An ICMP error about an ICMP error is never sent.
    expect(r.route(Buffer.from(frag!), { address: '127.0.0.1', port: 9 }).kind).to.equal('drop');
  });
});

describe('chaos pipeline properties', () => {
  it('conserves packets: out = in - drops + extra copies, every departure >= its arrival, queue within limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 20 }),
        (seed, loss, dup, reorder, queue, jitter) => {
          const { model, out } = vmodel(seed);
          model.setImpairment('*', 'up', 'loss', { p: loss });
          model.setImpairment('*', 'up', 'duplicate', { p: dup, count: 2 });
          model.setImpairment('*', 'up', 'reorder', { p: reorder, k: 3, maxHold: 10 });
          model.setImpairment('*', 'up', 'delay', { ms: 5, jitter, dist: 'normal' });
          model.setImpairment('*', 'up', 'bottleneck', { rate: '50mbit', queue });
          const lane = model.lane('a-b', 'up');
          const arrival: number[] = [];
          for (let i = 0; i < 2000; i++) {
            const b = Buffer.alloc(200 + (i % 1000));
            b.writeUInt32BE(i, 0);
            arrival.push(i * 0.1);
            lane.push(b, i * 0.1);
          }
          lane.poll(Infinity);
          const st = lane.stats.stages;
          const dropped = (st.loss?.packets.dropped ?? 0) + (st.bottleneck?.packets.dropped ?? 0);
          const extra = 2 * (st.duplicate?.packets.duplicated ?? 0);
          expect(out.length).to.equal(2000 - dropped + extra);
          expect(lane.stats.packetsOut).to.equal(out.length);
          for (const o of out) expect(o.at).to.be.at.least(arrival[o.data.readUInt32BE(0)]! + 5 - jitter * 10);
          expect(lane.bottlenecks()[0]!.maxQueuedPackets).to.be.at.most(queue);
        },
      ),
      { numRuns: 40 },
    );
  });
});
