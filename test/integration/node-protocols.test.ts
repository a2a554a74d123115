/**
 * Node's own protocols over overlay TCP, through the public helpers (src/apps/http.ts):
 * HTTP/1.1 keep-alive with parallel requests through createHttpAgent, HTTPS through
 * createHttpsAgent with a certificate made for the test by the openssl CLI (no key is
 * committed), and a WebSocket echo (the `ws` devDependency). Two hosts in this process on
 * real loopback UDP.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { Host, createHttpAgent, createHttpsAgent, serveOverlay, net } from '../../src/index.js';
import { within } from '../helpers/real-tcp.js';

function get(agent: http.Agent, mod: typeof http | typeof https, opts: https.RequestOptions): Promise<{ status: number; body: Buffer; socketPort: number }> {
  return new Promise((resolve, reject) => {
    const req = mod.request({ ...opts, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), socketPort: Number(res.headers['x-client-port']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('Node protocols over the overlay (http, https, ws)', function () {
  this.timeout(30_000);
  let a: Host;
  let b: Host;
  const closers: Array<() => unknown> = [];

  beforeEach(async () => {
    a = await Host.create({ address: '10.77.0.2' });
    b = await Host.create({ address: '10.77.0.3' });
    a.addPeer('10.77.0.3/32', b.endpoint);
    b.addPeer('10.77.0.2/32', a.endpoint);
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await a.close();
    await b.close();
  });

  it('HTTP/1.1 keep-alive: 40 requests, 4 in parallel, over 4 reused overlay connections', async () => {
    const body = randomBytes(256 * 1024);
    const seenSockets = new Set<string>();
    const web = http.createServer((req, res) => {
      seenSockets.add(`${req.socket.remoteAddress}:${req.socket.remotePort}`);
      res.setHeader('x-client-port', String(req.socket.remotePort));
      res.end(req.url === '/big' ? body : 'hello');
    });
    const listener = await serveOverlay(web, { host: b, port: 80 });
    closers.push(() => new Promise((r) => listener.close(() => r(undefined))), () => web.closeAllConnections());
    const agent = createHttpAgent({ via: a, keepAlive: true, maxSockets: 4 });
    closers.push(() => agent.destroy());
    const results = await within(
      Promise.all(Array.from({ length: 40 }, (_, i) => get(agent, http, { host: '10.77.0.3', port: 80, path: i % 2 ? '/big' : '/small' }))),
      20_000,
      'the requests',
    );
    for (const [i, r] of results.entries()) {
      expect(r.status).to.equal(200);
      if (i % 2) expect(createHash('sha256').update(r.body).digest('hex')).to.equal(createHash('sha256').update(body).digest('hex'));
      else expect(r.body.toString()).to.equal('hello');
    }
    // Parallel (4 connections at once) and kept alive (not one connection per request).
    expect(seenSockets.size).to.equal(4);
    expect([...seenSockets].every((s) => s.startsWith('10.77.0.2:'))).to.equal(true);
  });

  it('HTTPS both ways with a certificate made for the test (openssl)', async function () {
    if (!hasOpenssl()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'overlay-tls-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const makeCert = (name: string, san: string): { key: Buffer; cert: Buffer } => {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.pem`);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
      return { key: readFileSync(key), cert: readFileSync(cert) };
    };
    const server = makeCert('web.overlay', 'DNS:web.overlay,IP:10.77.0.3');
    const client = makeCert('client.overlay', 'DNS:client.overlay');
    // Both ways: the client checks the server's certificate, the server requires the client's.
    const web = https.createServer({ key: server.key, cert: server.cert, requestCert: true, rejectUnauthorized: true, ca: client.cert }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.end(`secure ${req.url} for ${peer.subject.CN}`);
    });
    const listener = await serveOverlay(web, { host: b, port: 443 });
    closers.push(() => new Promise((r) => listener.close(() => r(undefined))), () => web.closeAllConnections());
    const agent = createHttpsAgent({ via: a, ca: server.cert, key: client.key, cert: client.cert, keepAlive: true });
    closers.push(() => agent.destroy());
    // By address (the certificate's IP SAN) and by name (SNI and the DNS SAN).
    const byIp = await within(get(agent, https, { host: '10.77.0.3', port: 443, path: '/ip' }), 15_000, 'https by address');
    expect(byIp.body.toString()).to.equal('secure /ip for client.overlay');
    const byName = await within(
      get(agent, https, { host: '10.77.0.3', servername: 'web.overlay', port: 443, path: '/name' }),
      15_000,
      'https by name',
    );
    expect(byName.body.toString()).to.equal('secure /name for client.overlay');
    // A certificate that does not match is refused, as with kernel sockets.
    const wrong = await get(agent, https, { host: '10.77.0.3', servername: 'other.overlay', port: 443, path: '/' }).then(
      () => undefined,
      (e: Error & { code?: string }) => e.code,
    );
    expect(wrong).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
    // And a client without a certificate is refused by the server.
    const anonymous = createHttpsAgent({ via: a, ca: server.cert });
    closers.push(() => anonymous.destroy());
    const refused = await within(
      get(anonymous, https, { host: '10.77.0.3', port: 443, path: '/' }).then(() => 'accepted', (e: Error & { code?: string }) => e.code ?? e.message),
      15_000,
      'the anonymous client',
    );
    expect(refused).to.not.equal('accepted');
  });

  it('WebSocket echo (ws) over an overlay connection', async () => {
    const web = http.createServer();
    const wss = new WebSocketServer({ server: web });
    wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary })));
    const listener = await serveOverlay(web, { host: b, port: 8080 });
    closers.push(() => new Promise((r) => listener.close(() => r(undefined))), () => wss.close(), () => web.closeAllConnections());
    const ws = new WebSocket('ws://10.77.0.3:8080/echo', { agent: createHttpAgent({ via: a }) });
    closers.push(() => ws.terminate());
    await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 10_000, 'ws open');
    const messages = ['hello', 'x'.repeat(70_000)];
    const got: string[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on('message', (m) => {
        got.push(m.toString());
        if (got.length === messages.length) resolve();
      }),
    );
    for (const m of messages) ws.send(m);
    const bin = randomBytes(100_000);
    await within(done, 10_000, 'the echoes');
    expect(got).to.deep.equal(messages);
    const binEcho = new Promise<Buffer>((resolve) => ws.once('message', (m) => resolve(m as Buffer)));
    ws.send(bin);
    expect(Buffer.compare(await within(binEcho, 10_000, 'binary echo'), bin)).to.equal(0);
    expect(net.isIP('10.77.0.3')).to.equal(4);
  });
});
