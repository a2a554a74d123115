/**
 * The secure overlay over real loopback UDP: two Hosts with keys exchange TCP through an
 * in-test UDP relay that records every outer datagram (the "wire") and can rebind its
 * upstream socket (a NAT changing the client's port mid-transfer).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fc from 'fast-check';
import { Host, type HostOptions } from '../../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import { newKeyPair } from '../../src/secure/keys.js';
import { SecureCore } from '../../src/secure/core.js';
import type { SecureSnapshot } from '../../src/secure/host-options.js';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { sendAndDigest, sha } from '../helpers/digest.js';
import { until } from '../helpers/real-tcp.js';

const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const PORT = 5003;
const MARKER = Buffer.from('<<PLAINTEXT-MARKER-7f3a9c>>');

/** A UDP relay: clients talk to `listen`; it forwards to `upstream` from its own socket. */
class Relay {
  readonly wire: Buffer[] = [];
  record = true;
  private up!: dgram.Socket;
  private client: { address: string; port: number } | undefined;
  upstream: { address: string; port: number } | undefined;
  rebinds = 0;
  private constructor(readonly listen: dgram.Socket) {}
  static async open(): Promise<Relay> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const r = new Relay(s);
    s.on('message', (m, rinfo) => {
      r.client = { address: rinfo.address, port: rinfo.port };
      if (r.record) r.wire.push(Buffer.from(m));
      if (r.upstream) r.up.send(m, r.upstream.port, r.upstream.address);
    });
    await r.bindUp();
    return r;
  }
  get port(): number {
    return this.listen.address().port;
  }
  get upPort(): number {
    return this.up.address().port;
  }
  private async bindUp(): Promise<void> {
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    u.on('message', (m) => {
      if (this.record) this.wire.push(Buffer.from(m));
      if (this.client) this.listen.send(m, this.client.port, this.client.address);
    });
    this.up = u;
  }
  /** The upstream socket closes and a new one (another port) takes over, like a NAT rebinding. */
  async rebind(): Promise<void> {
    const old = this.up;
    await this.bindUp();
    old.close();
    this.rebinds++;
  }
  close(): void {
    this.listen.close();
    try {
      this.up.close();
    } catch {
      // already closed
    }
  }
}

function sec(h: Host): SecureSnapshot {
  const s = h.snapshot().secure;
  if (!s) throw new Error('not a secure host');
  return s;
}

/** Data with the marker every 1000 bytes, so any plaintext leak would show it. */
function markedData(bytes: number): Buffer {
  const b = randomBytes(bytes);
  for (let o = 0; o + MARKER.length < bytes; o += 1000) MARKER.copy(b, o);
  return b;
}

describe('secure: the overlay over real UDP', function () {
  this.timeout(30_000);
  const hosts: Host[] = [];
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const relays: Relay[] = [];
  let proxy: Proxy | undefined;
  const keyA = newKeyPair();
  const keyB = newKeyPair();

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) s.close();
    for (const r of relays.splice(0)) r.close();
    await proxy?.close();
    proxy = undefined;
    for (const h of hosts.splice(0)) await h.close();
  });

  async function host(o: HostOptions): Promise<Host> {
    const h = await Host.create(o);
    hosts.push(h);
    return h;
  }

  function hashServer(h: Host): Promise<Server> {
    const server = createServer({ host: h }, (s) => {
      const d = createHash('sha256');
      s.on('data', (x: Buffer) => d.update(x));
      s.on('end', () => s.end(d.digest('hex')));
      s.on('error', () => {});
    });
    server.on('error', () => {});
    servers.push(server);
    return new Promise((resolve) => server.listen(PORT, () => resolve(server)));
  }

  function dial(a: Host, opts: Record<string, unknown> = {}): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const s = connect({ via: a, host: B_ADDR, port: PORT, ...opts }, () => resolve(s));
      sockets.push(s);
      s.once('error', reject);
    });
  }

  /** A (client) -> relay -> B (server), both secure; B knows A only by key. */
  async function relayed(extra: Partial<HostOptions> = {}): Promise<{ a: Host; b: Host; relay: Relay }> {
    const relay = await Relay.open();
    relays.push(relay);
    const a = await host({
      address: A_ADDR,
      key: keyA.privateKey,
      peers: [{ prefix: B_ADDR, endpoint: { address: '127.0.0.1', port: relay.port }, publicKey: keyB.publicKey }],
      ...extra,
    });
    const b = await host({
      address: B_ADDR,
      key: keyB.privateKey,
      peers: [{ prefix: A_ADDR, endpoint: a.endpoint, publicKey: keyA.publicKey }],
      ...extra,
    });
    relay.upstream = b.endpoint;
    return { a, b, relay };
  }

  it('a 2 MiB transfer arrives intact, and no outer datagram carries the plaintext marker', async () => {
    const { a, b, relay } = await relayed();
    await hashServer(b);
    const data = markedData(2 * 1024 * 1024);
    expect(data.includes(MARKER)).to.equal(true);
    const sock = await dial(a);
    expect(await sendAndDigest(sock, data, 20_000)).to.equal(sha(data));
    expect(relay.wire.length).to.be.above(1000);
    const leaked = relay.wire.filter((d) => d.includes(MARKER)).length;
    expect(leaked, 'datagrams with the marker').to.equal(0);
    // Every datagram is a secure message (type 1, 2 or 4), none a plain IPv4 packet.
    expect(relay.wire.filter((d) => d[0]! >> 4 === 4)).to.have.length(0);
    expect(a.mtu).to.equal(1472 - 32);
    expect(sec(a).events.handshakes_completed).to.equal(1);
    expect(sec(b).events.handshakes_completed).to.equal(1);
  });

  it('a flipped bit, a truncated datagram, a replay and a packet from an unknown key are dropped and counted', async () => {
    const { a, b, relay } = await relayed();
    expect(await a.ping(B_ADDR, { seq: 1, timeoutMs: 3000 })).to.be.a('number');
    await a.ping(B_ADDR, { seq: 2, timeoutMs: 3000 });
    const data = relay.wire.filter((d) => d[0] === 4 && d.length > 60);
    const d = data.at(-2)!;
    const from = { address: '127.0.0.1', port: relay.upPort };
    const before = b.stats.packetsIn;
    const flipped = Buffer.from(d);
    flipped[d.length - 20] ^= 0x10;
    b.link.deliver(flipped, from);
    b.link.deliver(d.subarray(0, 24), from);
    b.link.deliver(d, from); // replay of an accepted datagram
    // A third host with a key B does not list.
    const stranger = newKeyPair();
    const c = await host({
      address: '10.77.0.9',
      key: stranger.privateKey,
      peers: [{ prefix: B_ADDR, endpoint: b.endpoint, publicKey: keyB.publicKey }],
      secure: { timers: { rekeyTimeoutMs: 100_000 } },
    });
    await c.ping(B_ADDR, { seq: 1, timeoutMs: 300 }).catch(() => {});
    await until(() => (sec(b).drops.unknown_key ?? 0) >= 1, 3000, 'unknown_key', 5);
    expect(sec(b).drops).to.deep.equal({ bad_mac: 1, truncated: 1, replay: 1, unknown_key: 1 });
    expect(b.stats.packetsIn).to.equal(before);
    // The same counters as Prometheus sees them.
    const text = await createMetrics({ sources: () => [{ host: () => b.snapshot() }] }).registry.metrics();
    for (const r of ['bad_mac', 'truncated', 'replay', 'unknown_key']) {
      expect(text).to.contain(`overlay_secure_dropped_packets_total{reason="${r}"} 1\n`);
    }
    expect(text).to.match(/overlay_secure_events_total\{event="handshakes_completed"\} 1\n/);
  });

  it('under a flood of initiations the server sends cookie replies instead of handshakes; a real client still connects (its retry carries mac2) and transfers, sha256 equal', async () => {
    // The server is under load above 2 initiations a second; the per-address limit is out
    // of the way (everything here comes from 127.0.0.1). The client retries after 300 ms.
    const b = await host({
      address: B_ADDR,
      key: keyB.privateKey,
      secure: { cookieThreshold: 2, handshakeRate: 1000, handshakeBurst: 1000 },
      peers: [{ prefix: A_ADDR, endpoint: { address: '127.0.0.1', port: 9 }, publicKey: keyA.publicKey }],
    });
    await hashServer(b);
    // Strangers who know B's public key (valid mac1), flooding from one UDP socket.
    const flood = dgram.createSocket('udp4');
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', () => r()));
    const strangerKeys = [newKeyPair(), newKeyPair()];
    let n = 0;
    /** One initiation from a stranger: a fresh core each time (a core sends one per handshake). */
    const initiation = (): Buffer => {
      const k = strangerKeys[n % 2]!;
      const sent: Buffer[] = [];
      const core = new SecureCore({ privateKey: Buffer.from(k.privateKey, 'base64'), peers: [{ publicKey: Buffer.from(keyB.publicKey, 'base64'), endpoint: b.endpoint }] }, { transmit: (d) => sent.push(Buffer.from(d)), deliver: () => {} });
      core.send(Buffer.alloc(40, 0x45), b.endpoint.port, b.endpoint.address, 0);
      return sent[0]!;
    };
    const burst = (): void => {
      for (let i = 0; i < 4; i++, n++) flood.send(initiation(), b.endpoint.port, '127.0.0.1');
    };
    burst();
    await until(() => sec(b).drops.handshake_under_load !== undefined, 3000, 'the server under load', 5);
    const timer = setInterval(burst, 50); // bounded: cleared below, and by the test's timeout at worst
    try {
      const a = await host({ address: A_ADDR, key: keyA.privateKey, secure: { timers: { rekeyTimeoutMs: 300 } }, peers: [{ prefix: B_ADDR, endpoint: b.endpoint, publicKey: keyB.publicKey }] });
      const sock = await dial(a, { maxRto: 1000 });
      const data = randomBytes(256 * 1024);
      expect(await sendAndDigest(sock, data, 10_000)).to.equal(sha(data));
      expect(sec(a).events.cookies_received, 'the client got a cookie').to.be.at.least(1);
      expect(sec(a).drops).to.deep.equal({});
    } finally {
      clearInterval(timer);
      flood.close();
    }
    // Every stranger's initiation got a DH or a cookie reply (the client's first one too).
    expect(sec(b).events.cookie_replies_sent).to.be.at.least(n - 3);
    expect(sec(b).drops.handshake_under_load).to.equal(sec(b).events.cookie_replies_sent);
    // The strangers' handshakes that did get a DH (before the load began) failed on their unknown keys.
    expect(sec(b).events.handshake_dh).to.equal((sec(b).drops.unknown_key ?? 0) + 1);
  });

  it('a client with the wrong server key cannot connect: connect fails with EHOSTUNREACH, and the server counts the bad handshake', async () => {
    const relay = await Relay.open();
    relays.push(relay);
    const wrong = newKeyPair();
    const fast = { timers: { rekeyTimeoutMs: 200, rekeyAttemptTimeMs: 1000 } };
    const a = await host({
      address: A_ADDR,
      key: keyA.privateKey,
      peers: [{ prefix: B_ADDR, endpoint: { address: '127.0.0.1', port: relay.port }, publicKey: wrong.publicKey }],
      secure: fast,
    });
    const b = await host({ address: B_ADDR, key: keyB.privateKey, peers: [{ prefix: A_ADDR, endpoint: a.endpoint, publicKey: keyA.publicKey }] });
    relay.upstream = b.endpoint;
    await hashServer(b);
    const events: string[] = [];
    if ('onEvent' in a.link) (a.link as unknown as { onEvent(cb: (e: { type: string }) => void): void }).onEvent((e) => events.push(e.type));
    const t0 = performance.now();
    const err = await dial(a).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).to.equal('EHOSTUNREACH');
    expect(performance.now() - t0).to.be.below(5000);
    expect(events).to.include('handshake_unanswered');
    expect(events).to.include('handshake_failed');
    // The wrong key makes a wrong mac1: refused before any Diffie-Hellman.
    expect(sec(b).drops.handshake_bad_mac1).to.be.at.least(1);
    expect(sec(b).events.handshake_dh).to.equal(0);
    expect(sec(a).events.handshakes_failed).to.equal(1);
  });

  it("a transfer survives the client's UDP endpoint changing mid-way (the relay rebinds), sha256 equal", async () => {
    const { a, b, relay } = await relayed();
    await hashServer(b);
    relay.record = false;
    const data = randomBytes(4 * 1024 * 1024);
    const sock = await dial(a);
    const digest = await sendAndDigest(sock, data, 25_000, () => void relay.rebind());
    expect(digest).to.equal(sha(data));
    expect(relay.rebinds).to.equal(1);
    // The first packet moved B's view of A from A's own port to the relay's; the rebind once more.
    expect(sec(b).events.roams).to.equal(2);
    expect(sec(b).drops).to.deep.equal({});
  });

  it('rekeying every 400 messages and 300 ms during an 8 MiB transfer loses nothing', async () => {
    // Rekeys every 400 messages come far faster than WireGuard's real ones, so the responder's
    // initiation rate limit (20/s, burst 5: a DoS guard) is raised to let each one through, and an
    // unanswered initiation is retried after 1 s, so a response slowed by a loaded machine is not
    // overtaken by a retry (whose late response would then be a stale index).
    const timers = { rekeyAfterMessages: 400, rekeyAfterTimeMs: 300, rekeyTimeoutMs: 1000 };
    const { a, b, relay } = await relayed({ secure: { timers, handshakeRate: 200, handshakeBurst: 50 } });
    relay.record = false;
    await hashServer(b);
    const data = randomBytes(8 * 1024 * 1024);
    const sock = await dial(a);
    expect(await sendAndDigest(sock, data, 25_000)).to.equal(sha(data));
    const rekeys = sec(a).events.rekeys! + sec(b).events.rekeys!;
    expect(rekeys).to.be.at.least(10);
    expect(sec(a).drops).to.deep.equal({});
    expect(sec(b).drops).to.deep.equal({});
  });

  it('through the chaos proxy (relay mode: 2% loss, duplication, reordering, corruption each way): 3 MiB intact, sha256 equal; every corrupted datagram dropped by the secure mode, none reaches a host', async () => {
    // A lost handshake message is resent after 1 s, not WireGuard's 5 s: the connect (SYN
    // retries up to maxRto 1 s) must outlast two lost initiations on this lossy path.
    const secure = { timers: { rekeyTimeoutMs: 1000 } };
    const b = await host({ address: B_ADDR, key: keyB.privateKey, secure, peers: [{ prefix: A_ADDR, endpoint: { address: '127.0.0.1', port: 9 }, publicKey: keyA.publicKey }] });
    proxy = await createProxy({ listen: '127.0.0.1:0', upstream: `127.0.0.1:${b.endpoint.port}`, seed: 7 });
    proxy.setImpairment('*', 'both', 'loss', { p: 0.02 });
    proxy.setImpairment('*', 'both', 'duplicate', { p: 0.02 });
    proxy.setImpairment('*', 'both', 'reorder', { p: 0.02 });
    proxy.setImpairment('*', 'both', 'corrupt', { p: 0.02 });
    const a = await host({ address: A_ADDR, key: keyA.privateKey, secure, peers: [{ prefix: B_ADDR, endpoint: proxy.address(), publicKey: keyB.publicKey }] });
    await hashServer(b);
    const data = randomBytes(3 * 1024 * 1024);
    const sock = await dial(a, { maxRto: 1000, minRto: 200 });
    expect(await sendAndDigest(sock, data, 28_000)).to.equal(sha(data));
    const verdicts = (stage: 'corrupt' | 'duplicate', v: 'corrupted' | 'duplicated'): number => {
      let n = 0;
      for (const l of Object.values(proxy!.stats().links)) n += (l.up.stages[stage]?.packets[v] ?? 0) + (l.down.stages[stage]?.packets[v] ?? 0);
      return n;
    };
    const corrupted = verdicts('corrupt', 'corrupted');
    const duplicated = verdicts('duplicate', 'duplicated');
    expect(corrupted, 'the proxy corrupted datagrams').to.be.above(0);
    expect(duplicated, 'the proxy duplicated datagrams').to.be.above(0);
    const drops: Record<string, number> = {};
    for (const h of [a, b]) for (const [r, n] of Object.entries(sec(h).drops)) drops[r] = (drops[r] ?? 0) + n;
    // A flipped bit in the ciphertext, tag or counter fails the tag (bad_mac); in the type
    // or index it finds no message or session; in a handshake message its mac1. Duplicates
    // are refused by the replay window. Nothing else is dropped.
    const corruptionReasons = ['bad_mac', 'bad_type', 'unknown_index', 'counter_limit', 'plain_not_allowed', 'handshake_bad_mac1', 'truncated'];
    for (const r of Object.keys(drops)) expect([...corruptionReasons, 'replay', 'handshake_replay'], `drop reason ${r}`).to.include(r);
    expect(drops.bad_mac ?? 0, 'corrupted datagrams fail the tag').to.be.above(0);
    expect(drops.replay ?? 0, 'duplicated datagrams refused').to.be.above(0);
    const corruptionDrops = corruptionReasons.reduce((x, r) => x + (drops[r] ?? 0), 0);
    // unknown_index may also be a duplicate of a handshake response; everything else needs a corrupted datagram.
    expect(corruptionDrops - (drops.unknown_index ?? 0), 'no more corruption drops than corrupted datagrams').to.be.at.most(corrupted);
    expect((drops.replay ?? 0) + (drops.handshake_replay ?? 0), 'no more replays than duplicates').to.be.at.most(duplicated);
    // Not one corrupted packet got past the secure mode: no host saw a malformed packet
    // (what the hosts drop is TCP's: old duplicates of reordered segments, PAWS).
    const malformed = /^(ip|tcp|udp|icmp)_(bad_|truncated|fragment)/;
    for (const h of [a, b]) for (const r of Object.keys(h.snapshot().drops)) expect(r, 'host drop reason').not.to.match(malformed);
  });

  it('random and mutated datagrams into a secure host never throw: each is dropped and counted or (if intact) accepted', async () => {
    const { a, b, relay } = await relayed();
    for (let i = 0; i < 5; i++) await a.ping(B_ADDR, { seq: i, timeoutMs: 3000 });
    const samples = relay.wire.slice();
    const from = { address: '127.0.0.1', port: relay.upPort };
    fc.assert(
      fc.property(fc.nat({ max: samples.length - 1 }), fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.boolean(), (i, junk, pos, useJunk) => {
        const d = useJunk ? Buffer.from(junk) : Buffer.from(samples[i]!);
        if (!useJunk && d.length) d[pos % d.length] ^= 1 + (pos % 255);
        const dropsBefore = Object.values(sec(b).drops).reduce((x, y) => x + y, 0);
        const inBefore = b.stats.packetsIn + b.totalDrops();
        b.link.deliver(d, from);
        const dropsAfter = Object.values(sec(b).drops).reduce((x, y) => x + y, 0);
        const inAfter = b.stats.packetsIn + b.totalDrops();
        expect(dropsAfter - dropsBefore + (inAfter - inBefore), 'exactly one outcome').to.equal(1);
      }),
      { numRuns: 2000 },
    );
    expect(b.stats.drops.get('internal_error') ?? 0).to.equal(0);
    expect(sec(b).drops.internal_error ?? 0).to.equal(0);
  });
});

describe('secure: the node:crypto fallback when sodium-native does not load', function () {
  this.timeout(30_000);
  it('a process without sodium-native (OVERLAY_SECURE_AEAD=node:crypto) warns once on stderr, counts aead_fallback, and talks to a sodium-native process', async () => {
    // Two processes: the child runs the fallback, this one sodium-native; a ping crosses both ways.
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const hostJs = fileURLToPath(new URL('../../src/host/host.js', import.meta.url));
    const keysJs = fileURLToPath(new URL('../../src/secure/keys.js', import.meta.url));
    const ka = newKeyPair();
    const kb = newKeyPair();
    const b = await Host.create({ address: B_ADDR, key: kb.privateKey, peers: [{ prefix: A_ADDR, endpoint: { address: '127.0.0.1', port: 9 }, publicKey: ka.publicKey }] });
    const script = `
      import { Host } from ${JSON.stringify(hostJs)};
      await import(${JSON.stringify(keysJs)});
      const a = await Host.create({ address: '${A_ADDR}', key: '${ka.privateKey}', peers: [{ prefix: '${B_ADDR}', endpoint: { address: '127.0.0.1', port: ${b.endpoint.port} }, publicKey: '${kb.publicKey}' }] });
      for (let i = 0; i < 3; i++) await a.ping('${B_ADDR}', { seq: i, timeoutMs: 5000 });
      process.stdout.write(JSON.stringify(a.snapshot().secure) + '\\n');
      await a.close();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, OVERLAY_SECURE_AEAD: 'node:crypto' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code, err).to.equal(0);
      const snap = JSON.parse(out.trim()) as SecureSnapshot;
      // 3 echo requests sealed and 3 replies opened by the fallback (plus keepalives, if any).
      expect(snap.events.aead_fallback).to.be.at.least(6);
      expect(snap.events.aead_fallback).to.equal(snap.events.sealed! + snap.events.opened!);
      expect(snap.drops).to.deep.equal({});
      // One process warning (Node adds its one-time --trace-warnings hint after the first).
      const lines = err
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('(Use `node --trace-warnings'));
      expect(lines, err).to.have.length(1);
      expect(lines[0]).to.match(/OVERLAY_AEAD_FALLBACK.*sodium-native did not load .*OVERLAY_SECURE_AEAD=node:crypto/);
      // This side ran sodium-native and opened what the fallback sealed.
      expect(sec(b).events.aead_fallback).to.equal(0);
      expect(sec(b).events.opened).to.be.at.least(3);
      expect(sec(b).drops).to.deep.equal({});
    } finally {
      child.kill();
      await b.close();
    }
  });
});
