/**
 * `overlay cat` over TCP between separate processes on real loopback UDP: 64 MiB each way
 * at once (full duplex, MTU 65000) and 8 MiB each way at MTU 1472, sha256 compared; the
 * exit statuses and the one-line errors for refused connections.
 *
 * Files, not pipes through this process: each cat reads its stdin from a file and writes
 * its stdout to a file, so the test process does not compete for the two CPUs.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, killAll, runCli, spawnCli } from '../helpers/proc.js';
import { freeTcpPort } from '../helpers/prometheus.js';

const live = new Set<ChildProcess>();

interface Cat {
  proc: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
  waitStderr(re: RegExp, ms: number): Promise<RegExpMatchArray>;
}

/** `overlay cat ARGS < stdinFile > stdoutFile`. */
function cat(args: string[], stdinFile: string, stdoutFile: string): Cat {
  const inFd = openSync(stdinFile, 'r');
  const outFd = openSync(stdoutFile, 'w');
  const proc = spawn(process.execPath, [CLI_PATH, 'cat', ...args], { stdio: [inFd, outFd, 'pipe'] });
  closeSync(inFd);
  closeSync(outFd);
  live.add(proc);
  const c: Cat = {
    proc,
    stderr: '',
    exited: new Promise((resolve) => proc.on('close', (code) => (live.delete(proc), resolve(code)))),
    waitStderr(re, ms) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${c.stderr}`)), ms);
        const check = (): void => {
          const m = c.stderr.match(re);
          if (m) {
            clearTimeout(t);
            proc.stderr!.off('data', check);
            resolve(m);
          }
        };
        proc.stderr!.on('data', check);
        proc.once('close', () => {
          clearTimeout(t);
          reject(new Error(`exited before ${re}; stderr: ${c.stderr}`));
        });
        check();
      });
    },
  };
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (c.stderr += d));
  return c;
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('overlay cat over TCP between processes', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'overlay-cat-tcp-'));
  });
  afterEach(async () => {
    for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    live.clear();
    await killAll();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function transfer(bytes: number, mtu: number, bound: number): Promise<void> {
    const aIn = join(dir, `a-in-${mtu}`);
    const bIn = join(dir, `b-in-${mtu}`);
    const aOut = join(dir, `a-out-${mtu}`);
    const bOut = join(dir, `b-out-${mtu}`);
    writeFileSync(aIn, randomBytes(bytes));
    writeFileSync(bIn, randomBytes(bytes));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const common = ['--mtu', String(mtu)];
    const b = cat([...common, '--addr', '10.77.0.3', '--learn', '-l', String(port)], bIn, bOut);
    const m = await b.waitStderr(/listening \S+ udp=([\d.]+):(\d+)/, 10_000);
    const a = cat([...common, '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '10.77.0.3', String(port)], aIn, aOut);
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const codes = await Promise.race([
      Promise.all([a.exited, b.exited]),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`transfer not done in ${bound} ms; a: ${a.stderr} b: ${b.stderr}`)), bound);
      }),
    ]).finally(() => clearTimeout(timer));
    const secs = (Date.now() - t0) / 1000;
    expect(codes, `exit codes; a: ${a.stderr} b: ${b.stderr}`).to.deep.equal([0, 0]);
    expect(sha(bOut), 'a -> b').to.equal(sha(aIn));
    expect(sha(aOut), 'b -> a').to.equal(sha(bIn));
    console.log(`      ${(bytes / 2 ** 20).toFixed(0)} MiB each way at MTU ${mtu}: ${secs.toFixed(1)} s`);
  }

  it('moves 64 MiB each way at once, intact (MTU 65000)', async () => {
    await transfer(64 * 2 ** 20, 65000, 45_000);
  });

  it('moves 8 MiB each way at once, intact (MTU 1472)', async () => {
    await transfer(8 * 2 ** 20, 1472, 30_000);
  });

  it('exits 1 with one line when the connection is refused', async () => {
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-l', '7']);
    const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
    const r = await runCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '10.77.0.3', '5000'], { timeoutMs: 10_000 });
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.equal('overlay: connect ECONNREFUSED 10.77.0.3:5000');
  });

  it('--cc picks the congestion control of the connection; a bad name exits 2 with one line', async () => {
    const bad = await runCli(['cat', '--cc', 'vegas', '--addr', '10.77.0.2', '10.77.0.3', '7'], { timeoutMs: 10_000 });
    expect(bad.code).to.equal(2);
    expect(bad.stderr.trim()).to.equal("overlay: option --cc: 'vegas' is not one of tahoe, reno, newreno, cubic, bbr");
    // `port` is a port on the overlay (virtual); the metrics port is a real one on loopback,
    // so it comes from the kernel: a random pick could collide with another process's port.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const metricsPort = await freeTcpPort();
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-l', String(port)]);
    const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
    const c = spawnCli(['cat', '--cc', 'tahoe', '--nodelay', '--metrics', `127.0.0.1:${metricsPort}`, '--addr', '10.77.0.2',
      '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '10.77.0.3', String(port)]);
    await c.waitFor(/connected /);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/connections`);
    const conns = (await res.json()) as Array<{ kind?: string; cc?: string; remotePort?: number }>;
    const mine = conns.filter((x) => x.remotePort === port);
    expect(mine, JSON.stringify(conns)).to.have.length(1);
    expect(mine[0]!.cc).to.equal('tahoe');
    c.proc.stdin!.end('bye\n');
    await l.waitFor(/bye\n/, { stream: 'stdout' });
    l.proc.stdin!.end();
    const [lc, cc] = await Promise.all([l.exited, c.exited]);
    expect([lc.code, cc.code]).to.deep.equal([0, 0]);
  });

  it('half-closes on stdin EOF and keeps reading the reply', async () => {
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-l', '7']);
    const m = await l.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
    const c = spawnCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '10.77.0.3', '7']);
    c.proc.stdin!.end('question\n');
    // The listener received the question and its FIN; it answers, then ends.
    await l.waitFor(/question\n/, { stream: 'stdout' });
    l.proc.stdin!.end('answer\n');
    const [lc, cc] = await Promise.all([l.exited, c.exited]);
    expect(cc.code).to.equal(0);
    expect(lc.code).to.equal(0);
    expect(c.stdout).to.equal('answer\n');
  });
});
