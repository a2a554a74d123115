import { expect } from 'chai';
import fc from 'fast-check';
import { fold, internetChecksum, sumWords } from '../../src/wire/checksum.js';
import { encodeUdpPacket } from '../../src/wire/udp.js';
import { decodeIpv4, encodeIpv4, IPPROTO_UDP } from '../../src/wire/ipv4.js';

/** The textbook RFC 1071 checksum: 16-bit big-endian pairs, carry folded after every add. */
function naiveChecksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) {
    sum += (buf[i]! << 8) | (i + 1 < end ? buf[i + 1]! : 0);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('wire: fast checksum paths (typed-array view at any memory alignment)', () => {
  it('equals the naive reference for every byteOffset 0..7 of the view and any range', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.integer({ min: 0, max: 7 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        (data, shift, a, b, initial) => {
          // The same bytes placed at a chosen offset inside a larger ArrayBuffer.
          const backing = new Uint8Array(data.length + 8);
          backing.set(data, shift);
          const view = backing.subarray(shift, shift + data.length);
          const s = data.length === 0 ? 0 : a % (data.length + 1);
          const e = s + (data.length - s === 0 ? 0 : b % (data.length - s + 1));
          expect(internetChecksum(view, s, e)).to.equal(naiveChecksum(data, s, e));
          // Chaining through `initial` (pseudo-header sums) folds the same either way.
          expect(fold(sumWords(view, s, e, initial))).to.equal(fold(sumWords(data, s, e, 0) + initial));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('packets carved one after another from one slab (the cached view) sum like fresh buffers, also after the slab changes', () => {
    // The checksum keeps one view over the last ArrayBuffer: consecutive packets of a slab
    // (src/util/slab.ts) reuse it, at their own offsets; another buffer in between, or bytes
    // rewritten in the slab, must not leave a stale view or a wrong base offset behind.
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 0, max: 2000 }), gap: fc.integer({ min: 0, max: 7 }), other: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 255 }),
        (packets, seed) => {
          const slab = Buffer.allocUnsafeSlow(64 * 1024);
          let x = seed;
          for (let i = 0; i < slab.length; i++) slab[i] = x = (x * 31 + 7) & 0xff;
          let used = 0;
          for (const p of packets) {
            if (used + p.gap + p.len > slab.length) break;
            const pkt = slab.subarray(used + p.gap, used + p.gap + p.len);
            used += p.gap + p.len;
            const copy = Uint8Array.from(pkt);
            expect(internetChecksum(pkt)).to.equal(naiveChecksum(copy, 0, copy.length));
            if (p.other) {
              // Another ArrayBuffer of the slab's size between two slab packets (the packet's
              // bytes at another offset), then the slab's bytes change.
              const other = Buffer.allocUnsafeSlow(slab.length).fill(0x3c);
              other.set(copy, 0);
              expect(internetChecksum(other.subarray(0, copy.length))).to.equal(naiveChecksum(copy, 0, copy.length));
              pkt.fill(0xa5);
              expect(internetChecksum(pkt)).to.equal(naiveChecksum(Uint8Array.from(pkt), 0, pkt.length));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stays exact on the largest datagrams of all-ones bytes (no precision loss)', () => {
    for (const len of [65507, 65535, 65536 + 3]) {
      for (const shift of [0, 1, 2, 3]) {
        const backing = Buffer.alloc(len + 4, 0xff);
        const view = backing.subarray(shift, shift + len);
        expect(internetChecksum(view), `len ${len} shift ${shift}`).to.equal(naiveChecksum(view, 0, len));
      }
    }
  });

  it('writes headers whose checksums verify (IPv4 header and UDP over the pseudo-header)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), (payload, src, dst, id) => {
        const p = encodeUdpPacket({ src, dst, id, ttl: 17, tos: 0x10 }, { srcPort: 1234, dstPort: 53, payload: Buffer.from(payload) });
        const d = decodeIpv4(p);
        expect(d.ok).to.equal(true);
        if (!d.ok) return;
        expect(d.header).to.include({ src, dst, id, ttl: 17, tos: 0x10, protocol: IPPROTO_UDP, totalLength: p.length, dontFragment: true });
        expect(naiveChecksum(p, 0, 20)).to.equal(0);
        const ip = encodeIpv4({ src, dst, id, protocol: 99 }, Buffer.from(payload));
        expect(naiveChecksum(ip, 0, 20)).to.equal(0);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an IPv4 total length beyond 65535 instead of writing a wrong header', () => {
    expect(() => encodeIpv4({ src: 1, dst: 2, id: 3, protocol: 17 }, Buffer.alloc(65516))).to.throw(RangeError);
  });
});
