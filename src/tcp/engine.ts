/**
 * The servicing loop shared by the real driver (driver.ts, over UDP and Node timers) and the
 * simulator (src/sim/net.ts, over SimLinks and a virtual clock): how a segment enters a
 * connection inside a receive burst, when the output it held leaves, how a due timer runs,
 * and that every entry point ends with the connection serviced (output sent, timer re-armed).
 * The clock and the I/O are parameters (EngineIO), so a simulated flow takes the same burst
 * and ACK-coalescing path as real UDP.
 */
import type { Connection } from './connection.js';

/** What a servicing loop needs from its surroundings. */
export interface EngineIO<T> {
  /** The current time, ms. */
  now(): number;
  /** Sends the connection's output and re-arms its timer (the driver's flush; the simulator's service). */
  service(t: T): void;
  /** Runs `fn` once the current receive burst is over (setImmediate; the same virtual instant). */
  afterBurst(fn: () => void): void;
  /** Brackets an entry point (the driver guards against re-entrant flushes); optional. */
  enter?(): void;
  leave?(): void;
}

export class ServiceLoop<T extends { readonly c: Connection }> {
  /**
   * Connections holding output until the current receive burst ends, each once (it joins
   * when input() starts holding). Two arrays used in turn (one filling while the other
   * drains), with their own counts: a burst allocates nothing (setting an array's length to
   * 0 would free its backing store, and the next push allocate one). Ping-pong has one burst
   * per message, and every allocation there is garbage whose collection shows up as tail
   * latency.
   */
  private burst: Array<T | undefined> = [];
  private burstLen = 0;
  private spare: Array<T | undefined> = [];
  private burstPending = false;

  constructor(private readonly io: EngineIO<T>) {}

  private readonly endBursts = (): void => {
    this.burstPending = false;
    const list = this.burst;
    const n = this.burstLen;
    this.burst = this.spare;
    this.burstLen = 0;
    this.spare = list;
    const now = this.io.now();
    try {
      for (let i = 0; i < n; i++) {
        const t = list[i]!;
        list[i] = undefined;
        if (t.c.holding) this.endBurstOf(t, now);
      }
    } finally {
      for (let i = 0; i < n; i++) list[i] = undefined;
    }
  };

  private endBurstOf(t: T, now: number): void {
    const io = this.io;
    io.enter?.();
    try {
      t.c.endBurst(now);
    } finally {
      io.leave?.();
    }
    io.service(t);
  }

  /**
   * A segment for `t` arrived. Inside a receive burst (`burst`, the default) the connection
   * may hold its ACK and events until the burst ends (Connection.input, coalesceAcks);
   * otherwise, or when nothing is held, it is serviced now.
   */
  deliver(t: T, seg: Parameters<Connection['input']>[0], burst = true): void {
    const io = this.io;
    // Already holding while a burst is pending: it is in that burst's list (a connection
    // joins once per burst; a duplicate would be harmless, endBursts skips the non-holding).
    const listed = t.c.holding && this.burstPending;
    io.enter?.();
    try {
      t.c.input(seg, io.now(), burst);
    } finally {
      io.leave?.();
    }
    if (t.c.holding) {
      if (!listed) this.burst[this.burstLen++] = t;
      if (!this.burstPending) {
        this.burstPending = true;
        io.afterBurst(this.endBursts);
      }
      return;
    }
    io.service(t);
  }

  /** The connection's deadline has passed: run its timers, then service it. */
  timer(t: T, now: number): void {
    const io = this.io;
    io.enter?.();
    try {
      t.c.onTimer(now);
    } finally {
      io.leave?.();
    }
    io.service(t);
  }

  /** Runs an entry point of `t`'s connection, then services it. */
  run(t: T, fn: () => void): void {
    const io = this.io;
    io.enter?.();
    try {
      fn();
    } finally {
      io.leave?.();
    }
    io.service(t);
  }
}
