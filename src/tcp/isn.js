/**
 * Initial sequence numbers (RFC 6528 section 3):
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a 4-microsecond timer (the RFC 793 clock, 250 000 ticks per second) derived from the
 * caller's `now` (ms), and F a keyed hash: the first 32 bits of HMAC-SHA-256 over the 4-tuple
 * with a per-generator random 256-bit key. The ISN space of each 4-tuple therefore advances
 * with time (old duplicates of a previous incarnation fall outside the window) while an
 * off-path attacker cannot predict it.
 */
import { createHmac, randomBytes } from 'node:crypto';
export class IsnGenerator {
    key;
    /** `key` for reproducible tests; random by default. */
    constructor(key) {
        this.key = key ?? randomBytes(32);
    }
    /** The ISN for a connection on `tuple` opened at `now` (ms). */
    isn(tuple, now) {
        const msg = Buffer.allocUnsafe(12);
        msg.writeUInt32BE(tuple.localAddr >>> 0, 0);
        msg.writeUInt16BE(tuple.localPort & 0xffff, 4);
        msg.writeUInt32BE(tuple.remoteAddr >>> 0, 6);
        msg.writeUInt16BE(tuple.remotePort & 0xffff, 10);
        const f = createHmac('sha256', this.key).update(msg).digest().readUInt32BE(0);
        return (isnClock(now) + f) >>> 0;
    }
}
/** M: the 4-microsecond clock, modulo 2^32 (wraps every ~4.77 hours). */
export function isnClock(now) {
    return Math.floor(now * 250) >>> 0;
}
let shared;
/** A process-wide generator (one random key per process, like a kernel's boot-time secret). */
export function defaultIsnGenerator() {
    return (shared ??= new IsnGenerator());
}
