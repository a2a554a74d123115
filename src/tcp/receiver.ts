/**
 * The receiver: the receive sequence space (RFC 9293 3.3.1), in-order delivery into the
 * receive buffer, bounded reassembly of out-of-order data (receive.ts), the window we
 * advertise with receiver SWS avoidance, when an ACK is owed (delayed and coalesced ACKs,
 * RFC 1122 4.2.3.2, RFC 5681 4.2), and the SACK / D-SACK blocks of our ACKs (RFC 2018,
 * RFC 2883).
 */
import { TCP_MAX_OPTIONS, type SackBlock, type TcpOptions } from '../wire/tcp.js';
import type { Connection } from './connection.js';
import { Reassembly, receiveWindow } from './receive.js';
import { ByteQueue } from './send.js';
import { seqAdd, seqDiff, seqGt, seqLe } from './seq.js';
import { widen } from '../util/wide.js';

/** The largest window field (RFC 9293: 16 bits). */
export const MAX_WINDOW_FIELD = 65535;
/** TCP option bytes a Timestamps option costs in every segment (10 + 2 NOPs). */
export const TS_OPTION_LEN = 12;
/** A SACK option: 2 bytes of kind and length (+ 2 NOPs), then 8 per block. */
const SACK_OPTION_OVERHEAD = 4;
const SACK_BLOCK_LEN = 8;
/** read(): a received segment at least this large is returned alone rather than concatenated. */
const WHOLE_SEGMENT_READ = 16 * 1024;
/**
 * read(): a window update is also sent when reading lets the offer grow by this fraction of
 * the buffer (at most a few extra ACKs per buffer of data, and only with large bursts).
 */
const WINDOW_UPDATE_FRACTION = 4;

/**
 * The most full segments one coalesced (stretch) ACK covers. A receive burst was at most the
 * 32 datagrams libuv reads in one go; with UDP GRO each of those reads may be a train of up
 * to 44 packets, and one ACK per burst would be one per 1,400 segments (2 MB at MTU 1472), so
 * a lost ACK would stall half a window and the sender would answer each ACK with a 2 MB burst.
 */
export const MAX_STRETCH_SEGMENTS = 32;

export class Receiver {
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time). */
  rcvAdv = 0;
  readonly rcvQ = new ByteQueue();
  readonly reasm: Reassembly;
  finReceived = false;
  /** A D-SACK block (RFC 2883) to report in the next ACK. */
  dsackPending?: SackBlock;
  /** Largest payload seen from the peer (Linux rcv_mss), for the delayed-ACK rule. */
  rcvMss: number;
  private unackedBytes = 0;
  /** An ACK must leave with this flush (out-of-order data, a hole filled, a FIN, ...). */
  ackNeeded = false;
  /**
   * An ACK is owed for in-order data (two full segments unacknowledged) but, inside a receive
   * burst, may wait until the burst ends: one ACK then covers the whole burst.
   */
  ackSoon = false;
  bytesReceived = 0;

  /**
   * Whether an owed ACK for in-order data may still wait: to cover the rest of a receive
   * burst (coalesceAcks), or for the application's turn (Connection.ackMayAwaitEvents). It
   * may while less than MAX_STRETCH_SEGMENTS full segments are unacknowledged, or, with
   * classic ACKs (coalesceAcks false), less than one: RFC 5681 4.2's ACK for every second
   * full segment, even when many arrive in one read (a UDP GRO train of 44, say).
   */
  get ackMayWait(): boolean {
    return this.unackedBytes < (this.c.config.coalesceAcks ? MAX_STRETCH_SEGMENTS : 1) * this.rcvMss;
  }

  constructor(
    private readonly c: Connection,
    mss: number,
  ) {
    widen(this, ['irs', 'rcvNxt', 'rcvAdv', 'bytesReceived']); // 32-bit sequence numbers, a byte count (src/util/wide.ts)
    this.rcvMss = mss;
    this.reasm = new Reassembly(c.config.maxOutOfOrderBytes);
  }

  /** The window offered now (RCV.WND), bytes. */
  get offered(): number {
    return Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
  }

  /** The window field of a SYN: never scaled (RFC 7323 2.2). */
  synWindow(): number {
    return Math.min(this.c.config.rcvBuf, MAX_WINDOW_FIELD);
  }

  /** The largest window we can offer with the negotiated scale. */
  private maxOffer(): number {
    return MAX_WINDOW_FIELD * (1 << this.c.handshake.rcvWscale);
  }

  /** The window to advertise now (receiver SWS avoidance), in bytes. */
  windowToOffer(): number {
    const cfg = this.c.config;
    const free = Math.max(0, cfg.rcvBuf - this.rcvQ.length);
    return Math.min(this.maxOffer(), receiveWindow({ free, offered: this.offered, rcvBuf: cfg.rcvBuf, mss: cfg.mss }));
  }

  /** The scaled window field for an outgoing ACK; records the right edge offered. */
  advertise(): number {
    const shift = this.c.handshake.rcvWscale;
    const field = Math.min(MAX_WINDOW_FIELD, Math.ceil(this.windowToOffer() / (1 << shift)));
    const edge = seqAdd(this.rcvNxt, field * (1 << shift));
    if (seqGt(edge, this.rcvAdv) || this.rcvAdv === 0) this.rcvAdv = edge;
    return field;
  }

  /** An ACK is leaving: nothing is owed any more. */
  onAckSent(): void {
    this.unackedBytes = 0;
    this.c.timers.clear('delayedAck');
    this.ackNeeded = false;
    this.ackSoon = false;
  }

  /**
   * SACK blocks for an outgoing ACK (D-SACK first), as many as fit in the option space and,
   * for a data segment, in the MSS budget beside its payload.
   */
  addSackBlocks(o: TcpOptions, payloadLength: number, sndMss: number): void {
    if (!this.dsackPending && this.reasm.isEmpty) return;
    const optRoom = TCP_MAX_OPTIONS - (o.ts ? TS_OPTION_LEN : 0);
    let maxBlocks = Math.floor((optRoom - SACK_OPTION_OVERHEAD) / SACK_BLOCK_LEN);
    if (payloadLength > 0) maxBlocks = Math.min(maxBlocks, Math.floor((sndMss - payloadLength - SACK_OPTION_OVERHEAD) / SACK_BLOCK_LEN));
    const blocks: SackBlock[] = [];
    if (this.dsackPending && maxBlocks > 0) {
      blocks.push(this.dsackPending);
      this.dsackPending = undefined;
    }
    if (maxBlocks - blocks.length > 0) blocks.push(...this.reasm.sackBlocks(maxBlocks - blocks.length));
    if (blocks.length > 0) o.sack = blocks;
  }

  /** A wholly or partly duplicate data segment [left, right): reported with a D-SACK. */
  duplicate(left: number, right: number): void {
    if (this.c.handshake.sackOk) this.dsackPending = { left: left >>> 0, right: right >>> 0 };
  }

  /**
   * Seventh and eighth steps for an acceptable, trimmed segment in a receiving state: data in
   * sequence or into reassembly, and when an ACK is owed. Returns true when the peer's FIN
   * was reached in sequence (RCV.NXT then counts it).
   */
  acceptText(seq: number, payload: Buffer, fin: boolean): boolean {
    const c = this.c;
    if (seq !== this.rcvNxt) {
      // Out of order: hold it and ACK at once with SACK (scenario 30).
      const r = this.reasm.insert(seq, payload, fin);
      if (r.kind === 'duplicate' && c.handshake.sackOk) this.dsackPending = r.dsack;
      if (r.kind === 'dropped') c.drop('ooo_full');
      this.ackNeeded = true;
      return false;
    }
    let gotFin = fin;
    let filledHole = false;
    if (payload.length > 0) {
      this.rcvQ.push(payload);
      this.rcvNxt = seqAdd(this.rcvNxt, payload.length);
      this.bytesReceived += payload.length;
      this.unackedBytes += payload.length;
      if (payload.length > this.rcvMss) this.rcvMss = payload.length;
      c.output.evReadable = true;
    }
    if (!gotFin && !this.reasm.isEmpty) {
      const d = this.reasm.drain(this.rcvNxt);
      if (d.data.length > 0 || d.fin || d.rcvNxt !== this.rcvNxt) {
        filledHole = true;
        for (const b of d.data) {
          this.rcvQ.push(b);
          this.bytesReceived += b.length;
        }
        this.rcvNxt = d.fin ? seqAdd(d.rcvNxt, -1) : d.rcvNxt;
        gotFin = d.fin;
        c.output.evReadable = true;
      }
    }
    if (gotFin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.finReceived = true;
      c.output.evReadable = true;
      this.ackNeeded = true;
      this.reasm.clear();
      return true;
    }
    // Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2): immediately on a hole fill or when more
    // than one full-sized segment is unacknowledged (Linux __tcp_ack_snd_check: rcv_nxt -
    // rcv_wup > rcv_mss); otherwise within delayedAckMs. Waiting for two full segments held
    // the ACK of a full segment plus a short tail (the end of a write, in its own receive
    // burst) for delayedAckMs, longer than the sender's PTO with two segments out: a
    // spurious tail-loss probe on a lossless path.
    if (filledHole || c.config.delayedAckMs === 0 || !this.reasm.isEmpty) {
      this.ackNeeded = true;
    } else if (this.unackedBytes > this.rcvMss) {
      this.ackSoon = true;
    } else if (payload.length > 0) {
      c.timers.setIfUnset('delayedAck', c.now + c.config.delayedAckMs);
    }
    return false;
  }

  /**
   * RECEIVE: up to `max` in-order bytes (all by default), or null. Asks for a window update
   * only when it matters to the peer (like Linux tcp_cleanup_rbuf): the window it knows is at
   * most half the largest we can offer and reading at least doubles it (a zero window always
   * reopens), or reading grows the offer by a quarter of the buffer (WINDOW_UPDATE_FRACTION). An update on every read sent one extra ACK per data segment on a bulk transfer
   * whose application reads as data arrives, doubling the receiver's packets for nothing: its
   * ACKs report the new window anyway.
   */
  read(max: number | undefined, receiving: boolean): Buffer | null {
    // Segments of 16 KiB or more (large MTUs) are handed on whole, not copied together.
    const b = this.rcvQ.shift(max === undefined ? this.rcvQ.length : Math.max(0, max), WHOLE_SEGMENT_READ);
    if (b.length === 0) return null;
    if (receiving) {
      const offered = this.offered;
      const maxOffer = Math.min(this.c.config.rcvBuf, this.maxOffer());
      const w = this.windowToOffer();
      if (2 * offered <= maxOffer) {
        if (w > offered && w >= 2 * offered) this.ackNeeded = true;
      } else if (w - offered >= maxOffer / WINDOW_UPDATE_FRACTION) {
        // Reading let the offer grow by a quarter of the buffer beyond what the peer knows.
        // The ACK that ends a receive burst is built before the application reads the burst,
        // so it offers the buffer minus the burst; with bursts of up to 32 datagrams (2 MiB
        // at MTU 65000, half the default buffer) the half rule above never fired and the
        // peer's flight settled at the buffer minus one burst: half of it.
        this.ackNeeded = true;
      }
    }
    return b;
  }

  /** Whether data is held that the user has not read (in order or out of order). */
  get holdsUnread(): boolean {
    return this.rcvQ.length > 0 || !this.reasm.isEmpty;
  }

  /** RCV.NXT has passed `seq` (the whole segment is old). */
  covers(seqEnd: number): boolean {
    return seqLe(seqEnd, this.rcvNxt);
  }
}
