import { Connection } from '../tcp/connection.js';
import { Listener } from '../tcp/listener.js';
import { rstFor } from '../tcp/rst.js';
import { SimLink } from './link.js';
function key(localPort, remoteAddr, remotePort) {
    return `${localPort}|${remoteAddr}|${remotePort}`;
}
export class SimHost {
    net;
    addr;
    conns = new Map();
    listeners = new Map();
    timers = new Map();
    nextPort = 40000;
    /** Segments that found neither a connection nor a listener. */
    noConnection = 0;
    /** Called with each child a listener on this host accepted. */
    onAccept;
    constructor(net, addr) {
        this.net = net;
        this.addr = addr;
    }
    /** Active open to addr:port; the SYN leaves at once. */
    connect(remoteAddr, remotePort, config, opts = {}) {
        const localPort = opts.localPort ?? this.nextPort++;
        const c = Connection.connect({ localAddr: this.addr, localPort, remoteAddr, remotePort }, config, this.net.clock.now, opts);
        this.conns.set(key(localPort, remoteAddr, remotePort), c);
        this.service(c);
        return c;
    }
    listen(port, config, opts = {}) {
        const l = new Listener({ addr: this.addr, port }, config, opts);
        l.onAcceptable = () => {
            for (let c = l.accept(); c; c = l.accept())
                this.onAccept?.(c, port);
        };
        this.listeners.set(port, l);
        return l;
    }
    closeListener(port) {
        const l = this.listeners.get(port);
        if (!l)
            return;
        l.close(this.net.clock.now);
        this.listeners.delete(port);
        for (const o of l.takeOutput())
            this.net.transmit(this.addr, o.remoteAddr, o.seg);
    }
    /** Runs a user call on `c` (with the current virtual time) and services the connection. */
    call(c, fn) {
        const r = fn(this.net.clock.now);
        this.service(c);
        return r;
    }
    /** Takes the output of `c` onto the network and re-arms its timer. */
    service(c) {
        for (const seg of c.takeOutput())
            this.net.transmit(this.addr, c.tuple.remoteAddr, seg);
        const at = c.nextDeadline();
        const cur = this.timers.get(c);
        if (at === undefined) {
            cur?.t.cancel();
            this.timers.delete(c);
        }
        else if (!cur || cur.at !== at) {
            cur?.t.cancel();
            const t = this.net.clock.schedule(at, () => {
                this.timers.delete(c);
                c.onTimer(this.net.clock.now);
                this.service(c);
            });
            this.timers.set(c, { at, t });
        }
        if (c.state === 'CLOSED' && at === undefined) {
            const k = key(c.tuple.localPort, c.tuple.remoteAddr, c.tuple.remotePort);
            if (this.conns.get(k) === c)
                this.conns.delete(k);
        }
    }
    /** A segment arrived from the network. */
    receive(seg, src) {
        const now = this.net.clock.now;
        const c = this.conns.get(key(seg.dstPort, src, seg.srcPort));
        if (c) {
            c.input(seg, now);
            this.service(c);
            return;
        }
        const l = this.listeners.get(seg.dstPort);
        if (l) {
            const child = l.input(seg, src, now);
            if (child) {
                this.conns.set(key(child.tuple.localPort, src, child.tuple.remotePort), child);
                this.service(child);
            }
            for (const o of l.takeOutput())
                this.net.transmit(this.addr, o.remoteAddr, o.seg);
            return;
        }
        this.noConnection++;
        const r = rstFor(seg);
        if (r)
            this.net.transmit(this.addr, src, r);
    }
    /** Live connections on this host (not yet CLOSED with no timers). */
    get connections() {
        return [...this.conns.values()];
    }
}
export class SimNet {
    clock;
    hosts = new Map();
    links = new Map();
    constructor(clock) {
        this.clock = clock;
    }
    host(addr) {
        let h = this.hosts.get(addr);
        if (!h) {
            h = new SimHost(this, addr);
            this.hosts.set(addr, h);
        }
        return h;
    }
    /** Joins a and b with one link each way (a->b uses `ab`, b->a uses `ba`, default same as ab). */
    link(a, b, ab = {}, ba = ab) {
        const deliver = (seg, src, dst) => this.hosts.get(dst)?.receive(seg, src);
        const l1 = new SimLink(this.clock, ab, deliver);
        const l2 = new SimLink(this.clock, { ...ba, seed: (ba.seed ?? 1) + 7919 }, deliver);
        this.links.set(`${a.addr}>${b.addr}`, l1);
        this.links.set(`${b.addr}>${a.addr}`, l2);
        return { ab: l1, ba: l2 };
    }
    linkBetween(src, dst) {
        return this.links.get(`${src}>${dst}`);
    }
    transmit(src, dst, seg) {
        const l = this.links.get(`${src}>${dst}`);
        if (l)
            l.send(seg, src, dst);
    }
}
