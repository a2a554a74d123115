/**
 * The ping-pong latency bench (bench/latency.ts): its warm-up reaches the ping processes,
 * its alternating pairs report per-pair ratios, and its turn-around probe counts what a
 * process does per message. Not a speed test: these check the measurement, not a figure.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterPause, histogram, medianRatios, pairRatios } from '../../bench/latency.js';
import { slowTurnarounds, type ProbeReport, type Turnaround } from '../../bench/latency-probe.js';
import { pingReport } from '../../bench/lib/measure.js';

const LATENCY = fileURLToPath(new URL('../../bench/latency.js', import.meta.url));
const PROBE = fileURLToPath(new URL('../../bench/latency-probe.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 50_000, killSignal: 'SIGKILL', env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${String(err)}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('ping-pong latency bench', function () {
  this.timeout(60_000);

  it('a ping client counts its rounds after --warmup exchanges, not after a fixed 2,000', async () => {
    const argv = process.argv;
    process.argv = [...argv, '--warmup', '7'];
    let sends = 0;
    let reply: (() => void) | undefined;
    try {
      const r = await pingReport(
        5,
        () => {
          sends++;
          setImmediate(() => reply!());
        },
        (f) => (reply = f),
      );
      expect(r['n']).to.equal(5);
      expect(sends).to.equal(12);
    } finally {
      process.argv = argv;
    }
  });

  it('pairs a raw and an overlay run into ratios, and takes the median over the pairs', () => {
    const row = (p50: number, p99: number) => ({ transport: 't', 'p50 us': p50, 'p99 us': p99 });
    const pairs = [pairRatios(1, row(70, 120), row(91, 168)), pairRatios(2, row(70, 100), row(84, 150)), pairRatios(3, row(80, 200), row(88, 220))];
    expect(pairs.map((p) => p['p99 ratio'])).to.deep.equal([1.4, 1.5, 1.1]);
    expect(pairs[0]!['p50 ratio']).to.equal(1.3);
    const m = medianRatios(pairs);
    expect(m['p99 ratio']).to.equal(1.4);
    expect(m['p50 ratio']).to.equal(1.2);
  });

  it('the probe times each answer from the datagram that asked for it and counts the calls per message', async () => {
    const out = join(tmpdir(), `latency-probe-test-${process.pid}-${Date.now()}.json`);
    // 30 round trips on loopback; the answering side defers each answer by one setImmediate
    // and one nextTick. The probe skips the first 10 messages it sees in this process (both
    // sockets' messages count: 60 in all).
    const script = `
      import dgram from 'node:dgram';
      const a = dgram.createSocket('udp4'), b = dgram.createSocket('udp4');
      await new Promise((r) => a.bind(0, '127.0.0.1', r)); await new Promise((r) => b.bind(0, '127.0.0.1', r));
      let left = 30;
      b.on('message', (m, ri) => setImmediate(() => process.nextTick(() => b.send(m, ri.port, ri.address))));
      a.on('message', () => { if (--left > 0) a.send(Buffer.alloc(8), b.address().port, '127.0.0.1'); else { a.close(); b.close(); } });
      a.send(Buffer.alloc(8), b.address().port, '127.0.0.1');`;
    try {
      await run(['--import', PROBE, '--input-type=module', '-e', script], { LATENCY_PROBE_OUT: out, LATENCY_PROBE_SKIP: '10', LATENCY_PROBE_CPU: '1' });
      const r = JSON.parse(readFileSync(out, 'utf8')) as ProbeReport;
      expect(r.messages).to.equal(50);
      // Every message is answered by one send (the last one by none): 49 sends over 50 messages.
      expect(r.sends).to.equal(0.98);
      // Half the messages were answered through one setImmediate and one nextTick each.
      expect(r.immediates).to.be.within(0.48, 0.52);
      expect(r.ticks).to.be.at.least(0.48);
      expect(r.p50).to.be.greaterThan(0);
      expect(r.p99).to.be.at.least(r.p50);
      // The slowest 1% of 50 turn-arounds, and (LATENCY_PROBE_CPU=1) the CPU time of each.
      expect(r.slow.n).to.be.within(1, 3);
      expect(r.slow.cpuP50All).to.be.a('number');
      expect(r.slow.idleP50All).to.be.greaterThan(0);
    } finally {
      rmSync(out, { force: true });
    }
  });

  it('the slowest 1% of turn-arounds: how many overlapped a GC pause or called a timer, and the idle time before them', () => {
    // 200 turn-arounds 1 ms apart: 10 us each after 50 us idle, except two of 40 us after 2 ms
    // idle (the p99 and above): one (at 100 ms) inside a GC pause, the other (at 150 ms) with
    // a timer call. A pause that ends before a turn-around starts does not count.
    const turns: Turnaround[] = [];
    for (let i = 0; i < 200; i++) {
      const slow = i === 100 || i === 150;
      turns.push({ at: i, wall: slow ? 0.04 : 0.01, idle: slow ? 2 : 0.05, cpu: slow ? 38 : 9, timer: i === 150 || i === 10 });
    }
    const r = slowTurnarounds(turns, [[99.99, 0.02], [149, 0.5]]);
    expect(r.n).to.equal(2);
    expect(r.inGc).to.equal(1);
    expect(r.withTimer).to.equal(1);
    expect(r.idleP50).to.equal(2000);
    expect(r.idleP50All).to.equal(50);
    expect(r.wallP50).to.equal(40);
    expect(r.cpuP50).to.equal(38);
    expect(r.cpuP50All).to.equal(9);
    // Without CPU readings (-1), no CPU figures.
    expect(slowTurnarounds(turns.map((t) => ({ ...t, cpu: -1 })), []).cpuP50).to.equal(undefined);
  });

  it('the histogram counts the slow rounds that come right after another slow one', () => {
    // 300 rounds of 80 us; rounds 100-101 and 200-201 take 900 us (a stall and the round
    // after it), round 250 1000 us alone: 5 at or above the p99, 2 right after another.
    const rounds: Array<[number, number]> = [];
    for (let i = 0; i < 300; i++) rounds.push([i, i === 100 || i === 101 || i === 200 || i === 201 ? 900 : i === 250 ? 1000 : 80]);
    expect(histogram('x', rounds)).to.match(/; 2 of 5 right after another$/);
  });

  it('finds the round right after each round that overlapped a GC pause', () => {
    // 300 rounds of 80 us, 1 ms apart; pauses over rounds 100 and 200 (and one between rounds,
    // over none). The round after 100 took 200 us (above the p99), the one after 200 90 us.
    const rounds: Array<[number, number]> = [];
    for (let i = 0; i < 300; i++) rounds.push([i, i === 100 || i === 200 ? 700 : i === 101 ? 200 : i === 201 ? 90 : 80]);
    const r = afterPause(rounds, [[100.05, 0.5], [200.5, 0.1], [250.5, 0.2]]);
    expect(r).to.deep.equal({ n: 2, p50: 145, slow: 1 });
  });

  it('alternates raw and overlay runs (and with --no-direct the overlay without direct sends), passes the warm-up to the ping processes and prints the probes', async () => {
    const stdout = await run([LATENCY, '--rounds', '300', '--warmup', '100', '--repeat', '2', '--probe', '--no-alloc', '--no-pin', '--no-direct']);
    const lines = stdout.split('\n');
    const runs = lines.filter((l) => /^\| (raw dgram|overlay TCP noDelay[^|]*) +\| [0-9]/.test(l));
    const pair = ['raw dgram', 'overlay TCP noDelay', 'overlay TCP noDelay, --no-direct'];
    expect(runs.map((l) => l.split('|')[1]!.trim())).to.deep.equal([...pair, ...pair]);
    // Two tables of ratios: the overlay's and the overlay --no-direct's, each two pairs and their median.
    expect(lines.filter((l) => /^\| (1|2|median) +\|/.test(l))).to.have.length(6);
    expect(stdout).to.include('--no-direct against raw dgram:');
    // Probe rows: transport, process, messages counted after the warm-up (and the handshake).
    // The probe sees an answer sent by node:dgram and one sent directly alike.
    const probes = lines.filter((l) => /^\| (raw dgram|overlay TCP noDelay[^|]*) +\| (client|server) /.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    expect(probes).to.have.length(12);
    for (const p of probes) {
      expect(Number(p[3])).to.be.within(297, 301);
      // One datagram answers each message: the reply carries the overlay's ACK.
      expect(Number(p[7])).to.be.within(0.99, 1.01);
    }
  });
  it('a failure is one line on stderr and exit status 1, no stack trace', async () => {
    // A node option the children refuse: the first child exits at once.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [LATENCY, '--rounds', '100', '--warmup', '10', '--no-alloc', '--', '--no-such-node-flag'], { timeout: 50_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) =>
        resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stderr }),
      );
    });
    expect(r.code).to.equal(1);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('latency: '));
    expect(ours, r.stderr).to.have.length(1);
    expect(r.stderr, 'no stack trace').to.not.match(/^\s+at /m);
  });
});
