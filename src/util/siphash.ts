/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit PRF for short inputs, the one
 * Linux uses for TCP initial sequence numbers and SYN cookies (secure_tcp_seq,
 * siphash_3u32). Each 64-bit lane is kept as two 32-bit halves in an Int32Array, so a
 * hash allocates nothing (HMAC-SHA-256 through node:crypto allocated an HMAC
 * object, a digest Buffer and an input Buffer per connection: 3.7% of a churn profile).
 */

// v0..v3 as high/low 32-bit halves in an Int32Array: module-level numbers above 2^31
// would be boxed on every store (a heap allocation each), typed-array slots are not.
const V = new Int32Array(8); // v0h v0l v1h v1l v2h v2l v3h v3l

/** `n` SipRounds on V, in local variables (int32 arithmetic; carries from unsigned compares). */
function sipRounds(n: number): void {
  let v0h = V[0]!, v0l = V[1]!, v1h = V[2]!, v1l = V[3]!, v2h = V[4]!, v2l = V[5]!, v3h = V[6]!, v3l = V[7]!;
  let lo: number;
  let t: number;
  for (let r = 0; r < n; r++) {
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    lo = (v0l + v1l) | 0;
    v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    t = (v1h << 13) | (v1l >>> 19);
    v1l = (v1l << 13) | (v1h >>> 19);
    v1h = t ^ v0h;
    v1l ^= v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    lo = (v2l + v3l) | 0;
    v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    t = (v3h << 16) | (v3l >>> 16);
    v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
    v3h = t ^ v2h;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    lo = (v0l + v3l) | 0;
    v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    t = (v3h << 21) | (v3l >>> 11);
    v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
    v3h = t ^ v0h;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    lo = (v2l + v1l) | 0;
    v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    t = (v1h << 17) | (v1l >>> 15);
    v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
    v1h = t ^ v2h;
    t = v2h;
    v2h = v2l;
    v2l = t;
  }
  V[0] = v0h; V[1] = v0l; V[2] = v1h; V[3] = v1l; V[4] = v2h; V[5] = v2l; V[6] = v3h; V[7] = v3l;
}

/** One message word m = (mh, ml): v3 ^= m; two rounds; v0 ^= m. */
function compress(mh: number, ml: number): void {
  V[6]! ^= mh;
  V[7]! ^= ml;
  sipRounds(2);
  V[0]! ^= mh;
  V[1]! ^= ml;
}

/** A 128-bit SipHash key as four little-endian 32-bit words (k0 low, k0 high, k1 low, k1 high). */
export type SipKey = readonly [number, number, number, number];

/** The key from 16 bytes (little-endian, as in the reference implementation). */
export function sipKey(bytes: Uint8Array): SipKey {
  if (bytes.length < 16) throw new RangeError('a SipHash key has 16 bytes');
  const w = (i: number): number => (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
  return [w(0), w(4), w(8), w(12)];
}

function init(k: SipKey): void {
  // "somepseudorandomlygeneratedbytes"
  V[0] = k[1] ^ 0x736f6d65;
  V[1] = k[0] ^ 0x70736575;
  V[2] = k[3] ^ 0x646f7261;
  V[3] = k[2] ^ 0x6e646f6d;
  V[4] = k[1] ^ 0x6c796765;
  V[5] = k[0] ^ 0x6e657261;
  V[6] = k[3] ^ 0x74656462;
  V[7] = k[2] ^ 0x79746573;
}

/** Finalization: four rounds; the result's high half is returned by finishHigh after it. */
function finishLow(): number {
  V[5]! ^= 0xff;
  sipRounds(4);
  return (V[1]! ^ V[3]! ^ V[5]! ^ V[7]!) >>> 0;
}

function finishedHigh(): number {
  return (V[0]! ^ V[2]! ^ V[4]! ^ V[6]!) >>> 0;
}

/** SipHash-2-4 of `msg` under `key`: the 64-bit result as [high 32 bits, low 32 bits]. */
export function sipHash24(key: SipKey, msg: Uint8Array): [number, number] {
  init(key);
  const n = msg.length;
  const full = n - (n & 7);
  const le = (i: number): number => (msg[i]! | (msg[i + 1]! << 8) | (msg[i + 2]! << 16) | (msg[i + 3]! << 24)) >>> 0;
  for (let i = 0; i < full; i += 8) compress(le(i + 4), le(i));
  // Last block: the remaining bytes, little-endian, with the length (mod 256) in the top byte.
  let bh = (n & 0xff) << 24;
  let bl = 0;
  for (let j = 0; j < (n & 7); j++) {
    const b = msg[full + j]!;
    if (j < 4) bl |= b << (8 * j);
    else bh |= b << (8 * (j - 4));
  }
  compress(bh, bl);
  const lo = finishLow();
  return [finishedHigh(), lo];
}

/**
 * SipHash-2-4 of three 32-bit words, as Linux's siphash_3u32(a, b, c): the 12 bytes
 * a, b, c in little-endian order. Returns the low 32 bits of the hash (what an ISN or a
 * cookie needs), with no allocation.
 */
export function sipHash3u32(key: SipKey, a: number, b: number, c: number): number {
  init(key);
  compress(b | 0, a | 0);
  compress(12 << 24, c | 0);
  return finishLow();
}
