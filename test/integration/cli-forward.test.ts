/**
 * `overlay forward` between two processes on real loopback UDP, with kernel TCP at both
 * ends (curl, and servers/clients in this process):
 *
 *   curl / test client --kernel TCP--> [forward -L, 10.77.0.2] ==overlay==> [forward -R, 10.77.0.3] --kernel TCP--> servers here
 *
 * 20 MiB through curl (sha256), backpressure both ways, half-close both ways, resets
 * (refused targets, RST from either end), 200 concurrent connections, a dying forwarder,
 * and the one-line usage errors.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type * as realNet from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killAll, runCli, spawnCli, type CliChild } from '../helpers/proc.js';
import { closedPort, outcome, realConnect, realServer, until, within, writeUntilStall } from '../helpers/real-tcp.js';

const execFileP = promisify(execFile);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Starts `forward -R ...` (10.77.0.3) and `forward -L ...` (10.77.0.2) and returns the -L ports by destination port. */
async function forwardPair(remotes: string[], locals: number[], extra: string[] = []): Promise<{ r: CliChild; l: CliChild; lport: Map<number, number> }> {
  const r = spawnCli(['forward', '--addr', '10.77.0.3', '--learn', '-v', ...extra, ...remotes.flatMap((x) => ['-R', x])]);
  const m = await r.waitFor(/listening \S+ udp=([\d.]+):(\d+)/);
  const l = spawnCli(['forward', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${m[1]}:${m[2]}`, '-v', ...extra, ...locals.flatMap((p) => ['-L', `0:10.77.0.3:${p}`])]);
  await l.waitFor(/listening /);
  const lport = new Map<number, number>();
  for (const x of l.stderr.matchAll(/forward -L 127\.0\.0\.1:(\d+) -> 10\.77\.0\.3:(\d+)/g)) lport.set(Number(x[2]), Number(x[1]));
  return { r, l, lport };
}

describe('overlay forward (-L / -R) between processes', function () {
  this.timeout(60_000);
  const big = randomBytes(20 * 2 ** 20);
  let web: http.Server;
  let webPort: number;
  let dir: string;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'overlay-forward-'));
    web = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.setHeader('content-length', big.length);
        res.end(big);
      } else res.end('small\n');
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', () => resolve()));
    webPort = (web.address() as realNet.AddressInfo).port;
  });
  afterEach(async () => {
    await killAll();
    for (const c of closers.splice(0)) await c();
  });
  after(async () => {
    web.closeAllConnections();
    await new Promise((r) => web.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('curl fetches 20 MiB through -L from a kernel HTTP server exposed with -R (sha256 equal)', async () => {
    const { r, l, lport } = await forwardPair([`80:127.0.0.1:${webPort}`], [80]);
    const out = join(dir, 'big.out');
    await execFileP('curl', ['-sS', '--max-time', '40', '-o', out, `http://127.0.0.1:${lport.get(80)}/big`]);
    expect(sha(readFileSync(out))).to.equal(sha(big));
    // One line per connection with -v, on both sides, ended by FINs.
    await l.waitFor(/L 127\.0\.0\.1:\d+ -> 10\.77\.0\.3:80 closed out=\d+ in=\d+/);
    await r.waitFor(new RegExp(`R 10\\.77\\.0\\.2:\\d+ -> 127\\.0\\.0\\.1:${webPort} closed`));
  });

  it('respects backpressure both ways: a reader that stops stalls the writer, then everything arrives', async () => {
    let serverSide: realNet.Socket | undefined;
    const srv = await realServer((s) => {
      serverSide = s;
      s.pause();
    });
    closers.push(srv.close);
    const { lport } = await forwardPair([`81:127.0.0.1:${srv.port}`], [81]);
    const total = 96 * 2 ** 20;
    const chunk = randomBytes(64 * 1024);

    // Client -> server, the server not reading.
    const c = await realConnect(lport.get(81)!);
    c.on('error', () => {});
    await until(() => serverSide !== undefined, 10_000, 'the forwarded connection');
    const up = await writeUntilStall(c, chunk, total, 1500);
    expect(up.stalled, 'the writer should stall while nobody reads').to.equal(true);
    // Kernel buffers at four sockets, the overlay windows and two small stream buffers: far below 96 MiB.
    expect(up.written).to.be.below(48 * 2 ** 20);
    let got = 0;
    serverSide!.on('data', (d: Buffer) => (got += d.length));
    serverSide!.resume();
    const rest = await writeUntilStall(c, chunk, total - up.written, 10_000);
    expect(rest.stalled).to.equal(false);
    await until(() => got === total, 30_000, `all ${total} bytes upstream (got ${got})`);

    // Server -> client, the client not reading.
    c.pause();
    const down = await writeUntilStall(serverSide!, chunk, total, 1500);
    expect(down.stalled).to.equal(true);
    expect(down.written).to.be.below(48 * 2 ** 20);
    let back = 0;
    c.on('data', (d: Buffer) => (back += d.length));
    c.resume();
    const rest2 = await writeUntilStall(serverSide!, chunk, total - down.written, 10_000);
    expect(rest2.stalled).to.equal(false);
    await until(() => back === total, 30_000, `all ${total} bytes downstream (got ${back})`);
    c.destroy();
  });

  it('propagates the client\'s FIN: the server reads to EOF, then answers the half-open client', async () => {
    // The server answers only after the client's FIN, then ends too.
    const serverGot: Promise<{ first: string }> = new Promise((resolve) => {
      void realServer((s) => {
        let first = '';
        s.on('data', (d: Buffer) => (first += d));
        s.once('end', () => {
          s.write(`answer to ${first}`);
          s.end();
          resolve({ first });
        });
      }).then((srv) => {
        closers.push(srv.close);
        portReady(srv.port);
      });
    });
    let portReady: (p: number) => void = () => {};
    const port = await new Promise<number>((resolve) => (portReady = resolve));
    const { lport } = await forwardPair([`82:127.0.0.1:${port}`], [82]);
    const c = await realConnect(lport.get(82)!);
    const res = outcome(c);
    c.end('question');
    const r = await within(res, 15_000, 'the answer and FIN');
    expect(r).to.deep.equal({ data: Buffer.from('answer to question'), how: 'end' });
    const s = await within(serverGot, 15_000, 'the server');
    expect(s.first).to.equal('question');
  });

  it('propagates FIN from the server while the client keeps sending', async () => {
    let got = '';
    const gotEnd = new Promise<void>((resolve) => {
      void realServer((s) => {
        s.end('bye');
        s.on('data', (d: Buffer) => (got += d));
        s.on('end', () => resolve());
      }).then((srv) => {
        closers.push(srv.close);
        ready(srv.port);
      });
    });
    let ready: (p: number) => void = () => {};
    const port = await new Promise<number>((resolve) => (ready = resolve));
    const { lport } = await forwardPair([`83:127.0.0.1:${port}`], [83]);
    const c = await realConnect(lport.get(83)!);
    const res = await within(outcome(c), 15_000, "the server's FIN");
    expect(res).to.deep.equal({ data: Buffer.from('bye'), how: 'end' });
    c.end('still here');
    await within(gotEnd, 15_000, "the client's late data and FIN");
    expect(got).to.equal('still here');
  });

  it('propagates resets: refused targets, an RST from the server, an RST from the client', async () => {
    const dead = await closedPort();
    // Each server connection is handed over once its first bytes arrived.
    const arrivals: realNet.Socket[] = [];
    const srv = await realServer((s) => {
      s.pause();
      s.once('readable', () => arrivals.push(s));
    });
    closers.push(srv.close);
    // 84: a real target that refuses; 85: a live server; 86: no -R listener at all (overlay RST).
    const { lport } = await forwardPair([`84:127.0.0.1:${dead}`, `85:127.0.0.1:${srv.port}`], [84, 85, 86]);

    const refusedReal = await realConnect(lport.get(84)!);
    expect((await within(outcome(refusedReal), 15_000, 'reset of a refused real target')).how).to.equal('ECONNRESET');
    const refusedOverlay = await realConnect(lport.get(86)!);
    expect((await within(outcome(refusedOverlay), 15_000, 'reset of a refused overlay target')).how).to.equal('ECONNRESET');

    // The server resets: the client sees ECONNRESET, not a clean end.
    const c1 = await realConnect(lport.get(85)!);
    const c1Out = outcome(c1);
    c1.write('ping');
    await until(() => arrivals.length === 1, 10_000, 'the server connection');
    arrivals[0]!.resetAndDestroy();
    expect((await within(c1Out, 15_000, 'the reset at the client')).how).to.equal('ECONNRESET');

    // The client resets: the server sees ECONNRESET.
    const c2 = await realConnect(lport.get(85)!);
    c2.write('ping');
    await until(() => arrivals.length === 2, 10_000, 'the second server connection');
    const s2Out = outcome(arrivals[1]!);
    c2.resetAndDestroy();
    expect((await within(s2Out, 15_000, 'the reset at the server')).how).to.equal('ECONNRESET');
  });

  it('carries 200 concurrent connections and leaves none behind', async () => {
    let concurrent = 0;
    let peak = 0;
    const srv = await realServer((s) => {
      concurrent++;
      peak = Math.max(peak, concurrent);
      s.on('close', () => concurrent--);
      s.pipe(s);
    });
    closers.push(srv.close);
    const { r, l, lport } = await forwardPair([`87:127.0.0.1:${srv.port}`], [87]);
    const n = 200;
    const payload = (i: number): Buffer => Buffer.from(`${String(i).padStart(4, '0')}:${'x'.repeat(2000)}`);
    const clients = await within(Promise.all(Array.from({ length: n }, () => realConnect(lport.get(87)!))), 30_000, 'the connections');
    const echoed = clients.map((c, i) => {
      const want = payload(i);
      let got = Buffer.alloc(0);
      return new Promise<void>((resolve, reject) => {
        c.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length >= want.length) resolve();
        });
        c.on('error', reject);
        c.write(want);
      }).then(() => expect(got.equals(want)).to.equal(true));
    });
    await within(Promise.all(echoed), 30_000, 'the echoes');
    expect(peak).to.equal(n);
    const ends = clients.map((c) => outcome(c));
    for (const c of clients) c.end();
    const outs = await within(Promise.all(ends), 30_000, 'the FINs');
    expect(outs.every((o) => o.how === 'end')).to.equal(true);
    // Every pair finished on both forwarders (one 'closed' line each) and the server has none left.
    const count = (c: CliChild, re: RegExp): number => c.stderr.split('\n').filter((x) => re.test(x)).length;
    await until(() => count(l, / -> 10\.77\.0\.3:87 closed /) === n && count(r, new RegExp(` -> 127\\.0\\.0\\.1:${srv.port} closed `)) === n, 20_000, '200 closed lines on each side');
    await until(() => srv.conns.size === 0, 10_000, 'the server sockets to close');
  });

  for (const victim of ['-R', '-L'] as const) {
    it(`leaves no half-dead pair when the ${victim} forwarder dies (keepalive finds the dead overlay peer)`, async () => {
      let serverConn: realNet.Socket | undefined;
      const srv = await realServer((s) => (serverConn = s));
      closers.push(srv.close);
      const { r, l, lport } = await forwardPair([`88:127.0.0.1:${srv.port}`], [88], ['--keepalive', '0.5']);
      const c = await realConnect(lport.get(88)!);
      c.write('hello');
      await until(() => serverConn !== undefined, 10_000, 'the forwarded connection');
      const s = serverConn!;
      await new Promise((res) => s.once('data', res));
      const survivorSide = victim === '-R' ? c : s;
      const out = outcome(survivorSide);
      (victim === '-R' ? r : l).kill('SIGKILL');
      // The survivor's overlay connection times out (3 keepalive probes) and resets its real peer.
      const o = await within(out, 15_000, 'the survivor to be reset');
      expect(o.how).to.equal('ECONNRESET');
      await (victim === '-R' ? l : r).waitFor(/reset \(ETIMEDOUT\)/, { timeoutMs: 5000 });
    });
  }

  it('rejects bad input with one line and exit status 2; a port in use exits 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['forward', '--addr', '10.77.0.2'], /needs at least one -L or -R/],
      [['forward', '--addr', '10.77.0.2', '-L', '80:10.77.0.3'], /is not \[BIND_ADDR:\]PORT:DEST:DPORT/],
      [['forward', '--addr', '10.77.0.2', '-L', '0:web:80'], /not an overlay IPv4 address/],
      [['forward', '--addr', '10.77.0.2', '-L', '0:10.77.0.3:0'], /is not a port/],
      [['forward', '--addr', '10.77.0.2', '-L', '70000:10.77.0.3:80'], /is not a port/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:192.0.2.1:80'], /not a loopback address \(add --allow-remote/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:127.0.0.1'], /is not OPORT:HOST:PORT/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:127.0.0.1:80', '--cc', 'vegas'], /--cc: 'vegas' is not one of/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:127.0.0.1:80', '--keepalive', '-1'], /--keepalive: -1 is out of range/],
      [['forward', '-R', '80:127.0.0.1:80'], /--addr is required/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:127.0.0.1:80', '--bogus'], /unknown option --bogus/],
      [['forward', '--addr', '10.77.0.2', '-R', '80:127.0.0.1:80', 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [args, re] of cases) {
      const res = await runCli(args, { timeoutMs: 10_000 });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).to.equal(2);
      expect(res.stderr.trimEnd().split('\n'), args.join(' ')).to.have.length(1);
      expect(res.stderr).to.match(/^overlay: /);
      expect(res.stderr).to.match(re);
    }
    const busy = await realServer(() => {});
    closers.push(busy.close);
    const inUse = await runCli(['forward', '--addr', '10.77.0.2', '-L', `${busy.port}:10.77.0.3:80`], { timeoutMs: 10_000 });
    expect(inUse.code).to.equal(1);
    expect(inUse.stderr.trimEnd().split('\n')).to.have.length(1);
    expect(inUse.stderr).to.match(/^overlay: .*EADDRINUSE/);
  });
});
