/**
 * The Noise IK handshake (Noise Protocol Framework, revision 34, section 7.5), exactly
 * Noise_IK_25519_ChaChaPoly_SHA256, the pattern WireGuard uses:
 *
 *   IK:
 *     <- s
 *     ...
 *     -> e, es, s, ss
 *     <- e, ee, se
 *
 * The initiator knows the responder's static public key beforehand; the first message
 * carries the initiator's static key encrypted, so the responder learns who calls and
 * both sides are authenticated after the second message. Both ephemeral keys enter the
 * session keys (forward secrecy). This module is the handshake alone, sans-IO: callers
 * pass the ephemeral key when they want determinism (the test vectors do).
 */
import {
  HASH_LEN,
  KEY_LEN,
  TAG_LEN,
  dh,
  generateKeyPair,
  hash,
  noiseHkdf,
  open,
  seal,
  type KeyPair,
} from './crypto.js';

export const PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_SHA256';

/** CipherState + SymmetricState (Noise sections 5.1 and 5.2). */
export class SymmetricState {
  ck: Buffer;
  h: Buffer;
  private k: Buffer | undefined;
  private n = 0;

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, 'ascii');
    // A name of at most HASHLEN bytes is padded with zeros; a longer one is hashed.
    this.h = name.length <= HASH_LEN ? Buffer.concat([name, Buffer.alloc(HASH_LEN - name.length)]) : hash(name);
    this.ck = Buffer.from(this.h);
  }

  mixHash(data: Buffer): void {
    this.h = hash(this.h, data);
  }

  mixKey(ikm: Buffer): void {
    const [ck, k] = noiseHkdf(this.ck, ikm, 2);
    this.ck = Buffer.from(ck!);
    this.k = Buffer.from(k!);
    this.n = 0;
  }

  encryptAndHash(plaintext: Buffer): Buffer {
    const out = this.k ? seal(this.k, this.n++, this.h, plaintext) : Buffer.from(plaintext);
    this.mixHash(out);
    return out;
  }

  /** undefined when the ciphertext does not authenticate. */
  decryptAndHash(ciphertext: Buffer): Buffer | undefined {
    let out: Buffer | undefined;
    if (this.k) {
      out = open(this.k, this.n, this.h, ciphertext);
      if (!out) return undefined;
      this.n++;
    } else {
      out = Buffer.from(ciphertext);
    }
    this.mixHash(ciphertext);
    return out;
  }

  /** The two transport keys: [initiator-to-responder, responder-to-initiator]. */
  split(): [Buffer, Buffer] {
    const [k1, k2] = noiseHkdf(this.ck, Buffer.alloc(0), 2);
    return [Buffer.from(k1!), Buffer.from(k2!)];
  }
}

/** Length of message 1 with a payload of `payloadLen` bytes: e, enc(s), enc(payload). */
export function initiationLength(payloadLen: number): number {
  return KEY_LEN + KEY_LEN + TAG_LEN + payloadLen + TAG_LEN;
}
/** Length of message 2 with a payload of `payloadLen` bytes: e, enc(payload). */
export function responseLength(payloadLen: number): number {
  return KEY_LEN + payloadLen + TAG_LEN;
}

export interface TransportKeys {
  /** Key for what this side sends, and for what it receives. */
  send: Buffer;
  recv: Buffer;
  /** The final handshake hash (channel binding). */
  handshakeHash: Buffer;
}

function initialState(prologue: Buffer, responderStatic: Buffer): SymmetricState {
  const ss = new SymmetricState(PROTOCOL_NAME);
  ss.mixHash(prologue);
  ss.mixHash(responderStatic); // pre-message <- s
  return ss;
}

/** The initiator's side, between writing message 1 and reading message 2. */
export class IkInitiator {
  private readonly ss: SymmetricState;
  readonly ephemeral: KeyPair;
  /** Message 1 (e, es, s, ss, payload). */
  readonly message: Buffer;

  constructor(
    readonly local: KeyPair,
    readonly remoteStatic: Buffer,
    prologue: Buffer,
    payload: Buffer,
    ephemeral?: KeyPair,
  ) {
    this.ss = initialState(prologue, remoteStatic);
    const e = ephemeral ?? generateKeyPair();
    this.ephemeral = e;
    this.ss.mixHash(e.publicKey); // e
    this.ss.mixKey(dh(e, remoteStatic)); // es
    const encS = this.ss.encryptAndHash(local.publicKey); // s
    this.ss.mixKey(dh(local, remoteStatic)); // ss
    const encP = this.ss.encryptAndHash(payload);
    this.message = Buffer.concat([e.publicKey, encS, encP]);
  }

  /** Reads message 2; undefined if it does not authenticate (or is malformed). */
  readResponse(msg: Buffer): { payload: Buffer; keys: TransportKeys } | undefined {
    if (msg.length < responseLength(0)) return undefined;
    const re = msg.subarray(0, KEY_LEN);
    this.ss.mixHash(re); // e
    let ee: Buffer;
    let se: Buffer;
    try {
      ee = dh(this.ephemeral, re);
      se = dh(this.local, re);
    } catch {
      return undefined;
    }
    this.ss.mixKey(ee); // ee
    this.ss.mixKey(se); // se
    const payload = this.ss.decryptAndHash(msg.subarray(KEY_LEN));
    if (!payload) return undefined;
    const [k1, k2] = this.ss.split();
    return { payload, keys: { send: k1, recv: k2, handshakeHash: this.ss.h } };
  }
}

/** What a responder learns from message 1. */
export interface IkInitiation {
  remoteStatic: Buffer;
  payload: Buffer;
  /** Writes message 2 and returns it with the responder's transport keys. */
  respond(payload: Buffer, ephemeral?: KeyPair): { message: Buffer; keys: TransportKeys };
}

export type IkReadError = 'truncated' | 'bad_ephemeral' | 'bad_static' | 'bad_payload';

/**
 * The responder reads message 1 (whose payload must be `payloadLen` bytes). Returns an
 * error reason instead of throwing; the caller checks that `remoteStatic` is a known peer.
 */
export function readInitiation(
  local: KeyPair,
  prologue: Buffer,
  msg: Buffer,
  payloadLen: number,
): IkInitiation | IkReadError {
  if (msg.length !== initiationLength(payloadLen)) return 'truncated';
  const ss = initialState(prologue, local.publicKey);
  const re = msg.subarray(0, KEY_LEN);
  ss.mixHash(re); // e
  let es: Buffer;
  try {
    es = dh(local, re);
  } catch {
    return 'bad_ephemeral';
  }
  ss.mixKey(es); // es
  const rs = ss.decryptAndHash(msg.subarray(KEY_LEN, KEY_LEN * 2 + TAG_LEN)); // s
  if (!rs) return 'bad_static';
  let ssDh: Buffer;
  try {
    ssDh = dh(local, rs);
  } catch {
    return 'bad_static';
  }
  ss.mixKey(ssDh); // ss
  const payload = ss.decryptAndHash(msg.subarray(KEY_LEN * 2 + TAG_LEN));
  if (!payload) return 'bad_payload';
  return {
    remoteStatic: rs,
    payload,
    respond(respPayload: Buffer, ephemeral?: KeyPair) {
      const e = ephemeral ?? generateKeyPair();
      ss.mixHash(e.publicKey); // e
      ss.mixKey(dh(e, re)); // ee
      ss.mixKey(dh(e, rs)); // se
      const encP = ss.encryptAndHash(respPayload);
      const [k1, k2] = ss.split();
      return { message: Buffer.concat([e.publicKey, encP]), keys: { send: k2, recv: k1, handshakeHash: ss.h } };
    },
  };
}
