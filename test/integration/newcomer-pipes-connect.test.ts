/**
 * Issue 12 items 4, 6 and 11 (connect line):
 *  - a closed stdout ends a command quietly (no EPIPE stack), and an overlay connection whose
 *    consumer is gone is reset, so the sender ends at once with one ECONNRESET line;
 *  - the same for `overlay plot --json | head` and `node dist/examples/handshake.js | head`;
 *  - connecting to nothing prints one hint line after 3 s, `--connect-timeout S` ends with
 *    ETIMEDOUT and exit 1; net.connect's `timeout` option emits 'timeout' while connecting;
 *  - the connecting `overlay cat` says "connected", not "listening".
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import { Host } from '../../src/host/host.js';
import { connect } from '../../src/net.js';
import { TraceWriter } from '../../src/trace/trace.js';
import { CLI_PATH, killAll, spawnCli } from '../helpers/proc.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** Runs `sh -c "CMD | head ..."` and returns the first command's exit status and stderr. */
function shellPipe(left: string, right: string, errPath = errFile, timeoutMs = 20000): Promise<{ code: number; stderr: string; out: string }> {
  return new Promise((resolve, reject) => {
    // The left command's status and stderr are what we check: bash's PIPESTATUS.
    const sh = spawn('bash', ['-c', `${left} 2>"$ERRF" | ${right}; echo "status=\${PIPESTATUS[0]}"`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ERRF: errPath },
    });
    let out = '';
    sh.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => {
      sh.kill('SIGKILL');
      reject(new Error(`timed out: ${left} | ${right}`));
    }, timeoutMs);
    sh.on('close', async () => {
      clearTimeout(timer);
      const { readFileSync } = await import('node:fs');
      const m = /status=(\d+)/.exec(out);
      resolve({ code: m ? Number(m[1]) : -1, stderr: readFileSync(errPath, 'utf8'), out });
    });
  });
}

let dir = '';
let errFile = '';

describe('newcomer: closed pipes and connecting to nothing', function () {
  this.timeout(40000);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'overlay-nc-'));
    errFile = join(dir, 'stderr.txt');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(killAll);

  it('`overlay cat -l | head -c 100` ends quietly and resets the sender, which exits 1 with one ECONNRESET line', async () => {
    const file = join(dir, 'big.bin');
    writeFileSync(file, randomBytes(8 << 20));
    const portFile = join(dir, 'listen.txt');
    const listener = shellPipe(`node ${CLI_PATH} cat --addr 10.77.0.3 --learn -l 0 </dev/null`, 'head -c 100 >/dev/null', portFile);
    // The listener's "listening" line goes to portFile: poll it (capped).
    const { readFileSync } = await import('node:fs');
    let m: RegExpExecArray | null = null;
    for (let i = 0; i < 200 && !m; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        m = /udp=([\d.]+:\d+) port=(\d+)/.exec(readFileSync(portFile, 'utf8'));
      } catch {
        // not yet created
      }
    }
    expect(m, 'listener ready').to.not.equal(null);
    const sender = spawnCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m![1]}`, '10.77.0.3', m![2]!]);
    const { createReadStream } = await import('node:fs');
    sender.proc.stdin!.on('error', () => {});
    createReadStream(file).pipe(sender.proc.stdin!);
    const t0 = Date.now();
    const r = await sender.exited;
    expect(r.code, sender.stderr).to.equal(1);
    expect(sender.stderr).to.match(/^overlay: \S+ ECONNRESET 10\.77\.0\.3:\d+$/m);
    expect(sender.stderr).to.not.match(/\n\s+at /);
    expect(Date.now() - t0, 'the sender learns at once, not after retries').to.be.below(10000);
    const l = await listener;
    const lerr = readFileSync(portFile, 'utf8');
    expect(lerr).to.not.match(/EPIPE|\n\s+at /);
    expect(l.code).to.equal(0);
  });

  it('`overlay plot --json | head -1` and `handshake.js | head -2` end quietly with status 0', async () => {
    const trace = join(dir, 't.trace');
    const w = await TraceWriter.open(trace);
    for (let i = 0; i < 20000; i++) w.write('10.77.0.2:1-10.77.0.3:2', { type: 'rtt', t: i, sample: 1, srtt: 1, rttvar: 1, rto: 200 } as never);
    await w.close();
    const plot = await shellPipe(`node ${CLI_PATH} plot ${trace} --json`, 'head -1 >/dev/null');
    expect(plot.stderr).to.equal('');
    expect(plot.code).to.equal(0);
    const hs = await shellPipe(`node ${join(EXAMPLES, 'handshake.js')}`, 'head -2 >/dev/null');
    expect(hs.stderr).to.not.match(/EPIPE|\n\s+at /);
    expect(hs.code).to.equal(0);
  });

  it('connecting to nothing: one hint line after 3 s naming the UDP endpoint, then ETIMEDOUT with --connect-timeout (exit 1)', async () => {
    const hole = dgram.createSocket('udp4'); // swallows the SYNs
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', r));
    try {
      const ep = `127.0.0.1:${hole.address().port}`;
      const c = spawnCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${ep}`, '--connect-timeout', '4.5', '10.77.0.3', '5000']);
      c.proc.stdin!.end();
      const r = await c.exited;
      expect(r.code).to.equal(1);
      const lines = c.stderr.trimEnd().split('\n');
      expect(lines, c.stderr).to.have.length(2);
      expect(lines[0]).to.include(`no answer yet from 10.77.0.3:5000; the SYNs go to UDP ${ep}`);
      expect(lines[1]).to.equal('overlay: connect ETIMEDOUT 10.77.0.3:5000: no SYN-ACK within 4.5 s');
      expect(c.stderr).to.not.match(/listening/);
    } finally {
      hole.close();
    }
  });

  it("net.connect's timeout option emits 'timeout' while the SYN goes unanswered", async () => {
    const hole = dgram.createSocket('udp4');
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', r));
    const a = await Host.create({ address: '10.77.0.2', peers: [{ prefix: '10.77.0.3', endpoint: hole.address() }] });
    try {
      const t0 = Date.now();
      const sock = connect({ via: a, host: '10.77.0.3', port: 7, timeout: 500 });
      sock.on('error', () => {});
      await new Promise<void>((resolve) => sock.once('timeout', resolve));
      expect(Date.now() - t0).to.be.within(400, 3000);
      expect(sock.connecting).to.equal(true);
      sock.destroy();
    } finally {
      await a.close();
      hole.close();
    }
  });

  it('the connecting cat announces "connected", the listening one "listening"', async () => {
    const l = spawnCli(['cat', '--addr', '10.77.0.3', '--learn', '-l', '0']);
    l.proc.stdin!.end();
    const m = await l.waitFor(/listening 10\.77\.0\.3 udp=([\d.]+:\d+) port=(\d+)/);
    const c = spawnCli(['cat', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}`, '10.77.0.3', m[2]!]);
    await c.waitFor(/^connected 10\.77\.0\.2:\d+ -> 10\.77\.0\.3:\d+ udp=127\.0\.0\.1:\d+$/m);
    c.proc.stdin!.end('x');
    await c.exited;
    expect(c.stderr).to.not.match(/listening/);
  });
});
