/**
 * The peer table: which UDP endpoint carries packets for which overlay prefix, with
 * longest-prefix match (like a routing table whose next hops are UDP endpoints).
 *
 * One Map per prefix length, keyed by the network number: a lookup probes at most the
 * lengths in use, longest first, so it stays cheap with thousands of /32 routes.
 */
import { formatPrefix, parsePrefix, prefixMask, type Prefix } from '../wire/addr.js';
import type { UdpEndpoint } from './types.js';

export interface PeerRoute {
  prefix: Prefix;
  endpoint: UdpEndpoint;
}

export class PeerTable {
  private readonly byLength: Array<Map<number, UdpEndpoint> | undefined> = new Array(33);
  /** Prefix lengths in use, longest first. */
  private lengths: number[] = [];
  /** Bumped on every change, so callers can cache lookups (see Host's route caches). */
  version = 0;

  /** Adds or replaces the route for `prefix` ("A.B.C.D" or "A.B.C.D/N"). Throws on a bad prefix. */
  add(prefix: string | Prefix, endpoint: UdpEndpoint): void {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    if (!p) throw new TypeError(`bad prefix '${String(prefix)}'`);
    let m = this.byLength[p.length];
    if (!m) {
      m = new Map();
      this.byLength[p.length] = m;
      this.lengths = [...this.lengths, p.length].sort((a, b) => b - a);
    }
    m.set(p.network, { address: endpoint.address, port: endpoint.port });
    this.version++;
  }

  /** Removes the route for exactly this prefix; returns whether one existed. */
  remove(prefix: string | Prefix): boolean {
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    if (!p) return false;
    const m = this.byLength[p.length];
    if (!m || !m.delete(p.network)) return false;
    this.version++;
    if (m.size === 0) {
      this.byLength[p.length] = undefined;
      this.lengths = this.lengths.filter((l) => l !== p.length);
    }
    return true;
  }

  /** Longest-prefix match for an address (uint32). */
  lookup(addr: number): UdpEndpoint | undefined {
    for (const len of this.lengths) {
      const ep = this.byLength[len]!.get((addr & prefixMask(len)) >>> 0);
      if (ep) return ep;
    }
    return undefined;
  }

  routes(): PeerRoute[] {
    const out: PeerRoute[] = [];
    for (const len of this.lengths) {
      for (const [network, endpoint] of this.byLength[len]!) out.push({ prefix: { network, length: len }, endpoint });
    }
    return out;
  }

  toString(): string {
    return this.routes()
      .map((r) => `${formatPrefix(r.prefix)} -> ${r.endpoint.address}:${r.endpoint.port}`)
      .join('\n');
  }
}
