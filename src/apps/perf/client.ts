/**
 * The perf client: runs one test against a perf server (./server.ts) and returns the
 * iperf3-shaped report (start, intervals, end). Progress goes to the callbacks as it
 * happens (the CLI prints text or JSON lines from them).
 */
import { randomBytes } from 'node:crypto';
import type { HostLike } from '../../index.js';
import { connect, type Socket } from '../../net.js';
import type { OverlayTcpOptions } from '../forward.js';
import { buildEnd, type EndSection } from './report.js';
import { clientSends, parseMessage, readLines, sendMessage, streamCount, type ControlMessage, type SideResults, type TestParams } from './protocol.js';
import { Session, type Interval } from './session.js';

export interface StartSection {
  connected: Array<{ socket: number; local_host: string; local_port: number; remote_host: string; remote_port: number }>;
  version: string;
  system_info: string;
  timestamp: { time: string; timesecs: number };
  connecting_to: { host: string; port: number };
  cookie: string;
  tcp_mss_default: number;
  test_start: {
    protocol: 'TCP';
    num_streams: number;
    blksize: number;
    omit: number;
    duration: number;
    bytes: 0;
    blocks: 0;
    reverse: 0 | 1;
    tos: 0;
    target_bitrate: 0;
    bidir: 0 | 1;
    fqrate: 0;
    interval: number;
  };
}

export interface PerfReport {
  start: StartSection;
  intervals: Interval[];
  end: EndSection;
}

export interface ClientOptions {
  host: HostLike;
  dest: string;
  port: number;
  params: TestParams;
  tcp?: OverlayTcpOptions;
  /** Milliseconds to wait for the connections and for the results after the test (default 15 s). */
  graceMs?: number;
  onStart?(start: StartSection): void;
  onInterval?(iv: Interval): void;
}

export class PerfError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function connectStream(opts: ClientOptions, tcp: OverlayTcpOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ ...tcp, via: opts.host, host: opts.dest, port: opts.port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

export async function runClient(opts: ClientOptions): Promise<PerfReport> {
  const p = opts.params;
  const tcp: OverlayTcpOptions = { ...opts.tcp, ...(p.cc ? { cc: p.cc as OverlayTcpOptions['cc'] } : {}) };
  const grace = opts.graceMs ?? 15_000;
  const cookie = randomBytes(8).toString('hex');
  // Keepalive on the control connection finds a server that died mid-test.
  const control = await connectStream(opts, { noDelay: true, keepAlive: true, keepAliveIdle: 2000, keepAliveInterval: 1000, keepAliveProbes: 3 });
  const data: Socket[] = [];
  let session: Session | undefined;
  let ok = false;
  const cleanup = (): void => {
    if (ok) return;
    session?.abort();
    for (const s of data) s.destroy();
    control.destroy();
  };
  try {
    // Control messages in order, as a queue the steps below await.
    const queue: ControlMessage[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    let rejectFailed: (e: Error) => void = () => {};
    const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
    failed.catch(() => {});
    const fail = (e: Error): void => {
      failure ??= e;
      rejectFailed(failure);
      wake?.();
    };
    readLines(
      control,
      (line) => {
        const m = parseMessage(line);
        if (!m) fail(new PerfError('perf: the server sent a malformed control message', 'EPROTO'));
        else queue.push(m);
        wake?.();
        return true;
      },
      () => fail(new PerfError('perf: the server sent a malformed control message', 'EPROTO')),
    );
    control.on('error', (e: Error) => fail(e));
    control.on('close', () => fail(new PerfError('perf: the server closed the control connection', 'ECONNRESET')));
    const next = async (ms: number): Promise<ControlMessage> => {
      const deadline = Date.now() + ms;
      while (queue.length === 0) {
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) throw new PerfError('perf: timed out waiting for the server', 'ETIMEDOUT');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return queue.shift()!;
    };
    const expect = async <T extends ControlMessage['t']>(t: T, ms: number): Promise<Extract<ControlMessage, { t: T }>> => {
      const m = await next(ms);
      if (m.t === 'busy' || m.t === 'error') throw new PerfError(`perf: ${m.message}`, m.t === 'busy' ? 'EBUSY' : 'EPROTO');
      if (m.t !== t) throw new PerfError(`perf: expected '${t}' from the server, got '${m.t}'`, 'EPROTO');
      return m as Extract<ControlMessage, { t: T }>;
    };

    sendMessage(control, { t: 'hello', cookie, params: p });
    await expect('accept', grace);
    for (let i = 0; i < streamCount(p); i++) {
      const s = await connectStream(opts, tcp);
      data.push(s);
      s.on('error', () => {});
      s.write(`DATA ${cookie} ${i}\n`);
    }
    const info = data[0]!.getInfo();
    const start: StartSection = {
      connected: data.map((s, i) => ({
        socket: i + 1,
        local_host: s.localAddress ?? '',
        local_port: s.localPort ?? 0,
        remote_host: s.remoteAddress ?? '',
        remote_port: s.remotePort ?? 0,
      })),
      version: 'overlay-tcp perf 1',
      system_info: `${process.platform} ${process.arch} node ${process.version}`,
      timestamp: { time: new Date().toUTCString(), timesecs: Math.floor(Date.now() / 1000) },
      connecting_to: { host: opts.dest, port: opts.port },
      cookie,
      tcp_mss_default: info?.mss ?? 0,
      test_start: {
        protocol: 'TCP',
        num_streams: p.streams,
        blksize: p.len,
        omit: p.omit,
        duration: p.duration,
        bytes: 0,
        blocks: 0,
        reverse: p.reverse ? 1 : 0,
        tos: 0,
        target_bitrate: 0,
        bidir: p.bidir ? 1 : 0,
        fqrate: 0,
        interval: p.interval,
      },
    };
    opts.onStart?.(start);
    await expect('start', grace);
    const intervals: Interval[] = [];
    session = new Session(
      data.map((socket, i) => ({ id: i + 1, socket, sender: clientSends(p, i) })),
      {
        omit: p.omit,
        interval: p.interval,
        len: p.len,
        bidir: p.bidir,
        sendsForward: true,
        onInterval: (iv) => {
          intervals.push(iv);
          opts.onInterval?.(iv);
        },
      },
    );
    const sess = session;
    sess.start();
    // The test runs for omit + duration, or until the control connection fails.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, (p.omit + p.duration) * 1000))), failed]).finally(() =>
      clearTimeout(timer),
    );
    sess.stopSending();
    sendMessage(control, { t: 'end' });
    const remote = await expect('results', grace);
    await Promise.race([
      sess.done,
      new Promise<never>((_, reject) => setTimeout(() => reject(new PerfError('perf: the streams did not finish', 'ETIMEDOUT')), grace).unref()),
    ]);
    const local: SideResults = { streams: sess.results(), cpu: sess.cpu(), cc: tcp.cc ?? info?.cc ?? 'cubic' };
    sendMessage(control, { t: 'results', ...local });
    control.end();
    ok = true;
    // Let the results reach the server before the host may go away.
    await Promise.race([new Promise((resolve) => control.once('close', resolve)), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    const remoteSide: SideResults = { streams: remote.streams, cpu: remote.cpu, cc: remote.cc };
    return { start, intervals, end: buildEnd(p, local, remoteSide, true) };
  } finally {
    cleanup();
  }
}
