/**
 * `overlay perf` between two processes on real loopback UDP: text output with -P 4, the
 * -J document with -P 4, -R and --bidir checked against its own interval sums,
 * --json-stream, -O, a server that keeps serving after a client dies (and says busy
 * meanwhile), and the one-line errors.
 */
import { expect } from 'chai';
import type { PerfReport as Report } from '../../src/apps/perf/client.js';
import { killAll, runCli, spawnCli, type CliChild } from '../helpers/proc.js';

const total = (xs: Array<{ bytes: number }>): number => xs.reduce((a, x) => a + x.bytes, 0);

describe('overlay perf between processes', function () {
  this.timeout(60_000);
  let server: CliChild;
  let udp: string;
  let nextAddr = 10;

  before(async () => {
    server = spawnCli(['perf', '-s', '--addr', '10.77.0.3', '--learn']);
    udp = (await server.waitFor(/listening \S+ udp=([\d.]+:\d+) port=5201/))[1]!;
  });
  after(killAll);

  /** Client args with a fresh overlay address (the server learns one route per address). */
  const client = (...args: string[]): string[] => ['perf', '-c', '10.77.0.3', '--addr', `10.77.1.${nextAddr++}`, '--peer', `10.77.0.3=${udp}`, ...args];

  async function json(...args: string[]): Promise<Report> {
    const r = await runCli(client('-J', ...args), { timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as Report;
  }

  /** Each interval's sums add up its streams; the streams' non-omitted bytes add up to the local end figures. */
  function checkIntervals(rep: Report, localSends: (socket: number) => boolean): void {
    for (const iv of rep.intervals) {
      const fwd = iv.streams.filter((s) => s.sender === iv.sum.sender);
      expect(iv.sum.bytes, 'sum = its streams').to.equal(total(fwd));
      if (iv.sum_bidir_reverse) expect(iv.sum_bidir_reverse.bytes).to.equal(total(iv.streams.filter((s) => s.sender === iv.sum_bidir_reverse!.sender)));
      for (const s of iv.streams) {
        if (s.sender && s.seconds > 0) {
          expect(s.snd_cwnd, 'cwnd of a sending stream').to.be.above(0);
          expect(s.rtt, 'rtt of a sending stream (us)').to.be.above(0);
        }
      }
    }
    for (const pair of rep.end.streams) {
      const id = pair.sender.socket;
      const mine = localSends(id) ? pair.sender : pair.receiver;
      const fromIntervals = total(rep.intervals.flatMap((iv) => iv.streams.filter((s) => s.socket === id && !s.omitted)));
      expect(fromIntervals, `stream ${id}: intervals vs end`).to.equal(mine.bytes);
      expect(pair.receiver.bytes, `stream ${id}: every byte sent arrived`).to.equal(pair.sender.bytes);
      expect(pair.sender.bytes).to.be.above(0);
    }
    const c = rep.end.cpu_utilization_percent;
    expect(c['host_total']).to.be.above(0);
    expect(c['remote_total']).to.be.above(0);
  }

  it('text mode with -P 4: interval lines per stream and SUM, sender/receiver summary, both CPUs', async () => {
    const r = await runCli(client('-t', '2', '-P', '4'), { timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).to.equal('Connecting to host 10.77.0.3, port 5201');
    expect(lines.filter((l) => / connected to 10\.77\.0\.3 port 5201$/.test(l))).to.have.length(4);
    expect(lines).to.include('[ ID] Interval           Transfer          Bitrate  Retr         Cwnd        RTT');
    const row = /^\[ {2}[1-4]\] +[\d.]+-[\d.]+ +sec +[\d.]+ [KMG]?Bytes +[\d.]+ [KMG]?bits\/sec +\d+ +[\d.]+ [KMG]?Bytes +[\d.]+ ms$/;
    expect(lines.filter((l) => row.test(l)).length).to.be.at.least(8);
    expect(lines.filter((l) => /^\[SUM\] /.test(l)).length).to.be.at.least(2 + 2);
    expect(lines.filter((l) => / sender$/.test(l))).to.have.length(5);
    expect(lines.filter((l) => / receiver$/.test(l))).to.have.length(5);
    expect(r.stdout).to.match(/CPU Utilization: local\/sender [\d.]+% \([\d.]+%u\/[\d.]+%s\), remote\/receiver [\d.]+% /);
    expect(lines).to.include('perf Done.');
    await server.waitFor(/Accepted connection from 10\.77\.1\.\d+, port \d+/, { stream: 'stdout' });
  });

  it('-J with -P 4: iperf3 fields, consistent with its own intervals', async () => {
    const rep = await json('-t', '2', '-P', '4', '-i', '0.5', '--cc', 'bbr');
    expect(rep.start.test_start).to.include({ num_streams: 4, reverse: 0, bidir: 0, duration: 2 });
    expect(rep.start.connected).to.have.length(4);
    expect(rep.intervals.length).to.be.at.least(4);
    for (const iv of rep.intervals) expect(iv.streams).to.have.length.at.most(4);
    checkIntervals(rep, () => true);
    expect(rep.end.sum_sent.bytes).to.equal(total(rep.intervals.map((iv) => iv.sum)));
    expect(rep.end.sum_received.bytes).to.equal(rep.end.sum_sent.bytes);
    const ivRtx = rep.intervals.reduce((a, iv) => a + (iv.sum.retransmits ?? 0), 0);
    expect(ivRtx).to.be.at.most(rep.end.sum_sent.retransmits!);
    expect(rep.end.sum_sent.bits_per_second).to.be.closeTo((rep.end.sum_sent.bytes * 8) / rep.end.sum_sent.seconds, 1);
    // --cc picks the congestion control of the client's (sending) streams; the server's is its default.
    expect(rep.end.sender_tcp_congestion).to.equal('bbr');
    expect(rep.end.receiver_tcp_congestion).to.equal('cubic');
  });

  it('-R -J -P 2: the server sends; the client reports receiver intervals', async () => {
    const rep = await json('-t', '1.5', '-P', '2', '-R', '--cc', 'reno');
    expect(rep.start.test_start.reverse).to.equal(1);
    for (const iv of rep.intervals) for (const s of iv.streams) expect(s.sender).to.equal(false);
    checkIntervals(rep, () => false);
    expect(rep.end.sum_received.bytes).to.equal(total(rep.intervals.map((iv) => iv.sum)));
    expect(rep.end.sum_sent.sender).to.equal(false);
    expect(rep.end.streams.every((p) => typeof p.sender.retransmits === 'number')).to.equal(true);
    // The server sends with its own congestion control (-s --cc); the client's --cc is its receiving streams'.
    expect(rep.end.sender_tcp_congestion).to.equal('cubic');
    expect(rep.end.receiver_tcp_congestion).to.equal('reno');
  });

  it('--bidir -J: both directions at once, sum and sum_bidir_reverse', async () => {
    const rep = await json('-t', '1.5', '-P', '2', '--bidir');
    expect(rep.end.streams).to.have.length(4);
    checkIntervals(rep, (id) => id <= 2);
    expect(rep.end.sum_sent.bytes).to.equal(total(rep.intervals.map((iv) => iv.sum)));
    expect(rep.end.sum_received_bidir_reverse!.bytes).to.equal(total(rep.intervals.flatMap((iv) => (iv.sum_bidir_reverse ? [iv.sum_bidir_reverse] : []))));
    expect(rep.end.sum_sent_bidir_reverse!.bytes).to.equal(rep.end.sum_received_bidir_reverse!.bytes);
    expect(rep.end.sum_sent_bidir_reverse!.bytes).to.be.above(0);
  });

  it('-O omits the first seconds from the totals; --json-stream prints one event per line', async () => {
    const rep = await json('-t', '1', '-O', '0.5', '-i', '0.25');
    expect(rep.intervals.filter((iv) => iv.sum.omitted).length).to.be.at.least(1);
    expect(rep.end.sum_sent.bytes).to.equal(total(rep.intervals.filter((iv) => !iv.sum.omitted).map((iv) => iv.sum)));
    const r = await runCli(client('--json-stream', '-t', '1', '-i', '0.5'), { timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; data: unknown });
    expect(events[0]!.event).to.equal('start');
    expect(events[events.length - 1]!.event).to.equal('end');
    expect(events.slice(1, -1).every((e) => e.event === 'interval')).to.equal(true);
    expect(events.length).to.be.at.least(4);
    // -i 0: no intervals at all, the totals still there.
    const quiet = await json('-t', '0.5', '-i', '0');
    expect(quiet.intervals).to.deep.equal([]);
    expect(quiet.end.sum_sent.bytes).to.be.above(0);
  });

  it('keeps serving after a client dies; says busy meanwhile', async () => {
    const victim = spawnCli(client('-t', '20', '-i', '0.2'));
    await victim.waitFor(/^\[ {2}1\] /m, { stream: 'stdout', timeoutMs: 15_000 });
    const busy = await runCli(client('-t', '1'), { timeoutMs: 20_000 });
    expect(busy.code).to.equal(1);
    expect(busy.stderr.trim()).to.equal('overlay: perf: the server is busy running a test, try again later');
    victim.kill('SIGKILL');
    await server.waitFor(/perf: test abandoned: /, { stream: 'stdout', timeoutMs: 20_000 });
    const rep = await json('-t', '1');
    expect(rep.end.sum_received.bytes).to.be.above(0);
  });

  it('a closed stdout ends the client quietly (exit 0, nothing on stderr); the server goes on', async () => {
    const abandonedBefore = (server.stdout.match(/perf: test abandoned: /g) ?? []).length;
    const c = spawnCli(client('-t', '20', '-i', '0.2'));
    await c.waitFor(/^\[ {2}1\] +0\.00-/m, { stream: 'stdout', timeoutMs: 15_000 });
    c.proc.stdout!.destroy();
    const exit = await Promise.race([c.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 10_000))]);
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(c.stderr).to.equal('');
    // The client reset its connections, so the server gives the test up at once.
    const t0 = Date.now();
    while ((server.stdout.match(/perf: test abandoned: /g) ?? []).length === abandonedBefore) {
      expect(Date.now() - t0, 'the server to abandon the test').to.be.below(10_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await json('-t', '1')).end.sum_sent.bytes).to.be.above(0);
  });

  it('rejects bad input with one line: usage errors exit 2, a refused connection exits 1', async () => {
    const base = ['--addr', '10.77.0.2'];
    const cases: Array<[string[], RegExp]> = [
      [['perf', ...base], /perf needs -s \(server\) or -c DEST \(client\)/],
      [['perf', '-s', '-c', '10.77.0.3', ...base], /-s and -c cannot be used together/],
      [['perf', '-c', 'web', ...base], /'web' is not an overlay IPv4 address/],
      [['perf', '-c', '10.77.0.3', '-P', '0', ...base], /--parallel: 0 is out of range/],
      [['perf', '-c', '10.77.0.3', '-P', '500', ...base], /--parallel: 500 is out of range/],
      [['perf', '-c', '10.77.0.3', '-t', '0', ...base], /--time: 0 is out of range/],
      [['perf', '-c', '10.77.0.3', '-t', 'ten', ...base], /--time: 'ten' is not a number/],
      [['perf', '-c', '10.77.0.3', '-i', '0.01', ...base], /--interval: 0.01 is below 0.1/],
      [['perf', '-c', '10.77.0.3', '-l', '0', ...base], /--length: 0 is out of range/],
      [['perf', '-c', '10.77.0.3', '-R', '--bidir', ...base], /-R and --bidir cannot be used together/],
      [['perf', '-c', '10.77.0.3', '--cc', 'vegas', ...base], /--cc: 'vegas' is not one of/],
      [['perf', '-c', '10.77.0.3', '-p', '0', ...base], /--port: 0 is out of range/],
      [['perf', '-s', '-t', '5', ...base], /option --time applies to the client \(-c\) only/],
      [['perf', '-s', '--bogus', ...base], /unknown option --bogus/],
    ];
    for (const [args, re] of cases) {
      const res = await runCli(args, { timeoutMs: 10_000 });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).to.equal(2);
      expect(res.stderr.trimEnd().split('\n'), args.join(' ')).to.have.length(1);
      expect(res.stderr).to.match(/^overlay: /).and.to.match(re);
    }
    const refused = await runCli(client('-p', '5999', '-t', '1'), { timeoutMs: 10_000 });
    expect(refused.code).to.equal(1);
    expect(refused.stderr.trim()).to.equal('overlay: connect ECONNREFUSED 10.77.0.3:5999');
  });
});
