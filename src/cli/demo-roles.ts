/**
 * The child processes of `overlay demo` (hidden `overlay demo --role ROLE ...`):
 *  - receiver: one overlay host, a TCP server on port 5001; hashes what it receives.
 *  - sender:   one overlay host; streams random data to the receiver for the duration,
 *              hashing what it writes, and reports progress from socket.getInfo().
 *  - proxy:    `overlay proxy` run in this process, plus a watchdog.
 * Every child prints machine-readable lines on stdout (`STATUS {json}`, `RESULT {json}`)
 * and exits when its parent goes away (its stdin pipe closes), so nothing is left behind
 * even if the parent is killed with SIGKILL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Host } from '../host/host.js';
import { createServer, connect, type Socket } from '../net.js';
import { startObservability, type Observability } from './observe.js';
import type { CcName, TcpInfo } from '../tcp/types.js';

export const DEMO_PORT = 5001;
export const SENDER_ADDR = '10.77.0.2';
export const RECEIVER_ADDR = '10.77.0.3';

export interface RoleOptions {
  /** This host's UDP port (127.0.0.1). */
  udpPort: number;
  /** The UDP endpoint every other overlay address is routed to (the proxy, or the peer). */
  via: { address: string; port: number };
  /** The peer's overlay prefix to route through `via`. */
  route: string;
  metrics?: string;
  pcap?: string;
  trace?: string;
}

export interface SenderOptions extends RoleOptions {
  durationS: number;
  cc?: CcName;
}

/** The parent closed our stdin (it exited or was killed): stop. */
export function exitWithParent(stop: () => void): () => void {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  // Detach (when the role is done) so stdin no longer keeps the process alive.
  return () => {
    process.stdin.off('end', stop);
    process.stdin.off('error', stop);
    process.stdin.pause();
    process.stdin.unref?.();
  };
}

export function emit(kind: 'STATUS' | 'RESULT' | 'READY', data: object): void {
  process.stdout.write(`${kind} ${JSON.stringify(data)}\n`);
}

async function startHost(address: string, o: RoleOptions): Promise<{ host: Host; observe: Observability }> {
  const host = await Host.create({
    address,
    udp: { address: '127.0.0.1', port: o.udpPort },
    peers: [{ prefix: o.route, endpoint: o.via }],
    recvBufferSize: 4 * 1024 * 1024,
    sendBufferSize: 4 * 1024 * 1024,
  });
  const obs: { metrics?: string; pcap?: string; trace?: string } = {};
  if (o.metrics) obs.metrics = o.metrics;
  if (o.pcap) obs.pcap = o.pcap;
  if (o.trace) obs.trace = o.trace;
  try {
    return { host, observe: await startObservability([host], obs) };
  } catch (e) {
    await host.close();
    throw e;
  }
}

export async function runReceiver(o: RoleOptions): Promise<number> {
  const { host, observe } = await startHost(RECEIVER_ADDR, o);
  const hash = createHash('sha256');
  let bytes = 0;
  let firstAt = 0;
  const server = createServer({ host, rcvBuf: 4 * 1024 * 1024 });
  const done = new Promise<number>((resolve) => {
    server.on('connection', (s: Socket) => {
      server.close();
      firstAt = performance.now();
      s.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      s.on('end', () => {
        emit('RESULT', { bytes, sha256: hash.digest('hex'), seconds: (performance.now() - firstAt) / 1000 });
        s.end();
      });
      s.on('error', (e: Error) => {
        process.stderr.write(`receiver: ${e.message}\n`);
        resolve(1);
      });
      s.on('close', () => resolve(0));
      // The FIN exchange may not finish (the sender may be gone after our FIN): bounded.
      s.once('end', () => setTimeout(() => resolve(0), 3000).unref());
    });
  });
  server.listen(DEMO_PORT);
  await once(server, 'listening');
  emit('READY', { role: 'receiver', port: DEMO_PORT });
  const detach = exitWithParent(() => process.exit(1));
  const code = await done;
  detach();
  await observe.close();
  await host.close();
  return code;
}

/** The progress fields of a sender STATUS line. */
export interface SenderStatus {
  t: number;
  bytesWritten: number;
  bytesAcked: number;
  cwnd: number;
  ssthresh: number;
  srttMs: number;
  rtoMs: number;
  retransmits: TcpInfo['retransmits'];
  state: string;
}

export async function runSender(o: SenderOptions): Promise<number> {
  const { host, observe } = await startHost(SENDER_ADDR, o);
  const detach = exitWithParent(() => process.exit(1));
  try {
    return await send(o, host, observe);
  } finally {
    detach();
  }
}

async function send(o: SenderOptions, host: Host, observe: Observability): Promise<number> {
  // A modest send buffer: what is still queued when the time is up drains quickly.
  const sock = connect({ via: host, host: RECEIVER_ADDR, port: DEMO_PORT, sndBuf: 256 * 1024, ...(o.cc ? { cc: o.cc } : {}) });
  // A holder, not a `let`: the error arrives in a callback.
  const error: { e?: Error } = {};
  sock.on('error', (e: Error) => {
    error.e = e;
  });
  const failure = (): Error | undefined => error.e;
  const closed = once(sock, 'close');
  // The receiver ends its side once it has read everything (our FIN included): that is
  // the end of the transfer. Waiting for 'close' would also wait out TIME-WAIT.
  const peerEnded = once(sock, 'end');
  sock.resume();
  await Promise.race([once(sock, 'connect'), closed]);
  if (failure()) {
    process.stderr.write(`sender: ${failure()!.message}\n`);
    await observe.close();
    await host.close();
    return 1;
  }
  const hash = createHash('sha256');
  const start = performance.now();
  let written = 0;
  const status = (): SenderStatus => {
    const i = sock.getInfo();
    return {
      t: (performance.now() - start) / 1000,
      bytesWritten: written,
      bytesAcked: i?.bytesAcked ?? 0,
      cwnd: i?.cwnd ?? 0,
      ssthresh: i?.ssthresh ?? 0,
      srttMs: i?.srtt ?? 0,
      rtoMs: i?.rto ?? 0,
      retransmits: i?.retransmits ?? { rto: 0, fast: 0, tlp: 0, rack: 0, probe: 0, pmtu: 0 },
      state: i?.state ?? 'CLOSED',
    };
  };
  const ticker = setInterval(() => emit('STATUS', status()), 500);
  const deadline = start + o.durationS * 1000;
  // Stream random data until the deadline, honouring backpressure.
  while (performance.now() < deadline && !failure() && !sock.destroyed) {
    const chunk = randomBytes(64 * 1024);
    hash.update(chunk);
    written += chunk.length;
    if (!sock.write(chunk)) {
      const left = deadline - performance.now();
      await Promise.race([once(sock, 'drain'), closed, new Promise((r) => setTimeout(r, Math.max(0, left)))]);
    }
  }
  const final = (): SenderStatus => status();
  sock.end();
  let last = final();
  sock.on('finish', () => {
    last = final();
  });
  await Promise.race([peerEnded, closed]);
  clearInterval(ticker);
  if (failure()) {
    process.stderr.write(`sender: ${failure()!.message}\n`);
    await observe.close();
    await host.close();
    return 1;
  }
  const info = sock.getInfo();
  emit('RESULT', {
    ...last,
    ...(info ? { bytesAcked: info.bytesAcked, retransmits: info.retransmits, cwnd: info.cwnd, srttMs: info.srtt } : {}),
    bytesWritten: written,
    seconds: (performance.now() - start) / 1000,
    sha256: hash.digest('hex'),
  });
  await observe.close();
  await host.close();
  return 0;
}

/** Runs `overlay proxy ARGS` in this process; stops it (gracefully) when the parent goes away. */
export async function runProxy(args: string[]): Promise<number> {
  const detach = exitWithParent(() => process.kill(process.pid, 'SIGTERM'));
  const mod = (await import('../cli/proxy.js')) as { run(argv: string[]): Promise<number> };
  try {
    return await mod.run(args);
  } finally {
    detach();
  }
}
