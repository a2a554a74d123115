/**
 * Closing: TIME-WAIT (RFC 9293 3.6, 2*MSL), the orphaned FIN-WAIT-2 timeout (policy, like
 * Linux tcp_fin_timeout: after close(), FIN-WAIT-2 waits at most 2*MSL for the peer's FIN, so
 * a vanished peer cannot pin the connection; after shutdown() alone the application may still
 * read, so FIN-WAIT-2 lasts as long as it likes), and keepalive (RFC 1122 4.2.3.6), which
 * closes a connection whose peer has vanished.
 */
import { ACK, FIN, type TcpSegment } from '../wire/tcp.js';
import type { Connection } from './connection.js';
import { seqAdd } from './seq.js';

const EMPTY: Buffer = Buffer.alloc(0);

export class Closing {
  /** The application called close(): no more reads (data arriving now is answered with RST). */
  userClosed = false;

  constructor(private readonly c: Connection) {}

  /**
   * Half-close (RFC 9293 3.10.4 CLOSE of the sending side): our FIN is queued behind the
   * data; in SYN-SENT / SYN-RECEIVED it waits for ESTABLISHED. Returns false when there was
   * nothing to do (a FIN already queued, or CLOSED).
   */
  queueFin(): boolean {
    const c = this.c;
    const snd = c.snd;
    if (snd.finQueued) return false;
    switch (c.state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
        snd.finQueued = true;
        return true;
      case 'ESTABLISHED':
        snd.finQueued = true;
        c.setState('FIN-WAIT-1');
        return true;
      case 'CLOSE-WAIT':
        snd.finQueued = true;
        c.setState('LAST-ACK');
        return true;
      default:
        return false; // CLOSED, or a FIN already queued in the other states
    }
  }

  /** The RST of an acceptable segment at exactly RCV.NXT. */
  resetReceived(): void {
    const c = this.c;
    switch (c.state) {
      case 'SYN-RECEIVED':
        // From LISTEN: back to LISTEN (the listener forgets this child); from SYN-SENT: refused.
        c.enterClosed(c.handshake.passive ? undefined : 'ECONNREFUSED');
        return;
      case 'TIME-WAIT':
        // Policy (RFC 1337 "TIME-WAIT assassination"): a RST does not end TIME-WAIT.
        c.drop('rst_in_time_wait');
        return;
      case 'CLOSING':
      case 'LAST-ACK':
        c.enterClosed(undefined);
        return;
      default:
        c.enterClosed('ECONNRESET');
    }
  }

  /** 2*MSL, ms. */
  private get twoMsl(): number {
    return 2 * this.c.config.msl;
  }

  /** Arms the orphan timeout once an orphaned connection reaches FIN-WAIT-2. */
  armOrphanTimeout(): void {
    if (this.userClosed && this.c.state === 'FIN-WAIT-2') this.c.timers.set('finWait2', this.c.now + this.twoMsl);
  }

  /** TIME-WAIT starts (or restarts, for a retransmitted FIN: scenario 16). */
  restartTimeWait(): void {
    this.c.timers.set('timeWait', this.c.now + this.twoMsl);
  }

  /** The peer's FIN in sequence (eighth step): the state moves on. */
  finArrives(): void {
    const c = this.c;
    switch (c.state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        c.setState('CLOSE-WAIT');
        break;
      case 'FIN-WAIT-1':
        if (c.snd.finAcked) this.enterTimeWait();
        else c.setState('CLOSING');
        break;
      case 'FIN-WAIT-2':
        this.enterTimeWait();
        break;
      default:
        break;
    }
  }

  /**
   * After an acceptable ACK: the transitions the ACK of our FIN drives (FIN-WAIT-1 ->
   * FIN-WAIT-2, CLOSING -> TIME-WAIT, LAST-ACK -> CLOSED) and TIME-WAIT's re-ACK of a
   * retransmitted FIN. Returns false when the connection closed (the segment is done).
   */
  afterAck(seg: TcpSegment): boolean {
    const c = this.c;
    const finAcked = c.snd.finAcked;
    switch (c.state) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          c.setState('FIN-WAIT-2');
          this.armOrphanTimeout();
        }
        break;
      case 'CLOSING':
        if (finAcked) this.enterTimeWait();
        break;
      case 'LAST-ACK':
        if (finAcked) {
          c.enterClosed(undefined);
          return false;
        }
        break;
      case 'TIME-WAIT':
        // Only a retransmitted FIN can arrive: ACK it and restart the 2*MSL timer.
        if (seg.flags & FIN) {
          c.rcv.ackNeeded = true;
          this.restartTimeWait();
        }
        break;
      default:
        break;
    }
    return true;
  }

  enterTimeWait(): void {
    const c = this.c;
    c.setState('TIME-WAIT');
    c.timers.clearAll();
    c.snd.clearQueue();
    this.restartTimeWait();
  }
}

export class Keepalive {
  on: boolean;
  private idle: number;
  private probes = 0;
  /** When the peer was last heard from. */
  private lastRecvAt: number;

  constructor(private readonly c: Connection) {
    this.on = c.config.keepAlive;
    this.idle = c.config.keepAliveIdle;
    this.lastRecvAt = c.now;
  }

  /** Anything from the peer shows it is alive. */
  heard(now: number): void {
    this.lastRecvAt = now;
    this.probes = 0;
  }

  set(on: boolean, idleMs: number | undefined): void {
    this.on = on;
    if (idleMs !== undefined && idleMs > 0) this.idle = idleMs;
    this.probes = 0;
    this.arm();
  }

  arm(): void {
    const c = this.c;
    if (!this.on || c.state === 'CLOSED') {
      c.timers.clear('keepalive');
      return;
    }
    c.timers.set('keepalive', this.lastRecvAt + this.idle);
  }

  /**
   * RFC 1122 4.2.3.6: probe with SEQ = SND.NXT-1 after the idle time. Returns false when N
   * probes went unanswered: the caller sends a RST and aborts with ETIMEDOUT.
   */
  fire(): boolean {
    const c = this.c;
    if (!this.on) return true;
    const st = c.state;
    if (st !== 'ESTABLISHED' && st !== 'CLOSE-WAIT' && st !== 'FIN-WAIT-2') {
      if (st !== 'CLOSED' && st !== 'TIME-WAIT') this.arm();
      return true;
    }
    const idleFor = c.now - this.lastRecvAt;
    if (c.snd.rtxQ.length > 0 || idleFor < this.idle) {
      c.timers.set('keepalive', Math.max(c.now + 1, this.lastRecvAt + this.idle));
      return true;
    }
    if (this.probes >= c.config.keepAliveProbes) return false;
    this.probes++;
    c.output.emit(c.output.ownSeg(seqAdd(c.snd.sndNxt, -1), ACK, EMPTY));
    c.timers.set('keepalive', c.now + c.config.keepAliveInterval);
    return true;
  }
}
