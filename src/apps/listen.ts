/**
 * Listening as a promise, for the apps' servers (node:net or overlay): resolves once
 * `listen` has called back, rejects with the server's 'error' if listening fails. The error
 * listener is removed either way; what a server does with later errors is the caller's.
 */
import type { EventEmitter } from 'node:events';

export function listened(server: EventEmitter, listen: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    listen(() => {
      server.off('error', reject);
      resolve();
    });
  });
}
