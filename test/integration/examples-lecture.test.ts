/**
 * The lecture demonstrations (each a one-process program with its own overlay hosts on
 * 127.0.0.1): the handshake diagram, ports, flow control, stop-and-wait versus sliding
 * window, and the congestion-control race. Each test checks what the program observed on
 * the wire or measured, not just that it ran.
 */
import { expect } from 'chai';
import { killTracked, spawnExample } from '../helpers/netns.js';

/** Lines "10.77.0.2:49500 -> 10.77.0.3:7  SYN  seq=0 ..." as [src, dst, flags, rest]. */
function segments(out: string): Array<{ src: string; dst: string; flags: string; rest: string }> {
  const re = /^\s*[\d.]+ ms  (\S+) -> (\S+)  (\S+)  (.*)$/gm;
  return [...out.matchAll(re)].map((m) => ({ src: m[1]!, dst: m[2]!, flags: m[3]!, rest: m[4]! }));
}

describe('examples: lecture demonstrations', function () {
  this.timeout(30_000);
  afterEach(killTracked);

  it('handshake prints SYN, SYN-ACK, ACK, the data and its ACKs, then FIN / ACK / FIN / ACK', async function () {
    const r = spawnExample('handshake', ['--message', 'hello']);
    expect(await r.exited, r.stderr).to.equal(0);
    const segs = segments(r.stdout);
    const c = '10.77.0.2:49500';
    const s = '10.77.0.3:7';
    expect(segs.slice(0, 3).map((x) => `${x.src} ${x.flags}`)).to.deep.equal([`${c} SYN`, `${s} SYN-ACK`, `${c} ACK`]);
    // Relative numbers: each ISN is 0, the SYN consumes one sequence number.
    expect(segs[0]!.rest).to.match(/^seq=0 win=\d+ \(abs \d+\)  <MSS \d+, WS \d+, SACK_PERM, TS val=\d+ ecr=0>/);
    expect(segs[1]!.rest).to.match(/^seq=0 ack=1 .*<MSS \d+/);
    expect(segs[2]!.rest).to.match(/^seq=1 ack=1 /);
    // The data each way (5 bytes) and an acknowledgment of the client's data.
    const data = segs.filter((x) => /len=5/.test(x.rest));
    expect(data.map((x) => x.src)).to.include.members([c, s]);
    expect(segs.some((x) => x.src === s && /ack=6/.test(x.rest))).to.equal(true);
    // The four-segment teardown, client first.
    expect(segs.slice(-4).map((x) => `${x.src} ${x.flags}`)).to.deep.equal([`${c} FIN-ACK`, `${s} ACK`, `${s} FIN-ACK`, `${c} ACK`]);
    expect(r.stdout).to.contain('  |  --SYN seq=0');
  });

  it('ports: UDP and TCP services on the same port both answer; ephemeral ports come from 49152-65535', async function () {
    const r = spawnExample('ports', ['--port', '7']);
    expect(await r.exited, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('dynamic (ephemeral)  49152-65535');
    const udp = [...r.stdout.matchAll(/udp  10\.77\.0\.2:(\d+) .*<- udp service on 10\.77\.0\.3:7 got "ping \d"/g)];
    const tcp = [...r.stdout.matchAll(/tcp  10\.77\.0\.2:(\d+) .*<- tcp service on 10\.77\.0\.3:7 got "hello \d"/g)];
    expect(udp).to.have.length(3);
    expect(tcp).to.have.length(3);
    for (const m of [...udp, ...tcp]) expect(Number(m[1])).to.be.within(49152, 65535);
    // /etc/services: either the lookup or the statement that it is absent.
    expect(r.stdout).to.match(/echo: 7\/tcp|is absent on this system/);
  });

  it('ports says so when the services file is absent', async function () {
    const r = spawnExample('ports', ['--services', '/nonexistent/services']);
    expect(await r.exited, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('/nonexistent/services is absent on this system');
  });

  it('flow-control: the window closes to zero, the sender probes, the window reopens, all data arrives', async function () {
    const r = spawnExample('flow-control', ['--kib', '256', '--rcvbuf', '65536', '--pause', '1000']);
    expect(await r.exited, r.stdout + r.stderr).to.equal(0);
    const segs = segments(r.stdout);
    const zero = segs.findIndex((x) => x.src.endsWith(':5001') && / win=0 /.test(x.rest));
    expect(zero, r.stdout).to.be.greaterThan(-1);
    const probe = r.stdout.indexOf('PERSIST PROBE #1');
    expect(probe, r.stdout).to.be.greaterThan(r.stdout.indexOf('ZERO WINDOW'));
    expect(r.stdout.indexOf('WINDOW REOPENS')).to.be.greaterThan(probe);
    // Receiver SWS avoidance: the first non-zero window after the zero is at least min(MSS, buffer/2).
    const reopen = /win=(\d+) .*WINDOW REOPENS \(\d+ >= min\(MSS (\d+), buffer\/2 (\d+)\)/.exec(r.stdout);
    expect(reopen, r.stdout).to.not.equal(null);
    expect(Number(reopen![1])).to.be.at.least(Math.min(Number(reopen![2]), Number(reopen![3])));
    const probes = Number(/persist probes seen on the wire: (\d+)/.exec(r.stdout)?.[1]);
    expect(probes).to.be.at.least(1);
    expect(r.stdout).to.contain('262144 of 262144 bytes arrived, sha256 match');
  });

  it('stop-and-wait: TFTP and TCP deliver the same file through the impaired path; TCP is faster at 20 ms RTT', async function () {
    const r = spawnExample('stop-and-wait', ['--kib', '16', '--rtt', '20', '--loss', '0.01', '--seed', '7']);
    expect(await r.exited, r.stdout + r.stderr).to.equal(0);
    const matches = [...r.stdout.matchAll(/sha256 recv ([0-9a-f]{64}) match/g)].map((m) => m[1]);
    expect(matches).to.have.length(2);
    expect(matches[0]).to.equal(matches[1]);
    const sw = Number(/stop-and-wait \(TFTP\/UDP\): .* = ([\d.]+) KiB\/s/.exec(r.stdout)?.[1]);
    const tcp = Number(/sliding window \(TCP\): .* = ([\d.]+) KiB\/s/.exec(r.stdout)?.[1]);
    expect(sw).to.be.greaterThan(0);
    // Stop-and-wait cannot beat one 512-byte block per RTT: 25 KiB/s at 20 ms.
    expect(sw).to.be.below(25.1);
    expect(tcp).to.be.greaterThan(sw);
    expect(r.stdout).to.match(/throughput ratio: [\d.]+x/);
  });

  it('congestion-race: three algorithms share one bottleneck, the table refreshes, all flows move data', async function () {
    const r = spawnExample('congestion-race', ['--duration', '2', '--cc', 'reno,cubic,bbr', '--rate', '20mbit', '--rtt', '20']);
    expect(await r.exited, r.stdout + r.stderr).to.equal(0);
    const tables = [...r.stdout.matchAll(/^t=[\d.]+s/gm)];
    expect(tables.length).to.be.at.least(2);
    expect(r.stdout).to.match(/flow +cwnd +ssthresh +srtt +goodput +total +retrans/);
    expect(r.stdout).to.contain('Grafana');
    for (const cc of ['reno', 'cubic', 'bbr']) {
      const m = new RegExp(`^  ${cc} +:\\d+ +([\\d.]+) (B|KiB|MiB) .* share ([\\d.]+)%$`, 'm').exec(r.stdout);
      expect(m, `${cc} final line in ${r.stdout}`).to.not.equal(null);
      expect(Number(m![1])).to.be.greaterThan(0);
      expect(Number(m![3])).to.be.greaterThan(0);
    }
  });
});
