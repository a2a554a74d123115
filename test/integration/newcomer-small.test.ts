/**
 * Issue 12 item 11, the smaller ones: `for await` over an allowHalfOpen server socket closes
 * like node:net (no RST); `overlay plot --from` past the end exits 2 and says so; the seq
 * plot's receive-window line is inside the plot, not clipped to its top edge; `overlay demo`
 * with a metrics port taken suggests --metrics-base; ports.js has no empty heading;
 * stream-file.js --help does not say "(required) (default ...)".
 */
import { expect } from 'chai';
import nodeNet from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { TraceWriter } from '../../src/trace/trace.js';
import { plot } from '../../src/trace/plot.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';
import { killTracked, spawnExample } from '../helpers/netns.js';
import { killAll, runCli } from '../helpers/proc.js';

/** What the client sees when the server reads with `for await` then ends: [error code, hadError]. */
async function forAwaitClose(kind: 'node' | 'overlay'): Promise<{ error: string | undefined; hadError: boolean; got: number }> {
  let got = 0;
  const handler = async (s: nodeNet.Socket | Socket): Promise<void> => {
    for await (const d of s as AsyncIterable<Buffer>) got += d.length;
  };
  if (kind === 'node') {
    const server = nodeNet.createServer({ allowHalfOpen: true }, (s) => void handler(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = nodeNet.connect({ port: (server.address() as nodeNet.AddressInfo).port, host: '127.0.0.1' });
    return await clientResult(c, () => server.close()).then((r) => ({ ...r, got }));
  }
  const a = await Host.create({ address: '10.77.0.2' });
  const b = await Host.create({ address: '10.77.0.3', peers: [{ prefix: '10.77.0.2', endpoint: a.endpoint }] });
  a.addPeer('10.77.0.3', b.endpoint);
  const server = createServer({ host: b, allowHalfOpen: true }, (s: Socket) => void handler(s));
  await new Promise<void>((r) => server.listen(7, r));
  const c = connect({ via: a, host: '10.77.0.3', port: 7 });
  const r = await clientResult(c, () => server.close());
  await a.close();
  await b.close();
  return { ...r, got };
}

function clientResult(c: nodeNet.Socket | Socket, done: () => void): Promise<{ error: string | undefined; hadError: boolean }> {
  return new Promise((resolve, reject) => {
    let error: string | undefined;
    const timer = setTimeout(() => reject(new Error('the client never closed')), 10_000);
    c.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    c.on('data', () => {});
    c.on('close', (hadError: boolean) => {
      clearTimeout(timer);
      done();
      resolve({ error, hadError });
    });
    c.end('hello');
  });
}

describe('newcomer: the smaller fixes', function () {
  this.timeout(30_000);
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'overlay-nc-small-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await killAll();
    await killTracked();
  });

  it('`for await` over an allowHalfOpen server socket closes the peer normally, exactly like node:net', async () => {
    const ours = await forAwaitClose('overlay');
    const real = await forAwaitClose('node');
    expect(real).to.deep.equal({ error: undefined, hadError: false, got: 5 });
    expect(ours).to.deep.equal(real);
  });

  it('overlay plot --from past the end of the trace exits 2 and says so', async () => {
    const trace = join(dir, 't.trace');
    const w = await TraceWriter.open(trace);
    for (let i = 0; i <= 10; i++) w.write('10.77.0.2:1-10.77.0.3:2', { type: 'cwnd', t: i * 100, cwnd: 14000 + i, ssthresh: 1e9, inFlight: 0, reason: 'slow_start' });
    await w.close();
    const r = await runCli(['plot', trace, '--from', '5', '-o', join(dir, 'x.svg')]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.match(/^overlay: --from 5: past the end of 10\.77\.0\.2:1-10\.77\.0\.3:2 .*span 1\.000 s\)$/);
    const ok = await runCli(['plot', trace, '--from', '0.5', '-o', join(dir, 'y.svg')]);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it('the seq plot keeps the receive-window line inside the plot area', () => {
    const ev: TcpTraceEvent[] = [];
    for (let i = 0; i < 50; i++) {
      ev.push({ type: 'send', t: i, seq: 1000 + i * 1000, len: 1000, flags: 0x18 });
      ev.push({ type: 'ack', t: i + 0.5, ack: 2000 + i * 1000, window: 200_000 });
    }
    const svg = plot('seq', ev, { conn: 'c' });
    const m = /<polyline[^>]*stroke="#bcbd22"[^>]*points="([^"]+)"/.exec(svg) ?? /<polyline[^>]*points="([^"]+)"[^>]*stroke="#bcbd22"/.exec(svg);
    expect(m, 'the window line').to.not.equal(null);
    const ys = m![1]!.trim().split(/\s+/).map((p) => Number(p.split(',')[1]));
    const top = 44; // the plot area's top margin in src/trace/svg.ts
    expect(Math.min(...ys), 'highest point of the window line').to.be.at.least(top);
    // Pinned, every point sat on the top edge; in the plot, the line rises with the ACKs.
    expect(ys.filter((y) => y <= top + 0.5).length, 'points on the top edge').to.be.at.most(2);
    expect(new Set(ys).size, 'distinct heights').to.be.above(10);
  });

  it('overlay demo with a metrics port taken suggests --metrics-base', async () => {
    const busy = nodeNet.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as nodeNet.AddressInfo).port;
    try {
      const r = await runCli(['demo', '--duration', '1', '--metrics-base', String(port)], { timeoutMs: 25_000 });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/EADDRINUSE.*--metrics-base/);
    } finally {
      busy.close();
    }
  });

  it('ports.js prints no heading without lines under it; stream-file.js --help has no "(required) (default"', async () => {
    const p = spawnExample('ports', []);
    expect(await p.exited, p.stderr).to.equal(0);
    const lines = p.stdout.split('\n');
    lines.forEach((l, i) => {
      if (/^\d+\. /.test(l)) expect(lines[i + 1] ?? '', `under "${l}"`).to.match(/^\s+\S/);
    });
    const h = spawnExample('stream-file', ['--help']);
    expect(await h.exited).to.equal(0);
    expect(h.stdout).to.match(/--addr/);
    expect(h.stdout).to.not.match(/\(required\) \(default/);
  });
});
