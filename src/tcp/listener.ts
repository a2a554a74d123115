/**
 * Sans-IO LISTEN (RFC 9293 3.10.7.2): SYN queue, accept queue, backlog. PUBLIC API FIRST COMMIT.
 */
import type { TcpSegment } from '../wire/tcp.js';
import type { TcpConfig } from './types.js';
import { Connection } from './connection.js';
import { IsnGenerator } from './isn.js';

/** Hook for SYN cookies (added by the hardening engineer); see docs/tcp-core.md. */
export interface SynCookieHook {
  /** A SYN arrived while the SYN or accept queue is full: return an ISS (the cookie) to answer statelessly, or undefined to drop. */
  issForSyn(seg: TcpSegment, remoteAddr: number, now: number): number | undefined;
  /** A bare ACK matched no connection: when SEG.ACK-1 is a valid cookie, return what the SYN negotiated, else undefined. */
  checkAck(seg: TcpSegment, remoteAddr: number, now: number): { mss: number; sackPermitted?: boolean; wscale?: number; ts?: boolean } | undefined;
}

export interface ListenerOptions {
  backlog?: number;
  isn?: IsnGenerator;
  synCookies?: SynCookieHook;
}

export class Listener {
  backlog: number;
  onAcceptable?: () => void;
  readonly local: { addr: number; port: number };
  readonly config: TcpConfig;

  constructor(local: { addr: number; port: number }, config: TcpConfig, opts: ListenerOptions = {}) {
    this.local = local;
    this.config = config;
    this.backlog = opts.backlog ?? 511;
  }

  /**
   * A segment for this listener's port that matched no connection. Returns the new child (in
   * SYN-RECEIVED) if one was created: the driver registers it under its 4-tuple and takes its
   * output (the SYN-ACK). Other replies (RST) come out of the listener's takeOutput().
   */
  input(seg: TcpSegment, remoteAddr: number, now: number): Connection | undefined { void seg; void remoteAddr; void now; return undefined; }
  takeOutput(): Array<{ seg: TcpSegment; remoteAddr: number }> { return []; }
  /** The next established child, or undefined. */
  accept(): Connection | undefined { return undefined; }
  get synQueueLength(): number { return 0; }
  get acceptQueueLength(): number { return 0; }
  /** Stop listening: un-accepted children (SYN queue and accept queue) are reset; their RSTs come out of the listener's takeOutput(). */
  close(now: number): void { void now; }
}
