/**
 * Number fields that outgrow V8's small integers. V8 stores a number field as a small integer
 * (a Smi: 31 bits and a sign in 64-bit Node) until a value outside that range is stored, and
 * then turns the field into a double: the object gets a new hidden class, and every function
 * compiled for the old one is deoptimized and compiled again. Byte counts pass 2^31 after
 * 2 GiB, and sequence numbers and timestamps are 32-bit, so without this each process went
 * through that once, in the middle of its first fast transfer: at MTU 65000, 1.4 s into it,
 * about 40 functions of the send and ACK paths were deoptimized at once and compiled again on
 * the CPU the transfer runs on (`node --log-deopt`, docs/benchmarks-bulk.md).
 *
 * `widen` stores a double into each named field once, when the object is made (nothing has
 * been compiled against its class yet the first time), then puts the value back: the field
 * is a double from the start, and a large value later changes nothing. It returns the object.
 */
export function widen<T extends object>(obj: T, keys: readonly string[]): T {
  const o = obj as Record<string, unknown>;
  for (const k of keys) {
    if (!(k in o)) throw new Error(`widen: no field ${k}`); // a misspelt name would add one
    const v = o[k];
    o[k] = 0.5;
    o[k] = v;
  }
  return obj;
}

/**
 * widen() for objects made at one place with one shape (an object literal): they all share
 * one hidden class, so widening the first of them serves every later one, and the returned
 * function widens only that first object (it then returns its argument at no cost), for
 * literals made on a hot path.
 */
export function widenFirst(keys: readonly string[]): <T extends object>(obj: T) => T {
  let done = false;
  return (obj) => {
    if (!done) {
      widen(obj, keys);
      done = true;
    }
    return obj;
  };
}
