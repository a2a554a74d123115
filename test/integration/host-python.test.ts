/**
 * Interop with an independent encoder: python3 builds IPv4 + ICMP / UDP packets with
 * `struct` and its own checksum code, sends them to a live Host over loopback UDP, and
 * checks the answers (types, ids, payloads and every checksum) on its side.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { createSocket, type RemoteInfo } from '../../src/udp/socket.js';

const PY = String.raw`
import json, socket, struct, sys
host_ip, host_port = sys.argv[1], int(sys.argv[2])
SRC, DST = '10.77.0.9', '10.77.0.1'

def csum(data):
    if len(data) % 2: data += b'\0'
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip(proto, payload, ident):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                    socket.inet_aton(SRC), socket.inet_aton(DST))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload

def pseudo(src, dst, proto, length):
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, proto, length)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
s.settimeout(3)
out = {}

# ICMP echo request, id 0x4242 seq 7.
data = b'python-says-hello-' * 3
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4242, 7) + data
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
s.sendto(ip(1, icmp, 1), (host_ip, host_port))
pkt, _ = s.recvfrom(65535)
ihl = (pkt[0] & 15) * 4
out['ip_checksum_ok'] = csum(pkt[:ihl]) == 0
out['ip_src'] = socket.inet_ntoa(pkt[12:16]); out['ip_dst'] = socket.inet_ntoa(pkt[16:20])
out['df'] = bool(struct.unpack('!H', pkt[6:8])[0] & 0x4000)
body = pkt[ihl:struct.unpack('!H', pkt[2:4])[0]]
t, c, _, ident, seq = struct.unpack('!BBHHH', body[:8])
out['icmp'] = {'type': t, 'code': c, 'id': ident, 'seq': seq, 'checksum_ok': csum(body) == 0, 'payload_ok': body[8:] == data}

# UDP datagram 5555 -> 7; the host side echoes it back.
msg = b'udp from python'
udp = struct.pack('!HHHH', 5555, 7, 8 + len(msg), 0) + msg
udp = udp[:6] + struct.pack('!H', csum(pseudo(SRC, DST, 17, len(udp)) + udp)) + udp[8:]
s.sendto(ip(17, udp, 2), (host_ip, host_port))
pkt, _ = s.recvfrom(65535)
ihl = (pkt[0] & 15) * 4
body = pkt[ihl:struct.unpack('!H', pkt[2:4])[0]]
sp, dp, ln, ck = struct.unpack('!HHHH', body[:8])
out['udp'] = {'proto': pkt[9], 'src_port': sp, 'dst_port': dp, 'length': ln, 'payload': body[8:].decode(),
              'checksum_ok': ck != 0 and csum(pseudo(DST, SRC, 17, len(body)) + body) == 0,
              'ip_checksum_ok': csum(pkt[:ihl]) == 0}
print(json.dumps(out))
`;

describe('integration: a packet from an independent encoder (python3 struct)', function () {
  this.timeout(15_000);
  let host: Host;

  before(function () {
    if (spawnSync('python3', ['--version']).status !== 0) {
      console.log('skipped: python3 is not available');
      this.skip();
    }
  });

  afterEach(async () => {
    await host?.close();
  });

  it('is accepted and answered: ICMP echo reply and a UDP echo, checksums verified in python', async () => {
    host = await Host.create({ address: '10.77.0.1', learn: true });
    const s = createSocket({ type: 'udp4', host });
    s.on('message', (m: Buffer, r: RemoteInfo) => s.send(m, r.port, r.address));
    s.bind(7);
    await once(s, 'listening');
    const ep = host.endpoint;
    const py = spawn('python3', ['-c', PY, ep.address, String(ep.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.on('data', (d: Buffer) => (out += d));
    py.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => py.kill('SIGKILL'), 10_000);
    const [code] = (await once(py, 'close')) as [number];
    clearTimeout(timer);
    s.close();
    expect(code, err).to.equal(0);
    const r = JSON.parse(out) as Record<string, unknown>;
    expect(r).to.deep.equal({
      ip_checksum_ok: true,
      ip_src: '10.77.0.1',
      ip_dst: '10.77.0.9',
      df: true,
      icmp: { type: 0, code: 0, id: 0x4242, seq: 7, checksum_ok: true, payload_ok: true },
      udp: { proto: 17, src_port: 7, dst_port: 5555, length: 23, payload: 'udp from python', checksum_ok: true, ip_checksum_ok: true },
    });
    expect(host.totalDrops()).to.equal(0);
    expect(host.icmp.stats.echoRequestsIn).to.equal(1);
  });
});
