/**
 * A SYN flood of at least 50,000 spoofed SYNs per second (100,000 in total, at most 5 s)
 * from a child process, against a listener that a legitimate client uses at the same time.
 *
 * Design so that anti-spoofing does not trivially drop the flood: the listener host's
 * peer table routes 10.77.0.0/16 to the flooder's UDP endpoint (a whole subnet behind one
 * router) and only 10.77.0.2/32 to the real client. Every spoofed source in the /16 comes
 * from exactly the endpoint its address routes to, so the host accepts it and the TCP
 * listener sees the full flood: SYN cookies are what keep it reachable.
 *
 * Pass criteria: the client's 1 MiB transfer completes with an equal sha256, the SYN queue
 * never exceeds its limit and the accept queue never its backlog, heap growth stays under
 * a bound far below what 100,000 half-open connections would cost, and cookies are counted.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Host } from '../../src/host/host.js';
import { inventory, type TcpListenerSnapshot } from '../../src/metrics/inventory.js';
import { connect, createServer, TcpStack, type Server } from '../../src/net.js';

const FLOOD_SCRIPT = fileURLToPath(new URL('../../examples/syn-flood.js', import.meta.url));
const SERVER_ADDR = '10.77.0.3';
const CLIENT_ADDR = '10.77.0.2';
const PORT = 5001;
const BACKLOG = 64;
/** The listener's SYN-queue limit for this backlog (Listener default: max(backlog, 128)). */
const SYN_QUEUE_LIMIT = Math.max(BACKLOG, 128);
const SYNS = 100_000;
const RATE = 100_000;
const MAX_FLOOD_MS = 5_000;
const HEAP_BOUND = 128 * 1024 * 1024;
const HELLO = Buffer.from('HELLO\n');

function listenerSnapshot(): TcpListenerSnapshot | undefined {
  for (const s of inventory.sources()) {
    for (const l of s.tcpListeners?.() ?? []) if (l.localPort === PORT && l.localAddress === SERVER_ADDR) return l;
  }
  return undefined;
}

describe('SYN flood: SYN cookies keep a listener reachable', function () {
  this.timeout(60_000);
  let child: ChildProcess | undefined;
  let server: Server | undefined;
  const hosts: Host[] = [];

  afterEach(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
    server?.close();
    server = undefined;
    for (const h of hosts.splice(0)) await h.close();
  });

  it(`${SYNS} spoofed SYNs at >= 50k/s while a legitimate client transfers 1 MiB`, async () => {
    const b = await Host.create({ address: SERVER_ADDR, recvBufferSize: 8 << 20 });
    const a = await Host.create({ address: CLIENT_ADDR });
    hosts.push(a, b);
    a.addPeer(`${SERVER_ADDR}/32`, b.endpoint);
    b.addPeer(`${CLIENT_ADDR}/32`, a.endpoint);

    // The protocol: the client says HELLO, the server answers OK, the client sends 1 MiB and
    // ends, the server answers with the sha256 of what followed HELLO. Client speaks first
    // with one small segment: if the ACK carrying the cookie is lost in the flood, that
    // segment (SEG.SEQ = ISN + 1, so it carries the cookie too) is retransmitted until it
    // gets through. A client that blasted a whole window at once could see only later
    // segments arrive, fail the cookie check and be reset: see docs/hardening.md.
    server = createServer({ host: b }, (s) => {
      const h = createHash('sha256');
      let greeted = false;
      let head = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        if (greeted) {
          h.update(d);
          return;
        }
        head = Buffer.concat([head, d]);
        if (head.length < HELLO.length) return;
        greeted = true;
        s.write('OK');
        h.update(head.subarray(HELLO.length));
      });
      s.on('end', () => s.end(h.digest('hex')));
      s.on('error', () => {});
    });
    server.on('error', () => {});
    await new Promise<void>((r) => server!.listen({ port: PORT, backlog: BACKLOG }, r));

    // Start the flooder and route the /16 to it.
    const flooder = spawn(
      process.execPath,
      [FLOOD_SCRIPT, '--role', 'flooder', '--target', `127.0.0.1:${b.endpoint.port}`, '--dst', SERVER_ADDR, '--port', String(PORT),
        '--exclude', CLIENT_ADDR, '--syns', String(SYNS), '--rate', String(RATE), '--max-ms', String(MAX_FLOOD_MS)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child = flooder;
    let out = '';
    let err = '';
    flooder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    flooder.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => flooder.on('close', (code) => r(code)));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`flooder did not start: ${err}`)), 10_000);
      const check = (): void => {
        const m = /flooder udp=127\.0\.0\.1:(\d+)/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      };
      flooder.stderr!.on('data', check);
      check();
    });
    b.addPeer('10.77.0.0/16', { address: '127.0.0.1', port });

    const heap0 = process.memoryUsage().heapUsed;
    let heapPeak = heap0;
    let synQueuePeak = 0;
    let acceptQueuePeak = 0;
    const sampler = setInterval(() => {
      const l = listenerSnapshot();
      if (l) {
        synQueuePeak = Math.max(synQueuePeak, l.synQueue);
        acceptQueuePeak = Math.max(acceptQueuePeak, l.acceptQueue);
      }
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }, 5);

    flooder.stdin!.write('go\n');
    // Let the flood fill the SYN queue before the legitimate client arrives.
    const t0 = performance.now();
    while (performance.now() - t0 < 3000 && (listenerSnapshot()?.synQueue ?? 0) < SYN_QUEUE_LIMIT) await new Promise((r) => setTimeout(r, 5));
    const queueFullWhenClientCame = listenerSnapshot()?.synQueue ?? 0;

    const payload = randomBytes(1024 * 1024);
    const want = createHash('sha256').update(payload).digest('hex');
    const tc = performance.now();
    const got = await new Promise<string>((resolve, reject) => {
      const sock = connect({ via: a, host: SERVER_ADDR, port: PORT }, () => sock.write(HELLO));
      let reply = '';
      sock.on('data', (d: Buffer) => {
        reply += d.toString();
        if (reply === 'OK') {
          reply = '';
          sock.end(payload);
        }
      });
      sock.on('end', () => resolve(reply));
      sock.on('error', reject);
      setTimeout(() => reject(new Error('legitimate transfer did not complete within 40 s')), 40_000).unref();
    });
    const transferMs = performance.now() - tc;
    const code = await exited;
    clearInterval(sampler);

    const m = /flood sent=(\d+) ms=(\d+) synacks=(\d+)/.exec(out);
    expect(code, `flooder exit status; stderr: ${err}`).to.equal(0);
    expect(m, `flooder report: ${out}`).to.not.equal(null);
    const sent = Number(m![1]);
    const floodMs = Number(m![2]);
    const totals = TcpStack.for(b).stats();
    console.log(
      `      flood: ${sent} SYNs in ${floodMs} ms (${Math.round(sent / (floodMs / 1000))}/s); listener saw ${totals.segmentsIn} segments; ` +
        `syn_cookie ${totals.events.syn_cookie}; SYN queue peak ${synQueuePeak}/${SYN_QUEUE_LIMIT} (${queueFullWhenClientCame} when the client came); ` +
        `accept queue peak ${acceptQueuePeak}/${BACKLOG}; 1 MiB in ${transferMs.toFixed(0)} ms; heap +${((heapPeak - heap0) / 1048576).toFixed(1)} MiB peak`,
    );
    expect(sent).to.equal(SYNS);
    // The flooder is a load generator on a shared machine: when the machine is overloaded
    // (load average above 1.5 per CPU) it cannot get the CPU for 50k sends/s, and the
    // bound drops to 20k/s (said in the output). Alone it sends well over 200k/s.
    const overloaded = loadavg()[0]! > cpus().length * 1.5;
    const minRate = overloaded ? 20_000 : 50_000;
    if (overloaded) console.log(`      (machine overloaded: load ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs; flood-rate bound lowered to ${minRate}/s)`);
    expect(sent / (floodMs / 1000), 'flood rate, SYNs/s').to.be.at.least(minRate);
    expect(got, 'sha256 of the legitimate 1 MiB as the server received it').to.equal(want);
    expect(queueFullWhenClientCame, 'the flood had filled the SYN queue').to.equal(SYN_QUEUE_LIMIT);
    expect(synQueuePeak).to.be.at.most(SYN_QUEUE_LIMIT);
    expect(acceptQueuePeak).to.be.at.most(BACKLOG);
    expect(totals.events.syn_cookie, 'SYN cookies issued').to.be.above(1000);
    expect(heapPeak - heap0).to.be.below(HEAP_BOUND);
  });
});
