/**
 * The live view's data: a Server-Sent Events stream (`GET /events` on the metrics port)
 * that pushes, five times a second while at least one page is open,
 *
 *  - `sockets`: the rows of `/connections`, from the same function (listSockets), so the
 *    page shows exactly the numbers /connections and /metrics show;
 *  - `seq`: per connection, the time-sequence events since the previous frame (segments
 *    sent and retransmitted, ACKs with the receive window's edge, SACK blocks, segments
 *    received), taken from
 *    the `observers.trace` hook into a bounded ring per connection;
 *  - `chaos`: on a chaos proxy, every link (verdict counters, queue, toxics in force).
 *
 * Nothing runs when no page is open except the ring writes (a few stores per segment);
 * the ticker stops with the last client. Frames are serialized once for every client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { observers, type InventorySource } from './inventory.js';
import { listSockets } from './collectors.js';
import type { TcpTraceEvent } from '../tcp/types.js';
import { seqDiff } from '../tcp/seq.js';

/** Event kinds in a ring (and on the wire): [kind, t (ms), y1, y2]. */
export const EV_SEND = 0;
export const EV_RETRANSMIT = 1;
export const EV_ACK = 2;
export const EV_SACK = 3;
/** A data segment received (the peer's sequence space, relative to its first). */
export const EV_RECV = 4;
/** Numbers stored per event besides its kind: t, y1, y2. */
const FIELDS = 3;

/** One connection's recent time-sequence events, unwrapped relative to its first sequence number. */
export class SeqRing {
  private readonly buf: Float64Array;
  private readonly kinds: Uint8Array;
  /** Events ever written (the ring holds the last `capacity`). */
  total = 0;
  private base: number | undefined;
  private lastRaw = 0;
  private lastRel = 0;
  /** The peer's sequence space (segments received). */
  private peerBase: number | undefined;
  private peerRaw = 0;
  private peerRel = 0;
  /** Performance-clock ms of the last write, to expire rings of connections that are gone. */
  lastWrite = 0;

  constructor(readonly capacity: number) {
    this.buf = new Float64Array(capacity * FIELDS);
    this.kinds = new Uint8Array(capacity);
  }

  private rel(seq: number): number {
    if (this.base === undefined) {
      this.base = seq;
      this.lastRaw = seq;
      this.lastRel = 0;
    }
    this.lastRel += seqDiff(seq, this.lastRaw);
    this.lastRaw = seq;
    return this.lastRel;
  }

  private relPeer(seq: number): number {
    if (this.peerBase === undefined) {
      this.peerBase = (seq - 1) >>> 0;
      this.peerRaw = this.peerBase;
    }
    this.peerRel += seqDiff(seq, this.peerRaw);
    this.peerRaw = seq;
    return this.peerRel;
  }

  private put(kind: number, t: number, y1: number, y2: number): void {
    const i = this.total % this.capacity;
    this.kinds[i] = kind;
    const o = i * FIELDS;
    this.buf[o] = t;
    this.buf[o + 1] = y1;
    this.buf[o + 2] = y2;
    this.total++;
    this.lastWrite = t;
  }

  record(ev: TcpTraceEvent): void {
    if (ev.type === 'send' && this.base === undefined && ev.len > 0) {
      // Created at the first data segment (ISS + 1): relative sequence numbers start at 1, as in tcptrace.
      this.rel((ev.seq - 1) >>> 0);
    }
    if (ev.type === 'send') {
      // Pure ACKs and the bare SYN/FIN carry no data to draw, but fix the base.
      const y1 = this.rel(ev.seq);
      if (ev.len > 0) this.put(ev.retransmit ? EV_RETRANSMIT : EV_SEND, ev.t, y1, y1 + ev.len);
    } else if (ev.type === 'recv' && ev.len > 0) {
      const y1 = this.relPeer(ev.seq);
      this.put(EV_RECV, ev.t, y1, y1 + ev.len);
    } else if (ev.type === 'ack' && this.base !== undefined) {
      const a = this.rel(ev.ack);
      this.put(EV_ACK, ev.t, a, a + ev.window);
      for (const b of ev.sack ?? []) this.put(EV_SACK, ev.t, a + seqDiff(b.left, ev.ack), a + seqDiff(b.right, ev.ack));
    }
  }

  /** Events after `since` (a previous `total`), at most `max` of the newest: flat [kind, t, y1, y2, ...]. */
  since(since: number, max: number): number[] {
    const from = Math.max(since, this.total - this.capacity, this.total - max);
    const out: number[] = [];
    for (let n = from; n < this.total; n++) {
      const i = n % this.capacity;
      const o = i * FIELDS;
      out.push(this.kinds[i]!, round3(this.buf[o]!), this.buf[o + 1]!, this.buf[o + 2]!);
    }
    return out;
  }
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

export interface LiveLink {
  name: string;
  up: unknown;
  down: unknown;
  toxics: Array<Record<string, unknown>>;
}

export interface LiveOptions {
  /** Where the socket rows come from (the same as /connections). */
  sources: () => InventorySource[];
  /** Chaos proxy links (present on a proxy's page). */
  links?: () => LiveLink[];
  /** Whether the proxy's control API is reachable through this server (`/api/...`). */
  control?: boolean;
  /** Frame interval, ms (default 200: five updates a second). */
  intervalMs?: number;
  /** Events kept per connection (default 4096) and connections traced (default 64). */
  ringCapacity?: number;
  maxRings?: number;
  /** Install the trace observer (default true). */
  trace?: boolean;
}

interface Client {
  res: ServerResponse;
  /** Per ring, its `total` when this client last got its events. */
  cursor: Map<string, number>;
}

/** Per frame and connection, at most this many events are sent (the newest). */
const MAX_EVENTS_PER_FRAME = 3000;
/** A ring whose connection left the inventory is dropped after this long without events. */
const RING_EXPIRY_MS = 60_000;

export class LiveHub {
  private readonly rings = new Map<string, SeqRing>();
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | undefined;
  private due = 0;
  private previousTrace: typeof observers.trace;
  private observer: typeof observers.trace;
  private installed = false;
  private closed = false;
  readonly intervalMs: number;
  private readonly ringCapacity: number;
  private readonly maxRings: number;
  /** Frames and bytes pushed (for tests and the benchmark). */
  frames = 0;
  bytes = 0;

  constructor(private readonly opts: LiveOptions) {
    this.intervalMs = opts.intervalMs ?? 200;
    this.ringCapacity = opts.ringCapacity ?? 4096;
    this.maxRings = opts.maxRings ?? 64;
    if (opts.trace !== false) this.install();
  }

  /** Chains onto any trace observer already set (e.g. --trace's writer). */
  private install(): void {
    const previous = observers.trace;
    this.previousTrace = previous;
    const record = (conn: string, ev: TcpTraceEvent): void => {
      if (!this.closed) this.record(conn, ev);
    };
    this.observer = previous
      ? (conn, ev) => {
          previous(conn, ev);
          record(conn, ev);
        }
      : record;
    observers.trace = this.observer;
    this.installed = true;
  }

  record(conn: string, ev: TcpTraceEvent): void {
    let r = this.rings.get(conn);
    if (!r) {
      // A ring starts with the connection's first data segment, sent or received: handshakes
      // that never carry data (a SYN flood's half-open connections) cost nothing here.
      if ((ev.type !== 'send' && ev.type !== 'recv') || ev.len === 0) return;
      if (this.rings.size >= this.maxRings) this.expire(ev.t, true);
      if (this.rings.size >= this.maxRings) return;
      r = new SeqRing(this.ringCapacity);
      this.rings.set(conn, r);
    }
    r.record(ev);
  }

  /** Drops rings idle for RING_EXPIRY_MS (or, when `force`, the longest idle one). */
  private expire(now: number, force = false): void {
    let oldest: string | undefined;
    let oldestAt = Infinity;
    for (const [k, r] of this.rings) {
      if (now - r.lastWrite > RING_EXPIRY_MS) {
        this.rings.delete(k);
      } else if (r.lastWrite < oldestAt) {
        oldestAt = r.lastWrite;
        oldest = k;
      }
    }
    if (force && oldest !== undefined && this.rings.size >= this.maxRings) {
      this.rings.delete(oldest);
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The connections with a ring (for tests). */
  ring(conn: string): SeqRing | undefined {
    return this.rings.get(conn);
  }

  /** The part of a frame every client shares (sockets, chaos links), as JSON without the braces. */
  private shared(kind: 'hello' | 'tick', now: number): string {
    const f: Record<string, unknown> = {
      kind,
      t: round3(now),
      intervalMs: this.intervalMs,
      sockets: listSockets(this.opts.sources(), now),
    };
    if (this.opts.links) f.chaos = { links: this.opts.links(), control: this.opts.control === true };
    return JSON.stringify(f).slice(1, -1);
  }

  /** The sequence events since `cursor` (advanced in place), as a JSON object. */
  private seqSince(cursor: Map<string, number>, max: number): string {
    const seq: Record<string, number[]> = {};
    for (const [conn, r] of this.rings) {
      const from = cursor.get(conn) ?? 0;
      if (r.total > from) seq[conn] = r.since(from, max);
      cursor.set(conn, r.total);
    }
    return JSON.stringify(seq);
  }

  /** Handles `GET /events`: an SSE stream until the client goes away. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    // The first frame carries the recent history (the newest events of each ring), so a page
    // opened mid-run has something to show.
    const client: Client = { res, cursor: new Map() };
    this.write(res, `{"seq":${this.seqSince(client.cursor, MAX_EVENTS_PER_FRAME)},${this.shared('hello', performance.now())}}`);
    this.clients.add(client);
    const gone = (): void => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    };
    req.on('close', gone);
    res.on('error', gone);
    if (!this.timer) {
      this.due = performance.now();
      this.schedule();
    }
  }

  private write(res: ServerResponse, json: string): void {
    const text = `data: ${json}\n\n`;
    this.bytes += text.length;
    res.write(text);
  }

  /**
   * The next tick at the next multiple of the interval: a busy event loop (a bulk transfer
   * in this process) delays single ticks, but the rate holds on average; a tick more than
   * one interval late is not made up twice.
   */
  private schedule(): void {
    const now = performance.now();
    this.due = Math.max(this.due + this.intervalMs, now);
    this.timer = setTimeout(() => {
      this.tick();
      if (this.timer) this.schedule();
    }, this.due - now);
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    this.expire(now);
    let shared: string;
    try {
      shared = this.shared('tick', now);
    } catch (err) {
      shared = `"kind":"error","message":${JSON.stringify((err as Error).message)}`;
    }
    this.frames++;
    for (const c of this.clients) {
      // A client that cannot keep up (its socket buffer is full) skips frames instead of queueing them.
      if (c.res.writableLength > 1 << 20) continue;
      this.write(c.res, `{"seq":${this.seqSince(c.cursor, MAX_EVENTS_PER_FRAME)},${shared}}`);
    }
  }

  close(): void {
    this.closed = true;
    this.stop();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.rings.clear();
    if (this.installed && observers.trace === this.observer) {
      // Restore the previous observer only if nobody chained onto ours since (else ours stays, inert).
      observers.trace = this.previousTrace;
    }
    this.installed = false;
  }
}
