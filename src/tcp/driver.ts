/**
 * The TCP driver: binds sans-IO Connections and Listeners to one Host and to real timers.
 *
 *   packet in -> decode + checksum (pseudo-header) -> demux by 4-tuple -> Connection.input
 *             -> else the listener on the local port -> else an RST (RFC 9293 3.10.7.1)
 *   after every input, user call or timer: drain takeOutput() and encode each segment into
 *   an IPv4 packet sent at once (one synchronous burst, never an await per packet), then
 *   re-arm the connection's single timer at nextDeadline() (conn-timer.ts).
 *
 * One TcpStack per host (`TcpStack.for(host)`), registered as the host's IPPROTO_TCP
 * handler and as an inventory source (connections, listeners, totals).
 */
import type { HostLike, ProtocolHandler } from '../host/types.js';
import { inventory, observers, emptyTotals, type TcpListenerSnapshot, type TcpStackTotals } from '../observe/inventory.js';
import { ConnectionLimit, DEFAULT_MAX_CONNECTIONS_PER_HOST, processBuffers } from '../limits.js';
import { makeError } from '../util/errors.js';
import { allocPacket, releasePacket } from '../util/slab.js';
import { formatIpv4 } from '../wire/addr.js';
import { UNREACH_FRAG_NEEDED, UNREACH_HOST, UNREACH_NET, UNREACH_PORT, UNREACH_PROTOCOL, ICMP_DEST_UNREACH } from '../wire/icmp.js';
import { IPV4_HEADER_LEN, writeIpv4Header, type Ipv4Fields, type Ipv4Header } from '../wire/ipv4.js';
import { decodeTcpAt, encodedOptionsLength, RST, SEND_APART_MIN, SYN, TCP_HEADER_LEN, writeTcp, writeTcpHeader, type TcpSegment } from '../wire/tcp.js';
import { clampToReceiveCapacity, defaultTcpConfig } from './config.js';
import { Connection } from './connection.js';
import { defaultIsnGenerator } from './isn.js';
import { Listener } from './listener.js';
import { rstFor } from './rst.js';
import type { TcpDropReason } from './drops.js';
import { ServiceLoop } from './engine.js';
import { SynCookieJar } from './syncookie.js';
import { portKey, TimeWait, TimeWaitTable } from './time-wait.js';
import { takeJoined } from './send.js';
import type { ConnectionHooks, FourTuple, RetransmitKind, TcpConfig, TcpErrorCode, TcpInfo } from './types.js';
import { ConnTimer } from './conn-timer.js';
import { checkLocalAddress, LocalPorts } from './ports.js';
import { chainHooks, EV_CLOSED, offerAccepted, syscallFor, TcpConn, type ListenerEntry, type TcpConnHooks } from './tcp-conn.js';

export { TcpConn, type TcpConnHooks } from './tcp-conn.js';
export { EPHEMERAL_HIGH, EPHEMERAL_LOW } from './ports.js';

export const IPPROTO_TCP = 6;

/** TCP settings a socket or server may override (TcpConfig fields plus node:net's names). */
export interface TcpOptionsOverride extends Partial<TcpConfig> {
  /** node:net's name for the keep-alive idle time, ms. */
  keepAliveInitialDelay?: number;
}

export interface ConnectRequest {
  remoteAddr: number;
  remotePort: number;
  localPort?: number | undefined;
  localAddress?: string | undefined;
  config?: TcpOptionsOverride;
}

export interface ListenRequest {
  port: number;
  address?: string | undefined;
  backlog: number;
  config?: TcpOptionsOverride;
}

export interface TcpListenerHandle {
  readonly address: string;
  readonly port: number;
  close(): void;
}

export class TcpStack implements ProtocolHandler {
  private static readonly stacks = new WeakMap<HostLike, TcpStack>();

  /** The stack of `host`, created (and registered as its TCP handler) on first use. */
  static for(host: HostLike): TcpStack {
    let s = TcpStack.stacks.get(host);
    if (!s) {
      s = new TcpStack(host);
      TcpStack.stacks.set(host, s);
    }
    return s;
  }

  /** Connections by portKey(localPort, remotePort), then by remote address (as an int32: a small integer key). */
  private readonly conns = new Map<number, Map<number, TcpConn>>();
  private readonly listeners = new Map<number, ListenerEntry>();
  /** An active open may reuse a TIME-WAIT record's 4-tuple when no ephemeral port is free (ports.ts; event `time_wait_reused`). */
  timeWaitReuse = true;
  /** A TIME-WAIT record whose 4-tuple a provably new SYN reopens (segmentIn): the listener's ISN is kept above its SND.NXT. */
  private reopening: TimeWait | undefined;
  /** The ISNs of listeners' children (RFC 6528), above the old SND.NXT when reopening a TIME-WAIT 4-tuple. */
  private readonly childIsn = {
    isn: (tuple: FourTuple, now: number): number => {
      const iss = defaultIsnGenerator().isn(tuple, now);
      return this.reopening ? this.reopening.nextIss(iss) : iss;
    },
  };
  private readonly totals: TcpStackTotals = emptyTotals();
  /** Retransmits of connections that have closed. */
  private readonly closedRetransmits: Record<RetransmitKind, number> = { rto: 0, fast: 0, tlp: 0, rack: 0, probe: 0, pmtu: 0 };
  private depth = 0;
  private readonly ipFields: Ipv4Fields = { src: 0, dst: 0, protocol: IPPROTO_TCP, id: 0 };
  private readonly dirty = new Set<TcpConn>();
  /**
   * Compact TIME-WAIT records (time-wait.ts), keyed like `conns`: a connection in TIME-WAIT
   * whose socket is gone is replaced by one. They keep their port and their connection slot
   * (connectionCount, the connection limit) until 2*MSL is over, as the connection did.
   */
  private readonly timeWaits = new TimeWaitTable(
    () => this.now(),
    (tw) => this.timeWaitOver(tw),
  );
  /** Local ports in use, the ephemeral range and the choice of a port (ports.ts). */
  private readonly ports = new LocalPorts(
    {
      listening: (port) => this.listeners.has(port),
      connected: (lp, rp, ra) => this.lookup(lp, rp, ra)?.c,
    },
    this.timeWaits,
  );
  /** A burst's encoded packets (flushOne), reused: no array per burst. */
  private readonly pkts: Array<Buffer | undefined> = [];
  /** Receive bursts, timers and entry points: the loop shared with the simulator (engine.ts). */
  private readonly loop = new ServiceLoop<TcpConn>({
    now: () => this.now(),
    service: (tc) => this.flush(tc),
    afterBurst: (fn) => setImmediate(fn),
    enter: () => this.depth++,
    leave: () => this.depth--,
  });
  /** Each connection's one real timer (conn-timer.ts). */
  readonly timers = new ConnTimer(() => this.now(), (tc, now) => this.loop.timer(tc, now));
  private readonly unregister: () => void;
  /** @internal Counts a connection's or listener's drop at the host, as `tcp_<reason>` (drops.ts; also TcpConn.onDrop). */
  readonly countTcpDrop = (reason: TcpDropReason): void => this.host.countDrop(`tcp_${reason}`);
  private connCount = 0;

  /**
   * Open connections on this host (src/limits.ts; like RLIMIT_NOFILE): connect() beyond it
   * fails with EMFILE, and a handshake beyond it on the passive side is reset and counted.
   */
  readonly connectionLimit: ConnectionLimit;

  private constructor(readonly host: HostLike) {
    this.connectionLimit = new ConnectionLimit(DEFAULT_MAX_CONNECTIONS_PER_HOST, `host ${host.addressString}`);
    host.setProtocolHandler(IPPROTO_TCP, this);
    this.unregister = inventory.add({
      tcpConnections: (now) => this.connectionInfos(now),
      tcpListeners: () => this.listenerSnapshots(),
      tcpTotals: () => this.snapshotTotals(),
    });
  }

  now(): number {
    return this.host.now();
  }

  /** Live connections (any state but CLOSED), including TIME-WAIT. */
  get connectionCount(): number {
    return this.connCount;
  }

  /** Connections in TIME-WAIT held as compact records (time-wait.ts); they count in connectionCount. */
  get timeWaitRecords(): number {
    return this.timeWaits.size;
  }

  /**
   * Connections in TIME-WAIT: the compact records and the connections not (yet) compacted,
   * as the inventory (`overlay ss`) lists them, without building a TCP_INFO for each.
   */
  get timeWaitCount(): number {
    let n = this.timeWaits.size;
    for (const tc of this.connections()) if (tc.c.state === 'TIME-WAIT') n++;
    return n;
  }

  /** Every connection (not the TIME-WAIT records), by port pair and remote address. */
  private *connections(): IterableIterator<TcpConn> {
    for (const m of this.conns.values()) yield* m.values();
  }

  // ---- configuration ----

  /** The ephemeral port range (like Linux's ip_local_port_range), default 49152-65535. */
  get ephemeralRange(): { low: number; high: number } {
    return this.ports.range;
  }

  set ephemeralRange(r: { low: number; high: number }) {
    this.ports.range = r;
  }

  /** The full config for a new connection: defaults, MSS from the MTU, the overrides. */
  configFor(o: TcpOptionsOverride = {}): TcpConfig {
    const keepAliveInitialDelay = o.keepAliveInitialDelay;
    // defaultTcpConfig copies the overrides and drops undefined ones, node:net's name with them
    // (a rest destructuring per connect cost more than the rest of this function).
    const cfg = defaultTcpConfig(keepAliveInitialDelay === undefined ? o : { ...o, keepAliveInitialDelay: undefined });
    cfg.mss = Math.min(o.mss ?? Infinity, this.host.mtu - 40);
    clampToReceiveCapacity(cfg, this.host.receiveCapacity?.());
    if (keepAliveInitialDelay !== undefined && keepAliveInitialDelay > 0) cfg.keepAliveIdle = keepAliveInitialDelay;
    // The socket layer implements node:net's allowHalfOpen itself (it ends the write side
    // after 'end'); the connection must never send a FIN the application did not ask for.
    cfg.allowHalfOpen = true;
    return cfg;
  }

  // ---- opening ----

  /** Active open. Throws EADDRNOTAVAIL / EADDRINUSE synchronously. */
  connect(req: ConnectRequest, hooks: TcpConnHooks): TcpConn {
    checkLocalAddress(this.host.addressString, req.localAddress, 'connect', req.localPort ?? 0);
    const localAddr = this.host.address;
    const reuseAt = this.timeWaitReuse ? this.now() : undefined;
    const bound = req.localPort !== undefined && req.localPort !== 0;
    let localPort = req.localPort ?? 0;
    if (bound && this.listeners.has(localPort)) throw makeError('EADDRINUSE', 'connect', { address: this.host.addressString, port: localPort });
    if (!bound) {
      const p = this.ports.choose(req.remoteAddr, req.remotePort, reuseAt);
      localPort = typeof p === 'number' ? p : p.tuple.localPort;
    }
    const tuple: FourTuple = { localAddr, localPort, remoteAddr: req.remoteAddr, remotePort: req.remotePort };
    // A TIME-WAIT on the 4-tuple that gives way hands its port and connection slot over.
    const old = this.takeTimeWait(tuple, reuseAt, bound);
    const limitErr = this.connectionLimit.openOrError(formatIpv4(req.remoteAddr), req.remotePort);
    if (limitErr) throw limitErr;
    const cfg = this.configFor(req.config);
    const now = this.now();
    const pathMtu = this.host.pmtu?.get(req.remoteAddr, now); // PMTU: what the host learned about this destination
    if (pathMtu !== undefined) cfg.pathMtu = pathMtu;
    const c = Connection.connect(tuple, cfg, now, old?.reuseOptions(tuple, now));
    if (old) this.totals.events.time_wait_reused++;
    const tc = new TcpConn(this, c);
    tc.hooks = hooks;
    this.install(tc);
    this.totals.events.active_open++;
    this.flush(tc);
    return tc;
  }

  /** Passive open. Throws EADDRINUSE / EADDRNOTAVAIL synchronously. */
  listen(req: ListenRequest, onConnection: (conn: TcpConn) => void): TcpListenerHandle {
    checkLocalAddress(this.host.addressString, req.address, 'listen', req.port);
    let port = req.port;
    if (port === 0) {
      port = this.ports.choose(0, 0) as number;
    } else if (this.listeners.has(port)) {
      throw makeError('EADDRINUSE', 'listen', { address: req.address ?? '0.0.0.0', port });
    }
    const cfg = this.configFor(req.config);
    // SYN cookies (RFC 4987; src/tcp/syncookie.ts) answer SYNs statelessly once the SYN or
    // accept queue is full, so a flood cannot lock legitimate clients out.
    const synCookies = new SynCookieJar({
      localAddr: this.host.address,
      mss: cfg.mss,
      sack: cfg.sack,
      windowScale: cfg.windowScale,
      timestampOptions: cfg.timestamps,
      onEvent: (kind) => {
        if (kind === 'sent') this.totals.events.syn_cookie++;
      },
    });
    const listener = new Listener({ addr: this.host.address, port }, cfg, { backlog: req.backlog, synCookies, isn: this.childIsn });
    const entry: ListenerEntry = { listener, port, onConnection, closed: false };
    listener.onAcceptable = () => this.drainAccept(entry);
    listener.onDrop = this.countTcpDrop;
    this.listeners.set(port, entry);
    const address = req.address ?? '0.0.0.0';
    return {
      address,
      port,
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        this.listeners.delete(port);
        listener.close(this.now());
        this.flushListener(listener);
      },
    };
  }

  private drainAccept(entry: ListenerEntry): void {
    if (entry.closed) return;
    for (let c = entry.listener.accept(); c; c = entry.listener.accept()) {
      // A SYN-cookie child can be established before input() returned it: adopt it here.
      const tc = this.lookup(c.tuple.localPort, c.tuple.remotePort, c.tuple.remoteAddr) ?? this.adoptChild(entry, c);
      if (tc.c !== c || tc.closed) continue;
      tc.established = true;
      // 'connection' runs on a later tick (user code, outside the receive path).
      process.nextTick(offerAccepted, entry, tc); // arguments, not a closure per connection
    }
  }

  // ---- the connection table ----

  private lookup(localPort: number, remotePort: number, remoteAddr: number): TcpConn | undefined {
    return this.conns.get(portKey(localPort, remotePort))?.get(remoteAddr | 0);
  }

  private install(tc: TcpConn): void {
    const t = tc.tuple;
    const key = portKey(t.localPort, t.remotePort);
    let m = this.conns.get(key);
    if (!m) this.conns.set(key, (m = new Map()));
    m.set(t.remoteAddr | 0, tc);
    this.ports.add(t.localPort);
    this.connCount++;
    tc.c.ackAfterEvents = true; // events reach the application on a later tick: an ACK may wait for them
    // Observers are read once, at creation: with none set, no hook is installed at all, and
    // the TcpConn itself is the connection's hooks (its methods; no closures per connection).
    const trace = observers.trace;
    const rtt = observers.rtt;
    if (!trace && !rtt) {
      tc.c.hooks = chainHooks(tc.c.hooks, tc);
      return;
    }
    const hooks: ConnectionHooks = {
      onEstablished: () => tc.onEstablished(),
      onReadable: () => tc.onReadable(),
      onWritable: () => tc.onWritable(),
      onClosed: (error) => tc.onClosed(error),
      onDrop: this.countTcpDrop,
    };
    if (trace) {
      const label = tc.label;
      hooks.onTrace = (ev) => trace(label, ev);
    }
    if (rtt) hooks.onRtt = (ms) => rtt(ms / 1000);
    // Chain any hooks the connection already has (a Listener may watch its children).
    const prev = tc.c.hooks;
    tc.c.hooks = chainHooks(prev, hooks);
  }

  private remove(tc: TcpConn): void {
    if (tc.compacted) return; // its record holds the slot now
    if (tc.charged > 0) {
      processBuffers.release(tc.charged);
      tc.charged = 0;
    }
    const t = tc.tuple;
    const key = portKey(t.localPort, t.remotePort);
    const m = this.conns.get(key);
    if (m?.get(t.remoteAddr | 0) === tc) {
      m.delete(t.remoteAddr | 0);
      if (m.size === 0) this.conns.delete(key);
      this.ports.release(t.localPort);
      this.connCount--;
      if (!tc.overLimit) this.connectionLimit.close();
    }
    this.timers.clear(tc);
  }

  /** @internal (TcpConn.onClosed) */
  connClosed(tc: TcpConn, error: TcpErrorCode | undefined): void {
    if (tc.closed) return;
    tc.closed = true;
    // Flush first: the connection's last segments (an RST, a final ACK) must still leave.
    this.dirty.add(tc);
    // Its retransmissions stay in the stack's totals (TCP_INFO's retransmits are these counters).
    this.addClosedRetransmits(tc.c.snd.retransmits);
    const code = tc.forcedError ?? error;
    if (code === 'ECONNRESET') this.totals.events.reset_in++;
    else if (code === 'ETIMEDOUT') this.totals.events.timeout++;
    else if (code === 'ECONNREFUSED') this.totals.events.refused++;
    tc.closeCode = code;
    tc.closeSyscall = code ? syscallFor(code, tc.established) : undefined;
    // Removal happens after the flush (see flushDirty).
    tc.post(EV_CLOSED);
  }

  // ---- driving ----

  /**
   * Runs a user call, `fn(tc, arg)`, then flushes and re-arms `tc` (unless inside another
   * entry point). The hot user calls (TcpConn.write and read) pass a module-level `fn` and
   * their argument in `arg`, so no closure is allocated per call.
   */
  call<R, A = undefined>(tc: TcpConn, fn: (tc: TcpConn, arg: A) => R, arg?: A): R {
    this.depth++;
    try {
      return fn(tc, arg as A);
    } finally {
      this.depth--;
      this.flush(tc);
    }
  }

  private flush(tc: TcpConn): void {
    if (this.depth === 0 && this.dirty.size === 0) {
      // The hot path: one connection, nothing else pending; no set or array churn.
      this.depth++;
      try {
        this.flushOne(tc);
      } finally {
        this.depth--;
      }
      if (this.dirty.size > 0) this.flushDirty();
      return;
    }
    this.dirty.add(tc);
    if (this.depth === 0) this.flushDirty();
  }

  private flushDirty(): void {
    // Hooks called while flushing may dirty more connections; loop until quiet.
    this.depth++;
    try {
      while (this.dirty.size > 0) {
        const list = [...this.dirty];
        this.dirty.clear();
        for (const tc of list) this.flushOne(tc);
      }
    } finally {
      this.depth--;
    }
  }

  private flushOne(tc: TcpConn): void {
    if (tc.c.ackDeferred) tc.scheduleAckRelease(); // an ACK waits for the application's turn
    const segs = tc.c.takeOutput();
    if (segs.length > 0) {
      const t = tc.c.tuple;
      // Encode the whole burst, then send it in a tight loop: the kernel's send path stays
      // warm in the caches instead of alternating with the encoder.
      let routed = true;
      if (segs.length === 1) {
        routed = this.sendEncoded(this.encode(segs[0]!, t.localAddr, t.remoteAddr), t.remoteAddr, segs[0]!.payload);
      } else {
        // Cleared slot by slot, not with length = 0 (which would free the backing store).
        const pkts = this.pkts;
        const n = segs.length;
        try {
          for (let i = 0; i < n; i++) pkts[i] = this.encode(segs[i]!, t.localAddr, t.remoteAddr);
          for (let i = 0; i < n; i++) routed = this.sendEncoded(pkts[i]!, t.remoteAddr, segs[i]!.payload) && routed;
        } finally {
          for (let i = 0; i < n; i++) pkts[i] = undefined;
        }
      }
      // No route for our SYN: fail at once with EHOSTUNREACH, as a kernel does, instead
      // of retrying into silence until ETIMEDOUT.
      if (!routed && !tc.closed && tc.c.state === 'SYN-SENT') this.abortOpening(tc, 'EHOSTUNREACH');
    }
    if (tc.closed) this.remove(tc);
    else if (segs.length > 0 || !tc.turnAhead) {
      tc.armAfterTurn = false;
      this.timers.arm(tc);
    }
    // With nothing sent, and the application's turn ahead, a Node timer to set or clear
    // waits for the turn's end: the reply its handler writes leaves first (tc.armAfterTurn).
    else if (this.timers.wouldSet(tc)) tc.armAfterTurn = true;
    if (tc.onFinished && tc.finished()) {
      const f = tc.onFinished;
      tc.onFinished = undefined;
      f();
    }
    if (tc.released && this.compactable(tc)) this.compact(tc);
  }

  /** @internal (TcpConn.release) The socket is gone: a connection already in TIME-WAIT is compacted now. */
  onReleased(tc: TcpConn): void {
    if (this.depth === 0 && !this.dirty.has(tc) && this.compactable(tc)) this.compact(tc);
  }

  /** Still a live entry of the table, nothing waiting on its FIN, and in TIME-WAIT (TimeWait.canCompact). */
  private compactable(tc: TcpConn): boolean {
    return !tc.closed && !tc.compacted && !tc.onFinished && TimeWait.canCompact(tc.c);
  }

  /**
   * Replaces a released connection in TIME-WAIT by its compact record: the Connection, its
   * TcpConn and the socket's last references become garbage; the record answers the 4-tuple
   * until 2*MSL is over. Its port, its place in connectionCount and its connection slot stay.
   */
  private compact(tc: TcpConn): void {
    const t = tc.tuple;
    const key = portKey(t.localPort, t.remotePort);
    const m = this.conns.get(key);
    if (m?.get(t.remoteAddr | 0) !== tc) return;
    const tw = new TimeWait(tc.c);
    tw.onDrop = this.countTcpDrop;
    tw.overLimit = tc.overLimit;
    tc.compacted = true;
    this.timers.clear(tc);
    if (tc.charged > 0) {
      processBuffers.release(tc.charged);
      tc.charged = 0;
    }
    m.delete(t.remoteAddr | 0);
    if (m.size === 0) this.conns.delete(key);
    this.timeWaits.add(tw);
  }

  /**
   * What holds an active open's 4-tuple (chosen, or named: `bound`): nothing, or a TIME-WAIT
   * the reuse rule lets go, returned and gone: a record leaves the table; a connection not
   * compacted (held by its socket or a tracer) is made a record of, then closed (its socket
   * sees a clean close). Anything else: EADDRINUSE.
   */
  private takeTimeWait(t: FourTuple, reuseAt: number | undefined, bound: boolean): TimeWait | undefined {
    const tw = this.timeWaits.lookup(t.localPort, t.remotePort, t.remoteAddr);
    const tc = this.lookup(t.localPort, t.remotePort, t.remoteAddr);
    if (tw === undefined && tc === undefined) return undefined;
    if (reuseAt !== undefined && tw?.reusableAt(reuseAt, bound)) {
      this.retire(tw);
      return tw;
    }
    if (reuseAt !== undefined && tc && !tc.closed && TimeWait.heldReusable(tc.c, reuseAt, bound)) {
      const held = new TimeWait(tc.c);
      this.call(tc, (t) => t.c.enterClosed(undefined));
      this.remove(tc); // now, even inside another entry point (the flush removes it later)
      return held;
    }
    throw makeError('EADDRINUSE', 'connect', { address: this.host.addressString, port: t.localPort });
  }

  /** A record leaves before its 2*MSL is over: its 4-tuple is reused (port, slot and counts as timeWaitOver). */
  private retire(tw: TimeWait): void {
    if (this.timeWaits.remove(tw)) this.timeWaitOver(tw);
  }

  /**
   * A provably new SYN for a TIME-WAIT record (TimeWait.synIsNew: RFC 6191, RFC 1122 4.2.2.13)
   * goes to the listener on its port (ISN above the old SND.NXT) and the record is gone; event
   * `time_wait_reopened`. Without a listener, or for any other SYN, the record answers it.
   */
  private reopen(tw: TimeWait, seg: TcpSegment, dst: number, src: number, now: number): boolean {
    const entry = this.listeners.get(seg.dstPort);
    if (entry === undefined || entry.closed || dst !== this.host.address || !tw.synIsNew(seg)) return false;
    this.retire(tw);
    this.totals.events.time_wait_reopened++;
    this.reopening = tw;
    try {
      this.listenerInput(entry, seg, src, now);
    } finally {
      this.reopening = undefined;
    }
    return true;
  }

  /** A segment for a compact TIME-WAIT: its answer leaves at once; a restart moves the deadline. */
  private timeWaitInput(tw: TimeWait, seg: TcpSegment, now: number): void {
    tw.input(seg, now);
    const t = tw.tuple;
    for (const out of tw.takeOutput()) this.transmit(out, t.localAddr, t.remoteAddr);
  }

  /** 2*MSL is over (or the stack is destroyed): the record is gone, and with it the port and the connection slot. */
  private timeWaitOver(tw: TimeWait): void {
    this.ports.release(tw.tuple.localPort);
    this.connCount--;
    if (!tw.overLimit) this.connectionLimit.close();
    this.addClosedRetransmits(tw.retransmits);
  }

  /** A finished connection's (or TIME-WAIT record's) retransmissions, kept in the stack's totals. */
  private addClosedRetransmits(r: Partial<Record<RetransmitKind, number>>): void {
    for (const k of Object.keys(this.closedRetransmits) as RetransmitKind[]) this.closedRetransmits[k] += r[k] ?? 0;
  }

  /** Encodes and sends one segment; false when the host had no route for it. */
  private transmit(seg: TcpSegment, src: number, dst: number): boolean {
    return this.sendEncoded(this.encode(seg, src, dst), dst, seg.payload);
  }

  /** One buffer per packet, the payload copied once (encodeTcpPacket's layout, without its per-packet object spread). */
  private encode(seg: TcpSegment, src: number, dst: number): Buffer {
    const ip = this.ipFields;
    ip.src = src;
    ip.dst = dst;
    ip.id = this.host.nextIpId();
    const n = seg.payload.length;
    // A large payload stays where it is: the packet is its headers (sendEncoded sends both).
    const apart = n >= SEND_APART_MIN && this.host.sendParts !== undefined;
    const pkt = allocPacket(IPV4_HEADER_LEN + TCP_HEADER_LEN + encodedOptionsLength(seg.options) + (apart ? 0 : n));
    writeIpv4Header(pkt, ip, pkt.length + (apart ? n : 0));
    if (apart) writeTcpHeader(pkt, IPV4_HEADER_LEN, seg, src, dst);
    else writeTcp(pkt, IPV4_HEADER_LEN, seg, src, dst);
    this.totals.segmentsOut++;
    this.totals.bytesOut += seg.payload.length;
    if (seg.flags & RST) this.totals.events.reset_out++;
    return pkt;
  }

  /** Sends what encode() built: the packet, or its headers and then `payload`; the host owns the packet from here (`give`: nothing here keeps it). */
  private sendEncoded(pkt: Buffer, dst: number, payload: Buffer): boolean {
    try {
      // A payload joined from two send-pool blocks is a packet of its own: given back once sent.
      const joined = takeJoined(payload);
      if (pkt.length !== ((pkt[2]! << 8) | pkt[3]!)) return this.host.sendParts!(pkt, payload, dst, true, joined);
      if (joined) releasePacket(payload); // copied into the packet
      return this.host.sendPacket(pkt, dst, true);
    } catch {
      // EMSGSIZE: the MSS is derived from the MTU, so this is a bug or a tiny MTU.
      this.host.countDrop('tcp_emsgsize');
      return true;
    }
  }

  // ---- receive path (ProtocolHandler) ----

  onPacket(ip: Ipv4Header, payload: Buffer): void {
    this.segmentIn(ip, payload, 0, payload.length);
  }

  /** The host's receive path: the segment at packet[ip.headerLength, ip.totalLength). */
  onPacketAt(ip: Ipv4Header, packet: Buffer): void {
    this.segmentIn(ip, packet, ip.headerLength, ip.totalLength);
  }

  private segmentIn(ip: Ipv4Header, buf: Buffer, start: number, end: number): void {
    const seg = decodeTcpAt(buf, start, end, ip.src, ip.dst);
    if (typeof seg === 'string') {
      this.host.countDrop(seg);
      return;
    }
    this.totals.segmentsIn++;
    this.totals.bytesIn += seg.payload.length;
    const tc = this.lookup(seg.dstPort, seg.srcPort, ip.src);
    if (tc) {
      // Memory pressure: when the process-wide budget for received-but-unread bytes is
      // spent, data segments are dropped (the peer retransmits once readers catch up), as
      // Linux does above tcp_mem. Bare ACKs still pass, so our own sending is not stalled.
      if (seg.payload.length > 0 && processBuffers.available < seg.payload.length) {
        this.host.countDrop('tcp_mem_pressure');
        return;
      }
      // A receive burst: libuv reads the datagrams that are ready (up to 32 per socket) and
      // Node emits them one by one within the poll phase; setImmediate runs after it, in the
      // check phase. So a connection's output (its ACK, the data ACKs released) leaves once
      // per burst instead of once per datagram (Connection.input, coalesceAcks).
      this.loop.deliver(tc, seg);
      if (seg.payload.length > 0 || tc.charged > 0) tc.recharge();
      return;
    }
    const now = this.now(); // (a connection's segment reads the clock in loop.deliver)
    const tw = this.timeWaits.lookup(seg.dstPort, seg.srcPort, ip.src);
    if (tw) {
      if (seg.payload.length > 0 && processBuffers.available < seg.payload.length) {
        this.host.countDrop('tcp_mem_pressure');
        return;
      }
      if (seg.flags & SYN && this.reopen(tw, seg, ip.dst, ip.src, now)) return;
      this.timeWaitInput(tw, seg, now);
      return;
    }
    const entry = this.listeners.get(seg.dstPort);
    if (entry && ip.dst === this.host.address) {
      this.listenerInput(entry, seg, ip.src, now);
      return;
    }
    // RFC 9293 3.10.7.1: CLOSED (no connection): reset anything that is not itself a reset.
    if (seg.flags & RST) {
      this.host.countDrop('tcp_rst_no_connection');
      return;
    }
    this.host.countDrop('tcp_no_connection');
    const rst = rstFor(seg);
    if (rst) this.transmit(rst, ip.dst, ip.src);
  }

  private listenerInput(entry: ListenerEntry, seg: TcpSegment, remoteAddr: number, now: number): void {
    const l = entry.listener;
    let child: Connection | undefined;
    this.depth++;
    try {
      child = l.input(seg, remoteAddr, now);
    } finally {
      this.depth--;
    }
    if (child) {
      const known = this.lookup(child.tuple.localPort, child.tuple.remotePort, child.tuple.remoteAddr);
      this.flush(known?.c === child ? known : this.adoptChild(entry, child));
    }
    this.flushListener(l);
    this.drainAccept(entry);
  }

  private adoptChild(entry: ListenerEntry, child: Connection): TcpConn {
    const tc = new TcpConn(this, child);
    tc.owner = entry;
    if (!this.connectionLimit.tryOpen()) {
      // Over the host's connection limit: reset the handshake (counted by the limit).
      this.host.countDrop('tcp_conn_limit');
      tc.overLimit = true;
      this.install(tc);
      tc.abort();
      return tc;
    }
    this.install(tc);
    this.totals.events.passive_open++;
    return tc;
  }

  private flushListener(l: Listener): void {
    for (const o of l.takeOutput()) this.transmit(o.seg, this.host.address, o.remoteAddr);
  }

  /**
   * ICMP destination unreachable quoting one of our segments (RFC 1122 4.2.3.9): a hard
   * error aborts a connection that is still opening; later it is only advisory.
   */
  onIcmpError(type: number, code: number, quoted: Ipv4Header, quotedPayload: Buffer, _from?: number, rest = 0): void {
    if (type === ICMP_DEST_UNREACH && code === UNREACH_FRAG_NEEDED) return this.onFragNeeded(quoted, quotedPayload, rest & 0xffff);
    if (type !== ICMP_DEST_UNREACH || quotedPayload.length < 4) return;
    const localPort = quotedPayload.readUInt16BE(0);
    const remotePort = quotedPayload.readUInt16BE(2);
    const tc = this.lookup(localPort, remotePort, quoted.dst);
    if (!tc || tc.closed || tc.c.state !== 'SYN-SENT') return;
    let errCode: 'ECONNREFUSED' | 'EHOSTUNREACH';
    if (code === UNREACH_PORT || code === UNREACH_PROTOCOL) errCode = 'ECONNREFUSED';
    else if (code === UNREACH_HOST || code === UNREACH_NET) errCode = 'EHOSTUNREACH';
    else return;
    this.abortOpening(tc, errCode);
  }

  /**
   * ICMP fragmentation needed (RFC 1191) about one of our segments: the connection checks the
   * quoted sequence number against its data in flight (RFC 5927) and lowers its MSS; the host
   * remembers the path MTU for new connections. Anything that matches nothing is counted.
   */
  private onFragNeeded(quoted: Ipv4Header, quotedPayload: Buffer, nextHopMtu: number): void {
    if (quotedPayload.length < 8) return this.host.countDrop('icmp_pmtu_truncated_quote');
    const tc = this.lookup(quotedPayload.readUInt16BE(0), quotedPayload.readUInt16BE(2), quoted.dst);
    if (!tc || tc.closed) return this.host.countDrop('icmp_pmtu_no_connection');
    const why = this.call(tc, () => tc.c.onFragNeeded(quotedPayload.readUInt32BE(4), nextHopMtu, quoted.totalLength, this.now()));
    if (why) return this.host.countDrop(why);
    this.host.pmtu?.update(quoted.dst, tc.c.pmtu.mtu, this.now());
  }

  /** Ends a connection in SYN-SENT with an error the connection itself does not know. */
  private abortOpening(tc: TcpConn, code: 'ECONNREFUSED' | 'EHOSTUNREACH'): void {
    tc.forcedError = code;
    // In SYN-SENT, ABORT sends nothing (RFC 9293 3.10.4); onClosed reports `code`.
    tc.abort();
  }

  // ---- inventory ----

  private connectionInfos(now: number): TcpInfo[] {
    const out: TcpInfo[] = [];
    for (const tc of this.connections()) {
      try {
        out.push(tc.c.getInfo(now));
      } catch {
        // a connection that cannot describe itself is skipped, never fatal
      }
    }
    for (const tw of this.timeWaits.values()) out.push(tw.getInfo());
    return out;
  }

  private listenerSnapshots(): TcpListenerSnapshot[] {
    return [...this.listeners.values()].map((e) => ({
      localAddress: this.host.addressString,
      localPort: e.port,
      backlog: e.listener.backlog,
      synQueue: e.listener.synQueueLength,
      acceptQueue: e.listener.acceptQueueLength,
    }));
  }

  private snapshotTotals(): TcpStackTotals {
    // Each connection's and record's retransmit counters (what their TCP_INFO copies),
    // read in place: no TCP_INFO built for every connection and TIME-WAIT record.
    const r = { ...this.closedRetransmits };
    const add = (x: Partial<Record<RetransmitKind, number>>): void => {
      for (const k of Object.keys(r) as RetransmitKind[]) r[k] += x[k] ?? 0;
    };
    for (const tc of this.connections()) add(tc.c.snd.retransmits);
    for (const tw of this.timeWaits.values()) add(tw.retransmits);
    return { ...this.totals, retransmits: r, events: { ...this.totals.events } };
  }

  /** Running totals (segments, bytes, events, retransmits including closed connections). */
  stats(): TcpStackTotals {
    return this.snapshotTotals();
  }

  /**
   * The host closed: its listeners and connections leave the inventory (/connections, metrics,
   * `overlay ss`), so a closed host's sockets are not reported as live.
   */
  onHostClose(): void {
    this.unregister();
  }

  /** Aborts every connection, closes every listener and unregisters from the inventory. */
  destroy(): void {
    for (const e of [...this.listeners.values()]) {
      e.closed = true;
      e.listener.close(this.now());
      this.flushListener(e.listener);
    }
    this.listeners.clear();
    for (const tc of [...this.connections()]) tc.abort();
    for (const tc of [...this.connections()]) this.remove(tc);
    this.timeWaits.clear();
    this.unregister();
    TcpStack.stacks.delete(this.host);
  }
}
