/**
 * Key handling for the secure overlay: keys are 32 raw bytes, written as standard
 * base64 (44 characters), like WireGuard's. A private key file holds the base64 key and
 * a newline, readable by its owner only (0600).
 */
import { generateKeyPair, keyPairFromPrivate } from './crypto.js';

/** Decodes a base64 key (32 bytes); undefined if it is not exactly that. */
export function decodeKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) return undefined;
  const b = Buffer.from(t, 'base64');
  return b.length === 32 ? b : undefined;
}

export function encodeKey(key: Buffer): string {
  return key.toString('base64');
}

/** A fresh key pair as base64 strings. */
export function newKeyPair(): { privateKey: string; publicKey: string } {
  const k = generateKeyPair();
  return { privateKey: encodeKey(k.privateKey), publicKey: encodeKey(k.publicKey) };
}

/** The public key (base64) of a private key (base64 or raw). */
export function publicKeyOf(privateKey: string | Buffer): string {
  const raw = typeof privateKey === 'string' ? decodeKey(privateKey) : privateKey;
  if (!raw || raw.length !== 32) throw new RangeError('not a 32-byte key');
  return encodeKey(keyPairFromPrivate(raw).publicKey);
}
