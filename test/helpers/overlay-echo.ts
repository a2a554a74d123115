/**
 * An overlay echo server for tests with two hosts: every accepted socket pipes back what it
 * receives (errors ignored), on a port the stack picks.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from '../../src/net.js';
import { Host, type HostOptions } from '../../src/host/host.js';
import type { HostLike } from '../../src/host/types.js';

/** Listens on `host` with TCP options `opts`; `onAccept` sees each socket. Resolves with the server and its port. */
export async function echoServer(host: HostLike, opts: Record<string, unknown> = {}, onAccept?: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ host, ...opts }, (s) => {
    onAccept?.(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen(0);
  await once(server, 'listening');
  return { server, port: server.address()!.port };
}

/** Two hosts on loopback UDP, each the other's peer: A at `addrA`, B at `addrB`. */
export async function hostPair(addrA: string, addrB: string, opts: Omit<HostOptions, 'address'> = {}): Promise<[Host, Host]> {
  const a = await Host.create({ ...opts, address: addrA });
  const b = await Host.create({ ...opts, address: addrB });
  a.addPeer(`${addrB}/32`, b.endpoint);
  b.addPeer(`${addrA}/32`, a.endpoint);
  return [a, b];
}
