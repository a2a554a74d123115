/**
 * The perf server: accepts one test at a time on an overlay port (default 5201). A
 * second client while a test runs gets {"t":"busy"}; a client that dies or misbehaves
 * ends its test (streams destroyed) and the server goes on serving.
 */
import type { HostLike } from '../../index.js';
import { createServer, type Server, type Socket } from '../../net.js';
import type { OverlayTcpOptions } from '../forward.js';
import { buildEnd, type EndSection } from './report.js';
import { clientSends, parseMessage, readLines, sendMessage, streamCount, type SideResults, type TestParams } from './protocol.js';
import { Session, type Interval } from './session.js';
import { listened } from '../listen.js';

export interface ServerTestEvents {
  /** A test was accepted from `client` ("addr:port"). */
  onTest?(client: string, params: TestParams): void;
  onConnected?(id: number, s: Socket): void;
  onInterval?(iv: Interval, params: TestParams): void;
  /** The test finished with both sides' results. */
  onEnd?(end: EndSection, params: TestParams): void;
  /** The test was abandoned (the client died, a stream failed, a bad message...). */
  onAbort?(why: string): void;
}

export interface PerfServerOptions extends ServerTestEvents {
  host: HostLike;
  port: number;
  tcp?: OverlayTcpOptions;
  /** A test that has not ended this long after its planned end is abandoned (default 30 s). */
  graceMs?: number;
}

export interface PerfServer {
  readonly port: number;
  readonly busy: boolean;
  close(): Promise<void>;
}

const MAX_STREAMS = 256;
/** Idle time before the control connection's keepalive probes (a dead client is found ~3 s later). */
export const CONTROL_KEEPALIVE_MS = 2000;

function validParams(x: unknown): x is TestParams {
  const p = x as TestParams;
  return (
    !!p &&
    Number.isInteger(p.streams) && p.streams >= 1 && p.streams <= MAX_STREAMS / 2 &&
    typeof p.reverse === 'boolean' && typeof p.bidir === 'boolean' &&
    typeof p.duration === 'number' && p.duration > 0 && p.duration <= 86400 &&
    typeof p.omit === 'number' && p.omit >= 0 && p.omit <= 3600 &&
    typeof p.interval === 'number' && p.interval >= 0 &&
    Number.isInteger(p.len) && p.len >= 1 && p.len <= 16 * 1024 * 1024
  );
}

interface Test {
  cookie: string;
  params: TestParams;
  control: Socket;
  streams: Array<Socket | undefined>;
  session?: Session;
  timer?: NodeJS.Timeout;
  over: boolean;
}

export async function startPerfServer(opts: PerfServerOptions): Promise<PerfServer> {
  let test: Test | undefined;
  const grace = opts.graceMs ?? 30_000;

  const abort = (t: Test, why: string): void => {
    if (t.over) return;
    t.over = true;
    if (t.timer) clearTimeout(t.timer);
    t.session?.abort();
    for (const s of t.streams) s?.resetAndDestroy();
    t.control.resetAndDestroy();
    if (test === t) test = undefined;
    opts.onAbort?.(why);
  };

  const onControl = (control: Socket, first: string): void => {
    const m = parseMessage(first);
    if (!m || m.t !== 'hello' || typeof m.cookie !== 'string' || !validParams(m.params)) {
      sendMessage(control, { t: 'error', message: 'bad hello from the client' });
      control.end();
      return;
    }
    if (test) {
      sendMessage(control, { t: 'busy', message: 'the server is busy running a test, try again later' });
      control.end();
      return;
    }
    const params = m.params;
    const t: Test = { cookie: m.cookie, params, control, streams: new Array<Socket | undefined>(streamCount(params)).fill(undefined), over: false };
    test = t;
    opts.onTest?.(`${control.remoteAddress}:${control.remotePort}`, params);
    // Nothing may take forever: connecting, the test itself and the exchange of results.
    t.timer = setTimeout(() => abort(t, 'the test did not finish in time'), (params.omit + params.duration) * 1000 + grace);
    t.timer.unref();
    control.setKeepAlive(true, CONTROL_KEEPALIVE_MS);
    control.on('error', () => abort(t, 'the control connection failed'));
    control.on('close', () => abort(t, 'the client closed the control connection'));
    // The client never half-closes before its results: an early FIN means it is gone.
    control.on('end', () => abort(t, 'the client closed the control connection'));
    readLines(
      control,
      (line) => {
        const msg = parseMessage(line);
        if (!msg) {
          abort(t, 'bad control message');
          return false;
        }
        if (msg.t === 'end') {
          t.session?.stopSending();
          void t.session?.done.then(() => {
            if (t.over || !t.session) return;
            const local: SideResults = { streams: t.session.results(), cpu: t.session.cpu(), cc: t.session.cc() };
            (t as Test & { local?: SideResults }).local = local;
            sendMessage(control, { t: 'results', ...local });
          });
        } else if (msg.t === 'results') {
          const local = (t as Test & { local?: SideResults }).local;
          if (local) opts.onEnd?.(buildEnd(params, local, { streams: msg.streams, cpu: msg.cpu, cc: msg.cc }, false), params);
          t.over = true;
          if (t.timer) clearTimeout(t.timer);
          if (test === t) test = undefined;
          control.end();
          return false;
        }
        return true;
      },
      () => abort(t, 'control line too long'),
    );
    sendMessage(control, { t: 'accept' });
  };

  const onData = (s: Socket, first: string): void => {
    const [, cookie, indexText] = first.split(' ');
    const t = test;
    const index = Number(indexText);
    if (!t || t.over || cookie !== t.cookie || !Number.isInteger(index) || index < 0 || index >= t.streams.length || t.streams[index]) {
      s.resetAndDestroy();
      return;
    }
    t.streams[index] = s;
    s.on('error', () => {});
    opts.onConnected?.(index + 1, s);
    if (t.streams.every((x) => x !== undefined)) {
      const p = t.params;
      t.session = new Session(
        t.streams.map((socket, i) => ({ id: i + 1, socket: socket!, sender: !clientSends(p, i) })),
        { omit: p.omit, interval: p.interval, len: p.len, bidir: p.bidir, sendsForward: false, onInterval: (iv) => opts.onInterval?.(iv, p) },
      );
      sendMessage(t.control, { t: 'start' });
      t.session.start();
    }
  };

  // Keepalive probes (on the control connection only) find a client that died mid-test.
  const tcp: OverlayTcpOptions = { keepAliveInterval: 1000, keepAliveProbes: 3, ...opts.tcp };
  const server: Server = createServer({ ...tcp, host: opts.host }, (s) => {
    s.on('error', () => {});
    // The first line says what the connection is; give it a few seconds.
    const timer = setTimeout(() => s.destroy(), 10_000);
    timer.unref();
    readLines(
      s,
      (line) => {
        clearTimeout(timer);
        if (line.startsWith('DATA ')) onData(s, line);
        else onControl(s, line);
        return false;
      },
      () => s.destroy(),
    );
  });
  await listened(server, (done) => server.listen({ port: opts.port }, done));
  server.on('error', () => {});
  return {
    port: server.address()!.port,
    get busy() {
      return test !== undefined;
    },
    close() {
      return new Promise<void>((resolve) => {
        if (test) abort(test, 'the server is shutting down');
        server.close(() => resolve());
      });
    },
  };
}
