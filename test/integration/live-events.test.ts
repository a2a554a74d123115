/**
 * The live view's server side, without a browser: the page and uPlot are served from the
 * metrics port, /events streams frames at >= 4/s whose socket rows are /connections' rows,
 * the time-sequence rings are bounded and chain with other trace observers, and the hub
 * leaves observers.trace as it found it.
 */
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { Host } from '../../src/host/host.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { observers } from '../../src/metrics/inventory.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { EV_ACK, EV_SEND, SeqRing } from '../../src/metrics/live.js';
import type { TcpTraceEvent } from '../../src/tcp/types.js';

interface Frame {
  kind: string;
  t: number;
  sockets: Array<{ kind: string; conn?: string; state?: string; cwnd?: number }>;
  seq: Record<string, number[]>;
}

/** Reads SSE frames from `url` until `enough(frames)` or the cap; then aborts. */
async function readFrames(url: string, enough: (f: Frame[]) => boolean, capMs: number): Promise<Frame[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), capMs);
  const frames: Frame[] = [];
  try {
    const res = await fetch(url, { signal: ac.signal });
    expect(res.headers.get('content-type')).to.equal('text/event-stream');
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const msg = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (msg.startsWith('data: ')) frames.push(JSON.parse(msg.slice(6)) as Frame);
      }
      if (enough(frames)) break;
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return frames;
}

describe('live view: page, /events and the time-sequence rings', function () {
  this.timeout(30_000);

  it('a ring keeps the newest events within its capacity, unwrapping sequence numbers across 2^32', () => {
    const r = new SeqRing(8);
    const base = 0xffffff00;
    r.record({ type: 'send', t: 0, seq: base, len: 0, flags: 2 });
    for (let i = 0; i < 20; i++) r.record({ type: 'send', t: i, seq: (base + 1 + i * 100) >>> 0, len: 100, flags: 16 });
    r.record({ type: 'ack', t: 21, ack: (base + 2001) >>> 0, window: 5000 } as TcpTraceEvent);
    expect(r.total).to.equal(21);
    const all = r.since(0, 1000);
    expect(all.length).to.equal(8 * 4);
    // The last sends crossed the wrap and still climb; the ACK's window edge is ACK + window.
    expect(all.slice(-8, -4)).to.deep.equal([EV_SEND, 19, 1901, 2001]);
    expect(all.slice(-4)).to.deep.equal([EV_ACK, 21, 2001, 7001]);
    expect(r.since(19, 1000).length).to.equal(2 * 4);
  });

  describe('on a real transfer between two hosts', () => {
    let a: Host;
    let b: Host;
    let srv: MetricsServer;
    let sock: Socket;
    let stop = false;
    const seen: string[] = [];
    const other = (conn: string): void => {
      seen.push(conn);
    };

    before(async () => {
      observers.trace = other; // another observer (like --trace's writer) set first
      srv = await startMetricsServer('127.0.0.1:0', new Registry());
      a = await Host.create({ address: '10.77.0.2' });
      b = await Host.create({ address: '10.77.0.3', peers: [{ prefix: '10.77.0.2', endpoint: a.endpoint }] });
      a.addPeer('10.77.0.3', b.endpoint);
      const server = createServer({ host: b }, (s: Socket) => s.resume());
      await new Promise<void>((r) => server.listen(5001, r));
      sock = connect({ via: a, host: '10.77.0.3', port: 5001 });
      await new Promise<void>((r) => sock.once('connect', r));
      const chunk = Buffer.alloc(16 * 1024, 1);
      let sent = 0;
      const pump = (): void => {
        while (!stop && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!sock.write(chunk)) return void sock.once('drain', pump);
        }
      };
      pump();
    });

    after(async () => {
      stop = true;
      sock?.destroy();
      await srv?.close();
      await a?.close();
      await b?.close();
      observers.trace = undefined;
    });

    it('serves the page, its script and uPlot from the package', async () => {
      const page = await fetch(`${srv.url}/`);
      expect(page.headers.get('content-type')).to.contain('text/html');
      const html = await page.text();
      expect(html).to.contain('<script src="uplot.js"></script>');
      expect(html).to.not.match(/https?:\/\//); // nothing from a CDN
      const up = await fetch(`${srv.url}/uplot.js`);
      expect(up.status).to.equal(200);
      expect(await up.text()).to.contain('uPlot');
      expect((await fetch(`${srv.url}/live.js`)).status).to.equal(200);
      expect((await fetch(`${srv.url}/live.css`)).status).to.equal(200);
    });

    it('streams >= 4 frames/s with /connections rows and time-sequence events, chained after the other observer', async () => {
      const frames = await readFrames(`${srv.url}/events`, (f) => f.length >= 12, 10_000);
      expect(frames[0]!.kind).to.equal('hello');
      const ticks = frames.slice(1);
      expect(ticks.length).to.be.at.least(10);
      const perS = ((ticks.length - 1) * 1000) / (ticks[ticks.length - 1]!.t - ticks[0]!.t);
      expect(perS).to.be.at.least(4);
      // The frame's rows are /connections' rows: same sockets, same fields.
      const rows = (await (await fetch(`${srv.url}/connections`)).json()) as Frame['sockets'];
      const last = frames[frames.length - 1]!;
      expect(last.sockets.map((s) => `${s.kind} ${s.conn ?? ''}`).sort()).to.deep.equal(rows.map((s) => `${s.kind} ${s.conn ?? ''}`).sort());
      const mine = rows.find((r) => r.kind === 'connection' && r.conn!.startsWith('10.77.0.2:'))!;
      expect(Object.keys(last.sockets.find((s) => s.conn === mine.conn)!).sort()).to.deep.equal(Object.keys(mine).sort());
      // Data segments and ACKs of the sender arrived as events, in time order.
      const ev = frames.flatMap((f) => f.seq[mine.conn!] ?? []);
      const kinds = new Set(ev.filter((_, i) => i % 4 === 0));
      expect(kinds.has(EV_SEND) && kinds.has(EV_ACK)).to.equal(true);
      // The observer set before the server still sees every event.
      expect(seen.filter((c) => c === mine.conn).length).to.be.greaterThan(100);
      expect(srv.live!.clientCount).to.equal(0);
    });

    it('closing the server gives the trace hook back to the observer it chained onto', async () => {
      const before = observers.trace;
      expect(before).to.not.equal(other); // srv's recorder, chained on top of `other`
      const s2 = await startMetricsServer('127.0.0.1:0', new Registry());
      expect(observers.trace).to.not.equal(before);
      await s2.close();
      expect(observers.trace).to.equal(before);
    });
  });
});
