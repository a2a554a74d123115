/**
 * The pure parts of UDP GSO/GRO (src/link/udp-offload.ts, src/link/kernel-udp.ts): cutting a
 * GRO read back into its datagrams, and finding a socket's inode in /proc/net/udp's text.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { splitTrain } from '../../src/link/udp-offload.js';
import { udpSocketInodes } from '../../src/link/kernel-udp.js';

/** An IPv4-looking packet of `len` bytes (version 4, IHL 5, total length `len`), its bytes marked with `mark`. */
function packet(len: number, mark: number): Buffer {
  const b = Buffer.alloc(len, mark);
  b[0] = 0x45;
  b.writeUInt16BE(len, 2);
  return b;
}

function cut(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const n = splitTrain(buf, (p) => out.push(p));
  expect(n).to.equal(out.length);
  return out;
}

describe('udp offload: splitTrain', () => {
  it('passes one datagram on whole', () => {
    const p = packet(1472, 1);
    const out = cut(p);
    expect(out).to.have.length(1);
    expect(out[0]!.equals(p)).to.equal(true);
  });

  it('cuts a train of equal datagrams and a shorter last one, in order, without copying', () => {
    const parts = [packet(1472, 1), packet(1472, 2), packet(1472, 3), packet(600, 4)];
    const train = Buffer.concat(parts);
    const out = cut(train);
    expect(out.map((p) => p.length)).to.deep.equal([1472, 1472, 1472, 600]);
    out.forEach((p, i) => expect(p.equals(parts[i]!)).to.equal(true));
    expect(out[1]!.buffer).to.equal(train.buffer);
  });

  it('passes on whole what is not an IPv4 train: another version, a length beyond the read, a length under 20', () => {
    const v6 = Buffer.concat([packet(100, 1), packet(100, 2)]);
    v6[0] = 0x60;
    expect(cut(v6)).to.have.length(1);
    const long = packet(300, 1).subarray(0, 200);
    expect(cut(long)).to.have.length(1);
    const tiny = Buffer.concat([packet(100, 1), packet(100, 2)]);
    tiny.writeUInt16BE(8, 2);
    expect(cut(tiny)).to.have.length(1);
    expect(cut(Buffer.alloc(5))).to.have.length(1);
  });

  it('passes on whole a datagram with bytes after its packet, unless every piece is a packet of its own length', () => {
    // A 100-byte packet and 150 more bytes (a damaged or hostile datagram): one datagram.
    const trailing = Buffer.concat([packet(100, 1), Buffer.alloc(150, 9)]);
    expect(cut(trailing)).to.have.length(1);
    // Pieces that look like packets but whose lengths do not fit the cut: one datagram.
    const misfit = Buffer.concat([packet(100, 1), packet(100, 2), packet(60, 3)]);
    misfit.writeUInt16BE(80, 200);
    expect(cut(misfit)).to.have.length(1);
    const shortLast = Buffer.concat([packet(100, 1), Buffer.alloc(10, 0x45)]);
    expect(cut(shortLast)).to.have.length(1);
    const badIhl = Buffer.concat([packet(100, 1), packet(100, 2)]);
    badIhl[100] = 0x44;
    expect(cut(badIhl)).to.have.length(1);
  });

  it('gives back exactly the bytes it was given, cut at the first length, for any train', () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 1500 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 1500 }), (size, n, last) => {
        const parts: Buffer[] = [];
        for (let i = 0; i < n - 1; i++) parts.push(packet(size, i & 0xff));
        parts.push(packet(Math.max(20, Math.min(size, last)), 0xee));
        const train = Buffer.concat(parts);
        const out = cut(train);
        expect(Buffer.concat(out).equals(train)).to.equal(true);
        if (n === 1) expect(out).to.have.length(1);
        else expect(out.map((p) => p.length)).to.deep.equal(parts.map((p) => p.length));
      }),
    );
  });
});

describe('udp offload: udpSocketInodes', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  1: 0100007F:C350 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1111 2 0000000000000000 0',
    '  2: 0100007F:C350 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 2222 2 0000000000000000 0',
    '  3: 00000000:C352 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3333 2 0000000000000000 0',
    '  4: 0200007F:C350 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4444 2 0000000000000000 0',
  ].join('\n');

  it('lists the sockets on an address and port, connected or not', () => {
    expect(udpSocketInodes('127.0.0.1', 0xc350, text)).to.deep.equal([
      { inode: 1111, connected: false },
      { inode: 2222, connected: true },
    ]);
  });

  it('matches a wildcard bind, and nothing on another port', () => {
    expect(udpSocketInodes('127.0.0.1', 0xc352, text)).to.deep.equal([{ inode: 3333, connected: false }]);
    expect(udpSocketInodes('127.0.0.1', 0xc353, text)).to.deep.equal([]);
  });
});
