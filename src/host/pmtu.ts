/**
 * The host's per-destination path MTU (RFC 1191 6.3): what a validated ICMP "fragmentation
 * needed" or a connection's probing taught about the path to an overlay address, kept for
 * new connections, with an expiry (RFC 1191 recommends 10 minutes) after which the host MTU
 * is tried again. Bounded: the oldest entry goes when the table is full.
 */

/** RFC 1191 6.3: a learned path MTU is forgotten after this long. */
export const DEFAULT_PMTU_EXPIRY_MS = 10 * 60_000;
const DEFAULT_MAX_ENTRIES = 4096;

export interface PathMtuEntry {
  dst: number;
  mtu: number;
  /** ms until it expires. */
  expiresIn: number;
}

export class PathMtuCache {
  private readonly entries = new Map<number, { mtu: number; expires: number }>();

  constructor(
    private readonly expiryMs = DEFAULT_PMTU_EXPIRY_MS,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** The path MTU to `dst`, or undefined (unknown or expired: use the host MTU). */
  get(dst: number, now: number): number | undefined {
    const e = this.entries.get(dst);
    if (!e) return undefined;
    if (now >= e.expires) {
      this.entries.delete(dst);
      return undefined;
    }
    return e.mtu;
  }

  /** Records `mtu` for `dst` (a smaller value, or a refresh), restarting its expiry. */
  update(dst: number, mtu: number, now: number): void {
    this.entries.delete(dst); // re-inserted last: Map order is the eviction order
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(dst, { mtu, expires: now + this.expiryMs });
  }

  /** Live entries, for inspection. */
  list(now: number): PathMtuEntry[] {
    const out: PathMtuEntry[] = [];
    for (const [dst, e] of this.entries) if (now < e.expires) out.push({ dst, mtu: e.mtu, expiresIn: e.expires - now });
    return out;
  }
}
