/**
 * Initial sequence numbers (RFC 6528 section 3):
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a 4-microsecond timer (the RFC 793 clock, 250 000 ticks per second) derived from the
 * caller's `now` (ms), and F a keyed hash: the low 32 bits of SipHash-2-4 over the 4-tuple
 * with a per-generator random 128-bit key, as Linux computes it (secure_tcp_seq). The ISN
 * space of each 4-tuple therefore advances with time (old duplicates of a previous
 * incarnation fall outside the window) while an off-path attacker cannot predict it.
 * SipHash allocates nothing; HMAC-SHA-256 through node:crypto cost about 4% of a churn
 * profile (an HMAC object, two Buffers and a digest per connection).
 */
import { randomBytes } from 'node:crypto';
import { sipHash3u32, sipKey, type SipKey } from '../util/siphash.js';
import type { FourTuple } from './types.js';

export class IsnGenerator {
  private readonly key: SipKey;
  /** `key` (its first 16 bytes) for reproducible tests; random by default. */
  constructor(key?: Buffer) {
    this.key = sipKey(key ?? randomBytes(16));
  }

  /** The ISN for a connection on `tuple` opened at `now` (ms). */
  isn(tuple: FourTuple, now: number): number {
    const ports = (((tuple.localPort & 0xffff) << 16) | (tuple.remotePort & 0xffff)) >>> 0;
    const f = sipHash3u32(this.key, tuple.localAddr >>> 0, tuple.remoteAddr >>> 0, ports);
    return (isnClock(now) + f) >>> 0;
  }
}

/** M: the 4-microsecond clock, modulo 2^32 (wraps every ~4.77 hours). */
export function isnClock(now: number): number {
  return Math.floor(now * 250) >>> 0;
}

let shared: IsnGenerator | undefined;
/** A process-wide generator (one random key per process, like a kernel's boot-time secret). */
export function defaultIsnGenerator(): IsnGenerator {
  return (shared ??= new IsnGenerator());
}
