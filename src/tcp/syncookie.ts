/**
 * SYN cookies (RFC 4987 section 3.6, D. J. Bernstein's scheme as Linux implements it in
 * net/ipv4/syncookies.c). Pure: no clock reads, no I/O; the caller passes `now`.
 *
 * When a listener's SYN queue is full it answers a SYN with a SYN-ACK whose ISN *is* the
 * state it would have kept, and forgets the SYN. A legitimate client's ACK returns
 * ISN + 1 in its acknowledgment number; the listener recomputes the hash from the ACK's
 * 4-tuple and sequence number and, when it matches a recent counter, creates the
 * connection directly in ESTABLISHED with the decoded options.
 *
 * The cookie (32 bits), as in Linux's secure_tcp_syn_cookie():
 *
 *     cookie = H1(tuple) + clientIsn + (t << 24) + ((H2(tuple, t) + mssIndex) mod 2^24)
 *
 * - t = floor(now / 64 s), a counter (8 bits survive in the top byte); a cookie is
 *   accepted for the current and the previous counter, so it lives 64 to 128 s.
 * - H1 and H2 are keyed PRFs with two independent per-process secrets, so an off-path
 *   attacker cannot compute a valid cookie for a tuple whose SYN-ACK it never saw.
 * - mssIndex indexes Linux's IPv4 table (536, 1300, 1440, 1460): only 2 bits survive.
 *
 * A forged ACK validates only when its 8-bit counter field is one of 2 values and its low
 * 24 bits decode to one of 4 indexes: probability 2/256 * 4/2^24 ~ 1.9e-9 per guess.
 *
 * TCP options the cookie cannot hold (window scale, SACK-permitted) ride in the low 6 bits
 * of our SYN-ACK's TSval when the client offered timestamps (Linux cookie_init_timestamp):
 * the client echoes TSval in the ACK's TSecr. Without timestamps they are lost: the
 * connection runs without window scaling and without SACK, as on Linux.
 *
 * The PRF is HalfSipHash-2-4 (Aumasson and Bernstein; the 32-bit SipHash variant Linux
 * ships as hsiphash) over four 32-bit words: it is fast enough to answer a flood in
 * JavaScript (well under a microsecond per cookie), which HMAC through node:crypto is not.
 */
import { randomBytes } from 'node:crypto';
import type { FourTuple } from './types.js';

/** Linux's IPv4 MSS table (msstab in net/ipv4/syncookies.c). */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];

/** Length of one counter period, ms (RFC 4987 suggests a slowly incrementing counter). */
export const COOKIE_PERIOD_MS = 64_000;
/** Cookies from the current and the previous counter are accepted. */
export const COOKIE_MAX_AGE = 2;

const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;

/** Low bits of TSval used for options (Linux TSBITS). */
export const TS_OPT_BITS = 6;
const TS_OPT_WSCALE_MASK = 0x0f;
const TS_OPT_SACK = 0x10;
/** Largest window shift (RFC 7323 section 2.3). */
const MAX_WSCALE = 14;

/** Two independent 64-bit keys (as 32-bit halves) for H1 and H2. */
export interface CookieSecret {
  readonly k: Uint32Array; // [h1k0, h1k1, h2k0, h2k1]
}

/** A fresh random secret (node:crypto randomBytes). */
export function newCookieSecret(): CookieSecret {
  const b = randomBytes(16);
  return { k: new Uint32Array([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)]) };
}

let processSecret: CookieSecret | undefined;

/** The per-process secret, created on first use. */
export function processCookieSecret(): CookieSecret {
  processSecret ??= newCookieSecret();
  return processSecret;
}

export interface CookieTimestamps {
  /** Our current TSval clock (what we would put in TSval without cookies). */
  tsNow: number;
  /** The client's window shift from its SYN, or undefined when it sent no WSopt. */
  wscale?: number;
  /** The client sent SACK-permitted (and we allow SACK). */
  sackOk: boolean;
}

export interface MakeCookieOptions {
  secret?: CookieSecret;
  /** Present when the client's SYN carried a timestamp and we use timestamps. */
  timestamps?: CookieTimestamps;
}

export interface Cookie {
  /** Our ISN for the SYN-ACK. */
  isn: number;
  /** The MSS the cookie encodes (a table entry <= the offered MSS); announce it. */
  mss: number;
  /** TSval for the SYN-ACK when timestamps are in use (options in the low bits). */
  tsval?: number;
}

export interface CookieOptionsDecoded {
  /** The MSS from the table (the connection uses min(this, its own MSS)). */
  mss: number;
  /** The client's window shift (only when timestamps carried it). */
  wscale?: number;
  /** SACK-permitted was negotiated (only when timestamps carried it). */
  sackOk?: boolean;
  /** True when the decoding used the timestamp echo. */
  timestamps?: boolean;
}

export interface CheckCookieOptions {
  secret?: CookieSecret;
}

/** Counter for a time: floor(now / 64 s). */
export function cookieCounter(now: number): number {
  return Math.floor(now / COOKIE_PERIOD_MS) >>> 0;
}

/** Index of the largest table entry <= mss (0 when mss is below 536). */
export function mssIndex(mss: number): number {
  for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) {
    if (mss >= COOKIE_MSS_TABLE[i]!) return i;
  }
  return 0;
}

/**
 * Builds the cookie for a SYN. `tuple` is the listener's view (local = us), `clientIsn`
 * the SYN's sequence number, `mss` the MSS the client offered (536 when it sent none,
 * RFC 9293 3.7.1) already clamped to ours.
 */
export function makeCookie(
  tuple: FourTuple,
  clientIsn: number,
  mss: number,
  now: number,
  opts: MakeCookieOptions = {},
): Cookie {
  const secret = opts.secret ?? processCookieSecret();
  const count = cookieCounter(now);
  const idx = mssIndex(mss);
  const h1 = hashTuple(secret, 0, tuple, 0);
  const h2 = hashTuple(secret, 2, tuple, count);
  const isn = (h1 + (clientIsn >>> 0) + ((count << COOKIE_BITS) >>> 0) + ((h2 + idx) & COOKIE_MASK)) >>> 0;
  const cookie: Cookie = { isn, mss: COOKIE_MSS_TABLE[idx]! };
  if (opts.timestamps) cookie.tsval = cookieTsval(opts.timestamps);
  return cookie;
}

/**
 * Validates the cookie an ACK returns: `cookie` is the ACK's acknowledgment number minus
 * one, `clientIsn` its sequence number minus one, `tsecr` its TSecr when it carried a
 * timestamp option. Returns the decoded options, or undefined for an invalid or expired
 * cookie.
 */
export function checkCookie(
  tuple: FourTuple,
  cookie: number,
  clientIsn: number,
  now: number,
  tsecr?: number,
  opts: CheckCookieOptions = {},
): CookieOptionsDecoded | undefined {
  const secret = opts.secret ?? processCookieSecret();
  const count = cookieCounter(now);
  const h1 = hashTuple(secret, 0, tuple, 0);
  const c = ((cookie >>> 0) - h1 - (clientIsn >>> 0)) >>> 0;
  // Cookie's counter in the top 8 bits; how many periods ago it was made.
  const diff = (count - (c >>> COOKIE_BITS)) & (0xffffffff >>> COOKIE_BITS);
  if (diff >= COOKIE_MAX_AGE) return undefined;
  const made = (count - diff) >>> 0;
  const h2 = hashTuple(secret, 2, tuple, made);
  const idx = (c - h2) & COOKIE_MASK;
  if (idx >= COOKIE_MSS_TABLE.length) return undefined;
  const out: CookieOptionsDecoded = { mss: COOKIE_MSS_TABLE[idx]! };
  if (tsecr !== undefined) {
    const bits = tsecr & ((1 << TS_OPT_BITS) - 1);
    out.timestamps = true;
    out.sackOk = (bits & TS_OPT_SACK) !== 0;
    const ws = bits & TS_OPT_WSCALE_MASK;
    // 0xf means "no window scaling"; anything above 14 cannot have come from us.
    if (ws !== TS_OPT_WSCALE_MASK) {
      if (ws > MAX_WSCALE) return undefined;
      out.wscale = ws;
    }
  }
  return out;
}

/**
 * TSval carrying the options in its low 6 bits, never ahead of tsNow (Linux
 * cookie_init_timestamp): the top bits are tsNow's, rounded down.
 */
export function cookieTsval(ts: CookieTimestamps): number {
  let options = ts.wscale === undefined ? TS_OPT_WSCALE_MASK : Math.min(ts.wscale, MAX_WSCALE);
  if (ts.sackOk) options |= TS_OPT_SACK;
  const now = ts.tsNow >>> 0;
  let v = ((now >>> TS_OPT_BITS) << TS_OPT_BITS) >>> 0;
  v = (v | options) >>> 0;
  if (v > now) v = (v - (1 << TS_OPT_BITS)) >>> 0;
  return v;
}

/** PRF of (tuple, count) with key pair at secret.k[ki], secret.k[ki+1]. */
function hashTuple(secret: CookieSecret, ki: number, t: FourTuple, count: number): number {
  return halfSipHash24x4(
    secret.k[ki]!,
    secret.k[ki + 1]!,
    t.remoteAddr >>> 0,
    t.localAddr >>> 0,
    (((t.remotePort & 0xffff) << 16) | (t.localPort & 0xffff)) >>> 0,
    count >>> 0,
  );
}

// ---- HalfSipHash-2-4, 32-bit output ----

/**
 * HalfSipHash-2-4 of exactly four 32-bit words (16 bytes, each word little-endian as the
 * reference reads them), with the 64-bit key (k0, k1). Equals halfSipHash24(key, bytes)
 * for those 16 bytes.
 */
export function halfSipHash24x4(k0: number, k1: number, m0: number, m1: number, m2: number, m3: number): number {
  const v = initState(k0, k1);
  absorb(v, m0);
  absorb(v, m1);
  absorb(v, m2);
  absorb(v, m3);
  absorb(v, (16 << 24) >>> 0);
  return finish(v);
}

/** HalfSipHash-2-4 of any byte string with an 8-byte key (the reference algorithm). */
export function halfSipHash24(key: Uint8Array, data: Uint8Array): number {
  const rd = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  const v = initState(rd(key, 0), rd(key, 4));
  const end = data.length - (data.length & 3);
  for (let i = 0; i < end; i += 4) absorb(v, rd(data, i));
  let b = (data.length << 24) >>> 0;
  for (let i = data.length & 3; i > 0; i--) b = (b | (data[end + i - 1]! << (8 * (i - 1)))) >>> 0;
  absorb(v, b);
  return finish(v);
}

/** One shared state (the hash is synchronous and never re-entered): no allocation per cookie. */
const STATE = new Uint32Array(4);

function initState(k0: number, k1: number): Uint32Array {
  STATE[0] = k0;
  STATE[1] = k1;
  STATE[2] = 0x6c796765 ^ k0;
  STATE[3] = 0x74656462 ^ k1;
  return STATE;
}

function absorb(v: Uint32Array, m: number): void {
  v[3] ^= m;
  round(v);
  round(v);
  v[0] ^= m;
}

function finish(v: Uint32Array): number {
  v[2] ^= 0xff;
  round(v);
  round(v);
  round(v);
  round(v);
  return (v[1]! ^ v[3]!) >>> 0;
}

function rotl(x: number, b: number): number {
  return ((x << b) | (x >>> (32 - b))) >>> 0;
}

function round(v: Uint32Array): void {
  let v0 = v[0]!;
  let v1 = v[1]!;
  let v2 = v[2]!;
  let v3 = v[3]!;
  v0 = (v0 + v1) >>> 0;
  v1 = rotl(v1, 5) ^ v0;
  v0 = rotl(v0, 16);
  v2 = (v2 + v3) >>> 0;
  v3 = rotl(v3, 8) ^ v2;
  v0 = (v0 + v3) >>> 0;
  v3 = rotl(v3, 7) ^ v0;
  v2 = (v2 + v1) >>> 0;
  v1 = rotl(v1, 13) ^ v2;
  v2 = rotl(v2, 16);
  v[0] = v0;
  v[1] = v1;
  v[2] = v2;
  v[3] = v3;
}

// ---- the listener's hook ----

/** What a valid cookie ACK tells the listener (the shape of listener.ts SynCookieHook). */
export interface CookieAckResult {
  mss: number;
  sackPermitted?: boolean;
  wscale?: number;
  ts?: boolean;
}

export interface SynCookieJarOptions {
  /** The listener's own address (the local half of every tuple). */
  localAddr: number;
  /** Our largest MSS (the cookie encodes min(offered, this)). */
  mss: number;
  /** Whether we use SACK / window scaling at all (options a cookie may restore). */
  sack: boolean;
  windowScale: boolean;
  /**
   * True when the listener puts `synAck().tsval` into its cookie SYN-ACKs: only then can
   * the ACK's TSecr carry wscale/SACK back. False: those options are dropped (as Linux does
   * without timestamps) and TSecr is not interpreted.
   */
  timestampOptions?: boolean;
  secret?: CookieSecret;
  /** Called on every cookie decision (for the stack's counters: 'sent' is the syn_cookie event). */
  onEvent?: (kind: 'sent' | 'accepted' | 'rejected') => void;
}

export interface SynCookieStats {
  /** Cookie SYN-ACKs issued. */
  sent: number;
  /** ACKs that carried a valid cookie (connections created from nothing). */
  accepted: number;
  /** Bare ACKs checked that carried no valid cookie. */
  rejected: number;
}

/**
 * SYN cookies for one listener: implements the listener's SynCookieHook (issForSyn,
 * checkAck) and `synAck()` for listeners that also put the option-bearing TSval in their
 * SYN-ACK. Stateless apart from its counters.
 */
export class SynCookieJar {
  readonly stats: SynCookieStats = { sent: 0, accepted: 0, rejected: 0 };
  private readonly secret: CookieSecret;

  constructor(private readonly opts: SynCookieJarOptions) {
    this.secret = opts.secret ?? processCookieSecret();
  }

  private tuple(seg: { srcPort: number; dstPort: number }, remoteAddr: number): FourTuple {
    return { localAddr: this.opts.localAddr, localPort: seg.dstPort, remoteAddr, remotePort: seg.srcPort };
  }

  /**
   * The cookie SYN-ACK for a SYN: ISN, MSS to announce and (when the SYN had a timestamp
   * and we use them) the TSval to send. `tsNow` is our TSval clock.
   */
  synAck(seg: SegmentView, remoteAddr: number, now: number, tsNow?: number): Cookie {
    // RFC 9293 3.7.1: no MSS option means 536.
    const offered = seg.options.mss ?? 536;
    const mss = Math.min(offered, this.opts.mss);
    const o: MakeCookieOptions = { secret: this.secret };
    if (this.opts.timestampOptions && tsNow !== undefined && seg.options.ts) {
      const ts: CookieTimestamps = { tsNow, sackOk: this.opts.sack && seg.options.sackPermitted === true };
      if (this.opts.windowScale && seg.options.wscale !== undefined) ts.wscale = seg.options.wscale;
      o.timestamps = ts;
    }
    this.stats.sent++;
    this.opts.onEvent?.('sent');
    return makeCookie(this.tuple(seg, remoteAddr), seg.seq, mss, now, o);
  }

  /** SynCookieHook.issForSyn: the cookie as our ISS. */
  issForSyn(seg: SegmentView, remoteAddr: number, now: number): number {
    return this.synAck(seg, remoteAddr, now).isn;
  }

  /** SynCookieHook.checkAck: a bare ACK (no SYN/RST) whose SEG.ACK-1 is a valid cookie. */
  checkAck(seg: SegmentView, remoteAddr: number, now: number): CookieAckResult | undefined {
    // Only an ACK without SYN and RST can complete a cookie handshake (RFC 4987 3.6).
    if ((seg.flags & 0x10) === 0 || (seg.flags & 0x06) !== 0) return undefined;
    const tsecr = this.opts.timestampOptions && seg.options.ts ? seg.options.ts.ecr : undefined;
    const d = checkCookie(this.tuple(seg, remoteAddr), (seg.ack - 1) >>> 0, (seg.seq - 1) >>> 0, now, tsecr, { secret: this.secret });
    if (!d) {
      this.stats.rejected++;
      this.opts.onEvent?.('rejected');
      return undefined;
    }
    this.stats.accepted++;
    this.opts.onEvent?.('accepted');
    const r: CookieAckResult = { mss: Math.min(d.mss, this.opts.mss), ts: seg.options.ts !== undefined };
    if (d.sackOk && this.opts.sack) r.sackPermitted = true;
    if (d.wscale !== undefined && this.opts.windowScale) r.wscale = d.wscale;
    return r;
  }
}

/** The fields of a TCP segment the cookie code reads. */
export interface SegmentView {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  options: { mss?: number; wscale?: number; sackPermitted?: boolean; ts?: { val: number; ecr: number } };
}
