/**
 * Sans-IO LISTEN (RFC 9293 3.10.7.2): the SYN queue (children in SYN-RECEIVED), the accept
 * queue (children ESTABLISHED and not yet accepted), the backlog, and a hook for SYN cookies
 * (RFC 4987 3.6) used when the queues are full.
 *
 * In LISTEN:
 *   - a RST is ignored;
 *   - an ACK gets <SEQ=SEG.ACK><CTL=RST> (unless a SYN cookie validates it);
 *   - a SYN creates a child Connection in SYN-RECEIVED which sends the SYN-ACK; the driver
 *     registers the child under its 4-tuple so later segments go straight to it;
 *   - anything else is dropped.
 *
 * Queue policy (like Linux): a SYN is dropped (or answered with a cookie) when the accept
 * queue is full or the SYN queue holds `synBacklog` children; while the accept queue is full,
 * the ACK completing a handshake is ignored by the child (it stays in SYN-RECEIVED and its
 * SYN-ACK timer retransmits later).
 */
import { ACK, RST, SYN, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import type { FourTuple, TcpConfig } from './types.js';
import { countDrop, type DropCounts, type ListenerDropReason } from './drops.js';
import { Connection, type ChildLink } from './connection.js';
import { defaultIsnGenerator, type IsnGenerator } from './isn.js';
import { rstFor } from './rst.js';
import { seqAdd } from './seq.js';

/** Hook for SYN cookies (implemented by src/tcp/syncookie.ts SynCookieJar). */
export interface SynCookieHook {
  /** A SYN arrived while the SYN or accept queue is full: return an ISS (the cookie) to answer statelessly, or undefined to drop. */
  issForSyn(seg: TcpSegment, remoteAddr: number, now: number): number | undefined;
  /** A bare ACK matched no connection: when SEG.ACK-1 is a valid cookie, return what the SYN negotiated, else undefined. */
  checkAck(seg: TcpSegment, remoteAddr: number, now: number): { mss: number; sackPermitted?: boolean; wscale?: number; ts?: boolean } | undefined;
  /**
   * Optional, preferred over issForSyn: the whole cookie SYN-ACK plan. `tsNow` is our TSval
   * clock; a returned `tsval` carries the options in its low bits (Linux scheme), and only
   * then are window scale and SACK-permitted offered (without it they could not be restored).
   */
  synAck?(seg: TcpSegment, remoteAddr: number, now: number, tsNow?: number): { isn: number; mss: number; tsval?: number };
}

export interface ListenerOptions {
  /** Accept-queue limit (node's backlog, default 511). */
  backlog?: number;
  /** SYN-queue limit (handshakes in progress); default max(backlog, 128). */
  synBacklog?: number;
  isn?: Pick<IsnGenerator, 'isn'>;
  synCookies?: SynCookieHook;
  /** TSval offset for children (RFC 7323 5.4). */
  tsOffset?: number;
}

const NO_OUTPUT: ReadonlyArray<{ seg: TcpSegment; remoteAddr: number }> = Object.freeze([]);

export class Listener {
  backlog: number;
  synBacklog: number;
  /** Called when a child reached the accept queue. */
  onAcceptable?: () => void;
  /** Told of every segment the listener discards (the driver counts them at the host). */
  onDrop?: (reason: ListenerDropReason) => void;
  /** Set (or replace) the SYN-cookie hook at any time. */
  synCookies?: SynCookieHook;
  readonly local: { addr: number; port: number };
  readonly config: TcpConfig;
  /** Segments dropped by the listener, by reason. */
  /** Segments the listener discarded, by typed reason (drops.ts). */
  readonly drops: DropCounts<ListenerDropReason> = {};

  private readonly isn: Pick<IsnGenerator, 'isn'>;
  private readonly tsOffset?: number;
  private readonly synQueue = new Set<Connection>();
  private readonly acceptQueue: Connection[] = [];
  private out: Array<{ seg: TcpSegment; remoteAddr: number }> = [];
  private closed = false;
  private readonly link: ChildLink;

  constructor(local: { addr: number; port: number }, config: TcpConfig, opts: ListenerOptions = {}) {
    this.local = local;
    this.config = config;
    this.backlog = opts.backlog ?? 511;
    this.synBacklog = opts.synBacklog ?? Math.max(this.backlog, 128);
    this.isn = opts.isn ?? defaultIsnGenerator();
    this.synCookies = opts.synCookies;
    this.tsOffset = opts.tsOffset;
    this.link = {
      canEstablish: () => !this.closed && this.acceptQueue.length < this.backlog,
      established: (c) => {
        if (!this.synQueue.delete(c)) return;
        this.acceptQueue.push(c);
        this.onAcceptable?.();
      },
      closed: (c) => {
        this.synQueue.delete(c);
        const i = this.acceptQueue.indexOf(c);
        if (i >= 0) this.acceptQueue.splice(i, 1);
      },
    };
  }

  /**
   * A segment for this listener's port that matched no connection. Returns the new child (in
   * SYN-RECEIVED, or ESTABLISHED when a SYN cookie completed) if one was created: the driver
   * registers it under its 4-tuple and takes its output (the SYN-ACK). Other replies (RST,
   * cookie SYN-ACKs) come out of the listener's takeOutput(). Never throws.
   */
  input(seg: TcpSegment, remoteAddr: number, now: number): Connection | undefined {
    try {
      return this.listenInput(seg, remoteAddr, now);
    } catch {
      this.drop('internal_error');
      return undefined;
    }
  }

  private listenInput(seg: TcpSegment, remoteAddr: number, now: number): Connection | undefined {
    // First: a RST is ignored (scenario 2).
    if (seg.flags & RST) {
      this.drop('listen_rst');
      return undefined;
    }
    const tuple: FourTuple = { localAddr: this.local.addr, localPort: seg.dstPort, remoteAddr, remotePort: seg.srcPort };
    // Second: an ACK is bad in LISTEN: RST with seq = SEG.ACK (or a SYN-cookie completion).
    if (seg.flags & ACK) {
      if (!(seg.flags & SYN) && this.synCookies && !this.closed && this.acceptQueue.length < this.backlog) {
        const neg = this.synCookies.checkAck(seg, remoteAddr, now);
        if (neg) {
          const child = Connection.fromSynCookie(tuple, this.config, seg, neg, now, { tsOffset: this.tsOffset });
          child.childLink = this.link;
          this.synQueue.add(child);
          // The ACK may carry data: let the child process it as an ordinary segment.
          if (seg.payload.length > 0) child.input(seg, now);
          this.link.established(child);
          return child;
        }
      }
      const r = rstFor(seg);
      if (r) this.out.push({ seg: r, remoteAddr });
      this.drop('listen_ack');
      return undefined;
    }
    // Third: a SYN.
    if (!(seg.flags & SYN)) {
      this.drop('listen_no_syn');
      return undefined;
    }
    if (this.closed) {
      this.drop('listener_closed');
      return undefined;
    }
    if (this.acceptQueue.length >= this.backlog || this.synQueue.size >= this.synBacklog) {
      const hook = this.synCookies;
      if (hook?.synAck) {
        const plan = hook.synAck(seg, remoteAddr, now, this.tsNow(now));
        this.out.push({ seg: this.cookieSynAck(seg, plan.isn >>> 0, now, plan.mss, plan.tsval), remoteAddr });
        return undefined;
      }
      const cookie = hook?.issForSyn(seg, remoteAddr, now);
      if (cookie === undefined) {
        this.drop('queue_full');
        return undefined;
      }
      this.out.push({ seg: this.cookieSynAck(seg, cookie >>> 0, now, this.config.mss, undefined), remoteAddr });
      return undefined;
    }
    const child = Connection.accept(tuple, this.config, seg, now, { iss: this.isn.isn(tuple, now), tsOffset: this.tsOffset });
    child.childLink = this.link;
    this.synQueue.add(child);
    return child;
  }

  private tsNow(now: number): number {
    return (Math.floor(now) + (this.tsOffset ?? 0)) >>> 0;
  }

  /**
   * A stateless SYN-ACK carrying the cookie as ISS. With a cookie plan (`planned` set), WS and
   * SACK-permitted are offered only when the TSval carries them; otherwise the SYN's options
   * are echoed as for a normal SYN-ACK.
   */
  private cookieSynAck(syn: TcpSegment, iss: number, now: number, mss: number, tsval: number | undefined, planned = tsval !== undefined || !!this.synCookies?.synAck): TcpSegment {
    const o: TcpOptions = { mss };
    const optionsRestorable = !planned || tsval !== undefined;
    if (optionsRestorable && this.config.windowScale && syn.options.wscale !== undefined) {
      let ws = 0;
      while (ws < 14 && this.config.rcvBuf > 65535 * 2 ** ws) ws++;
      o.wscale = ws;
    }
    if (optionsRestorable && this.config.sack && syn.options.sackPermitted) o.sackPermitted = true;
    if (this.config.timestamps && syn.options.ts) {
      o.ts = { val: tsval ?? this.tsNow(now), ecr: syn.options.ts.val };
    }
    return {
      srcPort: syn.dstPort,
      dstPort: syn.srcPort,
      seq: iss,
      ack: seqAdd(syn.seq, 1),
      flags: SYN | ACK,
      window: Math.min(this.config.rcvBuf, 65535),
      urgent: 0,
      options: o,
      payload: Buffer.alloc(0),
    };
  }

  takeOutput(): Array<{ seg: TcpSegment; remoteAddr: number }> {
    // Nothing (the usual case: every SYN of a normal open): one shared, frozen empty array,
    // not a new one per segment.
    if (this.out.length === 0) return NO_OUTPUT as Array<{ seg: TcpSegment; remoteAddr: number }>;
    const o = this.out;
    this.out = [];
    return o;
  }

  /** The next established child, or undefined. */
  accept(): Connection | undefined {
    const c = this.acceptQueue.shift();
    if (c) c.childLink = undefined;
    return c;
  }

  get synQueueLength(): number {
    return this.synQueue.size;
  }

  get acceptQueueLength(): number {
    return this.acceptQueue.length;
  }

  /**
   * Stop listening: un-accepted children (SYN queue and accept queue) are reset; their RSTs
   * come out of the listener's takeOutput() (scenario 18).
   */
  close(now: number): void {
    if (this.closed) return;
    this.closed = true;
    const children = [...this.synQueue, ...this.acceptQueue];
    this.synQueue.clear();
    this.acceptQueue.length = 0;
    for (const c of children) {
      c.childLink = undefined;
      c.abort(now);
      for (const seg of c.takeOutput()) this.out.push({ seg, remoteAddr: c.tuple.remoteAddr });
    }
  }

  private drop(reason: ListenerDropReason): void {
    countDrop(this.drops, reason);
    this.onDrop?.(reason);
  }
}
