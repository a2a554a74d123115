/**
 * A stack's local ports: how many connections (and TIME-WAIT records) use each, the
 * ephemeral range (like Linux's ip_local_port_range, default 49152-65535), and the choice of
 * a local port for a new 4-tuple, which may reuse the 4-tuple of a TIME-WAIT record once no
 * port is free (TimeWait.reusableAt, Linux's tcp_tw_reuse rule).
 */
import { makeError } from '../util/errors.js';
import { parseIpv4 } from '../wire/addr.js';
import type { Connection } from './connection.js';
import { TimeWait, type TimeWaitTable } from './time-wait.js';

/** A local address to bind (connect, listen) must be the host's own (or unspecified). */
export function checkLocalAddress(own: string, address: string | undefined, syscall: string, port: number): void {
  if (address === undefined || address === '0.0.0.0' || address === own) return;
  if (parseIpv4(address) === undefined) {
    throw makeError('ERR_INVALID_ARG_VALUE', syscall, { message: `'${address}' is not an IPv4 address` });
  }
  throw makeError('EADDRNOTAVAIL', syscall, { address, port });
}

export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

/** What else holds a port or a 4-tuple: the driver's listeners and live connections. */
export interface PortHolders {
  listening(port: number): boolean;
  /** The live connection on the 4-tuple, if any (one in TIME-WAIT may give way: TimeWait.heldReusable). */
  connected(localPort: number, remotePort: number, remoteAddr: number): Connection | undefined;
}

export class LocalPorts {
  /** How many connections use each local port. */
  private readonly use = new Map<number, number>();
  /** Ports of the ephemeral range in `use`: with all of them taken, the search for a free one is skipped. */
  private inRange = 0;
  private low = EPHEMERAL_LOW;
  private high = EPHEMERAL_HIGH;

  constructor(
    private readonly holders: PortHolders,
    private readonly timeWaits: TimeWaitTable,
  ) {}

  get range(): { low: number; high: number } {
    return { low: this.low, high: this.high };
  }

  set range(r: { low: number; high: number }) {
    const ok = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
    if (!ok(r.low) || !ok(r.high) || r.low > r.high) {
      throw makeError('ERR_INVALID_ARG_VALUE', 'ephemeralRange', { message: `ephemeral range ${r.low}-${r.high}: need integers with 1 <= low <= high <= 65535` });
    }
    this.low = r.low;
    this.high = r.high;
    this.inRange = 0;
    for (const p of this.use.keys()) if (p >= r.low && p <= r.high) this.inRange++;
  }

  /** One connection (or record) more on local port `p`. */
  add(p: number): void {
    const n = (this.use.get(p) ?? 0) + 1;
    if (n === 1 && p >= this.low && p <= this.high) this.inRange++;
    this.use.set(p, n);
  }

  /** One connection (or record) less on local port `p`. */
  release(p: number): void {
    const n = (this.use.get(p) ?? 1) - 1;
    if (n > 0) this.use.set(p, n);
    else if (this.use.delete(p) && p >= this.low && p <= this.high) this.inRange--;
  }

  /**
   * A local port for a new 4-tuple to remoteAddr:remotePort (a listener's: 0, 0). First a
   * port nobody uses, from a random start. When there is none, and `reuseAt` is given (an
   * active open at that time, with reuse on), the 4-tuple of a TIME-WAIT record the reuse
   * rule allows may be taken, and the record is returned: the oldest record first (a client
   * churning to one server finds it at once), else the first port, from a random start, with
   * either no connection or record to this destination (shared with other destinations) or a
   * reusable record, or a connection in TIME-WAIT not compacted (its socket still holds it, or
   * a tracer) that the same rule lets go: its port is returned, and the driver closes it.
   * Throws EADDRNOTAVAIL when every port is taken for this destination.
   */
  choose(remoteAddr: number, remotePort: number, reuseAt?: number): number | TimeWait {
    const { low, high, holders } = this;
    const span = high - low + 1;
    let p = low + Math.floor(Math.random() * span);
    if (this.inRange < span) {
      for (let i = 0; i < span; i++) {
        if (!holders.listening(p) && !this.use.has(p)) return p;
        p = p === high ? low : p + 1;
      }
    }
    if (reuseAt !== undefined) {
      const oldest = this.timeWaits.oldestReusable(remoteAddr, remotePort, reuseAt);
      const q = oldest?.tuple.localPort ?? 0;
      if (oldest && q >= low && q <= high && !holders.listening(q)) return oldest;
    }
    // Every port has some connection: share a local port with a different 4-tuple.
    for (let i = 0; i < span; i++) {
      if (!holders.listening(p)) {
        const c = holders.connected(p, remotePort, remoteAddr);
        if (c === undefined) {
          const tw = this.timeWaits.lookup(p, remotePort, remoteAddr);
          if (tw === undefined) return p;
          if (reuseAt !== undefined && tw.reusableAt(reuseAt)) return tw;
        } else if (reuseAt !== undefined && TimeWait.heldReusable(c, reuseAt)) return p;
      }
      p = p === high ? low : p + 1;
    }
    throw makeError('EADDRNOTAVAIL', 'connect', { message: 'no free ephemeral port' });
  }
}
