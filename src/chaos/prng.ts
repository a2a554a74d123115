/**
 * Seeded randomness for the chaos proxy.
 *
 * Every (seed, link, direction, toxic) gets its own stream key, hashed from the names
 * (FNV-1a, then the murmur3 finalizer), so adding or changing one rule never shifts the
 * draws of another. Within a stream the draws are *counter-based*: the k-th draw for
 * packet number n (and duplicate copy c) is a pure function of (key, n, c, k). A stage
 * therefore decides the same way about packet n whatever happened to other packets
 * upstream (e.g. a different loss rate does not change which packets get duplicated).
 *
 * Xoshiro128** (Blackman and Vigna) is provided for sequential streams (benchmarks,
 * property tests, workload generators).
 */

/** FNV-1a over the UTF-16 code units of a string (all our names are ASCII). */
export function fnv1a(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The murmur3 32-bit finalizer: a bijection with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** splitmix32 step: returns [next state, output]. Used to seed xoshiro from one number. */
export function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [s, (z ^ (z >>> 16)) >>> 0];
}

/** The stream key of (seed, link, direction, name). */
export function streamKey(seed: number, ...names: string[]): number {
  let h = fmix32((seed >>> 0) ^ 0x5bd1e995);
  for (const n of names) h = fmix32(fnv1a(n, h) ^ 0x27d4eb2f);
  return h;
}

const TWO32 = 4294967296;

/**
 * A uniform draw in [0, 1) for draw `k` of packet `n`, copy `c`, in stream `key`.
 * Two rounds of mixing over distinct odd multipliers make neighbouring counters
 * independent for statistical purposes (tests check the rates over 100k packets).
 */
export function u01(key: number, n: number, c: number, k: number): number {
  let h = fmix32((key ^ Math.imul(n >>> 0, 0x9e3779b1)) >>> 0);
  h = fmix32((h ^ Math.imul(((c << 8) | k) + 1, 0x85ebca77) ^ (n / TWO32)) >>> 0);
  h = fmix32((h + key) >>> 0);
  return h / TWO32;
}

/** A standard normal draw from two uniforms (Box-Muller). */
export function normalFrom(u1: number, u2: number): number {
  const r = Math.sqrt(-2 * Math.log(1 - u1));
  return r * Math.cos(2 * Math.PI * u2);
}

/** xoshiro128** 1.1, seeded from one 32-bit number through splitmix32. */
export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [ns, v] = splitmix32(s);
      s = ns;
      out.push(v);
    }
    [this.a, this.b, this.c, this.d] = out as [number, number, number, number];
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32-bit unsigned output. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / TWO32;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
