/**
 * A large TCP payload leaves as two buffers, its headers and the payload where it already is
 * (one sendmsg with two iovecs), instead of being copied into one packet: the header writer
 * (writeTcpHeader), the host's and the link's sendParts, and the TCP driver's use of them.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fc from 'fast-check';
import { Host } from '../../src/host/host.js';
import { UdpLink } from '../../src/link/udp-link.js';
import { connect } from '../../src/net.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { IPPROTO_TCP, IPV4_HEADER_LEN, writeIpv4HeaderAt } from '../../src/wire/ipv4.js';
import { until } from '../helpers/real-tcp.js';
import { joinCount } from '../../src/tcp/send.js';
import { packetReuseCount } from '../../src/util/slab.js';
import { digestReply, hashServer, sendAndDigest, sha } from '../helpers/digest.js';
import { ACK, decodeTcp, encodedOptionsLength, PSH, SEND_APART_MIN, TCP_HEADER_LEN, writeTcp, writeTcpHeader, type TcpSegment } from '../../src/wire/tcp.js';

const A = parseIpv4('10.79.0.1')!;
const B = parseIpv4('10.79.0.2')!;

function segment(payload: Buffer, sack: number, ts: boolean): TcpSegment {
  return {
    srcPort: 40001,
    dstPort: 5001,
    seq: 0xfffff000,
    ack: 123456789,
    flags: ACK | PSH,
    window: 0xabcd,
    urgent: 0,
    options: { ...(ts && { ts: { val: 0x89abcdef, ecr: 7 } }), ...(sack > 0 && { sack: Array.from({ length: sack }, (_, i) => ({ left: i * 100, right: i * 100 + 50 })) }) },
    payload,
  };
}

describe('sending a large payload apart from its headers', function () {
  this.timeout(30_000);

  it('writeTcpHeader followed by the payload is byte for byte what writeTcp builds, at any length and alignment', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (n, skew, sack, ts) => {
        // The payload at an arbitrary offset of its ArrayBuffer (a view of a written chunk).
        const payload = randomBytes(n + skew).subarray(skew);
        const seg = segment(payload, sack, ts);
        const hdr = TCP_HEADER_LEN + encodedOptionsLength(seg.options);
        const whole = Buffer.alloc(hdr + n);
        expect(writeTcp(whole, 0, seg, A, B)).to.equal(hdr + n);
        const head = Buffer.alloc(hdr);
        expect(writeTcpHeader(head, 0, seg, A, B)).to.equal(hdr);
        expect(Buffer.concat([head, payload]).equals(whole)).to.equal(true);
        const d = decodeTcp(Buffer.concat([head, payload]), A, B);
        expect(d.ok).to.equal(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the link sends the two buffers as one datagram', async () => {
    const tx = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
    const rx = await UdpLink.bind({ address: '127.0.0.1', port: 0 });
    try {
      const got: Buffer[] = [];
      rx.onPacket((p) => got.push(Buffer.from(p)));
      const head = Buffer.from('head:');
      const body = randomBytes(9000);
      tx.sendParts(head, body, rx.local().port, '127.0.0.1');
      await until(() => got.length === 1, 5000, 'the datagram', 5);
      expect(got[0]!.equals(Buffer.concat([head, body]))).to.equal(true);
      expect(tx.stats.packetsOut).to.equal(1);
    } finally {
      await tx.close();
      await rx.close();
    }
  });

  describe('Host.sendParts', () => {
    let a: Host;
    let b: Host;
    beforeEach(async () => {
      a = await Host.create({ address: '10.79.0.1', mtu: 9000 });
      b = await Host.create({ address: '10.79.0.2', mtu: 9000, peers: [{ prefix: '10.79.0.1/32', endpoint: a.endpoint }] });
      a.addPeer('10.79.0.2/32', b.endpoint);
    });
    afterEach(async () => {
      await a.close();
      await b.close();
    });

    /** Records the TCP packets `h` accepts (no TCP stack on these hosts: the test is the handler). */
    function accepted(h: Host): Buffer[] {
      const seen: Buffer[] = [];
      h.setProtocolHandler(IPPROTO_TCP, { onPacket: (ip, _payload, packet) => seen.push(Buffer.from(packet.subarray(0, ip.totalLength))) });
      return seen;
    }

    /** A TCP packet from A to `dst` as headers and payload. */
    function parts(dst: number, n: number): [Buffer, Buffer] {
      const body = randomBytes(n);
      const seg = segment(body, 0, true);
      const head = Buffer.alloc(IPV4_HEADER_LEN + TCP_HEADER_LEN + encodedOptionsLength(seg.options));
      writeIpv4HeaderAt(head, 0, A, dst, IPPROTO_TCP, 1, head.length + n, 64, 0);
      writeTcpHeader(head, IPV4_HEADER_LEN, seg, A, dst);
      return [head, body];
    }

    it('delivers the joined packet, and a tap on the sender sees it whole', async () => {
      const seenIn = accepted(b);
      const seenOut: Buffer[] = [];
      const [head, body] = parts(B, 8000);
      expect(a.sendParts(head, body, B)).to.equal(true);
      await until(() => seenIn.length === 1, 5000, 'the first packet', 5);
      expect(seenIn[0]!.equals(Buffer.concat([head, body]))).to.equal(true);
      const remove = a.addTap((dir, p) => {
        if (dir === 'out') seenOut.push(Buffer.from(p));
      });
      const [head2, body2] = parts(B, 5000);
      expect(a.sendParts(head2, body2, B)).to.equal(true);
      remove();
      expect(seenOut).to.have.length(1);
      expect(seenOut[0]!.equals(Buffer.concat([head2, body2]))).to.equal(true);
      await until(() => seenIn.length === 2, 5000, 'the second packet', 5);
      expect(seenIn[1]!.equals(seenOut[0]!)).to.equal(true);
      expect(a.stats.packetsOut).to.equal(2);
      expect(a.stats.bytesOut).to.equal(head.length + 8000 + head2.length + 5000);
      expect(b.stats.drops.get('tcp_bad_checksum')).to.equal(undefined);
    });

    it('joins the parts for its own address, and refuses more than the MTU or an unrouted destination', async () => {
      const seen = accepted(a);
      const [head, body] = parts(A, 4000);
      expect(a.sendParts(head, body, A)).to.equal(true);
      await until(() => seen.length === 1, 5000, 'the packet to its own address', 5);
      expect(seen[0]!.equals(Buffer.concat([head, body]))).to.equal(true);
      const [h2, b2] = parts(B, 9000 - 40);
      expect(() => a.sendParts(h2, b2, B)).to.throw().with.property('code', 'EMSGSIZE');
      const C = parseIpv4('10.80.0.1')!;
      const [h3, b3] = parts(C, 100);
      expect(a.sendParts(h3, b3, C)).to.equal(false);
      expect(a.stats.drops.get('no_route')).to.equal(1);
    });

    it('a segment whose payload spans two send-pool blocks leaves as a joined packet that is given back once sent', async () => {
      const c = await Host.create({ address: '10.79.0.3', mtu: 65000 });
      const d = await Host.create({ address: '10.79.0.4', mtu: 65000, peers: [{ prefix: '10.79.0.3/32', endpoint: c.endpoint }] });
      c.addPeer('10.79.0.4/32', d.endpoint);
      const { server } = await hashServer(d, 5001);
      try {
        const joins = joinCount();
        const large = packetReuseCount().large;
        // 12 MiB through 1 MiB blocks: about one segment in 16 spans two of them.
        const data = randomBytes(12 * 1024 * 1024);
        const s = connect({ via: c, host: '10.79.0.4', port: 5001 });
        // In writes of 256 KiB with backpressure, each copied into the send pool on its own (a
        // write, or writes buffered together, of more than 1 MiB is not pooled).
        const reply = digestReply(s, 20_000);
        for (let off = 0; off < data.length; off += 256 * 1024) {
          if (!s.write(data.subarray(off, off + 256 * 1024))) await once(s, 'drain');
        }
        s.end();
        expect(await reply).to.equal(sha(data));
        s.destroy();
        const joined = joinCount() - joins;
        expect(joined).to.be.at.least(8);
        // At MTU 65000 the joins are the only packets of the 1 MiB slabs here (headers are
        // small, and received packets are not slab packets): each came back once sent (the
        // last few may still wait in libuv's queue, given back at its next send).
        expect(packetReuseCount().large - large).to.be.within(joined - 4, joined);
      } finally {
        server.close();
        await c.close();
        await d.close();
      }
    });

    it('a TCP stream sends its full-size segments apart, and the bytes arrive intact', async () => {
      let apart = 0;
      let apartBytes = 0;
      const sendParts = a.sendParts.bind(a);
      a.sendParts = (head: Buffer, body: Buffer, dst: number): boolean => {
        apart++;
        apartBytes += body.length;
        return sendParts(head, body, dst);
      };
      const { server } = await hashServer(b, 5001);
      try {
        const data = randomBytes(4 * 1024 * 1024);
        const s = connect({ via: a, host: '10.79.0.2', port: 5001 });
        expect(await sendAndDigest(s, data, 20_000)).to.equal(sha(data));
        // Every full-size segment (MSS 8960) went apart; at least the data's worth of bytes did.
        expect(SEND_APART_MIN).to.be.below(8960);
        expect(apart).to.be.at.least(Math.floor(data.length / 8960));
        expect(apartBytes).to.be.at.least(data.length - 8960);
        s.destroy();
      } finally {
        server.close();
      }
    });
  });
});
