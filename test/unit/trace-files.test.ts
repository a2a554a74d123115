import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_RAW, PcapWriter, parsePcap, readPcap } from '../../src/trace/pcap.js';
import { TraceWriter, readTrace, readTraceWithHeader, type TraceRecord } from '../../src/trace/trace.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

describe('pcap writer and reader (LINKTYPE_RAW)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'obs-pcap-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the classic header and records with microsecond wall-clock timestamps', async () => {
    const file = join(dir, 'a.pcap');
    const w = await PcapWriter.open(file);
    const p1 = Buffer.from([0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    const p2 = Buffer.alloc(3000, 0xab);
    w.write(p1, 1_700_000_000_123.456);
    p1.fill(0); // the writer copied the packet: reusing the caller's buffer is safe
    w.write(p2, 1_700_000_001_999.9999);
    await w.close();
    const raw = readFileSync(file);
    expect(raw.readUInt32LE(0)).to.equal(0xa1b2c3d4);
    expect(raw.readUInt16LE(4)).to.equal(2);
    expect(raw.readUInt16LE(6)).to.equal(4);
    expect(raw.readUInt32LE(20)).to.equal(101);
    const f = await readPcap(file);
    expect(f.linkType).to.equal(LINKTYPE_RAW);
    expect(f.records).to.have.length(2);
    expect(f.records[0]!.data[0]).to.equal(0x45);
    expect(f.records[0]!.timeMs).to.be.closeTo(1_700_000_000_123.456, 0.001);
    expect(f.records[1]!.timeMs).to.be.closeTo(1_700_000_002_000, 0.001);
    expect(f.records[1]!.data.equals(p2)).to.equal(true);
    expect(f.records[1]!.origLen).to.equal(3000);
  });

  it('handles many packets across chunk boundaries', async () => {
    const file = join(dir, 'b.pcap');
    const w = await PcapWriter.open(file);
    for (let i = 0; i < 2000; i++) w.write(Buffer.alloc(1472, i & 0xff), 1e12 + i);
    await w.close();
    const f = await readPcap(file);
    expect(f.records).to.have.length(2000);
    f.records.forEach((r, i) => {
      expect(r.data.length).to.equal(1472);
      expect(r.data[100]).to.equal(i & 0xff);
    });
  });

  it('rejects a file that is not a pcap, or is truncated', () => {
    expect(() => parsePcap(Buffer.alloc(24))).to.throw(/bad magic/);
    const good = Buffer.alloc(24 + 16 + 4);
    good.writeUInt32LE(0xa1b2c3d4, 0);
    good.writeUInt32LE(10, 24 + 8);
    expect(() => parsePcap(good)).to.throw(/truncated/);
  });
});

describe('msgpack event trace', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'obs-trace-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips every event type in order with its connection label', async () => {
    const file = join(dir, 't.trace');
    const w = await TraceWriter.open(file, 1000);
    const evs: TcpTraceEvent[] = [
      { type: 'state', t: 1000, from: 'CLOSED', to: 'SYN-SENT' },
      { type: 'send', t: 1000.5, seq: 4294967000, len: 0, flags: 2 },
      { type: 'cwnd', t: 1001, cwnd: 14320, ssthresh: 0xffffffff, reason: 'init', inFlight: 0 },
      { type: 'rtt', t: 1050, sample: 50, srtt: 50, rttvar: 25, rto: 200 },
      { type: 'send', t: 1051, seq: 4294967001, len: 1432, flags: 0x18, retransmit: 'fast' },
      { type: 'ack', t: 1100, ack: 100, window: 65535, sack: [{ left: 2000, right: 3432 }] },
      { type: 'recv', t: 1101, seq: 7, len: 10, flags: 0x10 },
    ];
    for (let i = 0; i < 3000; i++) w.write(i % 2 ? 'a:1-b:2' : 'c:3-d:4', evs[i % evs.length]!);
    expect(w.count).to.equal(3000);
    await w.close();
    const got: TraceRecord[] = [];
    for await (const r of readTrace(file)) got.push(r);
    expect(got).to.have.length(3000);
    got.forEach((r, i) => {
      expect(r).to.deep.equal({ c: i % 2 ? 'a:1-b:2' : 'c:3-d:4', ...evs[i % evs.length]! });
    });
    const it = readTraceWithHeader(file);
    const head = (await it.next()).value as { format: string; monoStart: number; wallStart: number };
    await it.return(undefined);
    expect(head.format).to.equal('overlay-trace');
    expect(head.monoStart).to.equal(1000);
    expect(Math.abs(head.wallStart - Date.now())).to.be.lessThan(60_000);
  });

  it('refuses a file that is not a trace', async () => {
    const file = join(dir, 'not.trace');
    const w = await PcapWriter.open(file);
    await w.close();
    let err: Error | undefined;
    try {
      for await (const _ of readTrace(file)) void _;
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/not an overlay trace/);
  });

  it('costs well under a microsecond or two per event (cheap enough for benchmarks)', async () => {
    const file = join(dir, 'bench.trace');
    const w = await TraceWriter.open(file);
    const n = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) w.write('10.77.0.2:40000-10.77.0.3:5001', { type: 'send', t: i, seq: i * 1432, len: 1432, flags: 0x10 });
    const perEvent = ((performance.now() - t0) * 1000) / n;
    await w.close();
    console.log(`      trace write: ${perEvent.toFixed(3)} us/event`);
    expect(perEvent).to.be.lessThan(5);
  });
});
