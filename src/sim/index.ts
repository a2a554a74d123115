/**
 * src/sim: a simulated network on a virtual clock, for whole-flow tests of the sans-IO TCP
 * core (loss recovery, congestion-control curves, fairness) that run in milliseconds of real
 * time and are fully deterministic (seeded).
 *
 * ## API
 *
 * - `SimClock` — discrete-event loop: `now`, `schedule(at, fn)`, `after(ms, fn)`,
 *   `runUntil(done, { maxTime, maxEvents })`, `runUntilTime(t)`. Same-time events run in
 *   scheduling order.
 * - `SimLink` (options `LinkOptions`) — one direction: `delay` ms, `jitter` ms, `loss`,
 *   `duplicate`, `reorder` (+ `reorderDelay`) probabilities, a bottleneck `rate` (bytes/s)
 *   behind a drop-tail queue of `queueBytes`, a deterministic `drop(seg, index)` filter and a
 *   `seed`. Segments go through the real codec (`encode: true` default). `stats` counts
 *   sent/delivered/lost/duplicated/reordered/queueDrops and `maxQueueBytes`.
 * - `SimNet` / `SimHost` — hosts by address joined with `net.link(a, b, abOpts, baOpts)`;
 *   `host.connect(addr, port, config, opts)` (active open, returns the Connection),
 *   `host.listen(port, config, opts)` (a Listener; accepted children arrive at
 *   `host.onAccept(conn, port)`), `host.call(conn, now => conn.send(buf, now))` for user
 *   calls (it services the connection afterwards: output onto the link, timer re-armed).
 *   Several connections may share one link (a shared bottleneck).
 * - `runTransfer(opts)` — one client/server pair moving `upload` and/or `download` bytes,
 *   each side half-closing when it has written everything and closing after the peer's EOF;
 *   resolves when both are CLOSED (client after TIME-WAIT: use a short `msl`) or at
 *   `maxTime`. Returns what each side received, both connections and the links.
 * - `secure: true` (SimNet option, runTransfer option) — segments cross the links as the secure
 *   mode's datagrams (src/sim/secure.ts: a SecureCore and a static key per host, the Noise
 *   handshake, ChaCha20-Poly1305, the replay window); the impairments hit those datagrams,
 *   `drop`/`extraDelay` excepted (they see segments). `result.secure` has both sides' counters.
 * - `BulkApp` — the application half used by runTransfer (write a buffer, read everything),
 *   reusable for multi-flow tests: `new BulkApp(host, conn, data)`.
 *
 * ## Example (a CUBIC flow through a 10 Mbit/s bottleneck with a 50 kB queue)
 * ```ts
 * const r = runTransfer({
 *   clientConfig: defaultTcpConfig({ cc: 'cubic', msl: 1000 }),
 *   ab: { delay: 20, rate: 1.25e6, queueBytes: 50_000 },
 *   ba: { delay: 20 },
 *   upload: Buffer.alloc(2_000_000, 7),
 *   maxTime: 120_000,
 *   onTrace: (ev) => { if (ev.type === 'cwnd') samples.push(ev); },
 * });
 * expect(r.ok).to.equal(true);
 * expect(r.serverReceived.equals(upload)).to.equal(true);
 * ```
 */
import type { TcpConfig, TcpTraceEvent } from '../tcp/types.js';
import type { Connection } from '../tcp/connection.js';
import type { ListenerOptions } from '../tcp/listener.js';
import { SimClock } from './clock.js';
import type { SimLink, LinkOptions } from './link.js';
import { SimNet, type SimHost } from './net.js';
import type { SecureStats } from '../secure/core.js';

export { SimClock, prng, type SimTimer } from './clock.js';
export { SimLink, wireSize, type LinkOptions, type LinkStats } from './link.js';
export { SimNet, SimHost } from './net.js';
export { SimSecure } from './secure.js';

/**
 * The application half of a bulk flow: writes `data` as the send buffer allows, half-closes
 * when all is written, reads everything, and closes once the peer's EOF has been read and
 * its own FIN is queued.
 */
export class BulkApp {
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  private written = 0;
  private ended = false;
  eof = false;
  closedError?: string;
  closed = false;

  constructor(
    readonly host: SimHost,
    readonly conn: Connection,
    readonly data: Buffer,
    opts: { onTrace?: (ev: TcpTraceEvent) => void; writeChunk?: number } = {},
  ) {
    const chunk = opts.writeChunk ?? 65536;
    conn.hooks = {
      onEstablished: () => this.pump(chunk),
      onWritable: () => this.pump(chunk),
      onReadable: () => this.drain(),
      onClosed: (err) => {
        this.closed = true;
        if (err) this.closedError = err;
      },
      ...(opts.onTrace ? { onTrace: opts.onTrace } : {}),
    };
    this.pump(chunk);
    this.drain();
  }

  private pump(chunk: number): void {
    const c = this.conn;
    if (this.ended || c.state === 'SYN-SENT' || c.state === 'SYN-RECEIVED' || c.state === 'CLOSED') return;
    const now = this.host.net.clock.now;
    while (this.written < this.data.length) {
      const n = c.send(this.data.subarray(this.written, Math.min(this.data.length, this.written + chunk)), now);
      this.written += n;
      if (n === 0) break;
    }
    if (this.written >= this.data.length) {
      this.ended = true;
      c.shutdown(now);
      this.maybeClose();
    }
    this.host.service(c);
  }

  private drain(): void {
    const c = this.conn;
    for (let b = c.read(); b; b = c.read()) {
      this.received.push(b);
      this.receivedBytes += b.length;
    }
    if (c.remoteClosed && c.readableLength === 0) this.eof = true;
    this.maybeClose();
    this.host.service(c);
  }

  private maybeClose(): void {
    if (this.eof && this.ended && this.conn.state !== 'CLOSED') this.conn.close(this.host.net.clock.now);
  }

  get receivedData(): Buffer {
    return Buffer.concat(this.received);
  }
}

export interface TransferOptions {
  clientConfig: TcpConfig;
  /** Default: clientConfig. */
  serverConfig?: TcpConfig;
  /** Client->server and server->client links (ba defaults to ab without rate/queue). */
  ab?: LinkOptions;
  ba?: LinkOptions;
  upload?: Buffer;
  download?: Buffer;
  /** Virtual-time bound, ms (default 600 000). */
  maxTime?: number;
  clientIss?: number;
  serverIss?: number;
  onTrace?: (ev: TcpTraceEvent) => void;
  onServerTrace?: (ev: TcpTraceEvent) => void;
  listener?: ListenerOptions;
  clock?: SimClock;
  /** Run the flow over the secure mode (src/sim/secure.ts): sealed datagrams on the links. */
  secure?: boolean;
}

export interface TransferResult {
  /** Both sides reached CLOSED and received exactly what the other sent. */
  ok: boolean;
  bothClosed: boolean;
  time: number;
  clientReceived: Buffer;
  serverReceived: Buffer;
  client: Connection;
  server?: Connection;
  clientApp: BulkApp;
  serverApp?: BulkApp;
  ab: SimLink;
  ba: SimLink;
  clock: SimClock;
  /** With `secure`: the client's and the server's secure-mode counters. */
  secure?: { client: SecureStats; server: SecureStats };
}

/**
 * Runs one client/server transfer on a fresh simulated network. Both configs get
 * allowHalfOpen: true (the application half-closes after writing and closes after EOF).
 */
export function runTransfer(o: TransferOptions): TransferResult {
  const clock = o.clock ?? new SimClock();
  const net = new SimNet(clock, { secure: o.secure ?? false });
  const a = net.host(0x0a4d0001);
  const b = net.host(0x0a4d0002);
  const ab = o.ab ?? { delay: 10 };
  const ba = o.ba ?? { ...ab, rate: undefined, queueBytes: undefined };
  const links = net.link(a, b, ab, ba);
  const ccfg = { ...o.clientConfig, allowHalfOpen: true };
  const scfg = { ...(o.serverConfig ?? o.clientConfig), allowHalfOpen: true };
  const upload = o.upload ?? Buffer.alloc(0);
  const download = o.download ?? Buffer.alloc(0);
  let serverApp: BulkApp | undefined;
  const listenerOpts: ListenerOptions = { ...o.listener };
  if (o.serverIss !== undefined) {
    const iss = o.serverIss;
    listenerOpts.isn = { isn: () => iss };
  }
  b.listen(80, scfg, listenerOpts);
  b.onAccept = (c) => {
    serverApp = new BulkApp(b, c, download, o.onServerTrace ? { onTrace: o.onServerTrace } : {});
  };
  const client = a.connect(b.addr, 80, ccfg, o.clientIss !== undefined ? { iss: o.clientIss } : {});
  const clientApp = new BulkApp(a, client, upload, o.onTrace ? { onTrace: o.onTrace } : {});
  const bothClosed = () => client.state === 'CLOSED' && serverApp !== undefined && serverApp.conn.state === 'CLOSED';
  clock.runUntil(bothClosed, { maxTime: clock.now + (o.maxTime ?? 600_000) });
  net.secure?.stop();
  const clientReceived = clientApp.receivedData;
  const serverReceived = serverApp ? serverApp.receivedData : Buffer.alloc(0);
  const closed = bothClosed();
  const res: TransferResult = {
    ok: closed && clientReceived.equals(download) && serverReceived.equals(upload),
    bothClosed: closed,
    time: clock.now,
    clientReceived,
    serverReceived,
    client,
    clientApp,
    ab: links.ab,
    ba: links.ba,
    clock,
  };
  if (net.secure) res.secure = { client: net.secure.stats(a.addr)!, server: net.secure.stats(b.addr)! };
  if (serverApp) {
    res.server = serverApp.conn;
    res.serverApp = serverApp;
  }
  return res;
}
