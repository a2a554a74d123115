/**
 * The secure mode as Host.create sees it: the options, their validation (a Node-style
 * EINVAL error before any socket is bound) and the link they build.
 */
import { makeError } from '../util/errors.js';
import type { UdpLink } from '../link/udp-link.js';
import type { SecureCoreOptions, SecureStats } from './core.js';
import { decodeKey } from './keys.js';
import { SecureLink } from './secure-link.js';
import { DATA_OVERHEAD, type SecureTimers } from './session.js';

export interface SecureHostOptions {
  /**
   * This host's X25519 private key (32 bytes, or base64 as `overlay keygen` writes it).
   * With a key the host runs the secure mode: every peer with a `publicKey` is reached
   * only through Noise-authenticated, encrypted datagrams.
   */
  key?: Buffer | string;
  /** With a key: also exchange plain FOU with peers that have no `publicKey` (default false). */
  allowPlain?: boolean;
  /** Secure-mode tuning (tests use short timers). */
  secure?: { timers?: Partial<SecureTimers>; handshakeRate?: number; handshakeBurst?: number; queueLimit?: number; cookieThreshold?: number };
}

/** What a host's snapshot adds in the secure mode (read by src/metrics). */
export interface SecureSnapshot {
  publicKey: string;
  drops: Record<string, number>;
  events: Record<string, number>;
}

export function secureSnapshot(publicKey: Buffer, s: SecureStats): SecureSnapshot {
  return {
    publicKey: publicKey.toString('base64'),
    drops: Object.fromEntries(s.drops),
    events: {
      handshake_initiations: s.handshakeInitiations,
      handshakes_completed: s.handshakesCompleted,
      handshakes_failed: s.handshakesFailed,
      rekeys: s.rekeys,
      roams: s.roams,
      sealed: s.sealed,
      opened: s.opened,
      keepalives_in: s.keepalivesIn,
      plain_in: s.plainIn,
      plain_out: s.plainOut,
      handshake_dh: s.handshakeDh,
      cookie_replies_sent: s.cookieRepliesSent,
      cookies_received: s.cookiesReceived,
      aead_fallback: s.aeadFallback,
    },
  };
}

function keyBytes(v: Buffer | string, what: string): Buffer {
  const b = typeof v === 'string' ? decodeKey(v) : v.length === 32 ? Buffer.from(v) : undefined;
  if (!b) throw makeError('EINVAL', 'host', { message: `${what} is not a 32-byte key (base64, 44 characters)` });
  return b;
}

interface PeerOption {
  prefix: string;
  endpoint: { address: string; port: number };
  publicKey?: Buffer | string;
}

/**
 * Validates the secure options; undefined for a plain host. Throws EINVAL for a peer key
 * without a host key, a plain peer on a secure host without allowPlain, a bad key, or an
 * MTU too small for the 32 bytes of overhead.
 */
export function secureLinkFor(
  opts: SecureHostOptions & { peers?: PeerOption[] },
  mtu: number,
): { overhead: number; wrap(link: UdpLink): SecureLink } | undefined {
  const peers = opts.peers ?? [];
  if (opts.key === undefined) {
    const keyed = peers.find((p) => p.publicKey !== undefined);
    if (keyed) throw makeError('EINVAL', 'host', { message: `peer ${keyed.prefix} has a public key but this host has no key (give key)` });
    if (opts.allowPlain) throw makeError('EINVAL', 'host', { message: 'allowPlain needs a key (a host without one is plain anyway)' });
    return undefined;
  }
  const privateKey = keyBytes(opts.key, 'key');
  const secured: SecureCoreOptions['peers'] = [];
  for (const p of peers) {
    if (p.publicKey === undefined) {
      if (!opts.allowPlain) {
        throw makeError('EINVAL', 'host', { message: `peer ${p.prefix} has no public key: give one, or allow plain peers (allowPlain)` });
      }
      continue;
    }
    secured.push({ publicKey: keyBytes(p.publicKey, `public key of peer ${p.prefix}`), endpoint: p.endpoint });
  }
  if (mtu - DATA_OVERHEAD < 68) throw makeError('EINVAL', 'host', { message: `mtu ${mtu} leaves under 68 bytes for packets after the secure mode's ${DATA_OVERHEAD}` });
  // Several prefixes may route to one peer: one keyed peer per endpoint.
  const byEndpoint = new Map<string, Buffer>();
  const unique: SecureCoreOptions['peers'] = [];
  for (const p of secured) {
    const k = `${p.endpoint.address}:${p.endpoint.port}`;
    const seen = byEndpoint.get(k);
    if (seen && !seen.equals(p.publicKey)) throw makeError('EINVAL', 'host', { message: `two public keys for the peer endpoint ${k}` });
    if (!seen) {
      byEndpoint.set(k, p.publicKey);
      unique.push(p);
    }
  }
  if (new Set(unique.map((p) => p.publicKey.toString('hex'))).size !== unique.length) {
    throw makeError('EINVAL', 'host', { message: 'one public key is given for two peer endpoints' });
  }
  const core: SecureCoreOptions = { privateKey, peers: unique, allowPlain: opts.allowPlain ?? false };
  const t = opts.secure;
  if (t?.timers) core.timers = t.timers;
  if (t?.handshakeRate !== undefined) core.handshakeRate = t.handshakeRate;
  if (t?.handshakeBurst !== undefined) core.handshakeBurst = t.handshakeBurst;
  if (t?.queueLimit !== undefined) core.queueLimit = t.queueLimit;
  if (t?.cookieThreshold !== undefined) core.cookieThreshold = t.cookieThreshold;
  return { overhead: DATA_OVERHEAD, wrap: (link) => new SecureLink(link, core) };
}
