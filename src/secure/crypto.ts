/**
 * The primitives of Noise_IK_25519_ChaChaPoly_SHA256, all from node:crypto (OpenSSL):
 * X25519 (RFC 7748), ChaCha20-Poly1305 (RFC 8439, formerly 7539) and SHA-256 with HMAC
 * and HKDF (RFC 5869). Nothing here is a new construction: Noise's HKDF(ck, ikm, n) is
 * RFC 5869 HKDF with salt = ck and empty info, truncated to n * 32 bytes.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const HASH_LEN = 32;

// DER prefixes of an X25519 PKCS#8 private key and SPKI public key (RFC 8410): the raw
// 32 bytes follow. node:crypto takes X25519 keys only as KeyObjects.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** A static or ephemeral X25519 key pair, raw 32-byte halves plus the KeyObject for DH. */
export interface KeyPair {
  privateKey: Buffer;
  publicKey: Buffer;
  /** The private key as a KeyObject (for diffieHellman). */
  readonly key: KeyObject;
}

export function keyPairFromPrivate(privateKey: Buffer): KeyPair {
  if (privateKey.length !== KEY_LEN) throw new RangeError('an X25519 private key is 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return { privateKey: Buffer.from(privateKey), publicKey: Buffer.from(spki.subarray(SPKI_PREFIX.length)), key };
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return keyPairFromPrivate(Buffer.from(der.subarray(PKCS8_PREFIX.length)));
}

function publicKeyObject(publicKey: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

let dhOps = 0;
/** X25519 operations done by this process so far (tests check that a path does none). */
export function dhCount(): number {
  return dhOps;
}

/** X25519(priv, pub). Throws on an all-zero result (a low-order public key), as Noise allows. */
export function dh(pair: KeyPair, publicKey: Buffer): Buffer {
  dhOps++;
  const out = diffieHellman({ privateKey: pair.key, publicKey: publicKeyObject(publicKey) });
  return out;
}

export function hash(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** RFC 5869 HKDF-SHA-256. */
export function hkdf(salt: Buffer, ikm: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** Noise's HKDF(chaining_key, input_key_material, n): n outputs of 32 bytes. */
export function noiseHkdf(ck: Buffer, ikm: Buffer, n: 2 | 3): Buffer[] {
  const out = hkdf(ck, ikm, Buffer.alloc(0), n * HASH_LEN);
  const r: Buffer[] = [];
  for (let i = 0; i < n; i++) r.push(out.subarray(i * HASH_LEN, (i + 1) * HASH_LEN));
  return r;
}

/** A ChaCha20-Poly1305 key: raw, or imported once as a KeyObject. */
export type AeadKey = KeyObject | Buffer;

/** Noise's ChaChaPoly nonce: 32 zero bits, then the 64-bit counter little-endian. */
export function writeNonce(nonce: Buffer, n: number): Buffer {
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
  const lo = n % 0x100000000 >>> 0;
  nonce[4] = lo;
  nonce[5] = lo >>> 8;
  nonce[6] = lo >>> 16;
  nonce[7] = lo >>> 24;
  const hi = n < 0x100000000 ? 0 : Math.floor(n / 0x100000000) >>> 0;
  nonce[8] = hi;
  nonce[9] = hi >>> 8;
  nonce[10] = hi >>> 16;
  nonce[11] = hi >>> 24;
  return nonce;
}

const scratchNonce = Buffer.alloc(12);

/**
 * Seals `plaintext` into `out` at `offset` (ciphertext then 16-byte tag); returns the
 * bytes written. `out` must have room for plaintext.length + 16. (node:crypto: one
 * cipher object per call; the handshake uses it, the data path goes through `Aead`.)
 */
export function sealInto(key: AeadKey, n: number, ad: Buffer | undefined, plaintext: Buffer, out: Buffer, offset: number): number {
  const c = createCipheriv('chacha20-poly1305', key, writeNonce(scratchNonce, n), { authTagLength: TAG_LEN });
  if (ad && ad.length) c.setAAD(ad, { plaintextLength: plaintext.length });
  let w = 0;
  if (plaintext.length) {
    const ct = c.update(plaintext);
    w = ct.copy(out, offset);
  }
  const fin = c.final();
  if (fin.length) w += fin.copy(out, offset + w);
  w += c.getAuthTag().copy(out, offset + w);
  return w;
}

export function seal(key: AeadKey, n: number, ad: Buffer | undefined, plaintext: Buffer): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + TAG_LEN);
  sealInto(key, n, ad, plaintext, out, 0);
  return out;
}

/** Opens ciphertext||tag; undefined when authentication fails (never throws for bad input). */
export function open(key: AeadKey, n: number, ad: Buffer | undefined, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG_LEN) return undefined;
  const ctLen = sealed.length - TAG_LEN;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, writeNonce(scratchNonce, n), { authTagLength: TAG_LEN });
    d.setAuthTag(sealed.subarray(ctLen));
    if (ad && ad.length) d.setAAD(ad, { plaintextLength: ctLen });
    const pt = ctLen ? d.update(sealed.subarray(0, ctLen)) : Buffer.alloc(0);
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}
