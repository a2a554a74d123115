/**
 * WireGuard's MAC1/MAC2 and cookie reply (WireGuard paper, section 5.4.4 and 5.4.7), on
 * standard primitives: HMAC-SHA-256 (RFC 2104, truncated to 16 bytes as RFC 2104 section 5
 * allows) where WireGuard uses keyed BLAKE2s-128, SHA-256 where it uses BLAKE2s, and
 * ChaCha20-Poly1305 (RFC 8439) with a random 96-bit nonce where it uses XChaCha20-Poly1305
 * (node:crypto has neither keyed BLAKE2s nor XChaCha20, and the fallback must speak the same
 * protocol). The construction, for a responder with static public key Spub:
 *
 *   mac1    = HMAC-SHA-256(SHA-256("mac1----" || Spub), msg_before_mac1)[0..16]
 *   cookie  = HMAC-SHA-256(R, source IPv4 (4 bytes) || source UDP port (BE16))[0..16],
 *             R: 32 random bytes, replaced every 2 minutes
 *   mac2    = HMAC-SHA-256(cookie, msg_before_mac2)[0..16]   (16 zero bytes without a cookie)
 *   reply   = type 3 | 3 zero bytes | receiver index | nonce (12 random bytes)
 *             | ChaCha20-Poly1305(key = SHA-256("cookie--" || Spub), nonce, cookie, ad = mac1)
 *
 * mac1 (checked before any Diffie-Hellman) proves the sender knows the responder's public
 * key. Under load the responder does no DH for an initiation without a valid mac2: it
 * answers with a cookie reply instead, which only a sender that receives at the claimed
 * source address can read (and only the one that sent that mac1, the AD), so a flood from
 * spoofed addresses costs the responder an HMAC and a small reply each. The nonce is random
 * because the key is fixed by Spub: with 96-bit nonces the chance that two replies under
 * one static key share a nonce stays below 2^-32 up to 2^32 replies.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Aead, AeadKey } from './aead.js';
import { aeadKey } from './aead.js';
import { parseIpv4 } from '../wire/addr.js';

export const MAC_LEN = 16;
export const MSG_COOKIE_REPLY = 3;
export const COOKIE_NONCE_LEN = 12;
/** type + reserved, receiver index, nonce, sealed cookie (16) + tag (16). */
export const COOKIE_REPLY_LEN = 4 + 4 + COOKIE_NONCE_LEN + MAC_LEN + 16; // 52
/** The responder's cookie secret changes this often, and a cookie is trusted this long (WireGuard's 120 s). */
export const COOKIE_SECRET_MS = 120_000;

const LABEL_MAC1 = Buffer.from('mac1----', 'ascii');
const LABEL_COOKIE = Buffer.from('cookie--', 'ascii');
const ZERO_MAC = Buffer.alloc(MAC_LEN);

/** The two keys derived from one static public key. */
export interface MacKeys {
  mac1: Buffer;
  cookie: AeadKey;
}

export function macKeys(publicKey: Buffer): MacKeys {
  return {
    mac1: createHash('sha256').update(LABEL_MAC1).update(publicKey).digest(),
    cookie: aeadKey(createHash('sha256').update(LABEL_COOKIE).update(publicKey).digest()),
  };
}

function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest().subarray(0, MAC_LEN);
}

function equal16(a: Buffer, b: Buffer): boolean {
  return a.length === MAC_LEN && b.length === MAC_LEN && timingSafeEqual(a, b);
}

/**
 * Writes mac1 and mac2 into the last 32 bytes of `msg` (an initiation or response whose
 * other bytes are final). mac2 is zeros without a cookie. Returns mac1 (a copy).
 */
export function writeMacs(msg: Buffer, receiverMac1Key: Buffer, cookie: Buffer | undefined): Buffer {
  const at1 = msg.length - 2 * MAC_LEN;
  const m1 = mac(receiverMac1Key, msg.subarray(0, at1));
  m1.copy(msg, at1);
  const m2 = cookie ? mac(cookie, msg.subarray(0, at1 + MAC_LEN)) : ZERO_MAC;
  m2.copy(msg, at1 + MAC_LEN);
  return Buffer.from(m1);
}

/** Whether `msg`'s mac1 is right for a receiver whose mac1 key is `ownMac1Key`. */
export function checkMac1(msg: Buffer, ownMac1Key: Buffer): boolean {
  const at1 = msg.length - 2 * MAC_LEN;
  return equal16(mac(ownMac1Key, msg.subarray(0, at1)), msg.subarray(at1, at1 + MAC_LEN));
}

/** The responder's side: cookies for source addresses, checks mac2, writes cookie replies. */
export class CookieJar {
  private secret: Buffer = Buffer.alloc(0);
  private secretBorn = -Infinity;

  constructor(
    private readonly own: MacKeys,
    private readonly aead: Aead,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {}

  /** The cookie for a source address at `now` (the secret is replaced once it is 2 minutes old). */
  cookieFor(address: string, port: number, now: number): Buffer {
    if (now - this.secretBorn >= COOKIE_SECRET_MS) {
      this.secret = this.random(32);
      this.secretBorn = now;
    }
    return mac(this.secret, sourceBytes(address, port));
  }

  /** Whether `msg`'s mac2 was made with the cookie of this source address. */
  checkMac2(msg: Buffer, address: string, port: number, now: number): boolean {
    const at2 = msg.length - MAC_LEN;
    const m2 = msg.subarray(at2);
    if (m2.equals(ZERO_MAC)) return false;
    return equal16(mac(this.cookieFor(address, port, now), msg.subarray(0, at2)), m2);
  }

  /** The cookie reply to an initiation (`msg`) from address:port. */
  reply(msg: Buffer, address: string, port: number, now: number): Buffer {
    const at1 = msg.length - 2 * MAC_LEN;
    const out = Buffer.alloc(COOKIE_REPLY_LEN);
    out.writeUInt32LE(MSG_COOKIE_REPLY, 0);
    msg.copy(out, 4, 4, 8); // the initiator's sender index
    const nonce = this.random(COOKIE_NONCE_LEN);
    nonce.copy(out, 8);
    // The cookie, sealed under the responder's cookie key with the initiation's mac1 as AD.
    this.aead.sealInto(this.own.cookie, 0, msg.subarray(at1, at1 + MAC_LEN), this.cookieFor(address, port, now), out, 8 + COOKIE_NONCE_LEN, nonce);
    return out;
  }
}

/** The initiator reads a cookie reply with the responder's cookie key; undefined if it does not authenticate. */
export function openCookieReply(aead: Aead, peerCookieKey: AeadKey, reply: Buffer, sentMac1: Buffer): Buffer | undefined {
  if (reply.length !== COOKIE_REPLY_LEN) return undefined;
  const nonce = reply.subarray(8, 8 + COOKIE_NONCE_LEN);
  const out = Buffer.alloc(MAC_LEN);
  const n = aead.openInto(peerCookieKey, 0, sentMac1, reply.subarray(8 + COOKIE_NONCE_LEN), out, 0, nonce);
  return n === MAC_LEN ? out : undefined;
}

function sourceBytes(address: string, port: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(port & 0xffff, 4);
  const v4 = parseIpv4(address);
  if (v4 !== undefined) {
    b.writeUInt32BE(v4, 0);
    return b;
  }
  // Not IPv4 (the overlay binds udp4, so not expected): the address text itself, then the port.
  return Buffer.concat([Buffer.from(address, 'utf8'), b.subarray(4)]);
}
