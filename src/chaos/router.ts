/**
 * Router mode, without I/O: hosts send every overlay packet to the proxy, which forwards
 * it by the inner IPv4 destination. Routes come from static peers (longest-prefix match)
 * or are learned from the packets a host sends (inner source -> UDP source endpoint).
 * Forwarding decrements the TTL and patches the header checksum incrementally (RFC 1624);
 * TTL expiry and no route are answered with ICMP errors from the router's own overlay
 * address (RFC 792, RFC 1812 section 4.3.2.7: never about an ICMP error).
 */
import { formatIpv4, prefixContains, type Prefix } from '../wire/addr.js';
import { incrementalUpdate } from '../wire/checksum.js';
import {
  decodeIcmp,
  encodeIcmp,
  errorQuote,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  UNREACH_FRAG_NEEDED,
  UNREACH_NET,
} from '../wire/icmp.js';
import { decodeIpv4, encodeIpv4, IPPROTO_ICMP, type Ipv4Header } from '../wire/ipv4.js';
import type { Direction } from './rules.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface StaticPeer {
  prefix: Prefix;
  endpoint: Endpoint;
}

export interface RouterOptions {
  /** The router's own overlay address (source of its ICMP errors). */
  routerAddress: number;
  peers: StaticPeer[];
  learn: boolean;
}

export type RouteResult =
  | { kind: 'forward'; link: string; dir: Direction; to: Endpoint; data: Buffer; src: number; dst: number }
  | { kind: 'reply'; to: Endpoint; data: Buffer }
  | { kind: 'drop'; reason: string };

export const DEFAULT_ROUTER_ADDRESS = '10.77.255.254';

/** Link name (lower address first) and direction (up = lower -> higher) of a packet. */
export function linkOf(src: number, dst: number): { link: string; dir: Direction } {
  const up = src <= dst;
  const lo = up ? src : dst;
  const hi = up ? dst : src;
  return { link: `${formatIpv4(lo)}-${formatIpv4(hi)}`, dir: up ? 'up' : 'down' };
}

/** A forward verdict whose link name is formatted only when asked for. */
class ForwardResult {
  readonly kind = 'forward' as const;
  src = 0;
  dst = 0;
  to: Endpoint = { address: '', port: 0 };
  data: Buffer = Buffer.alloc(0);
  get link(): string {
    return linkOf(this.src, this.dst).link;
  }
  get dir(): Direction {
    return this.src <= this.dst ? 'up' : 'down';
  }
}

const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

export class Router {
  /** Drops by reason (ip_bad_checksum, no_route, ttl_expired, ...). */
  readonly drops: Record<string, number> = {};
  readonly learned = new Map<number, Endpoint>();
  private readonly peers: StaticPeer[];
  private icmpId = 0;
  /**
   * The forward result is reused (one allocation less per packet): valid until the next
   * call. Its link/dir are computed on demand by `linkOf` (see `route`).
   */
  private readonly forward: RouteResult & { kind: 'forward' } = new ForwardResult();

  constructor(readonly opts: RouterOptions) {
    this.peers = [...opts.peers].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  private drop(reason: string): RouteResult {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return { kind: 'drop', reason };
  }

  /** The endpoint for an overlay address: static /32 first, then learned, then the longest static prefix. */
  lookup(addr: number): Endpoint | undefined {
    const best = this.peers.find((p) => prefixContains(p.prefix, addr));
    if (best && best.prefix.length === 32) return best.endpoint;
    return this.learned.get(addr) ?? best?.endpoint;
  }

  route(data: Buffer, from: Endpoint): RouteResult {
    const d = decodeIpv4(data);
    if (!d.ok) return this.drop(d.reason);
    const h = d.header;
    if (this.opts.learn && h.src !== this.opts.routerAddress && h.src !== 0) {
      const old = this.learned.get(h.src);
      if (!old || old.port !== from.port || old.address !== from.address) this.learned.set(h.src, { address: from.address, port: from.port });
    }
    if (h.dst === this.opts.routerAddress) return this.local(h, d.payload, from);
    const to = this.lookup(h.dst);
    if (!to) {
      this.drop('no_route');
      const icmp = this.icmpError(data, h, ICMP_DEST_UNREACH, UNREACH_NET, 0);
      return icmp ? { kind: 'reply', to: from, data: icmp } : { kind: 'drop', reason: 'no_route' };
    }
    if (h.ttl <= 1) {
      this.drop('ttl_expired');
      const icmp = this.icmpError(data, h, ICMP_TIME_EXCEEDED, 0, 0);
      return icmp ? { kind: 'reply', to: from, data: icmp } : { kind: 'drop', reason: 'ttl_expired' };
    }
    // RFC 1624: the TTL shares a 16-bit word with the protocol; patch the checksum for it.
    const oldWord = (h.ttl << 8) | h.protocol;
    data[8] = h.ttl - 1;
    data.writeUInt16BE(incrementalUpdate(data.readUInt16BE(10), oldWord, oldWord - 0x100), 10);
    const r = this.forward;
    r.src = h.src;
    r.dst = h.dst;
    r.to = to;
    r.data = data;
    return r;
  }

  /** Packets to the router itself: it answers echo requests (so `ping` and traceroute see it). */
  private local(h: Ipv4Header, payload: Buffer, from: Endpoint): RouteResult {
    if (h.protocol !== IPPROTO_ICMP) return this.drop('for_router');
    const m = decodeIcmp(payload);
    if (!m.ok || m.message.type !== ICMP_ECHO_REQUEST) return this.drop('for_router');
    const reply = encodeIcmp({ type: ICMP_ECHO_REPLY, code: 0, rest: m.message.rest, payload: m.message.payload });
    return { kind: 'reply', to: from, data: encodeIpv4({ src: this.opts.routerAddress, dst: h.src, protocol: IPPROTO_ICMP, id: this.nextId() }, reply) };
  }

  private nextId(): number {
    this.icmpId = (this.icmpId + 1) & 0xffff;
    return this.icmpId;
  }

  /** An ICMP error about `orig`, or undefined when none may be sent (about an ICMP error). */
  icmpError(orig: Buffer, h: Ipv4Header, type: number, code: number, rest: number): Buffer | undefined {
    if (h.protocol === IPPROTO_ICMP) {
      const t = orig[h.headerLength];
      if (t === undefined || ICMP_ERROR_TYPES.has(t)) return undefined;
    }
    const icmp = encodeIcmp({ type, code, rest, payload: errorQuote(orig, h.headerLength) });
    return encodeIpv4({ src: this.opts.routerAddress, dst: h.src, protocol: IPPROTO_ICMP, id: this.nextId() }, icmp);
  }

  /** ICMP fragmentation needed with the next-hop MTU (RFC 1191) about a packet, if it had DF set. */
  fragNeeded(orig: Buffer, mtu: number): Buffer | undefined {
    const d = decodeIpv4(orig);
    if (!d.ok || !d.header.dontFragment) return undefined;
    return this.icmpError(orig, d.header, ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, mtu & 0xffff);
  }
}
