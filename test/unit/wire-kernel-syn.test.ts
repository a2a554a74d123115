/**
 * Known-answer test: a SYN laid out exactly as the Linux kernel sends it
 * (as the kernel sends it to the interop tests, see docs/linux-peer.md):
 * MSS=1460, SACK_PERM, TS (TSecr=0), NOP, WS=7, window 64240, 40-byte TCP header.
 * Both checksums come from a straightforward byte-by-byte reference written here,
 * independent of src/wire/checksum.ts.
 */
import { expect } from 'chai';
import { decodeIpv4, encodeIpv4 } from '../../src/wire/ipv4.js';
import { decodeTcp, encodeTcpPacket, SYN } from '../../src/wire/tcp.js';

/** Byte-by-byte RFC 1071: add 16-bit big-endian words, fold carries at the end. */
function refChecksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return 0xffff - sum;
}

// 10.77.0.2:45678 -> 10.77.0.1:5001, checksums zero (filled in below).
const IP_HEX = '4500003c' + 'b1f2' + '4000' + '40' + '06' + '0000' + '0a4d0002' + '0a4d0001';
const TCP_HEX =
  'b26e' + '1389' + // ports 45678 -> 5001
  '1c3d5e7f' + // seq
  '00000000' + // ack
  'a0' + '02' + // data offset 10 (40 bytes), SYN
  'faf0' + // window 64240
  '0000' + '0000' + // checksum, urgent
  '020405b4' + // MSS 1460
  '0402' + // SACK permitted
  '080a' + '0013c680' + '00000000' + // TS val=1296000, ecr=0
  '01' + // NOP
  '030307'; // WS 7

function kernelSyn(): Buffer {
  const ip = [...Buffer.from(IP_HEX, 'hex')];
  const tcp = [...Buffer.from(TCP_HEX, 'hex')];
  const ipCk = refChecksum(ip);
  ip[10] = ipCk >> 8;
  ip[11] = ipCk & 0xff;
  // Pseudo-header: src, dst, zero, protocol 6, TCP length.
  const pseudo = [...ip.slice(12, 20), 0, 6, tcp.length >> 8, tcp.length & 0xff];
  const tcpCk = refChecksum([...pseudo, ...tcp]);
  tcp[16] = tcpCk >> 8;
  tcp[17] = tcpCk & 0xff;
  return Buffer.from([...ip, ...tcp]);
}

describe('wire: a Linux kernel SYN (known answer)', () => {
  it('decodes with both checksums valid and the kernel fields', () => {
    const pkt = kernelSyn();
    expect(pkt.length).to.equal(60);
    const ip = decodeIpv4(pkt);
    expect(ip.ok, ip.ok ? '' : ip.reason).to.equal(true);
    if (!ip.ok) return;
    expect(ip.header).to.include({ src: 0x0a4d0002, dst: 0x0a4d0001, protocol: 6, ttl: 64, id: 0xb1f2, dontFragment: true });
    const t = decodeTcp(ip.payload, ip.header.src, ip.header.dst);
    expect(t.ok, t.ok ? '' : t.reason).to.equal(true);
    if (!t.ok) return;
    expect(t.segment).to.include({ srcPort: 45678, dstPort: 5001, seq: 0x1c3d5e7f, ack: 0, flags: SYN, window: 64240, urgent: 0 });
    expect(t.segment.options).to.deep.equal({ mss: 1460, sackPermitted: true, ts: { val: 1296000, ecr: 0 }, wscale: 7 });
    expect(t.segment.payload.length).to.equal(0);
  });

  it('our encoder produces the same bytes as the kernel for the same fields', () => {
    const ours = encodeTcpPacket(
      { src: 0x0a4d0002, dst: 0x0a4d0001, id: 0xb1f2, ttl: 64 },
      {
        srcPort: 45678,
        dstPort: 5001,
        seq: 0x1c3d5e7f,
        ack: 0,
        flags: SYN,
        window: 64240,
        urgent: 0,
        options: { mss: 1460, sackPermitted: true, ts: { val: 1296000, ecr: 0 }, wscale: 7 },
        payload: Buffer.alloc(0),
      },
    );
    expect(ours.toString('hex')).to.equal(kernelSyn().toString('hex'));
  });

  it('any single flipped bit makes one of the checksums fail', () => {
    const good = kernelSyn();
    for (let bit = 0; bit < good.length * 8; bit++) {
      const b = Buffer.from(good);
      b[bit >> 3] = b[bit >> 3]! ^ (0x80 >> (bit & 7));
      const ip = decodeIpv4(b);
      const ok = ip.ok && decodeTcp(ip.payload, ip.header.src, ip.header.dst).ok;
      expect(ok, `bit ${bit}`).to.equal(false);
    }
  });

  it('an IPv4 header with options (IHL 6) is accepted and its payload found', () => {
    const p = encodeIpv4({ src: 1, dst: 2, protocol: 17, id: 3 }, Buffer.from('abcd'));
    const withOpt = Buffer.concat([p.subarray(0, 20), Buffer.from([1, 1, 1, 0]), p.subarray(20)]);
    withOpt[0] = 0x46;
    withOpt.writeUInt16BE(withOpt.length, 2);
    withOpt.writeUInt16BE(0, 10);
    withOpt.writeUInt16BE(refChecksum([...withOpt.subarray(0, 24)]), 10);
    const d = decodeIpv4(withOpt);
    expect(d.ok && d.payload.toString()).to.equal('abcd');
  });
});
