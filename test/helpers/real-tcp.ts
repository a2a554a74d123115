/**
 * Real (kernel) TCP helpers for the tests of overlay forward / socks: servers on
 * 127.0.0.1:0 in the test process, client connections, and waits with a cap.
 */
import * as realNet from 'node:net';

/** A kernel TCP server on 127.0.0.1, ephemeral port, allowHalfOpen; `conns` are its live sockets. */
export async function realServer(onConn: (s: realNet.Socket) => void): Promise<{ server: realNet.Server; port: number; conns: Set<realNet.Socket>; close(): Promise<void> }> {
  const conns = new Set<realNet.Socket>();
  const server = realNet.createServer({ allowHalfOpen: true }, (s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as realNet.AddressInfo).port;
  return {
    server,
    port,
    conns,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 nobody listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = realNet.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as realNet.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Connects to 127.0.0.1:port with allowHalfOpen; resolves once connected. */
export function realConnect(port: number): Promise<realNet.Socket> {
  return new Promise((resolve, reject) => {
    const s = realNet.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** How a socket ended: its bytes, and 'end' (a FIN) or the error code (an RST shows as ECONNRESET). */
export function outcome(s: realNet.Socket): Promise<{ data: Buffer; how: string }> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve) => {
    s.once('end', () => resolve({ data: Buffer.concat(chunks), how: 'end' }));
    s.once('error', (e: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), how: e.code ?? e.message }));
  });
}

/** Polls `cond` every `everyMs` (20) ms until true; rejects after `ms` with `what`. */
export async function until(cond: () => boolean, ms: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Rejects if `p` has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/**
 * Writes `chunk` repeatedly to `s` (respecting write()'s backpressure) until `total` bytes
 * were written or no 'drain' came for `stallMs`. Resolves with the bytes written.
 */
export function writeUntilStall(s: realNet.Socket, chunk: Buffer, total: number, stallMs: number): Promise<{ written: number; stalled: boolean }> {
  return new Promise((resolve) => {
    let written = 0;
    let timer: NodeJS.Timeout | undefined;
    const go = (): void => {
      if (timer) clearTimeout(timer);
      while (written < total) {
        written += chunk.length;
        if (!s.write(chunk)) {
          timer = setTimeout(() => {
            s.off('drain', go);
            resolve({ written, stalled: true });
          }, stallMs);
          s.once('drain', go);
          return;
        }
      }
      resolve({ written, stalled: false });
    };
    go();
  });
}
