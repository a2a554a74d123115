/**
 * Counters and bounds at the host and TCP-driver boundary, on the real receive path
 * (UdpLink.deliver, the code path of the socket's 'message' event):
 * - the learned-route table is bounded (MAX_LEARNED_ROUTES): a flood of forged sources cannot
 *   grow it, and each refused packet is counted as learn_table_full;
 * - a TCP segment with a bad checksum is dropped by the driver and counted (tcp_bad_checksum).
 */
import { expect } from 'chai';
import { Host, MAX_LEARNED_ROUTES } from '../../src/host/host.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { encodeTcpPacket, RST, ACK, SYN, type TcpSegment } from '../../src/wire/tcp.js';

const H = 0x0a4e0001; // 10.78.0.1

function tcp(src: number, flags: number, payload = Buffer.alloc(0)): Buffer {
  const s: TcpSegment = { srcPort: 4000, dstPort: 80, seq: 1, ack: 1, flags, window: 1000, urgent: 0, options: {}, payload };
  return encodeTcpPacket({ src, dst: H, id: 1 }, s);
}

describe('host and driver: bounds and counters on the receive path', function () {
  this.timeout(60_000);

  it(`the learned-route table stops at MAX_LEARNED_ROUTES (${MAX_LEARNED_ROUTES}); further sources are dropped and counted`, async () => {
    const host = await Host.create({ address: '10.78.0.1', learn: true });
    try {
      TcpStack.for(host);
      // A RST to no connection: accepted by the IP layer, answered by nothing.
      const extra = 5;
      const base = 0x0b000000; // 11.0.0.0/8: one new source per packet
      for (let i = 0; i < MAX_LEARNED_ROUTES + extra; i++) {
        host.link.deliver(tcp(base + i, RST), { address: '127.0.0.1', port: 1 + (i % 60000) });
      }
      expect(host.stats.drops.get('learn_table_full')).to.equal(extra);
      expect(host.stats.drops.get('tcp_rst_no_connection')).to.equal(MAX_LEARNED_ROUTES);
      expect(host.stats.drops.get('internal_error') ?? 0).to.equal(0);
      // A learned source keeps working (its route is in the table).
      host.link.deliver(tcp(base, RST), { address: '127.0.0.1', port: 1 });
      expect(host.stats.drops.get('tcp_rst_no_connection')).to.equal(MAX_LEARNED_ROUTES + 1);
    } finally {
      await host.close();
    }
  });

  it('a TCP segment with a bad checksum is dropped by the driver and counted as tcp_bad_checksum', async () => {
    const peer = 0x0a4e0002;
    const host = await Host.create({ address: '10.78.0.1', peers: [{ prefix: '10.78.0.2', endpoint: { address: '127.0.0.1', port: 9 } }] });
    try {
      TcpStack.for(host);
      const from = { address: '127.0.0.1', port: 9 };
      const good = tcp(peer, ACK, Buffer.from('hello'));
      host.link.deliver(good, from);
      expect(host.stats.drops.get('tcp_bad_checksum') ?? 0).to.equal(0);
      const bad = Buffer.from(good);
      bad[bad.length - 1] ^= 0x01; // a payload bit: the IP header checksum still holds
      host.link.deliver(bad, from);
      expect(host.stats.drops.get('tcp_bad_checksum')).to.equal(1);
      expect(host.stats.packetsIn).to.equal(2); // both passed the IP layer
    } finally {
      await host.close();
    }
  });

  it("a connection's and a listener's drops reach the host's counters as tcp_<reason> (overlay_ip_dropped_packets_total)", async () => {
    const peer = 0x0a4e0002;
    const from = { address: '127.0.0.1', port: 9 };
    const host = await Host.create({ address: '10.78.0.1', peers: [{ prefix: '10.78.0.2', endpoint: from }] });
    try {
      const stack = TcpStack.for(host);
      const l = stack.listen({ port: 80, backlog: 8 }, () => {});
      // A listener drop: a RST in LISTEN.
      host.link.deliver(tcp(peer, RST), from);
      expect(host.stats.drops.get('tcp_listen_rst')).to.equal(1);
      // A connection drop: in SYN-SENT, a SYN-ACK acknowledging something never sent.
      const conn = stack.connect({ remoteAddr: peer, remotePort: 4000, localPort: 5555 }, {});
      const synAck: TcpSegment = { srcPort: 4000, dstPort: 5555, seq: 1, ack: (conn.c.iss + 100) >>> 0, flags: SYN | ACK, window: 1000, urgent: 0, options: {}, payload: Buffer.alloc(0) };
      host.link.deliver(encodeTcpPacket({ src: peer, dst: H, id: 2 }, synAck), from);
      expect(conn.c.drops['syn_sent_bad_ack']).to.equal(1);
      expect(host.stats.drops.get('tcp_syn_sent_bad_ack')).to.equal(1);
      conn.abort();
      l.close();
    } finally {
      await host.close();
    }
  });
});
