/**
 * Blind in-window attacks (RFC 5961) against established connections, over real UDP.
 *
 * Layout: client A 10.77.0.2 and server B 10.77.0.3 both route the overlay through a
 * chaos proxy in router mode with static routes (no learning, so an attacker cannot
 * re-point a route). The attacker is blind: it knows the 4-tuple (the client uses a fixed
 * port) but never sees a packet, so it guesses sequence and acknowledgment numbers.
 *
 * 1. From its own UDP endpoint with inner source = A: every packet is dropped by B's
 *    anti-spoofing ('spoofed': A's address routes to the proxy, not to the attacker).
 * 2. Through the proxy (it shares the path, like a host on the same router): a campaign of
 *    RSTs, SYNs, RST+ACKs and data segments with random sequence and ack numbers in both
 *    directions, during a 2 MiB echo transfer. RFC 5961: an RST resets only when SEG.SEQ is
 *    exactly RCV.NXT (in-window RSTs and every SYN get a rate-limited challenge ACK), and data
 *    is accepted only with SEG.ACK in [SND.UNA - MAX.SND.WND, SND.NXT]. With 64 KiB windows a
 *    random data segment passes both checks with probability about 2^-32, so the byte
 *    stream must come through intact (sha256 both ways) and the connection must survive.
 * 3. An RST one byte off RCV.NXT gets a challenge ACK and changes nothing; an RST exactly at
 *    RCV.NXT resets the connection (ECONNRESET on the server socket).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { Xoshiro128 } from '../../src/chaos/prng.js';
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { ACK, encodeTcpPacket, PSH, RST, SYN } from '../../src/wire/tcp.js';

const A_ADDR = '10.77.0.2';
const B_ADDR = '10.77.0.3';
const A = parseIpv4(A_ADDR)!;
const B = parseIpv4(B_ADDR)!;
const CLIENT_PORT = 45000;
const SERVER_PORT = 7;
/** Small windows make blind data injection improbable (RFC 5961 section 10). */
const TCP_OPTS = { rcvBuf: 64 * 1024, sndBuf: 256 * 1024 };

interface Bed {
  a: Host;
  b: Host;
  proxy: Proxy;
  server: Server;
  client: Socket;
  serverSide: Socket;
  attacker: DgramSocket;
}

/** The sans-IO connection behind a socket (test-only introspection of its drop counters). */
/** A socket's connection counters: its drops and its events (RFC 5961 challenge ACKs). */
function connDrops(s: Socket): Record<string, number> {
  const c = (s as unknown as { conn?: { c?: { drops?: Record<string, number>; events?: Record<string, number> } } }).conn?.c;
  return { ...(c?.drops ?? {}), ...(c?.events ?? {}) };
}

function sumMatching(drops: Record<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(drops)) if (k.startsWith(prefix)) n += v;
  return n;
}

async function makeBed(): Promise<Bed> {
  const a = await Host.create({ address: A_ADDR });
  const b = await Host.create({ address: B_ADDR });
  const proxy = await createProxy({
    listen: '127.0.0.1:0',
    learn: false,
    peers: { [`${A_ADDR}/32`]: `127.0.0.1:${a.endpoint.port}`, [`${B_ADDR}/32`]: `127.0.0.1:${b.endpoint.port}` },
  });
  const pe = proxy.address();
  a.addPeer('10.77.0.0/16', pe);
  b.addPeer('10.77.0.0/16', pe);
  let serverSide: Socket | undefined;
  const server = createServer({ host: b, ...TCP_OPTS }, (s) => {
    serverSide = s;
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen(SERVER_PORT, r));
  const client = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ via: a, host: B_ADDR, port: SERVER_PORT, localPort: CLIENT_PORT, ...TCP_OPTS }, () => resolve(s));
    s.once('error', reject);
  });
  for (let i = 0; i < 200 && !serverSide; i++) await new Promise((r) => setTimeout(r, 5));
  if (!serverSide) throw new Error('server never accepted');
  const attacker = createSocket('udp4');
  attacker.bind(0, '127.0.0.1');
  await once(attacker, 'listening');
  return { a, b, proxy, server, client, serverSide, attacker };
}

async function closeBed(bed: Bed): Promise<void> {
  bed.client.destroy();
  bed.serverSide.destroy();
  bed.server.close();
  bed.attacker.close();
  await bed.proxy.close();
  await bed.a.close();
  await bed.b.close();
}

/** A forged segment from `src:sport` to `dst:dport`. */
function forge(src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  return encodeTcpPacket(
    { src, dst, id: seq & 0xffff },
    { srcPort: sport, dstPort: dport, seq, ack, flags, window: 65535, urgent: 0, options: {}, payload },
  );
}

/** The blind campaign: `n` random RSTs, SYNs, RST+ACKs and data segments, both directions. */
function campaign(rng: Xoshiro128, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const toServer = (rng.nextU32() & 1) === 0;
    const [src, dst, sport, dport] = toServer ? [A, B, CLIENT_PORT, SERVER_PORT] : [B, A, SERVER_PORT, CLIENT_PORT];
    const kind = rng.nextU32() % 4;
    const flags = [RST, SYN, RST | ACK, ACK | PSH][kind]!;
    const payload = kind === 3 ? randomBytes(1 + (rng.nextU32() % 1000)) : Buffer.alloc(0);
    out.push(forge(src, dst, sport, dport, rng.nextU32(), rng.nextU32(), flags, payload));
  }
  return out;
}

/** Sends packets in synchronous bursts with a return to the event loop between them. */
async function blast(sock: DgramSocket, packets: Buffer[], port: number): Promise<void> {
  for (let i = 0; i < packets.length; i += 200) {
    for (const p of packets.slice(i, i + 200)) sock.send(p, port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Writes `bytes` random bytes and resolves when the echo came back; returns both digests. */
async function echoTransfer(client: Socket, bytes: number, timeoutMs: number): Promise<{ sent: string; echoed: string }> {
  const data = randomBytes(bytes);
  const h = createHash('sha256');
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      h.update(d);
      got += d.length;
      if (got >= bytes) {
        client.off('data', onData);
        resolve();
      }
    };
    client.on('data', onData);
    client.once('error', reject);
    setTimeout(() => reject(new Error(`echo incomplete: ${got} of ${bytes} bytes after ${timeoutMs} ms`)), timeoutMs).unref();
  });
  client.write(data);
  await done;
  return { sent: createHash('sha256').update(data).digest('hex'), echoed: h.digest('hex') };
}

describe('hostile: blind in-window attacks (RFC 5961)', function () {
  this.timeout(60_000);
  let bed: Bed | undefined;

  beforeEach(async () => {
    bed = await makeBed();
  });
  afterEach(async () => {
    if (bed) await closeBed(bed);
    bed = undefined;
  });

  it('packets with a spoofed inner source from the wrong UDP endpoint are all dropped as spoofed', async () => {
    const { b, attacker, client } = bed!;
    const packets = campaign(new Xoshiro128(7), 5000).filter((p) => p.readUInt32BE(12) === A);
    const before = b.stats.drops.get('spoofed') ?? 0;
    const inBefore = b.stats.packetsIn;
    await blast(attacker, packets, b.endpoint.port);
    // Wait until every datagram was received (or counted) by B.
    const t0 = performance.now();
    while ((b.stats.drops.get('spoofed') ?? 0) - before < packets.length && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    expect((b.stats.drops.get('spoofed') ?? 0) - before).to.equal(packets.length);
    expect(b.stats.packetsIn).to.equal(inBefore);
    const r = await echoTransfer(client, 256 * 1024, 10_000);
    expect(r.echoed).to.equal(r.sent);
  });

  it('a campaign of 20,000 blind RSTs, SYNs and data segments through the shared path never corrupts the stream', async () => {
    const { proxy, attacker, client, serverSide } = bed!;
    // A fixed seed (printed below), so a failure reproduces; HOSTILE_SEED tries another.
    const seed = Number(process.env.HOSTILE_SEED ?? 20_261_204);
    const packets = campaign(new Xoshiro128(seed), 20_000);
    const pe = proxy.address();
    let closed: Error | undefined;
    client.once('close', () => (closed ??= new Error('client closed')));
    serverSide.once('close', () => (closed ??= new Error('server side closed')));
    // The transfer runs while the campaign is under way.
    const transfer = echoTransfer(client, 2 * 1024 * 1024, 40_000);
    await blast(attacker, packets, pe.port);
    const r = await transfer;
    await new Promise((res) => setTimeout(res, 200));
    const cd = connDrops(client);
    const sd = connDrops(serverSide);
    console.log(
      `      seed=${seed}: client challenge ACKs ${sumMatching(cd, 'challenge_ack_') - sumMatching(cd, 'challenge_ack_limited')} (+${sumMatching(cd, 'challenge_ack_limited')} rate-limited), ` +
        `server ${sumMatching(sd, 'challenge_ack_') - sumMatching(sd, 'challenge_ack_limited')} (+${sumMatching(sd, 'challenge_ack_limited')}); ` +
        `client drops ${JSON.stringify(cd)}`,
    );
    expect(closed, 'no reset').to.equal(undefined);
    expect(r.echoed, `sha256 of the echoed 2 MiB (seed ${seed})`).to.equal(r.sent);
    // Nothing in the campaign reached the core's catch-all.
    expect(cd.internal_error ?? 0, 'client internal errors').to.equal(0);
    expect(sd.internal_error ?? 0, 'server internal errors').to.equal(0);
    expect(client.getInfo()?.state).to.equal('ESTABLISHED');
    expect(serverSide.getInfo()?.state).to.equal('ESTABLISHED');
    // The campaign reached both ends: SYNs got (possibly rate-limited) challenge ACKs.
    expect(sumMatching(cd, 'challenge_ack_'), 'client saw blind SYNs/RSTs').to.be.above(0);
    expect(sumMatching(sd, 'challenge_ack_'), 'server saw blind SYNs/RSTs').to.be.above(0);
    // A second transfer after the campaign still works.
    const r2 = await echoTransfer(client, 256 * 1024, 10_000);
    expect(r2.echoed).to.equal(r2.sent);
  });

  it('an RST one off RCV.NXT is challenged; only the exact RCV.NXT resets (RFC 5961 3.2)', async () => {
    const { proxy, attacker, client, serverSide } = bed!;
    const pe = proxy.address();
    await echoTransfer(client, 64 * 1024, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    // Idle: what B expects next (its RCV.NXT) is A's SND.NXT.
    const rcvNxt = client.getInfo()!.sndNxt;
    const serverClosed = new Promise<Error | undefined>((resolve) => {
      serverSide.once('error', (e: Error) => resolve(e));
      serverSide.once('close', () => resolve(undefined));
    });
    const challengesBefore = sumMatching(connDrops(serverSide), 'challenge_ack_rst');
    attacker.send(forge(A, B, CLIENT_PORT, SERVER_PORT, (rcvNxt + 1) >>> 0, 0, RST, Buffer.alloc(0)), pe.port, '127.0.0.1');
    const t0 = performance.now();
    while (sumMatching(connDrops(serverSide), 'challenge_ack_rst') === challengesBefore && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    expect(sumMatching(connDrops(serverSide), 'challenge_ack_rst')).to.equal(challengesBefore + 1);
    expect(serverSide.getInfo()?.state).to.equal('ESTABLISHED');
    attacker.send(forge(A, B, CLIENT_PORT, SERVER_PORT, rcvNxt, 0, RST, Buffer.alloc(0)), pe.port, '127.0.0.1');
    const err = await Promise.race([serverClosed, new Promise<string>((r) => setTimeout(() => r('timeout'), 3000))]);
    expect(err, 'the exact RST resets the server side').to.not.equal('timeout');
    expect((err as (Error & { code?: string }) | undefined)?.code).to.equal('ECONNRESET');
  });
});
