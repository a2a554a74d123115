/**
 * The C library's socket calls that node:dgram does not offer (setsockopt(2) for UDP GSO/GRO,
 * recvmmsg(2) for batched reads), through koffi: a C foreign-function interface with
 * prebuilt binaries, an optional dependency. Loaded once, on first use, on Linux only.
 */
import { createRequire } from 'node:module';

interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  address(value: unknown): bigint;
  errno(): number;
}

export interface Libc {
  func<F>(signature: string): F;
  /** The address of a buffer's first byte (stable: node never moves a buffer's memory). */
  address(buf: Buffer): bigint;
  /** errno as the last call through koffi left it. */
  errno(): number;
}

let libc: Libc | undefined;
let reason: string | undefined;
let loaded = false;

/** The C library, or a sentence saying why it cannot be reached from here. */
export function loadLibc(): Libc | string {
  if (!loaded) {
    loaded = true;
    if (process.platform !== 'linux') reason = `the socket calls used are Linux's (this is ${process.platform})`;
    else {
      try {
        // An optional dependency: a CommonJS package, loaded synchronously where it is installed.
        const koffi = createRequire(import.meta.url)('koffi') as Koffi;
        const lib = koffi.load('libc.so.6');
        libc = {
          func: <F>(signature: string) => lib.func(signature) as F,
          address: (buf) => koffi.address(buf),
          errno: () => koffi.errno(),
        };
      } catch (e) {
        reason = `koffi (the optional dependency that calls the C library) is not loadable: ${(e as Error).message.split('\n')[0]}`;
      }
    }
  }
  return libc ?? reason!;
}
