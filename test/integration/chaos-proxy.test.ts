/**
 * The chaos proxy over real loopback UDP: raw sockets play the hosts and exchange IPv4
 * packets built with src/wire through the router; a foreign protocol through the relay;
 * the HTTP API changes behaviour live; metrics; the CLI starts, prints READY and rejects
 * bad flags with one line and exit status 2.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { registerChaosMetrics } from '../../src/chaos/metrics.js';
import { readDecisionLog } from '../../src/chaos/decision-log.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { decodeIpv4, IPPROTO_ICMP } from '../../src/wire/ipv4.js';
import { decodeUdp, encodeUdpPacket } from '../../src/wire/udp.js';
import { ACK, PSH, decodeTcp, encodeTcpPacket } from '../../src/wire/tcp.js';
import { decodeIcmp, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED } from '../../src/wire/icmp.js';
import { internetChecksum } from '../../src/wire/checksum.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const A = parseIpv4('10.77.0.2')!;
const B = parseIpv4('10.77.0.3')!;

/** A raw UDP socket playing an overlay host; collects what it receives. */
class RawHost {
  readonly got: Buffer[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      this.got.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(): Promise<RawHost> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new RawHost(s);
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(data: Buffer, port: number): void {
    this.sock.send(data, port, '127.0.0.1');
  }
  /** Resolves when `count` packets have arrived in total; rejects after `ms`. */
  async waitFor(count: number, ms = 3000): Promise<Buffer[]> {
    const deadline = Date.now() + ms;
    while (this.got.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${this.got.length}/${count} packets`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.got;
  }
  close(): void {
    this.sock.close();
  }
}

function udp(src: number, dst: number, payload: string, ttl = 64): Buffer {
  return encodeUdpPacket({ src, dst, id: 7, ttl }, { srcPort: 1000, dstPort: 2000, payload: Buffer.from(payload) });
}

/** Waits until `cond()` holds (checked on every tick of 5 ms), bounded. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('chaos proxy over loopback UDP', function () {
  this.timeout(20000);
  let proxy: Proxy | undefined;
  let hosts: RawHost[] = [];
  let tmp: string | undefined;
  const children: ChildProcess[] = [];

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    for (const h of hosts) h.close();
    hosts = [];
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  /** Two hosts that have introduced themselves to a learning router. */
  async function routerWithHosts(cfg: Record<string, unknown> = {}): Promise<[RawHost, RawHost, number]> {
    proxy = await createProxy({ listen: '127.0.0.1:0', seed: 1, ...cfg });
    const port = proxy.address().port;
    const a = await RawHost.open();
    const b = await RawHost.open();
    hosts.push(a, b);
    // B speaks first: A is unknown, so B gets ICMP net unreachable; B is now learned.
    b.send(udp(B, A, 'hello?'), port);
    const [unreach] = await b.waitFor(1);
    const ip = decodeIpv4(unreach!);
    expect(ip.ok && ip.header.protocol === IPPROTO_ICMP).to.equal(true);
    if (ip.ok) {
      const icmp = decodeIcmp(ip.payload);
      expect(icmp.ok && icmp.message.type === ICMP_DEST_UNREACH).to.equal(true);
    }
    b.got.length = 0;
    return [a, b, port];
  }

  it('router: forwards by inner destination, learning routes, TTL decremented with a valid checksum', async () => {
    const [a, b, port] = await routerWithHosts();
    a.send(udp(A, B, 'ping one'), port);
    const [pkt] = await b.waitFor(1);
    const ip = decodeIpv4(pkt!);
    expect(ip.ok).to.equal(true);
    if (!ip.ok) return;
    expect(ip.header.ttl).to.equal(63);
    expect(internetChecksum(pkt!, 0, 20)).to.equal(0);
    const u = decodeUdp(ip.payload, ip.header.src, ip.header.dst);
    expect(u.ok && u.datagram.payload.toString()).to.equal('ping one');
    // And back: A was learned from its packet.
    b.send(udp(B, A, 'pong'), port);
    const back = await a.waitFor(1);
    const ip2 = decodeIpv4(back[0]!);
    expect(ip2.ok && ip2.header.src === B).to.equal(true);
    expect(proxy!.links().map((l) => l.name)).to.deep.equal(['10.77.0.2-10.77.0.3']);
  });

  it('router: TTL 1 is answered with ICMP time exceeded from the router address', async () => {
    const [a, , port] = await routerWithHosts();
    a.send(udp(A, B, 'expire', 1), port);
    const [pkt] = await a.waitFor(1);
    const ip = decodeIpv4(pkt!);
    expect(ip.ok).to.equal(true);
    if (!ip.ok) return;
    expect(ip.header.src).to.equal(parseIpv4('10.77.255.254'));
    const icmp = decodeIcmp(ip.payload);
    expect(icmp.ok && icmp.message.type).to.equal(ICMP_TIME_EXCEEDED);
    expect(proxy!.stats().drops.ttl_expired).to.equal(1);
  });

  it('router: corrupted packets fail the receiver\'s inner checksum, outer UDP intact', async () => {
    const [a, b, port] = await routerWithHosts();
    proxy!.setImpairment('*', 'both', 'corrupt', { p: 1 });
    for (let i = 0; i < 10; i++) a.send(udp(A, B, `datagram ${i}`), port);
    const tcp = encodeTcpPacket({ src: A, dst: B, id: 3 }, { srcPort: 5, dstPort: 6, seq: 1, ack: 1, flags: ACK | PSH, window: 1000, urgent: 0, options: {}, payload: Buffer.from('data!') });
    a.send(tcp, port);
    const got = await b.waitFor(11);
    const reasons = got.map((p) => {
      const ip = decodeIpv4(p);
      if (!ip.ok) return ip.reason;
      const r = ip.header.protocol === 6 ? decodeTcp(ip.payload, ip.header.src, ip.header.dst) : decodeUdp(ip.payload, ip.header.src, ip.header.dst);
      return r.ok ? 'ok' : r.reason;
    });
    expect(reasons.slice(0, 10)).to.deep.equal(new Array(10).fill('udp_bad_checksum'));
    expect(reasons[10]).to.equal('tcp_bad_checksum');
  });

  it('router: MTU with icmp answers a DF packet with fragmentation needed; the bottleneck paces in real time', async () => {
    const [a, b, port] = await routerWithHosts();
    proxy!.setImpairment('*', 'up', 'mtu', { mtu: 100, icmp: true });
    a.send(udp(A, B, 'x'.repeat(200)), port);
    const [pkt] = await a.waitFor(1);
    const ip = decodeIpv4(pkt!);
    const icmp = ip.ok ? decodeIcmp(ip.payload) : undefined;
    expect(icmp?.ok && [icmp.message.type, icmp.message.code, icmp.message.rest]).to.deep.equal([ICMP_DEST_UNREACH, 4, 100]);
    expect(b.got).to.have.length(0);
    proxy!.clearStage('*', 'mtu');
    // 20 packets of 1250 bytes at 2 Mbit/s: 5 ms each, so the last leaves >= 95 ms after the first arrives.
    proxy!.setImpairment('*', 'up', 'bottleneck', { rate: '2mbit', queue: 100 });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) a.send(udp(A, B, 'y'.repeat(1222)), port);
    await b.waitFor(20);
    const elapsed = performance.now() - t0;
    expect(elapsed).to.be.at.least(90);
    expect(elapsed).to.be.below(2000);
    expect(b.got.every((p) => p.length === 1250)).to.equal(true);
  });

  it('HTTP API: loss 1.0 stops the flow, reset lets it flow again; bad values are 400', async () => {
    const [a, b, port] = await routerWithHosts({ api: '127.0.0.1:0' });
    const api = `http://127.0.0.1:${proxy!.apiAddress!.port}`;
    const post = (path: string, body?: unknown) => fetch(api + path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });
    let r = await post('/links/*/stages/loss', { direction: 'both', params: { p: 1 } });
    expect(r.status).to.equal(200);
    for (let i = 0; i < 20; i++) a.send(udp(A, B, `lost ${i}`), port);
    const lane = () => proxy!.stats().links['10.77.0.2-10.77.0.3']?.up;
    await until(() => (lane()?.packetsIn ?? 0) === 20);
    expect(b.got).to.have.length(0);
    expect(lane()!.stages.loss!.packets.dropped).to.equal(20);
    r = await post('/reset');
    expect(r.status).to.equal(204);
    for (let i = 0; i < 5; i++) a.send(udp(A, B, `flows ${i}`), port);
    await b.waitFor(5);
    // Bad value: 400 with a JSON error; unknown toxic: 404.
    r = await post('/links/*/stages/loss', { params: { p: 2 } });
    expect(r.status).to.equal(400);
    expect(((await r.json()) as { error: string }).error).to.match(/p must be in 0..1/);
    r = await post('/links/*/toxics', { stage: 'loss', match: { flags: 'SA', count: 1 }, name: 'sa' });
    expect(r.status).to.equal(200);
    expect(((await r.json()) as { name: string }).name).to.equal('sa');
    r = await post('/links/*/toxics', { stage: 'loss', name: 'sa' });
    expect(r.status).to.equal(400);
    r = await fetch(`${api}/links/*/toxics/nope`, { method: 'DELETE' });
    expect(r.status).to.equal(404);
    r = await fetch(`${api}/links/*/toxics/sa`, { method: 'DELETE' });
    expect(r.status).to.equal(204);
    const links = (await (await fetch(`${api}/links`)).json()) as Array<{ name: string }>;
    expect(links.map((l) => l.name)).to.deep.equal(['10.77.0.2-10.77.0.3']);
  });

  it('metrics: per-stage counters and queue gauges in a passed-in Registry', async () => {
    const [a, b, port] = await routerWithHosts();
    proxy!.setImpairment('*', 'up', 'loss', { drop: [2, 4] });
    proxy!.setImpairment('*', 'up', 'bottleneck', { rate: '100mbit', queue: 10 });
    for (let i = 0; i < 6; i++) a.send(udp(A, B, `m${i}`), port);
    await b.waitFor(4);
    const registry = new Registry();
    registerChaosMetrics(registry, proxy!);
    const text = await registry.metrics();
    expect(text).to.include('overlay_chaos_packets_total{link="10.77.0.2-10.77.0.3",direction="up",stage="loss",verdict="dropped"} 2');
    expect(text).to.include('overlay_chaos_packets_total{link="10.77.0.2-10.77.0.3",direction="up",stage="loss",verdict="passed"} 4');
    expect(text).to.match(/overlay_chaos_bytes_total\{[^}]*stage="loss",verdict="dropped"\} \d+/);
    expect(text).to.include('overlay_chaos_queue_packets{link="10.77.0.2-10.77.0.3",direction="up"} 0');
    expect(text).to.include('overlay_chaos_queue_delay_seconds');
  });

  it('--metrics: serves /metrics with the chaos series', async () => {
    const [a, b, port] = await routerWithHosts({ metrics: '127.0.0.1:0' });
    proxy!.setImpairment('*', 'up', 'duplicate', { p: 1 });
    a.send(udp(A, B, 'twice'), port);
    await b.waitFor(2);
    const res = await fetch(`http://127.0.0.1:${proxy!.metricsAddress!.port}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.include('overlay_chaos_packets_total{link="10.77.0.2-10.77.0.3",direction="up",stage="duplicate",verdict="duplicated"} 1');
    expect(text).to.include('overlay_chaos_link_packets_total{link="10.77.0.2-10.77.0.3",direction="up",way="out"} 2');
  });

  it('relay: carries a foreign UDP protocol (arbitrary bytes) both ways, with delay', async () => {
    const upstream = await RawHost.open();
    hosts.push(upstream);
    upstream.sock.on('message', (m, r) => upstream.sock.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    proxy = await createProxy({ listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}`, seed: 2 });
    proxy.setImpairment('*', 'both', 'delay', { ms: 25 });
    const client = await RawHost.open();
    hosts.push(client);
    const payload = Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42]);
    const t0 = performance.now();
    client.send(payload, proxy.address().port);
    const [reply] = await client.waitFor(1);
    const rtt = performance.now() - t0;
    expect(reply!.equals(Buffer.concat([Buffer.from('echo:'), payload]))).to.equal(true);
    expect(rtt).to.be.at.least(49);
    expect(proxy.links()[0]!.name).to.equal(`127.0.0.1:${client.port}`);
    expect(proxy.links()[0]!.up.stages.delay!.packets.delayed).to.equal(1);
  });

  it('writes a decision log that reads back', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'chaos-'));
    const path = join(tmp, 'decisions.msgpack');
    const [a, b, port] = await routerWithHosts({ log: path, seed: 5 });
    proxy!.setImpairment('*', 'up', 'loss', { p: 0.5 });
    for (let i = 0; i < 40; i++) a.send(udp(A, B, `x${i}`), port);
    await until(() => (proxy!.stats().links['10.77.0.2-10.77.0.3']?.up.packetsIn ?? 0) === 40);
    await proxy!.close();
    proxy = undefined;
    const { header, decisions } = readDecisionLog(path);
    expect(header.seed).to.equal(5);
    expect(decisions).to.have.length(40);
    expect(decisions.filter((d) => d.v === 'passed').length).to.equal(b.got.length);
  });

  it('replays a recorded decision log: the same traffic gets the same verdicts under another seed', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'chaos-'));
    const path = join(tmp, 'rec.msgpack');
    const runOnce = async (cfg: Record<string, unknown>): Promise<string[]> => {
      const [a, b, port] = await routerWithHosts(cfg);
      proxy!.setImpairment('*', 'up', 'loss', { p: 0.5 });
      for (let i = 0; i < 60; i++) a.send(udp(A, B, `r${i}`), port);
      await until(() => (proxy!.stats().links['10.77.0.2-10.77.0.3']?.up.packetsIn ?? 0) === 60);
      const passed = proxy!.stats().links['10.77.0.2-10.77.0.3']!.up.packetsOut;
      await b.waitFor(passed);
      await proxy!.close();
      proxy = undefined;
      for (const h of hosts) h.close();
      hosts = [];
      return b.got.map((p) => {
        const ip = decodeIpv4(p);
        return ip.ok ? ip.payload.subarray(8).toString() : '?';
      });
    };
    const recorded = await runOnce({ seed: 11, log: path });
    const replayed = await runOnce({ seed: 12, replay: path });
    const fresh = await runOnce({ seed: 12 });
    expect(recorded.length).to.be.within(10, 50);
    expect(replayed).to.deep.equal(recorded);
    expect(fresh).to.not.deep.equal(recorded);
  });

  it('CLI: overlay proxy prints READY and overlay chaos changes it; bad flags exit 2 with one line', async () => {
    const child = spawn(process.execPath, [MAIN, 'proxy', '--listen', '127.0.0.1:0', '--api', '127.0.0.1:0', '--seed', '3', '--loss', '0.01'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const ready = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error(`no READY: ${buf}`)), 8000);
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const line = buf.split('\n').find((l) => l.startsWith('READY'));
        if (line) {
          clearTimeout(t);
          resolve(line);
        }
      });
    });
    expect(ready).to.match(/^READY proxy listen=127\.0\.0\.1:\d+ mode=router seed=3 api=127\.0\.0\.1:\d+ metrics=-$/);
    const api = /api=(\S+)/.exec(ready)![1]!;
    const cli = (...args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [MAIN, 'chaos', '--api', api, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(c);
        let out = '';
        let err = '';
        c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        c.on('close', (code) => resolve({ code: code ?? -1, out, err }));
      });
    let r = await cli('set', 'loss', '0.02', '--link', '10.77.0.2-10.77.0.3', '--dir', 'up');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include('"p": 0.02');
    r = await cli('set', 'loss', '2');
    expect(r.code).to.equal(2);
    expect(r.err.trim().split('\n')).to.have.length(1);
    expect(r.err).to.match(/p must be in 0\.\.1/);
    r = await cli('show', '*');
    expect(r.code).to.equal(0);
    expect(r.out).to.include('loss-up');
    r = await cli('reset');
    expect(r.code).to.equal(0);
    const bad = await new Promise<{ code: number; err: string }>((resolve) => {
      const c = spawn(process.execPath, [MAIN, 'proxy', '--listen', '127.0.0.1:0', '--loss', 'lots'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code: code ?? -1, err }));
    });
    expect(bad.code).to.equal(2);
    expect(bad.err.trim().split('\n')).to.have.length(1);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).to.equal(0);
    const down = await cli('links');
    expect(down.code).to.equal(1);
    expect(down.err).to.match(/cannot reach the chaos API/);
    expect(existsSync(MAIN)).to.equal(true);
  });
});
