import { SimClock } from './clock.js';
import { SimNet } from './net.js';
export { SimClock, prng } from './clock.js';
export { SimLink, wireSize } from './link.js';
export { SimNet, SimHost } from './net.js';
/**
 * The application half of a bulk flow: writes `data` as the send buffer allows, half-closes
 * when all is written, reads everything, and closes once the peer's EOF has been read and
 * its own FIN is queued.
 */
export class BulkApp {
    host;
    conn;
    data;
    received = [];
    receivedBytes = 0;
    written = 0;
    ended = false;
    eof = false;
    closedError;
    closed = false;
    constructor(host, conn, data, opts = {}) {
        this.host = host;
        this.conn = conn;
        this.data = data;
        const chunk = opts.writeChunk ?? 65536;
        conn.hooks = {
            onEstablished: () => this.pump(chunk),
            onWritable: () => this.pump(chunk),
            onReadable: () => this.drain(),
            onClosed: (err) => {
                this.closed = true;
                if (err)
                    this.closedError = err;
            },
            ...(opts.onTrace ? { onTrace: opts.onTrace } : {}),
        };
        this.pump(chunk);
        this.drain();
    }
    pump(chunk) {
        const c = this.conn;
        if (this.ended || c.state === 'SYN-SENT' || c.state === 'SYN-RECEIVED' || c.state === 'CLOSED')
            return;
        const now = this.host.net.clock.now;
        while (this.written < this.data.length) {
            const n = c.send(this.data.subarray(this.written, Math.min(this.data.length, this.written + chunk)), now);
            this.written += n;
            if (n === 0)
                break;
        }
        if (this.written >= this.data.length) {
            this.ended = true;
            c.shutdown(now);
            this.maybeClose();
        }
        this.host.service(c);
    }
    drain() {
        const c = this.conn;
        for (let b = c.read(); b; b = c.read()) {
            this.received.push(b);
            this.receivedBytes += b.length;
        }
        if (c.remoteClosed && c.readableLength === 0)
            this.eof = true;
        this.maybeClose();
        this.host.service(c);
    }
    maybeClose() {
        if (this.eof && this.ended && this.conn.state !== 'CLOSED')
            this.conn.close(this.host.net.clock.now);
    }
    get receivedData() {
        return Buffer.concat(this.received);
    }
}
/**
 * Runs one client/server transfer on a fresh simulated network. Both configs get
 * allowHalfOpen: true (the application half-closes after writing and closes after EOF).
 */
export function runTransfer(o) {
    const clock = o.clock ?? new SimClock();
    const net = new SimNet(clock);
    const a = net.host(0x0a4d0001);
    const b = net.host(0x0a4d0002);
    const ab = o.ab ?? { delay: 10 };
    const ba = o.ba ?? { ...ab, rate: undefined, queueBytes: undefined };
    const links = net.link(a, b, ab, ba);
    const ccfg = { ...o.clientConfig, allowHalfOpen: true };
    const scfg = { ...(o.serverConfig ?? o.clientConfig), allowHalfOpen: true };
    const upload = o.upload ?? Buffer.alloc(0);
    const download = o.download ?? Buffer.alloc(0);
    let serverApp;
    const listenerOpts = { ...o.listener };
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
    const clientReceived = clientApp.receivedData;
    const serverReceived = serverApp ? serverApp.receivedData : Buffer.alloc(0);
    const closed = bothClosed();
    const res = {
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
    if (serverApp) {
        res.server = serverApp.conn;
        res.serverApp = serverApp;
    }
    return res;
}
