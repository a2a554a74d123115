/**
 * Issue 12 items 7 and 11: the CLI's one exit-status rule (0 success, 1 runtime failure,
 * 2 usage error; one line on stderr, never a stack), `overlay --version`, `overlay --help`,
 * and the same failure reading the same way in `overlay ss` and `overlay chaos`.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';

/** A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
async function deadTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, `stderr: ${stderr}`).to.have.length(1);
  expect(stderr).to.not.match(/\n\s+at /);
  return lines[0]!;
}

describe('newcomer: CLI exit status, --version, --help', function () {
  this.timeout(30000);
  afterEach(killAll);

  it('--version prints the package version and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal(`overlay ${pkg.version}`);
  });

  it('--help lists every command and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).to.equal(0);
    for (const c of ['ping', 'cat', 'proxy', 'chaos', 'ss', 'plot', 'demo', 'bench']) expect(r.stdout).to.match(new RegExp(`^  ${c} `, 'm'));
  });

  it('usage errors exit 2 with one line', async () => {
    for (const args of [['cat', '--bogus'], ['cat', '--addr', '10.77.0.2', '--udp', '127.0.0.1:99999', '-l', '5'], ['nosuchcommand']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).to.equal(2);
      oneLine(r.stderr);
    }
  });

  it('runtime failures exit 1 with one line: EADDRINUSE, EADDRNOTAVAIL, EHOSTUNREACH, ECONNREFUSED, a bad --pcap path', async () => {
    const busy = dgram.createSocket('udp4');
    await new Promise<void>((r) => busy.bind(0, '127.0.0.1', r));
    const busyPort = busy.address().port;
    try {
      const l = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-l', '0']);
      const m = await l.waitFor(/udp=([\d.]+):(\d+) port=(\d+)/);
      const listenerUdp = `${m[1]}:${m[2]}`;
      const cases: Array<[string[], RegExp]> = [
        [['cat', '--addr', '10.77.0.2', '--udp', `127.0.0.1:${busyPort}`, '-l', '5'], /EADDRINUSE/],
        [['cat', '--addr', '10.77.0.2', '--udp', '192.0.2.1:0', '-l', '5'], /EADDRNOTAVAIL/],
        [['cat', '--addr', '10.77.0.2', '10.77.0.9', '5'], /EHOSTUNREACH/],
        [['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${listenerUdp}`, '10.77.0.3', String(Number(m[3]) + 1)], /ECONNREFUSED/],
        [['cat', '--addr', '10.77.0.2', '--pcap', '/nonexistent-dir/x.pcap', '-l', '5'], /ENOENT/],
      ];
      for (const [args, re] of cases) {
        const r = await runCli(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
        expect(oneLine(r.stderr)).to.match(re);
      }
    } finally {
      busy.close();
    }
  });

  it('overlay ss and overlay chaos report an unreachable endpoint the same way (ECONNREFUSED, exit 1)', async () => {
    const port = await deadTcpPort();
    const ss = await runCli(['ss', `http://127.0.0.1:${port}`]);
    const chaos = await runCli(['chaos', '--api', `127.0.0.1:${port}`, 'links']);
    expect(ss.code).to.equal(1);
    expect(chaos.code).to.equal(1);
    expect(oneLine(ss.stderr)).to.equal(`overlay: cannot reach the metrics endpoint at 127.0.0.1:${port}: ECONNREFUSED`);
    expect(oneLine(chaos.stderr)).to.equal(`overlay: cannot reach the chaos API at 127.0.0.1:${port}: ECONNREFUSED`);
  });
});
