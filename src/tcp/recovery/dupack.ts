/**
 * Duplicate-ACK classification (RFC 5681 section 2, "DUPLICATE ACKNOWLEDGMENT"): an ACK is a
 * duplicate when (a) data is outstanding, (b) it carries no data, (c) neither SYN nor FIN,
 * (d) SEG.ACK == SND.UNA and (e) the advertised window is unchanged. A window update or a
 * data-bearing segment is therefore never counted. With SACK (RFC 6675 section 2), an ACK
 * that carries new SACK information also counts, whatever its window.
 */
import { FIN, SYN, type TcpSegment } from '../../wire/tcp.js';

export function isDuplicateAck(p: {
  seg: TcpSegment;
  sndUna: number;
  outstanding: boolean;
  /** The window the segment advertises, scaled, and the one in force before it. */
  window: number;
  prevWindow: number;
  newSackInfo: boolean;
}): boolean {
  const { seg } = p;
  if (!p.outstanding || seg.payload.length > 0 || seg.flags & (SYN | FIN)) return false;
  if ((seg.ack >>> 0) !== (p.sndUna >>> 0)) return false;
  if (p.newSackInfo) return true;
  return p.window === p.prevWindow;
}
