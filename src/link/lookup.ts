/**
 * node:dgram's address lookup, answered synchronously for IPv4 literals (UdpLink, the chaos
 * proxy): node:dgram resolves the address of every unconnected send, and dns.lookup answers
 * even a literal on a later tick.
 */
import type { SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIPv4 } from 'node:net';

type LookupCallback = (err: Error | null, address: string, family: number) => void;

/**
 * Lookups literalLookup answered synchronously, in this process: a send whose count moved
 * went on to the socket in the same call (node:dgram queues a send in JavaScript while its
 * lookup is pending, holding the packet).
 */
let answered = 0;

/** How many lookups literalLookup has answered synchronously (see above). */
export function syncAnswers(): number {
  return answered;
}

/**
 * A `lookup` for node:dgram that answers IPv4 literals synchronously once `ready()` (the
 * socket is bound): node:dgram resolves the address of every unconnected send, and
 * dns.lookup answers even a literal on a later tick, a closure and a tick per packet.
 * Names still go to DNS.
 */
export function literalLookup(ready: () => boolean): NonNullable<SocketOptions['lookup']> {
  // node:dgram calls lookup(address, family, cb) with the family as a number (lookup4),
  // not with the options object its type declares.
  // The last literal seen: a sender sends to the same few peers, and isIPv4 is a regex.
  let last = '';
  const lookup = (address: string, family: number, cb: LookupCallback): void => {
    if (address === last || (ready() && isIPv4(address) && (last = address))) {
      answered++;
      cb(null, address, 4);
    } else dnsLookup(address, family, cb);
  };
  return lookup as unknown as NonNullable<SocketOptions['lookup']>;
}
