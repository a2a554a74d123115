import { expect } from 'chai';
import fc from 'fast-check';
import { decodeIcmp, encodeIcmp } from '../../src/wire/icmp.js';
import { decodeIpv4, encodeIpv4 } from '../../src/wire/ipv4.js';
import { decodeTcp, encodedOptionsLength, encodeTcp, encodeTcpPacket, SYN, type TcpOptions, type TcpSegment } from '../../src/wire/tcp.js';
import { decodeUdp, encodeUdp, encodeUdpPacket } from '../../src/wire/udp.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 255 });
const payload = fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a));

/** Drops undefined keys so deep equality compares what was actually set. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false)) as T;
}

const tcpOptions: fc.Arbitrary<TcpOptions> = fc
  .record({
    mss: fc.option(u16, { nil: undefined }),
    wscale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
    sackPermitted: fc.boolean(),
    sack: fc.option(fc.array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 4 }), { nil: undefined }),
    ts: fc.option(fc.record({ val: u32, ecr: u32 }), { nil: undefined }),
  })
  .map((o) => clean(o) as TcpOptions)
  .filter((o) => encodedOptionsLength(o) <= 40);

const tcpSegment: fc.Arbitrary<TcpSegment> = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: u8,
  window: u16,
  urgent: u16,
  options: tcpOptions,
  payload,
});

describe('wire: codecs round-trip (fast-check)', () => {
  it('IPv4: encode then decode gives the same fields and payload', () => {
    fc.assert(
      fc.property(
        fc.record({ src: u32, dst: u32, protocol: u8, id: u16, ttl: u8, tos: u8 }),
        payload,
        (f, pl) => {
          const p = encodeIpv4(f, pl);
          const d = decodeIpv4(p);
          expect(d.ok).to.equal(true);
          if (!d.ok) return;
          expect(d.header).to.deep.equal({ ...f, headerLength: 20, totalLength: 20 + pl.length, dontFragment: true });
          expect(Buffer.compare(d.payload, pl)).to.equal(0);
        },
      ),
    );
  });

  it('TCP with every option: encode then decode (checksum verified) gives the same segment', () => {
    fc.assert(
      fc.property(tcpSegment, u32, u32, (seg, src, dst) => {
        const d = decodeTcp(encodeTcp(seg, src, dst), src, dst);
        expect(d.ok, d.ok ? '' : d.reason).to.equal(true);
        if (!d.ok) return;
        expect({ ...d.segment, options: clean(d.segment.options), payload: [...d.segment.payload] }).to.deep.equal({
          ...seg,
          payload: [...seg.payload],
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('TCP inside IPv4 decodes through both layers', () => {
    fc.assert(
      fc.property(tcpSegment, u32, u32, u16, (seg, src, dst, id) => {
        const ip = decodeIpv4(encodeTcpPacket({ src, dst, id }, seg));
        expect(ip.ok).to.equal(true);
        if (!ip.ok) return;
        expect(ip.header.protocol).to.equal(6);
        const t = decodeTcp(ip.payload, src, dst);
        expect(t.ok).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('UDP: round-trips with a checksum that verifies, alone and inside IPv4', () => {
    fc.assert(
      fc.property(u16, u16, payload, u32, u32, (srcPort, dstPort, pl, src, dst) => {
        const d = decodeUdp(encodeUdp({ srcPort, dstPort, payload: pl }, src, dst), src, dst);
        expect(d.ok).to.equal(true);
        if (!d.ok) return;
        expect(d.datagram.srcPort).to.equal(srcPort);
        expect(d.datagram.dstPort).to.equal(dstPort);
        expect(Buffer.compare(d.datagram.payload, pl)).to.equal(0);
        const ip = decodeIpv4(encodeUdpPacket({ src, dst, id: 1 }, { srcPort, dstPort, payload: pl }));
        expect(ip.ok && decodeUdp(ip.payload, src, dst).ok).to.equal(true);
      }),
    );
  });

  it('UDP: a corrupted byte is caught by the checksum', () => {
    fc.assert(
      fc.property(payload.filter((p) => p.length > 0), u32, u32, fc.nat(), fc.integer({ min: 1, max: 255 }), (pl, src, dst, at, x) => {
        const b = encodeUdp({ srcPort: 1, dstPort: 2, payload: pl }, src, dst);
        const i = 8 + (at % pl.length);
        b[i] = b[i]! ^ x;
        expect(decodeUdp(b, src, dst)).to.deep.equal({ ok: false, reason: 'udp_bad_checksum' });
      }),
    );
  });

  it('ICMP: round-trips type, code, rest and payload', () => {
    fc.assert(
      fc.property(u8, u8, u32, payload, (type, code, rest, pl) => {
        const d = decodeIcmp(encodeIcmp({ type, code, rest, payload: pl }));
        expect(d.ok).to.equal(true);
        if (!d.ok) return;
        expect(d.message.type).to.equal(type);
        expect(d.message.code).to.equal(code);
        expect(d.message.rest).to.equal(rest);
        expect(Buffer.compare(d.message.payload, pl)).to.equal(0);
      }),
    );
  });
});

describe('wire: TCP option parsing', () => {
  /** A 20-byte TCP header followed by `opts` (padded to 4 with EOL), checksum not set. */
  function withOptions(opts: number[]): Buffer {
    const padded = [...opts];
    while (padded.length % 4) padded.push(0);
    const b = Buffer.alloc(20 + padded.length);
    b[12] = ((20 + padded.length) / 4) << 4;
    b[13] = SYN;
    Buffer.from(padded).copy(b, 20);
    return b;
  }

  const malformed: Array<[string, number[]]> = [
    ['MSS with length 5', [2, 5, 5, 0xb4, 0]],
    ['MSS with length 3', [2, 3, 5, 1]],
    ['length 1', [30, 1, 1, 1]],
    ['length 0', [30, 0, 1, 1]],
    ['length past the end of the header', [30, 12, 1, 1]],
    ['kind with no length byte at the end', [1, 1, 1, 30]],
    ['window scale with length 4', [3, 4, 7, 0]],
    ['SACK-permitted with length 3', [4, 3, 0, 1]],
    ['SACK with a partial block', [5, 6, 0, 0, 0, 1, 1, 1]],
    ['SACK with no block', [5, 2, 1, 1]],
    ['timestamps with length 8', [8, 8, 0, 0, 0, 1, 0, 0]],
  ];
  for (const [name, opts] of malformed) {
    it(`gives tcp_bad_option for ${name}`, () => {
      expect(decodeTcp(withOptions(opts))).to.deep.equal({ ok: false, reason: 'tcp_bad_option' });
    });
  }

  it('skips unknown options by their length and still reads the known ones', () => {
    const d = decodeTcp(withOptions([30, 6, 9, 9, 9, 9, 2, 4, 0x05, 0xb4, 1, 253, 3, 0xaa]));
    expect(d.ok).to.equal(true);
    if (d.ok) expect(d.segment.options).to.deep.equal({ mss: 1460 });
  });

  it('stops at EOL and ignores what follows', () => {
    const d = decodeTcp(withOptions([2, 4, 0x05, 0xb4, 0, 99, 99, 99]));
    expect(d.ok && d.segment.options).to.deep.equal({ mss: 1460 });
  });

  it('random option bytes never throw: decode is ok or names a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (opts) => {
        const d = decodeTcp(withOptions([...opts]));
        if (!d.ok) expect(d.reason).to.equal('tcp_bad_option');
      }),
      { numRuns: 3000 },
    );
  });

  it('a bad data offset is tcp_bad_offset; a short segment tcp_truncated', () => {
    const b = withOptions([]);
    b[12] = 4 << 4;
    expect(decodeTcp(b)).to.deep.equal({ ok: false, reason: 'tcp_bad_offset' });
    b[12] = 15 << 4;
    expect(decodeTcp(b)).to.deep.equal({ ok: false, reason: 'tcp_bad_offset' });
    expect(decodeTcp(Buffer.alloc(19))).to.deep.equal({ ok: false, reason: 'tcp_truncated' });
  });
});
