/**
 * Checksums for transfer tests: the SHA-256 of what was sent, and a client that sends it to
 * a server answering with the hex SHA-256 of everything it received at EOF.
 */
import { createHash } from 'node:crypto';
import type { Socket } from '../../src/net.js';

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Sends `data` and resolves with the digest the hash server returns (rejecting after
 * `timeoutMs`). With `midway`, sends half, calls it once that half is written, then the rest.
 */
export function sendAndDigest(sock: Socket, data: Buffer, timeoutMs: number, midway?: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    sock.on('data', (d: Buffer) => (reply += d.toString()));
    sock.on('end', () => resolve(reply));
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`no digest within ${timeoutMs} ms`)), timeoutMs).unref();
    if (!midway) {
      sock.end(data);
      return;
    }
    const half = Math.floor(data.length / 2);
    sock.write(data.subarray(0, half), () => {
      midway();
      sock.end(data.subarray(half));
    });
  });
}
