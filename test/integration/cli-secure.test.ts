/**
 * The secure mode from the CLI: `overlay keygen`, `overlay cat --key ... --peer ...,key=`
 * between two processes, `--pcap` (inner, plaintext) against `--pcap-outer` (sealed), the
 * hint line when the peer's key is wrong, and the usage errors.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePcap } from '../../src/trace/pcap.js';
import { killAll, runCli, spawnCli } from '../helpers/proc.js';
import { freeTcpPort as freePort } from '../helpers/prometheus.js';

const MARKER = 'SECRET-MARKER-5b1e0c';

describe('overlay keygen and cat --key (secure mode)', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'overlay-secure-'));
  });
  afterEach(() => killAll());
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function keygen(name: string): Promise<{ file: string; pub: string }> {
    const file = join(dir, name);
    const r = await runCli(['keygen', file]);
    expect(r.code, r.stderr).to.equal(0);
    return { file, pub: r.stdout.trim() };
  }

  it('keygen writes a 0600 private key and prints its public key; never overwrites without --force', async () => {
    const k = await keygen('a.key');
    expect(statSync(k.file).mode & 0o777).to.equal(0o600);
    expect(k.pub).to.match(/^[A-Za-z0-9+/]{43}=$/);
    const pub = await runCli(['keygen', '--public', k.file]);
    expect(pub.stdout.trim()).to.equal(k.pub);
    const again = await runCli(['keygen', k.file]);
    expect(again.code).to.equal(1);
    expect(again.stderr.trim().split('\n')).to.have.length(1);
    expect(again.stderr).to.match(/EEXIST/);
    const forced = await runCli(['keygen', '--force', k.file]);
    expect(forced.code).to.equal(0);
    expect(forced.stdout.trim()).to.not.equal(k.pub);
  });

  it('cat streams through the secure mode; --pcap holds the plaintext, --pcap-outer none of it', async () => {
    const a = await keygen('ca.key');
    const b = await keygen('cb.key');
    const pa = await freePort();
    const inner = join(dir, 'inner.pcap');
    const outer = join(dir, 'outer.pcap');
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--key', b.file, '--peer', `10.77.0.2=127.0.0.1:${pa},key=${a.pub}`,
      '--pcap', inner, '--pcap-outer', outer, '-l', '5000']);
    const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
    const c = spawnCli(['cat', '--addr', '10.77.0.2', '--udp', `127.0.0.1:${pa}`, '--key', a.file,
      '--peer', `10.77.0.3=${m[1]}:${m[2]},key=${b.pub}`, '10.77.0.3', '5000']);
    const text = `${MARKER}\n`.repeat(200);
    c.proc.stdin!.end(text);
    await l.waitFor(new RegExp(`(${MARKER}\\n){200}`), { stream: 'stdout' });
    l.proc.stdin!.end();
    const [lc, cc] = await Promise.all([l.exited, c.exited]);
    expect([lc.code, cc.code], l.stderr + c.stderr).to.deep.equal([0, 0]);
    expect(l.stdout).to.equal(text);
    const innerRecs = parsePcap(readFileSync(inner)).records;
    const outerRecs = parsePcap(readFileSync(outer)).records;
    const has = (recs: Array<{ data: Buffer }>): boolean => recs.some((r) => r.data.includes(MARKER));
    expect(innerRecs.length).to.be.above(3);
    expect(outerRecs.length).to.be.at.least(innerRecs.length);
    expect(has(innerRecs), 'inner capture shows the plaintext').to.equal(true);
    expect(has(outerRecs), 'outer capture shows no plaintext').to.equal(false);
    // Outer records are IPv4/UDP between the two real ports; the first is the handshake initiation (type 1).
    const first = outerRecs[0]!.data;
    expect(first[9]).to.equal(17);
    expect(first[28]).to.equal(1);
  });

  it('a wrong peer key: the client prints one hint line naming both keys', async () => {
    const a = await keygen('wa.key');
    const b = await keygen('wb.key');
    const other = await keygen('wx.key');
    const pa = await freePort();
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--key', b.file, '--peer', `10.77.0.2=127.0.0.1:${pa},key=${a.pub}`, '-l', '5000']);
    const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
    const c = spawnCli(['cat', '--addr', '10.77.0.2', '--udp', `127.0.0.1:${pa}`, '--key', a.file,
      '--peer', `10.77.0.3=${m[1]}:${m[2]},key=${other.pub}`, '10.77.0.3', '5000']);
    const hint = await c.waitFor(/overlay: no answer to the secure handshake from .*\n/, { timeoutMs: 12_000 });
    expect(hint[0]).to.contain(other.pub);
    expect(hint[0]).to.contain(`key=${a.pub}`);
  });

  it('usage errors exit 2 with one line: key= without --key, a plain peer with --key, a bad key', async () => {
    const k = await keygen('u.key');
    const cases: Array<[string[], RegExp]> = [
      [['ping', '--addr', '10.77.0.2', '--peer', `10.77.0.3=127.0.0.1:9,key=${k.pub}`, '10.77.0.3'], /has key= but this host has no --key/],
      [['ping', '--addr', '10.77.0.2', '--key', k.file, '--peer', '10.77.0.3=127.0.0.1:9', '10.77.0.3'], /has no key= .*--allow-plain/],
      [['ping', '--addr', '10.77.0.2', '--peer', '10.77.0.3=127.0.0.1:9,key=abc', '10.77.0.3'], /is not a public key/],
      [['ping', '--addr', '10.77.0.2', '--pcap-outer', join(dir, 'x.pcap'), '10.77.0.3'], /--pcap-outer needs --key/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(re);
    }
    const missing = await runCli(['ping', '--addr', '10.77.0.2', '--key', join(dir, 'nope.key'), '-c', '1', '10.77.0.3']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr.trim().split('\n')).to.have.length(1);
  });
});
