/**
 * Simulated hosts joined by SimLinks, driving sans-IO Connections and Listeners on a SimClock
 * through the servicing loop the real driver uses (src/tcp/engine.ts): after every input,
 * timer or user call the host takes the connection's output onto the link and re-arms one
 * virtual timer at nextDeadline(). With `bursts` (SimNet option), segments that arrive at the
 * same virtual instant form a receive burst, as a read of datagrams does on real UDP: the
 * ACK for in-order data then waits for the burst's end (coalesceAcks), exactly as there.
 */
import type { TcpSegment } from '../wire/tcp.js';
import { Connection, type ConnectOptions } from '../tcp/connection.js';
import { Listener, type ListenerOptions } from '../tcp/listener.js';
import { rstFor } from '../tcp/rst.js';
import { ServiceLoop } from '../tcp/engine.js';
import type { TcpConfig } from '../tcp/types.js';
import type { SimClock, SimTimer } from './clock.js';
import { SimLink, type LinkOptions } from './link.js';
import { SimSecure } from './secure.js';

function key(localPort: number, remoteAddr: number, remotePort: number): string {
  return `${localPort}|${remoteAddr}|${remotePort}`;
}

export class SimHost {
  private readonly conns = new Map<string, Connection>();
  private readonly listeners = new Map<number, Listener>();
  private readonly timers = new Map<Connection, { at: number; t: SimTimer }>();
  private nextPort = 40000;
  /** Segments that found neither a connection nor a listener. */
  noConnection = 0;
  /** Called with each child a listener on this host accepted. */
  onAccept?: (c: Connection, port: number) => void;
  private readonly entries = new WeakMap<Connection, { readonly c: Connection }>();
  private readonly loop: ServiceLoop<{ readonly c: Connection }>;

  constructor(
    readonly net: SimNet,
    readonly addr: number,
  ) {
    const clock = net.clock;
    this.loop = new ServiceLoop({
      now: () => clock.now,
      service: (e) => this.service(e.c),
      // Events at the same instant run in scheduling order: this runs after the arrivals
      // already scheduled for now, i.e. when the burst is over.
      afterBurst: (fn) => void clock.schedule(clock.now, fn),
    });
  }

  private entry(c: Connection): { readonly c: Connection } {
    let e = this.entries.get(c);
    if (!e) this.entries.set(c, (e = { c }));
    return e;
  }

  /** Active open to addr:port; the SYN leaves at once. */
  connect(remoteAddr: number, remotePort: number, config: TcpConfig, opts: ConnectOptions & { localPort?: number } = {}): Connection {
    const localPort = opts.localPort ?? this.nextPort++;
    const c = Connection.connect({ localAddr: this.addr, localPort, remoteAddr, remotePort }, config, this.net.clock.now, opts);
    this.conns.set(key(localPort, remoteAddr, remotePort), c);
    this.service(c);
    return c;
  }

  listen(port: number, config: TcpConfig, opts: ListenerOptions = {}): Listener {
    const l = new Listener({ addr: this.addr, port }, config, opts);
    l.onAcceptable = () => {
      for (let c = l.accept(); c; c = l.accept()) this.onAccept?.(c, port);
    };
    this.listeners.set(port, l);
    return l;
  }

  closeListener(port: number): void {
    const l = this.listeners.get(port);
    if (!l) return;
    l.close(this.net.clock.now);
    this.listeners.delete(port);
    for (const o of l.takeOutput()) this.net.transmit(this.addr, o.remoteAddr, o.seg);
  }

  /** Runs a user call on `c` (with the current virtual time) and services the connection. */
  call<T>(c: Connection, fn: (now: number) => T): T {
    const r = fn(this.net.clock.now);
    this.service(c);
    return r;
  }

  /** Takes the output of `c` onto the network and re-arms its timer. */
  service(c: Connection): void {
    for (const seg of c.takeOutput()) this.net.transmit(this.addr, c.tuple.remoteAddr, seg);
    const at = c.nextDeadline();
    const cur = this.timers.get(c);
    if (at === undefined) {
      cur?.t.cancel();
      this.timers.delete(c);
    } else if (!cur || cur.at !== at) {
      cur?.t.cancel();
      const t = this.net.clock.schedule(at, () => {
        this.timers.delete(c);
        this.loop.timer(this.entry(c), this.net.clock.now);
      });
      this.timers.set(c, { at, t });
    }
    if (c.state === 'CLOSED' && at === undefined) {
      const k = key(c.tuple.localPort, c.tuple.remoteAddr, c.tuple.remotePort);
      if (this.conns.get(k) === c) this.conns.delete(k);
    }
  }

  /** A segment arrived from the network. */
  receive(seg: TcpSegment, src: number): void {
    const now = this.net.clock.now;
    const c = this.conns.get(key(seg.dstPort, src, seg.srcPort));
    if (c) {
      this.loop.deliver(this.entry(c), seg, this.net.bursts);
      return;
    }
    const l = this.listeners.get(seg.dstPort);
    if (l) {
      const child = l.input(seg, src, now);
      if (child) {
        this.conns.set(key(child.tuple.localPort, src, child.tuple.remotePort), child);
        this.service(child);
      }
      for (const o of l.takeOutput()) this.net.transmit(this.addr, o.remoteAddr, o.seg);
      return;
    }
    this.noConnection++;
    const r = rstFor(seg);
    if (r) this.net.transmit(this.addr, src, r);
  }

  /** Live connections on this host (not yet CLOSED with no timers). */
  get connections(): Connection[] {
    return [...this.conns.values()];
  }
}

export class SimNet {
  private readonly hosts = new Map<number, SimHost>();
  private readonly links = new Map<string, SimLink>();

  /**
   * Segments arriving at the same virtual instant form a receive burst (the real driver's
   * path: one ACK per burst with coalesceAcks). Default false: every segment is serviced
   * on its own, the classic per-segment behaviour the whole-flow tests were written for.
   */
  readonly bursts: boolean;
  /** With `secure`: the hosts' secure cores (segments cross the links as sealed datagrams). */
  readonly secure: SimSecure | undefined;

  constructor(
    readonly clock: SimClock,
    opts: { bursts?: boolean; secure?: boolean } = {},
  ) {
    this.bursts = opts.bursts ?? false;
    if (opts.secure) this.secure = new SimSecure(clock, (s, d) => this.linkBetween(s, d), (seg, src, dst) => this.hosts.get(dst)?.receive(seg, src));
  }

  host(addr: number): SimHost {
    let h = this.hosts.get(addr);
    if (!h) {
      h = new SimHost(this, addr);
      this.hosts.set(addr, h);
    }
    return h;
  }

  /** Joins a and b with one link each way (a->b uses `ab`, b->a uses `ba`, default same as ab). */
  link(a: SimHost, b: SimHost, ab: LinkOptions = {}, ba: LinkOptions = ab): { ab: SimLink; ba: SimLink } {
    const deliver = (seg: TcpSegment, src: number, dst: number) => this.hosts.get(dst)?.receive(seg, src);
    const l1 = new SimLink(this.clock, ab, deliver);
    const l2 = new SimLink(this.clock, { ...ba, seed: (ba.seed ?? 1) + 7919 }, deliver);
    this.links.set(`${a.addr}>${b.addr}`, l1);
    this.links.set(`${b.addr}>${a.addr}`, l2);
    this.secure?.pair(a.addr, b.addr);
    return { ab: l1, ba: l2 };
  }

  linkBetween(src: number, dst: number): SimLink | undefined {
    return this.links.get(`${src}>${dst}`);
  }

  transmit(src: number, dst: number, seg: TcpSegment): void {
    const l = this.links.get(`${src}>${dst}`);
    if (l && this.secure) this.secure.transmit(src, dst, seg);
    else if (l) l.send(seg, src, dst);
  }
}
