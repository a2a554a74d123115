/**
 * The data path's AEAD: ChaCha20-Poly1305 (RFC 8439) with Noise's nonce (32 zero bits, then
 * the 64-bit counter little-endian), through one of two implementations of the same
 * function, byte for byte:
 *
 * - `sodium-native` (libsodium, crypto_aead_chacha20poly1305_ietf_*): one native call per
 *   packet that writes straight into the caller's buffer. About 2 us for a 1452-byte
 *   packet where node:crypto's createCipheriv/update/final/getAuthTag took 6 us (a cipher
 *   object, its update and tag buffers, per packet).
 * - `node:crypto` (OpenSSL), the fallback when sodium-native cannot be loaded (no prebuilt
 *   binary for the platform): SecureCore reports it (`aead_fallback` event counter, and one
 *   process warning).
 *
 * Both seal `plaintext` into `out` at `offset` and open `sealed` (ciphertext || tag) into
 * `out` at `offset`; tests seal with one and open with the other.
 */
import { createRequire } from 'node:module';
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { TAG_LEN, writeNonce } from './crypto.js';

/** A transport key as one implementation wants it (raw bytes, or a KeyObject). */
export interface AeadKey {
  readonly raw: Buffer;
  /** node:crypto's imported key, made on first use. */
  object?: KeyObject;
}

export interface Aead {
  readonly name: 'sodium-native' | 'node:crypto';
  /**
   * Seals into out[offset..]: ciphertext then tag; returns plaintext.length + 16. The nonce
   * is Noise's for counter `n`, or `nonce` (12 bytes) when given (the cookie reply's).
   */
  sealInto(key: AeadKey, n: number, ad: Buffer | null, plaintext: Buffer, out: Buffer, offset: number, nonce?: Buffer): number;
  /**
   * Opens `sealed` into out[offset..] (sealed.length - 16 bytes); returns that length, or
   * -1 when it does not authenticate (then `out` may hold garbage). Never throws for bad input.
   */
  openInto(key: AeadKey, n: number, ad: Buffer | null, sealed: Buffer, out: Buffer, offset: number, nonce?: Buffer): number;
  /**
   * The data path's seal: `plaintext` into `c`, which is exactly plaintext.length + 16 bytes
   * (ciphertext, then tag), with Noise's nonce for counter `n` and no associated data. The
   * same bytes as sealInto(key, n, null, plaintext, c, 0), with no views made per call.
   */
  seal(key: AeadKey, n: number, plaintext: Buffer, c: Buffer): void;
  /**
   * The data path's open: `sealed` (ciphertext || tag) into `m`, exactly sealed.length - 16
   * bytes (sealed.length >= 16); false when it does not authenticate. Never throws.
   */
  open(key: AeadKey, n: number, sealed: Buffer, m: Buffer): boolean;
}

export function aeadKey(raw: Buffer): AeadKey {
  if (raw.length !== 32) throw new RangeError('a ChaCha20-Poly1305 key is 32 bytes');
  return { raw: Buffer.from(raw) };
}

interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Buffer, m: Buffer, ad: Buffer | null, nsec: null, npub: Buffer, k: Buffer): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Buffer, nsec: null, c: Buffer, ad: Buffer | null, npub: Buffer, k: Buffer): number;
}

/**
 * The native functions under sodium-native's exported ones (its binding.js, which its
 * index.js wraps): the same libsodium call without the wrapper's eight argument
 * assertions, about 0.1 us of a 1.5 us seal. They take the additional data as `undefined`
 * for none and return a negative status instead of throwing. Used only for the data path,
 * whose views have the right lengths by construction (checked again in seal/open), and
 * only when a known-answer check at load agrees with the exported functions.
 */
interface SodiumBinding {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Buffer, m: Buffer, ad: undefined, npub: Buffer, k: Buffer): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Buffer, c: Buffer, ad: undefined, npub: Buffer, k: Buffer): number;
}

const nonceS = Buffer.alloc(12);
const nonceN = Buffer.alloc(12);

/** sodium-native's binding, if it loads and seals and opens exactly as the exported functions do. */
function checkedBinding(na: Sodium, load: (id: string) => unknown): SodiumBinding | undefined {
  try {
    const b = load('sodium-native/binding.js') as SodiumBinding;
    if (typeof b.crypto_aead_chacha20poly1305_ietf_encrypt !== 'function' || typeof b.crypto_aead_chacha20poly1305_ietf_decrypt !== 'function') return undefined;
    const k = Buffer.alloc(32);
    const npub = Buffer.alloc(12);
    for (let i = 0; i < 32; i++) k[i] = i * 7 + 1;
    npub[4] = 42;
    const m = Buffer.from('overlay-tcp secure: known-answer check of the binding, 64 bytes..', 'ascii');
    const want = Buffer.alloc(m.length + TAG_LEN);
    const got = Buffer.alloc(m.length + TAG_LEN);
    na.crypto_aead_chacha20poly1305_ietf_encrypt(want, m, null, null, npub, k);
    if (b.crypto_aead_chacha20poly1305_ietf_encrypt(got, m, undefined, npub, k) !== got.length || !got.equals(want)) return undefined;
    const back = Buffer.alloc(m.length);
    if (b.crypto_aead_chacha20poly1305_ietf_decrypt(back, want, undefined, npub, k) !== m.length || !back.equals(m)) return undefined;
    want[3] ^= 1;
    if (b.crypto_aead_chacha20poly1305_ietf_decrypt(back, want, undefined, npub, k) >= 0) return undefined;
    return b;
  } catch {
    return undefined;
  }
}

function sodiumAead(na: Sodium, raw: SodiumBinding | undefined): Aead {
  const enc = na.crypto_aead_chacha20poly1305_ietf_encrypt;
  const dec = na.crypto_aead_chacha20poly1305_ietf_decrypt;
  const seal: Aead['seal'] = raw
    ? (key, n, plaintext, c) => {
        if (c.length !== plaintext.length + TAG_LEN) throw new RangeError('a sealed view is the plaintext length + 16');
        raw.crypto_aead_chacha20poly1305_ietf_encrypt(c, plaintext, undefined, writeNonce(nonceS, n), key.raw);
      }
    : (key, n, plaintext, c) => {
        enc(c, plaintext, null, null, writeNonce(nonceS, n), key.raw);
      };
  const open: Aead['open'] = raw
    ? (key, n, sealed, m) => sealed.length >= TAG_LEN && m.length === sealed.length - TAG_LEN && raw.crypto_aead_chacha20poly1305_ietf_decrypt(m, sealed, undefined, writeNonce(nonceS, n), key.raw) === m.length
    : (key, n, sealed, m) => {
        try {
          return dec(m, null, sealed, null, writeNonce(nonceS, n), key.raw) === m.length;
        } catch {
          return false;
        }
      };
  return {
    name: 'sodium-native',
    sealInto(key, n, ad, plaintext, out, offset, nonce) {
      const len = plaintext.length + TAG_LEN;
      const c = offset === 0 && out.length === len ? out : out.subarray(offset, offset + len);
      return enc(c, plaintext, ad, null, nonce ?? writeNonce(nonceS, n), key.raw);
    },
    openInto(key, n, ad, sealed, out, offset, nonce) {
      if (sealed.length < TAG_LEN) return -1;
      const len = sealed.length - TAG_LEN;
      const m = offset === 0 && out.length === len ? out : out.subarray(offset, offset + len);
      try {
        return dec(m, null, sealed, ad, nonce ?? writeNonce(nonceS, n), key.raw);
      } catch {
        return -1;
      }
    },
    seal,
    open,
  };
}

const keyObject = (key: AeadKey): KeyObject => (key.object ??= createSecretKey(key.raw));

/** node:crypto (OpenSSL): a cipher object per packet, the fallback. */
export const nodeAead: Aead = {
  name: 'node:crypto',
  sealInto(key, n, ad, plaintext, out, offset, nonce) {
    const c = createCipheriv('chacha20-poly1305', keyObject(key), nonce ?? writeNonce(nonceN, n), { authTagLength: TAG_LEN });
    if (ad && ad.length) c.setAAD(ad, { plaintextLength: plaintext.length });
    let w = 0;
    if (plaintext.length) w = c.update(plaintext).copy(out, offset);
    const fin = c.final();
    if (fin.length) w += fin.copy(out, offset + w);
    return w + c.getAuthTag().copy(out, offset + w);
  },
  openInto(key, n, ad, sealed, out, offset, nonce) {
    if (sealed.length < TAG_LEN) return -1;
    const len = sealed.length - TAG_LEN;
    try {
      const d = createDecipheriv('chacha20-poly1305', keyObject(key), nonce ?? writeNonce(nonceN, n), { authTagLength: TAG_LEN });
      d.setAuthTag(sealed.subarray(len));
      if (ad && ad.length) d.setAAD(ad, { plaintextLength: len });
      let w = 0;
      if (len) w = d.update(sealed.subarray(0, len)).copy(out, offset);
      d.final();
      return w;
    } catch {
      return -1;
    }
  },
  seal(key, n, plaintext, c) {
    nodeAead.sealInto(key, n, null, plaintext, c, 0);
  },
  open(key, n, sealed, m) {
    return nodeAead.openInto(key, n, null, sealed, m, 0) === m.length;
  },
};

/** Set to `node:crypto` to run the data path on the fallback (tests, and comparing the two). */
export const AEAD_ENV = 'OVERLAY_SECURE_AEAD';

function loadSodium(): { aead: Aead; wrapped: Aead } | { error: string } {
  if (process.env[AEAD_ENV] === 'node:crypto') return { error: `${AEAD_ENV}=node:crypto` };
  try {
    const load = createRequire(import.meta.url);
    const na = load('sodium-native') as Sodium;
    if (typeof na.crypto_aead_chacha20poly1305_ietf_encrypt !== 'function') return { error: 'sodium-native lacks crypto_aead_chacha20poly1305_ietf' };
    const wrapped = sodiumAead(na, undefined);
    const binding = checkedBinding(na, load);
    return { aead: binding ? sodiumAead(na, binding) : wrapped, wrapped };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] ?? 'load failed' };
  }
}

const loaded = loadSodium();

/** sodium-native's AEAD, or undefined when it could not be loaded (see `sodiumError`). */
export const sodiumAeadImpl: Aead | undefined = 'aead' in loaded ? loaded.aead : undefined;
/** sodium-native through its exported (argument-checking) functions only: the same bytes; tests compare the two. */
export const sodiumWrappedAead: Aead | undefined = 'aead' in loaded ? loaded.wrapped : undefined;
/** Whether the data path calls sodium-native's binding directly (it loaded and passed the known-answer check). */
export const sodiumDirect: boolean = 'aead' in loaded && loaded.aead !== loaded.wrapped;
/** Why sodium-native could not be loaded (undefined when it was). */
export const sodiumError: string | undefined = 'error' in loaded ? loaded.error : undefined;
/** The implementation the secure mode uses by default: sodium-native when it loads. */
export const defaultAead: Aead = sodiumAeadImpl ?? nodeAead;
