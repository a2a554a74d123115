/**
 * pump(a, b): copies bytes both ways between two connected byte streams (a real
 * node:net socket and an overlay socket, or any two Duplexes with the same shape) the way
 * a kernel splice would:
 *
 *  - backpressure: when one side's write() says its buffer is full, the other side is
 *    paused until 'drain', so a slow reader on either side closes the sender's window;
 *  - half-close: the end of one side's readable (the peer's FIN) ends the other's writable
 *    (our FIN); both sides must be created with allowHalfOpen: true;
 *  - reset: an error on one side (ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE...) resets
 *    the other (resetAndDestroy(): an RST, not a FIN), so nobody mistakes a failure for a
 *    clean end of stream;
 *  - no half-dead pair: when one side closes without both directions having finished,
 *    the other side is destroyed too. `close()` tears the pair down at once.
 *
 * The returned Pump resolves `done` once both sides have closed, with the byte counts
 * and how it ended ('closed' = both directions finished cleanly, 'reset' otherwise).
 */
import type { Duplex } from 'node:stream';

/** A Duplex that can also send an RST (node:net's Socket and overlay sockets both can). */
export type Resettable = Duplex & { resetAndDestroy?(): unknown };

export interface PumpResult {
  /** Bytes copied from a to b and from b to a. */
  aToB: number;
  bToA: number;
  /** 'closed': both directions ended with FINs; 'reset': an error or a destroy ended it. */
  how: 'closed' | 'reset';
  /** The first error seen (on either side), if any. */
  error?: Error & { code?: string };
  /** Which side saw that error first. */
  errorSide?: 'a' | 'b';
}

export interface Pump {
  readonly done: Promise<PumpResult>;
  /** Resets both sides (used when a forwarder shuts down). */
  close(): void;
}

/** Resets a stream if it can (RST), else destroys it. */
export function resetStream(s: Resettable): void {
  if (s.destroyed) return;
  if (typeof s.resetAndDestroy === 'function') {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // A real socket not yet connected cannot reset; destroy instead.
    }
  }
  s.destroy();
}

export function pump(a: Resettable, b: Resettable): Pump {
  const result: PumpResult = { aToB: 0, bToA: 0, how: 'closed' };
  let closed = 0;
  let finish: (r: PumpResult) => void = () => {};
  const done = new Promise<PumpResult>((resolve) => (finish = resolve));

  const fail = (side: 'a' | 'b', err: Error | undefined): void => {
    if (result.how === 'closed') result.how = 'reset';
    if (err && !result.error) {
      result.error = err;
      result.errorSide = side;
    }
    resetStream(side === 'a' ? b : a);
  };

  const wire = (from: Resettable, to: Resettable, side: 'a' | 'b'): void => {
    from.on('data', (chunk: Buffer) => {
      if (side === 'a') result.aToB += chunk.length;
      else result.bToA += chunk.length;
      if (to.destroyed) return;
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!from.destroyed) from.resume();
    });
    from.on('end', () => {
      if (!to.destroyed && !to.writableEnded) to.end();
    });
    from.on('error', (err: Error) => fail(side, err));
    from.on('close', () => {
      // A clean close of `from` means both of its directions finished: `to` already got
      // end() and its readable ended, so it closes by itself once its FIN is delivered.
      // Any other close (a destroy, an error) must not leave `to` half alive.
      const clean = from.readableEnded && from.writableFinished && !from.errored;
      if (!clean) fail(side, undefined);
      else if (!to.destroyed && !(to.writableEnded && to.readableEnded)) fail(side, undefined);
      if (++closed === 2) finish(result);
    });
  };
  wire(a, b, 'a');
  wire(b, a, 'b');
  return {
    done,
    close() {
      result.how = 'reset';
      resetStream(a);
      resetStream(b);
    },
  };
}
