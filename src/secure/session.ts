/**
 * Transport sessions and the wire format of the secure overlay (the layout of
 * WireGuard's messages; mac1, mac2 and the cookie reply are in src/secure/cookie.ts):
 *
 *   initiation    type=1 | 3 zero bytes | sender index (LE32) | Noise IK message 1 | mac1 | mac2 (148 B)
 *   response      type=2 | 3 zero bytes | sender index | receiver index | message 2 | mac1 | mac2 (92 B)
 *   cookie reply  type=3 | 3 zero bytes | receiver index | nonce (12) | AEAD(cookie) (52 B)
 *   data          type=4 | 3 zero bytes | receiver index | counter (LE64) | AEAD(IPv4 packet)
 *
 * A data message adds DATA_OVERHEAD = 32 bytes to the IPv4 packet it carries. An empty
 * plaintext is a keepalive. The counter is the AEAD nonce, so it is authenticated too.
 */
import { TAG_LEN } from './crypto.js';
import { aeadKey, defaultAead, type Aead, type AeadKey } from './aead.js';
import { allocPacket } from '../util/slab.js';
import { initiationLength, responseLength } from './noise.js';
import { ReplayWindow } from './replay.js';
import { MAC_LEN } from './cookie.js';

export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_DATA = 4;
export const TIMESTAMP_LEN = 12;
export const INITIATION_LEN = 8 + initiationLength(TIMESTAMP_LEN) + 2 * MAC_LEN; // 148
export const RESPONSE_LEN = 12 + responseLength(0) + 2 * MAC_LEN; // 92
export const DATA_HEADER = 16;
/** Bytes a data message adds to the IPv4 packet it carries: header + Poly1305 tag. */
export const DATA_OVERHEAD = DATA_HEADER + TAG_LEN; // 32

/**
 * Timers and limits, WireGuard's values (wireguard-go device/constants.go) except the
 * message counts, which JavaScript numbers hold exactly only up to 2^53.
 */
export interface SecureTimers {
  /** Start a new handshake once a session is this old (ms; WireGuard REKEY_AFTER_TIME 120 s). */
  rekeyAfterTimeMs: number;
  /** A session this old is never used again (ms; REJECT_AFTER_TIME 180 s). */
  rejectAfterTimeMs: number;
  /** Resend an unanswered initiation after this long (ms; REKEY_TIMEOUT 5 s). */
  rekeyTimeoutMs: number;
  /** Give up a handshake (and the packets waiting for it) after this long (ms; REKEY_ATTEMPT_TIME 90 s). */
  rekeyAttemptTimeMs: number;
  /**
   * Data sent and nothing authenticated back for keepaliveTimeoutMs + rekeyTimeoutMs: start
   * a new handshake (WireGuard's KEEPALIVE_TIMEOUT 10 s; the peer may have restarted and
   * lost the session).
   */
  keepaliveTimeoutMs: number;
  /** Start a new handshake after this many messages on a session (REKEY_AFTER_MESSAGES). */
  rekeyAfterMessages: number;
  /** Never send or accept this counter or higher on a session (REJECT_AFTER_MESSAGES). */
  rejectAfterMessages: number;
}

export const DEFAULT_TIMERS: SecureTimers = {
  rekeyAfterTimeMs: 120_000,
  rejectAfterTimeMs: 180_000,
  rekeyTimeoutMs: 5_000,
  rekeyAttemptTimeMs: 90_000,
  keepaliveTimeoutMs: 10_000,
  rekeyAfterMessages: 2 ** 48,
  rejectAfterMessages: 2 ** 53 - 2 ** 13 - 1,
};

/** One direction pair of transport keys agreed by one handshake. */
export class Session {
  private readonly sendKey: AeadKey;
  private readonly recvKey: AeadKey;
  /** Next counter to send. */
  sendCounter = 0;
  readonly replay = new ReplayWindow();

  constructor(
    send: Buffer,
    recv: Buffer,
    /** Our index (the receiver index the peer writes in its data messages). */
    readonly localIndex: number,
    /** The peer's index (we write it in ours). */
    readonly remoteIndex: number,
    /** When the handshake completed (ms, the caller's clock). */
    readonly created: number,
    /** Whether we initiated the handshake that made it. */
    readonly initiator: boolean,
    private readonly aead: Aead = defaultAead,
  ) {
    this.sendKey = aeadKey(send);
    this.recvKey = aeadKey(recv);
  }

  /** Whether it may still carry messages at `now`. */
  usable(now: number, t: SecureTimers): boolean {
    return now - this.created < t.rejectAfterTimeMs && this.sendCounter < t.rejectAfterMessages;
  }

  /**
   * Seals one packet (or a keepalive, empty) as a data message, straight into a datagram
   * carved from the packet slabs (no buffer of its own per packet).
   */
  seal(packet: Buffer): Buffer {
    const out = allocPacket(DATA_OVERHEAD + packet.length);
    this.sealInto(packet, out, out.subarray(DATA_HEADER));
    return out;
  }

  /**
   * Seals one packet as a data message into `out`, exactly DATA_OVERHEAD + packet.length
   * bytes; `sealed` is out's bytes from DATA_HEADER on (the caller keeps both views, so a
   * reused datagram buffer costs no new views per packet).
   */
  sealInto(packet: Buffer, out: Buffer, sealed: Buffer): void {
    const n = this.sendCounter++;
    const lo = n % 0x100000000 >>> 0;
    const hi = n < 0x100000000 ? 0 : Math.floor(n / 0x100000000) >>> 0;
    const r = this.remoteIndex;
    out[0] = MSG_DATA;
    out[1] = out[2] = out[3] = 0;
    out[4] = r;
    out[5] = r >>> 8;
    out[6] = r >>> 16;
    out[7] = r >>> 24;
    out[8] = lo;
    out[9] = lo >>> 8;
    out[10] = lo >>> 16;
    out[11] = lo >>> 24;
    out[12] = hi;
    out[13] = hi >>> 8;
    out[14] = hi >>> 16;
    out[15] = hi >>> 24;
    this.aead.seal(this.sendKey, n, packet, sealed);
  }

  /**
   * Opens a data message's payload into a slab buffer (the host may keep the packet, so
   * not one reused buffer); undefined when it does not authenticate.
   */
  open(counter: number, datagram: Buffer): Buffer | undefined {
    const len = datagram.length - DATA_OVERHEAD;
    if (len < 0) return undefined;
    const out = allocPacket(len);
    return this.aead.open(this.recvKey, counter, datagram.subarray(DATA_HEADER), out) ? out : undefined;
  }

  /**
   * Opens a data message in place: the plaintext overwrites the ciphertext and is returned
   * as a view of `datagram` (the caller owns it); undefined when it does not authenticate
   * (then the datagram's bytes may be changed: libsodium clears its output).
   */
  openInPlace(counter: number, datagram: Buffer): Buffer | undefined {
    const end = datagram.length - TAG_LEN;
    if (end < DATA_HEADER) return undefined;
    const m = datagram.subarray(DATA_HEADER, end);
    return this.aead.open(this.recvKey, counter, datagram.subarray(DATA_HEADER), m) ? m : undefined;
  }
}

/** The 64-bit little-endian counter of a data message. */
export function readCounter(datagram: Buffer): number {
  return datagram.readUInt32LE(8) + datagram.readUInt32LE(12) * 0x100000000;
}

/**
 * A TAI64N label (12 bytes, big-endian seconds + 2^62, then nanoseconds) for `wallMs`:
 * the initiation payload. A responder accepts an initiation only if its timestamp is
 * later than the last one from that peer, so a recorded initiation cannot be replayed.
 */
export function tai64n(wallMs: number): Buffer {
  const b = Buffer.alloc(TIMESTAMP_LEN);
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6);
  b.writeBigUInt64BE(2n ** 62n + BigInt(secs), 0);
  b.writeUInt32BE(Math.min(nanos, 999_999_999), 8);
  return b;
}
