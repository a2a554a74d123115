/**
 * `overlay cat` over TCP (netcat): stdin -> socket, socket -> stdout.
 *   overlay cat --addr 10.77.0.3 --peer ... -l 5000            accept one connection
 *   overlay cat --addr 10.77.0.3 --peer ... -l -k 5000         keep accepting, one after another
 *   overlay cat --addr 10.77.0.2 --peer ... 10.77.0.3 5000     connect
 *
 * EOF on stdin half-closes the connection (FIN); the peer may go on sending (the socket
 * is half-open). cat exits 0 once both directions are closed, and non-zero with one line,
 * e.g. `overlay: connect ECONNREFUSED 10.77.0.3:5000`, when the connection is refused,
 * reset or times out. With -q SECONDS it quits that long after stdin's EOF.
 * When ready it prints on stderr `listening 10.77.0.3 udp=127.0.0.1:40123 port=5000` (with -l) or
 * `connected 10.77.0.2:49152 -> 10.77.0.3:5000 udp=127.0.0.1:40002`. Connecting, it prints one
 * hint line if no SYN-ACK came within 3 s; `--connect-timeout S` gives up after S seconds.
 */
import { createServer, connect, type Socket } from '../net.js';
import { numberFlag, type Parsed } from './args.js';
import { watchConnect } from './connect-watch.js';
import { announceListening, catTarget, hostFromFlags, onShutdown, tcpOptionsFromFlags } from './common.js';
import { onStdoutGone, stdoutGone } from './stdout.js';

export async function runTcp(p: Parsed): Promise<number> {
  const t = catTarget(p);
  const tcp = tcpOptionsFromFlags(p);
  const { host, observe } = await hostFromFlags(p);
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  let stdinEnded = false;
  let current: Socket | undefined;
  let stopping = false;

  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdin.unpipe();
    process.stdin.destroy();
    current?.destroy();
    // Let stdout drain before the host goes away.
    await new Promise<void>((resolve) => (process.stdout.writableNeedDrain && !stdoutGone() ? process.stdout.once('drain', () => resolve()) : resolve()));
    await observe.close();
    await host.close();
    finish(code);
  };
  // Nobody reads our output any more: reset the connection so the peer learns (ECONNRESET).
  onStdoutGone(async () => {
    current?.resetAndDestroy();
    await stop(0);
  });
  onShutdown(async () => {
    await stop(0);
    process.exitCode = 0;
  });

  process.stdin.on('end', () => {
    stdinEnded = true;
    if (t.quitAfterEofS !== undefined) {
      setTimeout(() => void stop(0), t.quitAfterEofS * 1000).unref();
    }
  });

  /** Wires a connected socket to stdin/stdout; resolves with its exit status on close. */
  const attach = (s: Socket): Promise<number> => {
    current = s;
    s.pipe(process.stdout, { end: false });
    if (stdinEnded) s.end();
    else process.stdin.pipe(s);
    return new Promise<number>((resolve) => {
      let failed: Error | undefined;
      s.on('error', (e: Error) => {
        failed = e;
      });
      s.on('close', () => {
        process.stdin.unpipe(s);
        if (current === s) current = undefined;
        if (failed) process.stderr.write(`overlay: ${failed.message}\n`);
        resolve(failed ? 1 : 0);
      });
    });
  };

  if (t.listen) {
    const server = createServer({ host, allowHalfOpen: true, ...tcp });
    server.on('connection', (s: Socket) => {
      if (current) {
        // One conversation at a time, like netcat: refuse the others.
        s.resetAndDestroy();
        return;
      }
      if (!t.keep) server.close();
      void attach(s).then((code) => {
        if (!t.keep) void stop(code);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: t.port, ...(t.address !== undefined ? { host: t.address } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e: Error) => process.stderr.write(`overlay: ${e.message}\n`));
    announceListening(host, server.address()!.port);
  } else {
    const timeoutS = numberFlag(p, 'connect-timeout', 0.001, 86400, false);
    const s = connect({ via: host, host: t.address!, port: t.port, allowHalfOpen: true, ...tcp });
    watchConnect(host, s, t.address!, t.port, timeoutS);
    s.once('connect', () => {
      const ep = host.endpoint;
      process.stderr.write(`connected ${host.addressString}:${s.localPort} -> ${t.address}:${t.port} udp=${ep.address}:${ep.port}\n`);
    });
    void attach(s).then((code) => void stop(code));
  }
  return done;
}
