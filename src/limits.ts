/**
 * Process-wide resource limits: what one process lets all its overlay sockets hold, so a
 * peer (or many peers, or a flood) cannot exhaust memory or descriptors-by-analogy.
 *
 * - BufferBudget: bytes buffered by every TCP/UDP socket of the process (send queues,
 *   receive queues, out-of-order reassembly), like Linux's tcp_mem. The socket layer
 *   reserves before it holds bytes and releases when it lets them go; a refused
 *   reservation means "drop the arriving segment and count it" on receive (the peer
 *   retransmits later, as under Linux memory pressure) and "accept fewer bytes now" on
 *   send (write() returns false; 'drain' comes when space frees).
 * - ConnectionLimit: open connections per host, like RLIMIT_NOFILE: connect() fails with
 *   EMFILE, and a handshake that would exceed it on the passive side is answered with a
 *   RST and counted.
 *
 * Each limit counts its refusals so metrics and tests can see them. Pure bookkeeping: no
 * clocks, no I/O.
 */
import { makeError, type NodeStyleError } from './util/errors.js';

/** Default process budget: 1 GiB, or OVERLAY_MAX_BUFFERED_BYTES from the environment. */
export const DEFAULT_PROCESS_BUFFER_BYTES = 1024 * 1024 * 1024;
/** Default connections per host (like a raised ulimit -n). */
export const DEFAULT_MAX_CONNECTIONS_PER_HOST = 65_536;

export interface BudgetSnapshot {
  limit: number;
  used: number;
  peak: number;
  /** Reservations refused because the budget was exhausted. */
  refusals: number;
  /** Bytes those refused reservations asked for. */
  refusedBytes: number;
}

/** A counted byte budget. All amounts are non-negative integers. */
export class BufferBudget {
  private _used = 0;
  private _peak = 0;
  private _refusals = 0;
  private _refusedBytes = 0;

  constructor(private _limit: number) {
    checkLimit(_limit);
  }

  get limit(): number {
    return this._limit;
  }

  set limit(bytes: number) {
    checkLimit(bytes);
    this._limit = bytes;
  }

  get used(): number {
    return this._used;
  }

  /** Bytes still available (0 when over budget after a lowered limit). */
  get available(): number {
    return Math.max(0, this._limit - this._used);
  }

  /** Reserves `n` bytes if they fit; otherwise counts a refusal and returns false. */
  tryReserve(n: number): boolean {
    if (n <= 0) return true;
    if (this._used + n > this._limit) {
      this._refusals++;
      this._refusedBytes += n;
      return false;
    }
    this._used += n;
    if (this._used > this._peak) this._peak = this._used;
    return true;
  }

  /** Reserves up to `n` bytes; returns how many were granted (counts a refusal if fewer). */
  reserveUpTo(n: number): number {
    if (n <= 0) return 0;
    const grant = Math.min(n, this.available);
    if (grant < n) {
      this._refusals++;
      this._refusedBytes += n - grant;
    }
    this._used += grant;
    if (this._used > this._peak) this._peak = this._used;
    return grant;
  }

  /** Returns `n` reserved bytes. Releasing more than is held clamps at zero. */
  release(n: number): void {
    if (n <= 0) return;
    this._used = Math.max(0, this._used - n);
  }

  snapshot(): BudgetSnapshot {
    return { limit: this._limit, used: this._used, peak: this._peak, refusals: this._refusals, refusedBytes: this._refusedBytes };
  }

  /** Forgets the peak and refusal counters (tests). */
  resetCounters(): void {
    this._peak = this._used;
    this._refusals = 0;
    this._refusedBytes = 0;
  }
}

/** A counter of open things with a ceiling (connections per host). */
export class ConnectionLimit {
  private _open = 0;
  private _refusals = 0;

  constructor(
    private _max: number,
    /** What the limit is for, in error messages ("host 10.77.0.1"). */
    readonly what = 'host',
  ) {
    checkLimit(_max);
  }

  get max(): number {
    return this._max;
  }

  set max(n: number) {
    checkLimit(n);
    this._max = n;
  }

  get open(): number {
    return this._open;
  }

  get refusals(): number {
    return this._refusals;
  }

  /** Takes a slot if one is free; otherwise counts a refusal and returns false. */
  tryOpen(): boolean {
    if (this._open >= this._max) {
      this._refusals++;
      return false;
    }
    this._open++;
    return true;
  }

  /**
   * Takes a slot for an active open, or returns the EMFILE error connect() should report
   * (the caller emits it asynchronously, like node:net).
   */
  openOrError(address?: string, port?: number): NodeStyleError | undefined {
    if (this.tryOpen()) return undefined;
    const extra: { address?: string; port?: number; message: string } = {
      message: `too many open connections on ${this.what} (limit ${this._max})`,
    };
    if (address !== undefined) extra.address = address;
    if (port !== undefined) extra.port = port;
    return makeError('EMFILE', 'connect', extra);
  }

  /** Frees a slot taken by tryOpen/openOrError. */
  close(): void {
    if (this._open > 0) this._open--;
  }
}

function checkLimit(n: number): void {
  if (!Number.isFinite(n) || n < 0 || !Number.isInteger(n)) {
    throw makeError('ERR_INVALID_ARG_VALUE', undefined, { message: `a limit must be a non-negative integer, got ${n}` });
  }
}

function envLimit(): number {
  const raw = process.env['OVERLAY_MAX_BUFFERED_BYTES'];
  if (raw === undefined || raw === '') return DEFAULT_PROCESS_BUFFER_BYTES;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_PROCESS_BUFFER_BYTES;
}

/** The budget every socket of this process draws from. */
export const processBuffers = new BufferBudget(envLimit());
