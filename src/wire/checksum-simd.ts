/**
 * The Internet checksum's one's-complement sum in WebAssembly SIMD (RFC 1071), for large
 * ranges. The module is small and written here opcode by opcode (no binary blob, no build
 * step); `simdSum` is undefined where WebAssembly SIMD is missing, and callers fall back
 * to the JavaScript loop of checksum.ts.
 *
 * WebAssembly reads only its own memory, so the bytes are copied into a scratch area of
 * the module's memory first (a memcpy, much faster than summing in JavaScript) and summed
 * there 64 bytes per iteration: each 16-byte load is split into eight little-endian 16-bit
 * words, added pairwise into four 32-bit lanes (i32x4.extadd_pairwise_i16x8_u), and four
 * such accumulators keep the additions independent. A lane gains at most 2 * 0xffff per
 * load, so it cannot overflow within one scratch-sized call (2^32 / 131070 loads = 2 MiB);
 * the lanes are then widened to 64 bits and the total is folded to 16 bits.
 */

/** Bytes summed per call: ranges longer than this are summed in pieces. */
export const SIMD_SCRATCH = 64 * 1024;

/**
 * The module's memory beyond its scratch area: where the send pool (src/tcp/send.ts) keeps
 * written bytes, so the checksum of a payload there sums it in place instead of copying it
 * into the scratch area first. It starts at a page boundary after the scratch area. The
 * memory is reserved, not touched: pages cost resident memory only once written.
 */
export const SIMD_AREA_START = 2 * 65536;
export const SIMD_AREA_BYTES = 16 * 1024 * 1024 + 64 * 1024;
/**
 * After the area: where batched reads (src/link/batch-read.ts) have the kernel put the
 * datagrams they read, so the checksum of a packet copied out of there sums its twin in
 * place (setSumTwin in checksum.ts). Reserved like the area.
 */
export const SIMD_BATCH_START = SIMD_AREA_START + SIMD_AREA_BYTES;
export const SIMD_BATCH_BYTES = 1024 * 1024;

// Value types and instruction opcodes (WebAssembly core spec 5.3, 5.4; SIMD proposal).
const I32 = 0x7f;
const I64 = 0x7e;
const V128 = 0x7b;
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const GET = 0x20;
const SET = 0x21;
const TEE = 0x22;
const I64_LOAD8_U = 0x31;
const I64_LOAD16_U = 0x33;
const I32_CONST = 0x41;
const I64_CONST = 0x42;
const I64_EQZ = 0x50;
const I32_GT_U = 0x4b;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I64_ADD = 0x7c;
const I64_AND = 0x83;
const I64_SHR_U = 0x88;
const I32_WRAP_I64 = 0xa7;
const SIMD = 0xfd;
// SIMD sub-opcodes, LEB128-encoded after the 0xfd prefix.
const V128_LOAD = [0x00];
const V128_CONST = [0x0c];
const I64X2_EXTRACT_LANE = [0x1d];
const I32X4_EXTADD_PAIRWISE_I16X8_U = [0x7f];
const I32X4_ADD = [0xae, 0x01];
const I64X2_EXTEND_LOW_I32X4_U = [0xc9, 0x01];
const I64X2_EXTEND_HIGH_I32X4_U = [0xca, 0x01];
const I64X2_ADD = [0xce, 0x01];

// The function's parameters and locals, by index.
const P = 0; // i32: start address
const N = 1; // i32: byte count, then reused as the end address
const A0 = 2; // v128 x4: the accumulators
const A1 = 3;
const A2 = 4;
const A3 = 5;
const T = 6; // i64: the total

/** memarg: alignment exponent and offset. */
const mem = (align: number, offset = 0): number[] => [align, offset];

/** acc = i32x4.add(acc, extadd_pairwise_u(v128.load offset(P))) */
function addLoad(acc: number, offset: number): number[] {
  return [GET, acc, GET, P, SIMD, ...V128_LOAD, ...uleb(4), ...uleb(offset), SIMD, ...I32X4_EXTADD_PAIRWISE_I16X8_U, SIMD, ...I32X4_ADD, SET, acc];
}

/** T += both 64-bit lanes of the widened accumulator `acc`. */
function widen(acc: number): number[] {
  return [
    GET, acc, SIMD, ...I64X2_EXTEND_LOW_I32X4_U,
    GET, acc, SIMD, ...I64X2_EXTEND_HIGH_I32X4_U,
    SIMD, ...I64X2_ADD, SET, acc,
    GET, T, GET, acc, SIMD, ...I64X2_EXTRACT_LANE, 0, I64_ADD,
    GET, acc, SIMD, ...I64X2_EXTRACT_LANE, 1, I64_ADD, SET, T,
  ];
}

/** `while (P + step <= N) { body; P += step }` as block/loop/br_if. */
function whileFits(step: number, body: number[]): number[] {
  return [
    BLOCK, VOID, LOOP, VOID,
    // exit when P + step > N (unsigned: addresses are below 2^31 here)
    GET, P, I32_CONST, ...sleb(step), I32_ADD, GET, N, I32_GT_U, BR_IF, 1,
    ...body,
    GET, P, I32_CONST, ...sleb(step), I32_ADD, SET, P,
    BR, 0, END, END,
  ];
}

/** sum(start, count) -> i32: the folded one's-complement sum of little-endian 16-bit words. */
function sumBody(): number[] {
  const zero = [SIMD, ...V128_CONST, ...new Array<number>(16).fill(0)];
  return [
    ...zero, SET, A0, ...zero, SET, A1, ...zero, SET, A2, ...zero, SET, A3,
    GET, P, GET, N, I32_ADD, SET, N, // N = end address
    ...whileFits(64, [...addLoad(A0, 0), ...addLoad(A1, 16), ...addLoad(A2, 32), ...addLoad(A3, 48)]),
    ...whileFits(16, addLoad(A0, 0)),
    ...widen(A0), ...widen(A1), ...widen(A2), ...widen(A3),
    ...whileFits(2, [GET, T, GET, P, I64_LOAD16_U, ...mem(0), I64_ADD, SET, T]),
    // A trailing odd byte is the low byte of its little-endian word.
    BLOCK, VOID,
    GET, P, GET, N, 0x49 /* i32.lt_u */, 0x45 /* i32.eqz */, BR_IF, 0,
    GET, T, GET, P, I64_LOAD8_U, ...mem(0), I64_ADD, SET, T,
    END,
    // while (T >> 16) T = (T & 0xffff) + (T >> 16)
    BLOCK, VOID, LOOP, VOID,
    GET, T, I64_CONST, 16, I64_SHR_U, I64_EQZ, BR_IF, 1,
    GET, T, I64_CONST, ...sleb(0xffff), I64_AND, GET, T, I64_CONST, 16, I64_SHR_U, I64_ADD, SET, T,
    BR, 0, END, END,
    GET, T, I32_WRAP_I64,
    END,
  ];
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

/** A section: id, then its byte length, then its contents. */
function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];

/** The module's bytes: one memory ("mem": the scratch area, then the area) and one function ("sum"). */
export function simdModuleBytes(): Uint8Array {
  const body = sumBody();
  const locals = [2, 4, V128, 1, I64]; // two groups: 4 x v128, 1 x i64
  const code = [...uleb(locals.length + body.length), ...locals, ...body];
  const pages = (SIMD_BATCH_START + SIMD_BATCH_BYTES) / 65536; // the scratch area (and a spare page), the area, the batch area
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]), // type 0: (i32, i32) -> i32
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, ...uleb(pages)]), // memory 0: min pages, no max (never grown: views of it stay valid)
    ...section(7, [2, ...name('sum'), 0x00, 0, ...name('mem'), 0x02, 0]),
    ...section(10, [1, ...code]),
  ]);
}

export interface SimdSum {
  /** The module's memory as bytes: copy a range to [0, n) first. */
  readonly scratch: Uint8Array;
  /** Folded one's-complement sum of the little-endian 16-bit words of memory[start, start + n). */
  readonly sum: (start: number, n: number) => number;
  /** The module's memory (scratch.buffer): a view of it is summed where it lies. */
  readonly memory: ArrayBuffer;
}

/** The part of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { sum: (start: number, n: number) => number; mem: { buffer: ArrayBuffer } } };
}

function instantiate(): SimdSum | undefined {
  try {
    const wasm = (globalThis as { WebAssembly?: Wasm }).WebAssembly;
    const bytes = simdModuleBytes();
    if (wasm === undefined || !wasm.validate(bytes)) return undefined;
    const { sum, mem } = new wasm.Instance(new wasm.Module(bytes)).exports;
    return { scratch: new Uint8Array(mem.buffer, 0, SIMD_SCRATCH), sum, memory: mem.buffer };
  } catch {
    return undefined; // no WebAssembly, or no SIMD: the JavaScript loop serves
  }
}

/** The SIMD sum, or undefined where this runtime cannot run it. */
export const simdSum: SimdSum | undefined = process.env['OVERLAY_NO_SIMD'] === '1' ? undefined : instantiate();
