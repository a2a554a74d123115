/**
 * ICMP on a host (RFC 792, RFC 1122 3.2.2): answers echo requests, matches echo replies
 * to pending pings, and hands destination-unreachable / time-exceeded errors to the
 * protocol that sent the quoted packet. Also the token bucket that rate-limits the ICMP
 * errors a host emits (like Linux's icmp_ratelimit / icmp_msgs_per_sec).
 */
import {
  decodeIcmp,
  echoIdSeq,
  encodeIcmp,
  errorQuote,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  type IcmpMessage,
} from '../wire/icmp.js';
import { makeError } from '../util/errors.js';
import { formatIpv4 } from '../wire/addr.js';
import { IPPROTO_ICMP, IPV4_HEADER_LEN, encodeIpv4, type Ipv4Header } from '../wire/ipv4.js';
import type { ProtocolHandler } from './types.js';

/** ICMP types that are errors: never answer one of these with another error (RFC 1122 3.2.2). */
const ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export function isIcmpError(type: number): boolean {
  return ERROR_TYPES.has(type);
}

/** What the ICMP module needs from its host (a narrow view of Host). */
export interface IcmpHostView {
  readonly address: number;
  countDrop(reason: string): void;
  sendPacket(packet: Buffer, dst: number): boolean;
  nextIpId(): number;
  now(): number;
  handlerFor(protocol: number): ProtocolHandler | undefined;
}

export interface EchoReply {
  /** Round-trip time in ms. */
  rttMs: number;
  ttl: number;
  /** ICMP bytes (header + payload), as ping prints them. */
  bytes: number;
  from: number;
}

interface Pending {
  sentAt: number;
  dst: number;
  resolve(r: EchoReply): void;
  reject(e: Error): void;
}

export interface IcmpStats {
  echoRequestsIn: number;
  echoRepliesOut: number;
  echoRepliesIn: number;
  errorsIn: number;
  errorsOut: number;
  errorsRateLimited: number;
}

/** Token bucket: `rate` tokens per second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class IcmpModule implements ProtocolHandler {
  readonly stats: IcmpStats = {
    echoRequestsIn: 0,
    echoRepliesOut: 0,
    echoRepliesIn: 0,
    errorsIn: 0,
    errorsOut: 0,
    errorsRateLimited: 0,
  };
  /** Pending pings by (id << 16 | seq). */
  readonly pending = new Map<number, Pending>();
  private readonly bucket: TokenBucket;

  constructor(
    private readonly host: IcmpHostView,
    errorRate = 1000,
    errorBurst = 50,
  ) {
    this.bucket = new TokenBucket(errorRate, errorBurst, host.now());
  }

  onPacket(ip: Ipv4Header, payload: Buffer): void {
    const d = decodeIcmp(payload);
    if (!d.ok) {
      this.host.countDrop(d.reason);
      return;
    }
    const m = d.message;
    switch (m.type) {
      case ICMP_ECHO_REQUEST:
        this.stats.echoRequestsIn++;
        this.send(ip.src, { type: ICMP_ECHO_REPLY, code: 0, rest: m.rest, payload: m.payload });
        this.stats.echoRepliesOut++;
        return;
      case ICMP_ECHO_REPLY:
        this.onEchoReply(ip, m, payload.length);
        return;
      case ICMP_DEST_UNREACH:
      case ICMP_TIME_EXCEEDED:
        this.onError(ip, m);
        return;
      default:
        this.host.countDrop('icmp_unsupported_type');
    }
  }

  private onEchoReply(ip: Ipv4Header, m: IcmpMessage, bytes: number): void {
    const { id, seq } = echoIdSeq(m);
    const key = ((id << 16) | seq) >>> 0;
    const p = this.pending.get(key);
    if (!p || p.dst !== ip.src) {
      this.host.countDrop('icmp_unexpected_reply');
      return;
    }
    this.stats.echoRepliesIn++;
    this.pending.delete(key);
    p.resolve({ rttMs: this.host.now() - p.sentAt, ttl: ip.ttl, bytes, from: ip.src });
  }

  /** Parses the quoted header of an ICMP error and delivers it to the quoted protocol. */
  private onError(ip: Ipv4Header, m: IcmpMessage): void {
    const q = m.payload;
    if (q.length < IPV4_HEADER_LEN || q[0]! >> 4 !== 4) {
      this.host.countDrop('icmp_bad_quote');
      return;
    }
    const ihl = (q[0]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN || ihl > q.length) {
      this.host.countDrop('icmp_bad_quote');
      return;
    }
    const quoted: Ipv4Header = {
      src: q.readUInt32BE(12),
      dst: q.readUInt32BE(16),
      protocol: q[9]!,
      ttl: q[8]!,
      id: q.readUInt16BE(4),
      tos: q[1]!,
      headerLength: ihl,
      totalLength: q.readUInt16BE(2),
      dontFragment: (q.readUInt16BE(6) & 0x4000) !== 0,
    };
    // Only errors about packets this host sent concern it.
    if (quoted.src !== this.host.address) {
      this.host.countDrop('icmp_bad_quote');
      return;
    }
    this.stats.errorsIn++;
    const quotedPayload = q.subarray(ihl);
    if (quoted.protocol === IPPROTO_ICMP) {
      this.onErrorAboutEcho(m, quoted, quotedPayload);
      return;
    }
    const h = this.host.handlerFor(quoted.protocol);
    if (!h?.onIcmpError) {
      this.host.countDrop('icmp_no_handler');
      return;
    }
    h.onIcmpError(m.type, m.code, quoted, quotedPayload, ip.src, m.rest);
  }

  /** An error about one of our echo requests fails that ping with EHOSTUNREACH. */
  private onErrorAboutEcho(m: IcmpMessage, quoted: Ipv4Header, quotedPayload: Buffer): void {
    if (quotedPayload.length < 8 || quotedPayload[0] !== ICMP_ECHO_REQUEST) return;
    const key = quotedPayload.readUInt32BE(4);
    const p = this.pending.get(key);
    if (!p || p.dst !== quoted.dst) return;
    this.pending.delete(key);
    p.reject(makeError('EHOSTUNREACH', 'ping', { address: formatIpv4(quoted.dst), message: `ICMP type ${m.type} code ${m.code}` }));
  }

  /** Registers a pending echo; the caller sends the request and arms the timeout. */
  expect(key: number, p: Pending): void {
    this.pending.get(key)?.reject(makeError('EINVAL', 'ping', { message: 'superseded by a new echo with the same id and sequence' }));
    this.pending.set(key, p);
  }

  /**
   * Sends an ICMP error about `offending` (RFC 792, RFC 1122 3.2.2): quotes its IP header
   * plus 8 bytes. Never about an ICMP error, rate-limited by a token bucket.
   * Returns whether it was sent.
   */
  sendError(type: number, code: number, offending: Buffer, ipHeaderLength: number, rest = 0): boolean {
    if (offending.length < IPV4_HEADER_LEN) return false;
    const protocol = offending[9]!;
    if (protocol === IPPROTO_ICMP) {
      const t = offending[ipHeaderLength];
      if (t === undefined || isIcmpError(t)) return false;
    }
    if (!this.bucket.take(this.host.now())) {
      this.stats.errorsRateLimited++;
      return false;
    }
    const dst = offending.readUInt32BE(12);
    const ok = this.send(dst, { type, code, rest, payload: errorQuote(offending, ipHeaderLength) });
    if (ok) this.stats.errorsOut++;
    return ok;
  }

  /** Builds and sends one ICMP message; never throws. */
  send(dst: number, m: IcmpMessage): boolean {
    const packet = encodeIpv4(
      { src: this.host.address, dst, protocol: IPPROTO_ICMP, id: this.host.nextIpId() },
      encodeIcmp(m),
    );
    try {
      return this.host.sendPacket(packet, dst);
    } catch {
      // Over the MTU (an echo request near 64 KiB answered on a smaller MTU): drop it.
      this.host.countDrop('icmp_reply_too_big');
      return false;
    }
  }
}
