/**
 * Checksums for transfer tests: the SHA-256 of what was sent, a server answering with the hex
 * SHA-256 of everything it received at EOF, and clients that read that answer.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from '../../src/net.js';
import type { HostLike } from '../../src/host/types.js';

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * A server on `host`'s `port` answering each connection, at its EOF, with the hex SHA-256 of
 * everything it received; `received()` counts the bytes over all connections. `opts` are the
 * server's TCP options.
 */
export function hashServer(host: HostLike, port: number, opts: Record<string, unknown> = {}): Promise<{ server: Server; received: () => number }> {
  let received = 0;
  const server = createServer({ host, ...opts }, (s) => {
    const h = createHash('sha256');
    s.on('data', (d: Buffer) => {
      received += d.length;
      h.update(d);
    });
    s.on('end', () => s.end(h.digest('hex')));
    s.on('error', () => {});
  });
  server.on('error', () => {});
  return new Promise((resolve) => server.listen(port, () => resolve({ server, received: () => received })));
}

/** The hash server's answer on `sock`, at its EOF (rejecting after `timeoutMs`). */
export function digestReply(sock: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    sock.on('data', (d: Buffer) => (reply += d.toString()));
    sock.on('end', () => resolve(reply));
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`no digest within ${timeoutMs} ms`)), timeoutMs).unref();
  });
}

/**
 * Sends `data` and resolves with the digest the hash server returns (rejecting after
 * `timeoutMs`). With `midway`, sends half, calls it once that half is written, then the rest.
 */
export function sendAndDigest(sock: Socket, data: Buffer, timeoutMs: number, midway?: () => void): Promise<string> {
  const reply = digestReply(sock, timeoutMs);
  if (!midway) {
    sock.end(data);
    return reply;
  }
  const half = Math.floor(data.length / 2);
  sock.write(data.subarray(0, half), () => {
    midway();
    sock.end(data.subarray(half));
  });
  return reply;
}

/**
 * Sends `bytes` of random data over TCP from host `a` to `to`:5001 on host `b` (a hashServer
 * it starts there and closes) and waits for the connection to close; asserts that the
 * server's digest is that of the data sent.
 */
export async function transferIntact(a: HostLike, b: HostLike, to: string, bytes: number): Promise<void> {
  const { server } = await hashServer(b, 5001);
  try {
    const data = randomBytes(bytes);
    const s = connect({ via: a, host: to, port: 5001 });
    const closed = once(s, 'close');
    expect(await sendAndDigest(s, data, 30_000)).to.equal(sha(data));
    await closed;
  } finally {
    server.close();
  }
}
