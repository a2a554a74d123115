/** `overlay ping` and `overlay cat -u -l` in separate processes over loopback UDP. */
import { expect } from 'chai';
import { killAll, runCli, spawnCli, type CliChild } from '../helpers/proc.js';

const LISTEN_RE = /listening (\S+) udp=([\d.]+):(\d+)/;

/** Starts `overlay cat -u -l PORT` as 10.77.0.3 with a default route to `peer` (or learning). */
async function responder(extra: string[] = []): Promise<{ child: CliChild; udp: string }> {
  const child = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.3', '--learn', ...extra]);
  const m = await child.waitFor(LISTEN_RE);
  expect(m[1]).to.equal('10.77.0.3');
  return { child, udp: `${m[2]}:${m[3]}` };
}

describe('integration: overlay ping (CLI, two processes)', function () {
  this.timeout(20_000);
  afterEach(killAll);

  it('ping -c 3 against cat -u -l gets 3 replies and exits 0', async () => {
    const { udp } = await responder();
    const r = await runCli(['ping', '--addr', '10.77.0.2', '--peer', `10.77.0.0/24=${udp}`, '-c', '3', '-i', '0.05', '10.77.0.3']);
    expect(r.code, r.stderr).to.equal(0);
    const replies = r.stdout.match(/^\d+ bytes from 10\.77\.0\.3: icmp_seq=\d+ ttl=64 time=[\d.]+ ms$/gm) ?? [];
    expect(replies).to.have.length(3);
    expect(r.stdout).to.match(/^3 packets transmitted, 3 received, 0% packet loss/m);
    expect(r.stdout).to.match(/^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);
    expect(replies[0]).to.match(/^64 bytes/);
  });

  it('-s sets the payload size', async () => {
    const { udp } = await responder();
    const r = await runCli(['ping', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${udp}`, '-c', '1', '-s', '1000', '10.77.0.3']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^1008 bytes from 10\.77\.0\.3: icmp_seq=1/m);
  });

  it('exits 1 with 100% loss when nobody answers', async () => {
    // A route to a UDP port nobody overlay-speaks on: the echo is silently lost.
    const { udp } = await responder();
    const r = await runCli(['ping', '--addr', '10.77.0.2', '--peer', `10.77.0.0/24=${udp}`, '-c', '2', '-i', '0.05', '-W', '0.2', '10.77.0.9']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/2 packets transmitted, 0 received, 100% packet loss/);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['a bad overlay address', ['--addr', '10.77.0.300', '10.77.0.3'], /--addr: '10\.77\.0\.300' is not an IPv4 address/],
    ['a missing --addr', ['10.77.0.3'], /--addr is required/],
    ['a bad prefix', ['--addr', '10.77.0.2', '--peer', '10.77.0.0/40=127.0.0.1:1', '10.77.0.3'], /--peer: '10\.77\.0\.0\/40'/],
    ['a bad port', ['--addr', '10.77.0.2', '--peer', '10.77.0.0/24=127.0.0.1:70000', '10.77.0.3'], /HOST:PORT/],
    ['an MTU out of range', ['--addr', '10.77.0.2', '--mtu', '67', '10.77.0.3'], /--mtu: 67 is out of range \(68\.\.65507/],
    ['an unknown flag', ['--addr', '10.77.0.2', '--bogus', '10.77.0.3'], /unknown option --bogus/],
    ['a bad destination', ['--addr', '10.77.0.2', 'nowhere'], /'nowhere' is not an IPv4 address/],
    ['a bad count', ['--addr', '10.77.0.2', '-c', '0', '10.77.0.3'], /--count: 0 is out of range/],
  ];
  for (const [name, args, re] of bad) {
    it(`rejects ${name}: one line on stderr, exit 2`, async () => {
      const r = await runCli(['ping', ...args]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(re);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.not.match(/\n\s+at /);
    });
  }
});
