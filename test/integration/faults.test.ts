/**
 * Faults: the path or the peer goes away, and TCP does what it should.
 *
 * - The chaos proxy (a separate `overlay proxy` process) is SIGKILLed mid-transfer and
 *   restarted on the same port after an outage shorter than the user timeout: the
 *   transfer resumes and completes with an equal sha256.
 * - The peer process (`overlay cat -l`) is SIGKILLed: when its host comes back on the same
 *   UDP port without the connection, our next segment is answered with a RST and the
 *   socket surfaces ECONNRESET; when it does not come back, ETIMEDOUT arrives within the
 *   configured user timeout.
 * - Keepalive detects a silent peer (a SIGSTOPped process: no RST, no ICMP, nothing).
 * - A partition that flaps (0.5 s out of every 2 s) during a ~8 s transfer: it completes
 *   uncorrupted.
 *
 * Timeouts are shortened (user timeout 3-15 s, max RTO 1 s) so each case stays well under
 * 30 s; the outage lengths are parameters, named in the test titles.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { Host } from '../../src/host/host.js';
import { connect, type Server, type Socket } from '../../src/net.js';
import { killAll, spawnCli, type CliChild } from '../helpers/proc.js';
import { freeTcpPort as freePort } from '../helpers/prometheus.js';
import { until } from '../helpers/real-tcp.js';
import { hashServer, sendAndDigest, sha } from '../helpers/digest.js';

const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5002;

/** Outage of the proxy in the kill/restart case (must stay below USER_TIMEOUT_MS). */
const PROXY_OUTAGE_MS = 2000;
/** Flapping partition: off for FLAP_FOR_MS at the start of every FLAP_EVERY_MS. */
const FLAP_EVERY_MS = 2000;
const FLAP_FOR_MS = 500;
const USER_TIMEOUT_MS = 3000;

/** Short timers so recovery after an outage is quick. */
const FAST = { maxRto: 1000, minRto: 200 };


describe('faults: outages, dead and silent peers, flapping partitions', function () {
  this.timeout(30_000);
  const hosts: Host[] = [];
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  let proxy: Proxy | undefined;

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) s.close();
    await proxy?.close();
    proxy = undefined;
    await killAll();
    for (const h of hosts.splice(0)) await h.close();
  });

  async function host(address: string): Promise<Host> {
    const h = await Host.create({ address });
    hosts.push(h);
    return h;
  }

  it(`the proxy is killed mid-transfer and restarted after ${PROXY_OUTAGE_MS} ms: the transfer resumes, sha256 equal`, async () => {
    const a = await host(A_ADDR);
    const b = await host(B_ADDR);
    const port = await freePort();
    const proxyArgs = [
      'proxy', '--listen', `127.0.0.1:${port}`, '--learn=false', '--rate', '40mbit',
      '--peer', `${A_ADDR}/32=127.0.0.1:${a.endpoint.port}`, '--peer', `${B_ADDR}/32=127.0.0.1:${b.endpoint.port}`,
    ];
    let p: CliChild = spawnCli(proxyArgs);
    await p.waitFor(/READY proxy listen=/, { stream: 'stdout' });
    a.addPeer('10.77.0.0/16', { address: '127.0.0.1', port });
    b.addPeer('10.77.0.0/16', { address: '127.0.0.1', port });
    const tcp = { ...FAST, userTimeout: 15_000 };
    const srv = await hashServer(b, PORT, tcp);
    servers.push(srv.server);
    const data = randomBytes(8 * 1024 * 1024);
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => resolve(s));
      s.once('error', reject);
    });
    sockets.push(sock);
    const digest = sendAndDigest(sock, data, 25_000);
    // Kill the proxy once a quarter has arrived, keep it dead for the outage, restart it.
    await until(() => srv.received() >= data.length / 4, 10_000, 'a quarter of the transfer', 5);
    p.kill('SIGKILL');
    await p.exited;
    const atKill = srv.received();
    await new Promise((r) => setTimeout(r, PROXY_OUTAGE_MS));
    expect(srv.received(), 'nothing moves while the proxy is dead').to.be.below(atKill + 256 * 1024);
    expect(srv.received()).to.be.below(data.length);
    p = spawnCli(proxyArgs);
    await p.waitFor(/READY proxy listen=/, { stream: 'stdout' });
    expect(await digest).to.equal(sha(data));
    expect(sock.getInfo()?.retransmits.rto ?? 0, 'the outage was bridged by retransmission').to.be.above(0);
  });

  /** Starts `overlay cat -l -k PORT` as host B on `udpPort`; resolves when it listens. */
  async function startPeer(udpPort: number, aPort: number): Promise<CliChild> {
    const c = spawnCli(['cat', '-l', '-k', String(PORT), '--addr', B_ADDR, '--udp', `127.0.0.1:${udpPort}`, '--peer', `${A_ADDR}=127.0.0.1:${aPort}`]);
    await c.waitFor(/listening \S+ udp=/);
    return c;
  }

  async function connectToPeer(a: Host, tcp: Record<string, unknown>): Promise<Socket> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => resolve(s));
      s.once('error', reject);
    });
    sockets.push(sock);
    return sock;
  }

  /** Waits for the socket's error (or close without one) and how long it took from `t0`. */
  function ending(sock: Socket): Promise<{ code: string | undefined; at: number }> {
    return new Promise((resolve) => {
      sock.once('error', (e: Error & { code?: string }) => resolve({ code: e.code, at: performance.now() }));
      sock.once('close', () => resolve({ code: undefined, at: performance.now() }));
    });
  }

  it('the peer process is killed and its host comes back on the same UDP port without the connection: ECONNRESET', async () => {
    const a = await host(A_ADDR);
    const udpPort = await freePort();
    a.addPeer(`${B_ADDR}/32`, { address: '127.0.0.1', port: udpPort });
    let peer = await startPeer(udpPort, a.endpoint.port);
    const sock = await connectToPeer(a, { ...FAST, userTimeout: 15_000 });
    sock.write('before the crash\n');
    await peer.waitFor(/before the crash/, { stream: 'stdout' });
    const end = ending(sock);
    peer.kill('SIGKILL');
    await peer.exited;
    peer = await startPeer(udpPort, a.endpoint.port);
    sock.write('after the restart\n');
    const r = await end;
    expect(r.code).to.equal('ECONNRESET');
    expect(peer.stdout).to.not.include('after the restart');
  });

  it(`the peer process is killed and never comes back: ETIMEDOUT within the user timeout (${USER_TIMEOUT_MS} ms)`, async () => {
    const a = await host(A_ADDR);
    const udpPort = await freePort();
    a.addPeer(`${B_ADDR}/32`, { address: '127.0.0.1', port: udpPort });
    const peer = await startPeer(udpPort, a.endpoint.port);
    const sock = await connectToPeer(a, { ...FAST, userTimeout: USER_TIMEOUT_MS });
    sock.write('hello\n');
    await peer.waitFor(/hello/, { stream: 'stdout' });
    const end = ending(sock);
    peer.kill('SIGKILL');
    await peer.exited;
    const t0 = performance.now();
    sock.write('into the void\n');
    const r = await end;
    expect(r.code).to.equal('ETIMEDOUT');
    const took = r.at - t0;
    expect(took, 'ms from the unanswered write to ETIMEDOUT').to.be.within(USER_TIMEOUT_MS - 200, USER_TIMEOUT_MS + 2000);
  });

  it('keepalive detects a silent peer (SIGSTOPped process) with idle 500 ms, 3 probes 200 ms apart', async () => {
    const a = await host(A_ADDR);
    const udpPort = await freePort();
    a.addPeer(`${B_ADDR}/32`, { address: '127.0.0.1', port: udpPort });
    const peer = await startPeer(udpPort, a.endpoint.port);
    const sock = await connectToPeer(a, { ...FAST, keepAliveInterval: 200, keepAliveProbes: 3 });
    sock.setKeepAlive(true, 500);
    const end = ending(sock);
    let ended = false;
    void end.then(() => (ended = true));
    // While the peer is alive, its answers keep the connection up across several idle periods.
    await new Promise((r) => setTimeout(r, 2000));
    expect(ended, 'an answering peer keeps the connection').to.equal(false);
    peer.kill('SIGSTOP');
    const t0 = performance.now();
    const r = await end;
    peer.kill('SIGKILL');
    expect(r.code).to.equal('ETIMEDOUT');
    // Idle 500 ms + 3 probes x 200 ms = 1.1 s, plus timer slack.
    expect(r.at - t0).to.be.below(500 + 3 * 200 + 1500);
  });

  it(`a partition flapping ${FLAP_FOR_MS} ms out of every ${FLAP_EVERY_MS} ms during an ~8 s transfer: completes, sha256 equal`, async () => {
    const a = await host(A_ADDR);
    const b = await host(B_ADDR);
    proxy = await createProxy({
      listen: '127.0.0.1:0',
      learn: false,
      seed: 1,
      peers: { [`${A_ADDR}/32`]: `127.0.0.1:${a.endpoint.port}`, [`${B_ADDR}/32`]: `127.0.0.1:${b.endpoint.port}` },
    });
    const pe = proxy.address();
    a.addPeer('10.77.0.0/16', pe);
    b.addPeer('10.77.0.0/16', pe);
    proxy.setImpairment('*', 'both', 'bottleneck', { rate: '8mbit' });
    proxy.addRule('*', { name: 'flap', stage: 'partition', schedule: { every: FLAP_EVERY_MS, for: FLAP_FOR_MS, start: 300 } });
    const tcp = { ...FAST, userTimeout: 10_000 };
    const srv = await hashServer(b, PORT, tcp);
    servers.push(srv.server);
    const data = randomBytes(6 * 1024 * 1024);
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ via: a, host: B_ADDR, port: PORT, ...tcp }, () => resolve(s));
      s.once('error', reject);
    });
    sockets.push(sock);
    const t0 = performance.now();
    const got = await sendAndDigest(sock, data, 27_000);
    const took = performance.now() - t0;
    const stats = proxy.stats();
    const dropped = Object.values(stats.links).reduce((n, l) => n + (l.up.stages['partition']?.packets.dropped ?? 0) + (l.down.stages['partition']?.packets.dropped ?? 0), 0);
    console.log(`      6 MiB in ${(took / 1000).toFixed(1)} s through the flapping partition; ${dropped} packets dropped by it; RTOs ${sock.getInfo()?.retransmits.rto ?? '?'}`);
    expect(got).to.equal(sha(data));
    expect(took, 'the transfer spanned several flaps').to.be.above(FLAP_EVERY_MS * 2);
    expect(dropped, 'the partition dropped packets').to.be.above(0);
  });
});
