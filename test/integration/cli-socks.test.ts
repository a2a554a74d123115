/**
 * `overlay socks` between processes on real loopback UDP: curl --socks5-hostname fetches
 * 20 MiB by a hosts-file name from a kernel HTTP server exposed with `overlay forward -R`
 * (sha256 equal); the refusals carry RFC 1928's reply codes (checked with a raw client
 * here, and as curl sees them); RFC 1929 authentication; usage errors.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type * as realNet from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAll, runCli, spawnCli, type CliChild } from '../helpers/proc.js';
import { realConnect, within } from '../helpers/real-tcp.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function curl(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '40', ...args], (err, _stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: unknown }).code ?? 1) : 0, stderr });
    });
  });
}

/** Sends `bytes` to the SOCKS server and collects what comes back until the server closes. */
async function raw(port: number, bytes: Buffer[]): Promise<Buffer> {
  const s = await realConnect(port);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.on('error', () => {});
  s.on('end', () => s.end());
  for (const b of bytes) s.write(b);
  await within(closed, 10_000, 'the SOCKS server to answer and close');
  return Buffer.concat(chunks);
}

const GREETING = Buffer.from([5, 1, 0]);
function request(cmd: number, atyp: number, addr: Buffer, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, cmd, 0, atyp]), addr, p]);
}

describe('overlay socks between processes', function () {
  this.timeout(60_000);
  const big = randomBytes(20 * 2 ** 20);
  let web: http.Server;
  let dir: string;
  let r: CliChild;
  let socks: CliChild;
  let socksPort: number;
  let udp: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'overlay-socks-'));
    web = http.createServer((req, res) => {
      res.setHeader('x-host', String(req.headers.host));
      res.end(req.url === '/big' ? big : 'small\n');
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', () => resolve()));
    const webPort = (web.address() as realNet.AddressInfo).port;
    r = spawnCli(['forward', '--addr', '10.77.0.3', '--learn', '-R', `80:127.0.0.1:${webPort}`]);
    const m = await r.waitFor(/listening \S+ udp=([\d.]+:\d+)/);
    udp = m[1]!;
    writeFileSync(join(dir, 'hosts'), '# overlay names\n10.77.0.3   web.overlay web   # the web server\n10.77.0.9 nobody.overlay\n');
    socks = spawnCli(['socks', '--addr', '10.77.0.2', '--peer', `10.77.0.3=${udp}`, '--peer', `10.77.0.9=${udp}`, '--listen', '127.0.0.1:0', '--hosts', join(dir, 'hosts'), '-v']);
    socksPort = Number((await socks.waitFor(/socks 127\.0\.0\.1:(\d+)/))[1]);
    await socks.waitFor(/listening /);
  });
  after(async () => {
    await killAll();
    web.closeAllConnections();
    await new Promise((res) => web.close(res));
    rmSync(dir, { recursive: true, force: true });
  });

  it('curl --socks5-hostname fetches 20 MiB by a hosts-file name (sha256 equal)', async () => {
    const out = join(dir, 'big.out');
    const res = await curl(['--socks5-hostname', `127.0.0.1:${socksPort}`, '-o', out, 'http://web.overlay/big']);
    expect(res, res.stderr).to.deep.equal({ code: 0, stderr: '' });
    expect(sha(readFileSync(out))).to.equal(sha(big));
    await socks.waitFor(/socks 127\.0\.0\.1:\d+ -> web\.overlay:80=10\.77\.0\.3 ok out=\d+ in=\d+/);
    // An IPv4 target works too (curl --socks5 resolves nothing itself for an address).
    const small = join(dir, 'small.out');
    expect((await curl(['--socks5', `127.0.0.1:${socksPort}`, '-o', small, 'http://10.77.0.3/'])).code).to.equal(0);
    expect(readFileSync(small, 'utf8')).to.equal('small\n');
  });

  it('refuses what it cannot do with the right RFC 1928 reply code', async () => {
    const ipv4 = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
    const name = (n: string): Buffer => Buffer.concat([Buffer.from([n.length]), Buffer.from(n)]);
    const rep = async (req: Buffer): Promise<number> => {
      const got = await raw(socksPort, [GREETING, req]);
      expect([...got.subarray(0, 2)]).to.deep.equal([5, 0]); // method: no authentication
      expect(got[2]).to.equal(5);
      return got[3]!;
    };
    expect(await rep(request(2, 1, ipv4('10.77.0.3'), 80)), 'BIND').to.equal(7);
    expect(await rep(request(3, 1, ipv4('10.77.0.3'), 80)), 'UDP ASSOCIATE').to.equal(7);
    expect(await rep(request(9, 1, ipv4('10.77.0.3'), 80)), 'unknown command').to.equal(7);
    expect(await rep(request(1, 4, Buffer.alloc(16, 1), 80)), 'IPv6').to.equal(8);
    expect(await rep(request(1, 1, ipv4('192.0.2.1'), 80)), 'outside the overlay').to.equal(3);
    expect(await rep(request(1, 3, name('example.com'), 80)), 'name not in the hosts file').to.equal(4);
    expect(await rep(request(1, 3, name('WEB.overlay'), 81)), 'refused port').to.equal(5);
    // curl reports the code too.
    const c = await curl(['--socks5-hostname', `127.0.0.1:${socksPort}`, 'http://example.com/']);
    expect(c.code).to.equal(97);
    expect(c.stderr).to.match(/\(4\)/);
    const d = await curl(['--socks5', `127.0.0.1:${socksPort}`, 'http://192.0.2.1/']);
    expect(d.code).to.equal(97);
    expect(d.stderr).to.match(/\(3\)/);
    // A client that offers no acceptable method gets 0xFF.
    expect([...(await raw(socksPort, [Buffer.from([5, 1, 2])]))]).to.deep.equal([5, 0xff]);
    // The process is still serving.
    expect((await curl(['--socks5-hostname', `127.0.0.1:${socksPort}`, '-o', join(dir, 'again'), 'http://web/'])).code).to.equal(0);
  });

  it('requires RFC 1929 username/password with --auth', async () => {
    writeFileSync(join(dir, 'auth'), '# users\nalice:s3cret:with:colons\nbob:hunter2\n');
    const s = spawnCli(['socks', '--addr', '10.77.0.4', '--peer', `10.77.0.3=${udp}`, '--listen', '127.0.0.1:0', '--hosts', join(dir, 'hosts'), '--auth', join(dir, 'auth')]);
    const port = Number((await s.waitFor(/socks 127\.0\.0\.1:(\d+)/))[1]);
    await s.waitFor(/listening /);
    const ok = await curl(['--socks5-hostname', `alice:s3cret:with:colons@127.0.0.1:${port}`, '-o', join(dir, 'auth.out'), 'http://web.overlay/']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(readFileSync(join(dir, 'auth.out'), 'utf8')).to.equal('small\n');
    const bad = await curl(['--socks5-hostname', `alice:wrong@127.0.0.1:${port}`, 'http://web.overlay/']);
    expect(bad.code).to.equal(97);
    // Raw: method 2 chosen; a wrong password gets status 1 and the connection closes.
    const user = Buffer.from('bob');
    const pass = Buffer.from('nope');
    const got = await raw(port, [Buffer.from([5, 1, 2]), Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass])]);
    expect([...got]).to.deep.equal([5, 2, 1, 1]);
    // Without credentials: no acceptable method.
    expect([...(await raw(port, [GREETING]))]).to.deep.equal([5, 0xff]);
  });

  it('rejects bad input with one line (usage: exit 2; unreadable files: exit 1)', async () => {
    writeFileSync(join(dir, 'bad-auth'), 'no colon here\n');
    const cases: Array<[string[], number, RegExp]> = [
      [['socks', '--addr', '10.77.0.2', '--listen', 'nowhere'], 2, /--listen: 'nowhere' is not HOST:PORT/],
      [['socks', '--addr', '10.77.0.2', '--listen', '127.0.0.1:99999'], 2, /is not HOST:PORT/],
      [['socks', '--addr', '10.77.0.2', '--auth', join(dir, 'bad-auth')], 2, /--auth: .* is not USER:PASSWORD/],
      [['socks', '--addr', '10.77.0.2', '--cc', 'vegas'], 2, /--cc/],
      [['socks', '--addr', '10.77.0.2', 'extra'], 2, /unexpected argument/],
      [['socks', '--addr', '10.77.0.2', '--hosts', join(dir, 'missing')], 1, /--hosts .*missing: ENOENT/],
    ];
    for (const [args, code, re] of cases) {
      const res = await runCli(args, { timeoutMs: 10_000 });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).to.equal(code);
      expect(res.stderr.trimEnd().split('\n'), args.join(' ')).to.have.length(1);
      expect(res.stderr).to.match(/^overlay: /).and.to.match(re);
    }
  });
});
