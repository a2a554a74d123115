/**
 * Capture and trace of a real overlay TCP transfer through the lossy chaos proxy (the
 * demo's three processes): the pcap opens in tshark with valid IP and TCP checksums in
 * both directions and wall-clock timestamps; the trace renders to SVG plots.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';
import { checkSvg } from '../helpers/svg.js';
import { readPcap } from '../../src/trace/pcap.js';
import { readTrace } from '../../src/trace/trace.js';

const TSHARK = '/usr/bin/tshark';

describe('pcap and trace of a real lossy TCP transfer', function () {
  this.timeout(45_000);
  let dir: string;
  let pcap: string;
  let trace: string;
  let started: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obs-capture-'));
    pcap = join(dir, 'sender.pcap');
    trace = join(dir, 'sender.trace');
    started = Date.now();
    const r = await runCli(['demo', '--duration', '2', '--loss', '0.02', '--metrics-base', '0', '--pcap', pcap, '--trace', trace], { timeoutMs: 35_000 });
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.contain('sha256 MATCH');
  });
  after(async () => {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes LINKTYPE_RAW records of both directions with wall-clock timestamps', async () => {
    const f = await readPcap(pcap);
    expect(f.linkType).to.equal(101);
    expect(f.records.length).to.be.greaterThan(100);
    const srcs = new Set(f.records.map((r) => r.data.subarray(12, 16).join('.')));
    expect([...srcs].sort()).to.deep.equal(['10.77.0.2', '10.77.0.3']);
    for (const r of f.records) {
      expect(r.data[0]! >> 4).to.equal(4);
      expect(r.timeMs).to.be.within(started - 1000, Date.now() + 1000);
    }
    for (let i = 1; i < f.records.length; i++) expect(f.records[i]!.timeMs).to.be.at.least(f.records[i - 1]!.timeMs);
  });

  it('opens in tshark with valid IP and TCP checksums', function () {
    if (!existsSync(TSHARK)) {
      console.log(`skipped: ${TSHARK} not installed`);
      this.skip();
    }
    const r = spawnSync(
      TSHARK,
      ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'tcp.len'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status, r.stderr).to.equal(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).to.be.greaterThan(100);
    // Status 1 = good (0 = bad, 2 = unverified): every packet is verified good.
    const bad = rows.filter(([, ip, tcp]) => ip !== '1' || tcp !== '1');
    expect(bad, `packets with bad or unverified checksums: ${bad.slice(0, 3).join(' | ')}`).to.have.length(0);
    expect(rows.some(([src, , , len]) => src === '10.77.0.2' && Number(len) > 1000)).to.equal(true);
    expect(rows.some(([src]) => src === '10.77.0.3')).to.equal(true);
  });

  it("shows every payload on port 5000 as data with the README's `-d tcp.port==5000,data`", async function () {
    if (!existsSync(TSHARK)) {
      console.log(`skipped: ${TSHARK} not installed`);
      this.skip();
    }
    // A binary transfer to port 5000 (the docs' port): Wireshark's heuristics take some such
    // payloads for GSM A-bis (gsm_ipa); the README's advice shows them all as plain data.
    const cap = join(dir, 'port5000.pcap');
    const listener = spawnCli(['cat', '--addr', '10.77.0.3', '--udp', '127.0.0.1:0', '--learn', '--pcap', cap, '-l', '5000']);
    listener.proc.stdin!.end(); // nothing to send back: the listener half-closes at once
    const [, port] = await listener.waitFor(/listening 10\.77\.0\.3 udp=127\.0\.0\.1:(\d+)/);
    const sender = spawnCli(['cat', '--addr', '10.77.0.2', '--udp', '127.0.0.1:0', '--peer', `10.77.0.3=127.0.0.1:${port}`, '10.77.0.3', '5000']);
    let x = 12345; // a fixed pseudo-random payload, so every run sends the same bytes
    const payload = Buffer.alloc(64 * 1024, 0).map(() => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24));
    sender.proc.stdin!.end(payload);
    expect((await sender.exited).code, sender.stderr).to.equal(0);
    expect((await listener.exited).code, listener.stderr).to.equal(0);
    const protocols = (extra: string[]) => {
      const r = spawnSync(TSHARK, ['-r', cap, ...extra, '-Y', 'tcp.len > 0 && !tcp.analysis.flags', '-T', 'fields', '-e', 'frame.protocols'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).to.equal(0);
      return r.stdout.trim().split('\n');
    };
    const guessed = protocols([]).filter((p) => !p.endsWith(':tcp:data'));
    const decoded = protocols(['-d', 'tcp.port==5000,data']);
    expect(decoded.length).to.be.at.least(40);
    const notData = decoded.filter((p) => !p.endsWith(':tcp:data'));
    expect(notData, notData.slice(0, 3).join(' | ')).to.have.length(0);
    console.log(`      (without -d, tshark took ${guessed.length} of ${decoded.length} payloads for another protocol: ${[...new Set(guessed)].join(', ')})`);
  });

  it('records the connection events and plots them from the real transfer', async () => {
    const types = new Map<string, number>();
    let retransmits = 0;
    for await (const e of readTrace(trace)) {
      types.set(e.type, (types.get(e.type) ?? 0) + 1);
      if (e.type === 'send' && e.retransmit) retransmits++;
    }
    for (const t of ['state', 'cwnd', 'rtt', 'send', 'ack', 'recv']) expect(types.get(t) ?? 0, t).to.be.greaterThan(0);
    expect(retransmits, 'retransmissions under 2% loss').to.be.greaterThan(0);
    for (const kind of ['cwnd', 'seq', 'rtt']) {
      const out = join(dir, `${kind}.svg`);
      const r = await runCli(['plot', trace, '--kind', kind, '-o', out]);
      expect(r.code, r.stderr).to.equal(0);
      const svg = readFileSync(out, 'utf8');
      const c = checkSvg(svg);
      expect(c.polylinePoints.length).to.be.greaterThan(0);
      expect(c.texts.join('|')).to.contain('time (s)');
      if (kind === 'cwnd') expect(c.texts.join('|')).to.contain('fast recovery');
      if (kind === 'seq') expect(c.texts.join('|')).to.contain('retransmissions');
    }
  });
});
