/**
 * Wireshark agrees with our encoders: tshark captures on lo while two hosts ping and
 * exchange UDP, decodes the UDP payload as IPv4 (`-d udp.port==PORT,ip`, the overlay is
 * IP-in-UDP) and verifies every inner checksum. Skipped, with the reason printed, when
 * tshark is missing or cannot capture.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Host } from '../../src/host/host.js';
import { createSocket, type RemoteInfo } from '../../src/udp/socket.js';

const FIELDS = ['ip.src', 'ip.dst', 'ip.checksum.status', 'icmp.type', 'icmp.checksum.status', 'udp.srcport', 'udp.dstport', 'udp.checksum.status', 'data.data'];
const GOOD = '1'; // Wireshark's checksum status: 0 bad, 1 good, 2 unverified

/** One value per layer occurrence: index 0 is the outer (real) header, the last one the overlay's. */
type Row = Record<string, string[]>;

function parse(line: string): Row {
  const cols = line.split('\t');
  const row: Row = {};
  FIELDS.forEach((f, i) => (row[f] = (cols[i] ?? '').split(',').filter((v) => v !== '')));
  return row;
}

describe('integration: tshark decodes the overlay (IP-in-UDP) with good checksums', function () {
  this.timeout(30_000);
  let tshark: ChildProcess | undefined;
  let a: Host | undefined;
  let b: Host | undefined;

  before(function () {
    if (spawnSync('tshark', ['--version']).status !== 0) {
      console.log('skipped: tshark is not installed');
      this.skip();
    }
  });

  after(async () => {
    if (tshark && tshark.exitCode === null) tshark.kill('SIGKILL');
    await a?.close();
    await b?.close();
  });

  it('sees ICMP echo and UDP inside UDP with valid IPv4, ICMP and UDP checksums', async function () {
    a = await Host.create({ address: '10.77.0.1' });
    b = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.1', endpoint: a.endpoint }] });
    a.addPeer('10.77.0.2', b.endpoint);
    const pa = a.endpoint.port;
    const pb = b.endpoint.port;
    const args = ['-i', 'lo', '-l', '-n', '-f', `udp port ${pa} or udp port ${pb}`];
    args.push('-d', `udp.port==${pa},ip`, '-d', `udp.port==${pb},ip`, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE');
    args.push('-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=/t', ...FIELDS.flatMap((f) => ['-e', f]));
    tshark = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    tshark.stdout!.on('data', (d: Buffer) => (out += d));
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 10_000);
      tshark!.stderr!.on('data', (d: Buffer) => {
        err += d;
        // tshark prints "Capturing on" first; the capture is live once dumpcap reports its file.
        if (/File:/.test(err)) {
          clearTimeout(t);
          resolve(true);
        }
      });
      tshark!.once('close', () => resolve(false));
    });
    if (!ready) {
      console.log(`skipped: tshark cannot capture on lo: ${err.trim().split('\n').pop()}`);
      this.skip();
    }

    await a.ping('10.77.0.2', { seq: 1, timeoutMs: 2000 });
    await b.ping('10.77.0.1', { seq: 2, size: 300, timeoutMs: 2000 });
    const server = createSocket({ type: 'udp4', host: b });
    server.on('message', (m: Buffer, r: RemoteInfo) => server.send(m, r.port, r.address));
    server.bind(9000);
    await once(server, 'listening');
    const client = createSocket({ type: 'udp4', host: a });
    client.send('hello tshark', 9000, '10.77.0.2');
    await once(client, 'message');
    client.close();
    server.close();

    // Wait (bounded) until tshark has printed all 6 packets, then stop it.
    const deadline = Date.now() + 10_000;
    while (out.trim().split('\n').filter(Boolean).length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    tshark.kill('SIGINT');
    await once(tshark, 'close');

    const rows = out.trim().split('\n').filter(Boolean).map(parse);
    expect(rows, out).to.have.length(6);
    for (const r of rows) {
      // Two IPv4 layers: the real loopback header and the overlay's; both checksums good.
      expect(r['ip.checksum.status'], JSON.stringify(r)).to.deep.equal([GOOD, GOOD]);
      expect(r['ip.src']![1]).to.match(/^10\.77\.0\.[12]$/);
    }
    const icmp = rows.filter((r) => r['icmp.type']!.length > 0);
    expect(icmp.map((r) => r['icmp.type']![0])).to.deep.equal(['8', '0', '8', '0']);
    for (const r of icmp) expect(r['icmp.checksum.status']).to.deep.equal([GOOD]);
    const udp = rows.filter((r) => r['icmp.type']!.length === 0);
    expect(udp).to.have.length(2);
    const payloadHex = Buffer.from('hello tshark').toString('hex');
    for (const r of udp) {
      // The inner (overlay) UDP header is the second UDP layer; the outer one may carry an
      // offloaded (not yet computed) checksum on loopback, so only the inner one is checked.
      expect(r['udp.checksum.status']!.at(-1), JSON.stringify(r)).to.equal(GOOD);
      expect(r['data.data']).to.deep.equal([payloadHex]);
    }
    expect(udp[0]!['udp.dstport']!.at(-1)).to.equal('9000');
    expect(udp[1]!['udp.srcport']!.at(-1)).to.equal('9000');
  });
});
