/**
 * What a connecting command does while no SYN-ACK comes back: after HINT_AFTER_MS one hint
 * line on stderr (which overlay address, which UDP endpoint the SYNs go to, what to check),
 * and with `--connect-timeout S` the connection fails with ETIMEDOUT after S seconds
 * (without it, SYN retries give up after about two minutes, like the kernel's).
 *
 *   const stop = watchConnect(host, sock, '10.77.0.3', 5000, timeoutS);   // stop() on 'connect'
 */
import type { Host } from '../host/host.js';
import type { Socket } from '../net.js';
import { makeError } from '../util/errors.js';
import { parseIpv4 } from '../wire/addr.js';
import type { FlagSpec } from './args.js';

export const HINT_AFTER_MS = 3000;

export const connectTimeoutFlag: FlagSpec = {
  kind: 'number',
  description: 'give up connecting after SECONDS without a SYN-ACK (ETIMEDOUT; default: SYN retries, about 2 minutes)',
};

/** The hint line for a connection attempt to dest:port that got no answer yet. */
export function connectHint(host: Host, dest: string, port: number): string {
  const ep = host.peers.lookup(parseIpv4(dest) ?? 0);
  const me = host.endpoint;
  const via = ep ? `the SYNs go to UDP ${ep.address}:${ep.port}` : 'no --peer route covers it';
  return (
    `overlay: no answer yet from ${dest}:${port}; ${via}: check that a listener runs there on port ${port} ` +
    `and that it routes ${host.addressString} back to udp=${me.address}:${me.port} (its --peer, or --learn)`
  );
}

/** Arms the hint and the timeout for a connecting socket; both end at 'connect', 'close' or stop(). */
export function watchConnect(host: Host, sock: Socket, dest: string, port: number, timeoutS: number | undefined, hintAfterMs = HINT_AFTER_MS): () => void {
  const hint = setTimeout(() => process.stderr.write(connectHint(host, dest, port) + '\n'), hintAfterMs);
  const limit =
    timeoutS === undefined
      ? undefined
      : setTimeout(() => {
          sock.destroy(makeError('ETIMEDOUT', 'connect', { address: dest, port, message: `no SYN-ACK within ${timeoutS} s` }));
        }, timeoutS * 1000);
  const stop = (): void => {
    clearTimeout(hint);
    if (limit) clearTimeout(limit);
  };
  sock.once('connect', stop);
  sock.once('close', stop);
  return stop;
}
