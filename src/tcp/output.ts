/**
 * Output: the segments a connection has to transmit (taken by the driver with takeOutput())
 * and the user events it owes (emitted at the end of each entry point, in a fixed order:
 * established, readable, writable, closed). Segments are built here from what the parts
 * own: RCV.NXT and the window (receiver), the timestamp option (handshake), the SACK blocks.
 */
import { ACK, RST, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import type { Connection } from './connection.js';
import type { RetransmitKind } from './types.js';

const EMPTY: Buffer = Buffer.alloc(0);

export class Output {
  /** Queued segments; undefined while none (the first emit makes a one-slot array). */
  private out: TcpSegment[] | undefined;
  segmentsOut = 0;
  // Pending user events.
  evEstablished = false;
  evReadable = false;
  evWritable = false;
  evClosed = false;
  private closedEmitted = false;

  constructor(private readonly c: Connection) {}

  /** Segments to transmit now, in order; clears the queue. */
  take(): TcpSegment[] {
    const o = this.out;
    if (o === undefined) return [];
    this.out = undefined;
    return o;
  }

  /** Queues a segment for takeOutput() (and traces it). */
  emit(seg: TcpSegment, retransmit?: RetransmitKind): void {
    // Most flushes carry one segment: an exact one-slot array, not an empty one that the
    // first push gives a 17-slot backing store.
    if (this.out === undefined) this.out = [seg];
    else this.out.push(seg);
    this.segmentsOut++;
    const tr = this.c.hooks.onTrace;
    if (tr) {
      const ev: { type: 'send'; t: number; seq: number; len: number; flags: number; retransmit?: RetransmitKind } = {
        type: 'send',
        t: this.c.now,
        seq: seg.seq,
        len: seg.payload.length,
        flags: seg.flags,
      };
      if (retransmit) ev.retransmit = retransmit;
      tr(ev);
    }
  }

  /**
   * A segment from this connection: SEQ, RCV.NXT as ACK, the window and, with SACK,
   * the SACK/D-SACK blocks (an ACK); the timestamp option when negotiated.
   */
  ownSeg(seq: number, flags: number, payload: Buffer): TcpSegment {
    const hs = this.c.handshake;
    const rcv = this.c.rcv;
    // One literal with the timestamp (no property added to an empty object per segment).
    const o: TcpOptions = hs.tsOk && !(flags & RST) ? { ts: { val: hs.tsNow(), ecr: hs.tsRecent } } : {};
    let window = 0;
    if (flags & ACK) {
      window = rcv.advertise();
      hs.lastAckSent = rcv.rcvNxt;
      rcv.onAckSent();
      if (hs.sackOk && !(flags & RST)) rcv.addSackBlocks(o, payload.length, this.c.snd.sndMss);
    }
    return {
      srcPort: this.c.tuple.localPort,
      dstPort: this.c.tuple.remotePort,
      seq: seq >>> 0,
      ack: flags & ACK ? rcv.rcvNxt : 0,
      flags,
      window,
      urgent: 0,
      options: o,
      payload,
    };
  }

  /** <SEQ=seq><CTL=flags> with no ACK, window or options (the RSTs of scenarios 5 and 6). */
  bareSeg(seq: number, flags: number): TcpSegment {
    const { localPort, remotePort } = this.c.tuple;
    return { srcPort: localPort, dstPort: remotePort, seq: seq >>> 0, ack: 0, flags, window: 0, urgent: 0, options: {}, payload: EMPTY };
  }

  /** Emits the pending user events. */
  emitEvents(): void {
    const c = this.c;
    const h = c.hooks;
    if (this.evEstablished) {
      this.evEstablished = false;
      // The listener learns first (accept queue), then the owner of the hooks.
      c.childLink?.established(c);
      h.onEstablished?.();
    }
    if (this.evReadable) {
      this.evReadable = false;
      h.onReadable?.();
    }
    if (this.evWritable) {
      this.evWritable = false;
      if (c.state !== 'CLOSED') h.onWritable?.();
    }
    if (this.evClosed && !this.closedEmitted) {
      this.evClosed = false;
      this.closedEmitted = true;
      c.childLink?.closed(c);
      h.onClosed?.(c.error);
    }
  }
}
