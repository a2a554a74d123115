/**
 * Duplicate-ACK classification (RFC 5681 section 2, "DUPLICATE ACKNOWLEDGMENT"): an ACK is a
 * duplicate when (a) data is outstanding, (b) it carries no data, (c) neither SYN nor FIN,
 * (d) SEG.ACK == SND.UNA and (e) the advertised window is unchanged. A window update or a
 * data-bearing segment is therefore never counted. With SACK (RFC 6675 section 2), an ACK
 * that carries new SACK information also counts, whatever its window.
 */
import { FIN, SYN } from '../../wire/tcp.js';
export function isDuplicateAck(p) {
    const { seg } = p;
    if (!p.outstanding || seg.payload.length > 0 || seg.flags & (SYN | FIN))
        return false;
    if ((seg.ack >>> 0) !== (p.sndUna >>> 0))
        return false;
    if (p.newSackInfo)
        return true;
    return p.window === p.prevWindow;
}
/** RFC 3042 limited transmit: segments that may be sent beyond cwnd on the 1st and 2nd duplicate ACK. */
export function limitedTransmitAllowance(dupAcks, mss) {
    return dupAcks > 0 && dupAcks < 3 ? dupAcks * mss : 0;
}
