/**
 * --metrics on real CLI processes: /metrics passes promtool with live TCP connections,
 * /connections lists every socket with proto and kind, and `overlay ss` prints them.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { killAll, runCli, spawnCli, type CliChild } from '../helpers/proc.js';
import { freeTcpPort, waitUntil } from '../helpers/prometheus.js';

interface Entry {
  proto: string;
  kind: string;
  state?: string;
  localPort: number;
  cwnd?: number;
  conn?: string;
}

describe('--metrics endpoints and overlay ss', function () {
  this.timeout(30_000);
  let server: CliChild;
  let client: CliChild;
  let udp: CliChild;
  let url: string;
  let udpUrl: string;

  before(async () => {
    const port = await freeTcpPort();
    url = `http://127.0.0.1:${port}`;
    server = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-k', '-l', '5000', '--metrics', `127.0.0.1:${port}`]);
    const m = await server.waitFor(/udp=([\d.]+):(\d+)/);
    client = spawnCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '10.77.0.3', '5000']);
    client.proc.stdin!.write('x'.repeat(100_000));
    await server.waitFor(/x{1000}/, { stream: 'stdout' });
    const uport = await freeTcpPort();
    udpUrl = `http://127.0.0.1:${uport}`;
    udp = spawnCli(['cat', '-u', '-l', '7', '--addr', '10.77.0.4', '--learn', '--metrics', `127.0.0.1:${uport}`]);
    await udp.waitFor(/listening/);
  });
  after(killAll);

  it('/metrics of a live TCP process passes promtool and shows the connection', async function () {
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).to.match(/overlay_tcp_cwnd_bytes\{conn="10\.77\.0\.3:5000-10\.77\.0\.2:\d+"\} \d+/);
    expect(text).to.match(/overlay_tcp_bytes_total\{direction="in"\} [1-9]\d*/);
    expect(text).to.match(/overlay_tcp_connections\{state="ESTABLISHED"\} 1/);
    expect(text).to.match(/overlay_tcp_connections\{state="LISTEN"\} 1/);
    expect(text).to.match(/overlay_ip_packets_total\{direction="in"\} [1-9]/);
    if (!existsSync('/usr/bin/promtool')) {
      console.log('skipped promtool part: /usr/bin/promtool not installed');
      return;
    }
    const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).to.equal('');
    expect(r.status).to.equal(0);
  });

  it('/connections lists the listener and the connection with getInfo fields', async () => {
    const list = (await (await fetch(`${url}/connections`)).json()) as Entry[];
    const listener = list.find((e) => e.kind === 'listener');
    const conn = list.find((e) => e.kind === 'connection');
    expect(listener).to.include({ proto: 'tcp', localPort: 5000, state: 'LISTEN' });
    expect(conn).to.include({ proto: 'tcp', state: 'ESTABLISHED', localPort: 5000 });
    expect(conn!.cwnd).to.be.a('number').greaterThan(0);
    const u = (await (await fetch(`${udpUrl}/connections`)).json()) as Entry[];
    expect(u.some((e) => e.proto === 'udp' && e.kind === 'socket' && e.localPort === 7)).to.equal(true);
    const missing = await fetch(`${url}/nope`);
    expect(missing.status).to.equal(404);
  });

  it('overlay ss prints the table, -l only listeners, -u only UDP', async () => {
    const all = await runCli(['ss', url]);
    expect(all.code, all.stderr).to.equal(0);
    const lines = all.stdout.split('\n');
    expect(lines[0]).to.match(/^Netid\s+State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port$/);
    expect(all.stdout).to.match(/tcp\s+LISTEN\s+\d+\s+\d+\s+10\.77\.0\.3:5000\s+\*:\*/);
    expect(all.stdout).to.match(/tcp\s+ESTABLISHED\s+\d+\s+\d+\s+10\.77\.0\.3:5000\s+10\.77\.0\.2:\d+/);
    expect(all.stdout).to.match(/cwnd:\d+ .*rtt:[\d.]+\/[\d.]+ rto:[\d.]+ .*bytes_received:[1-9]\d* .*retrans:\d+/);
    const l = await runCli(['ss', '-l', url.replace('http://', '')]);
    expect(l.code).to.equal(0);
    expect(l.stdout).to.contain('LISTEN').and.not.contain('ESTABLISHED');
    const u = await runCli(['ss', '-u', `${udpUrl}/connections`]);
    expect(u.stdout).to.match(/udp\s+UNCONN\s+0\s+0\s+10\.77\.0\.4:7\s+\*:\*/);
    const t = await runCli(['ss', '-t', udpUrl]);
    expect(t.stdout.trim().split('\n')).to.have.length(1); // header only
  });

  it('overlay ss: one clear line and exit 1 when the URL is unreachable', async () => {
    const port = await freeTcpPort();
    const r = await runCli(['ss', `127.0.0.1:${port}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/overlay: cannot reach the metrics endpoint at 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('the series of a closed connection disappear', async () => {
    // Both ends close (FIN each way): the server's side reaches CLOSED.
    client.proc.stdin!.end();
    server.proc.stdin!.end();
    await waitUntil(async () => !/overlay_tcp_cwnd_bytes\{/.test(await (await fetch(`${url}/metrics`)).text()), 10_000, 'the series to go');
  });
});
