/**
 * The reply to a segment that belongs to no connection (RFC 9293 3.10.7.1, "CLOSED STATE"),
 * also used for unacceptable ACKs in LISTEN / SYN-SENT / SYN-RECEIVED (3.10.7.2-4):
 *
 * - an incoming RST is discarded: never answer a RST with a RST;
 * - if the segment has ACK:  <SEQ=SEG.ACK><CTL=RST>
 * - otherwise:               <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>  (SYN and FIN count in SEG.LEN)
 */
import { ACK, RST, segmentLength } from '../wire/tcp.js';
import { seqAdd } from './seq.js';
/** The RST answering `seg`, or undefined when `seg` is itself a RST. Ports are swapped. */
export function rstFor(seg) {
    if (seg.flags & RST)
        return undefined;
    const base = { srcPort: seg.dstPort, dstPort: seg.srcPort, window: 0, urgent: 0, options: {}, payload: Buffer.alloc(0) };
    if (seg.flags & ACK)
        return { ...base, seq: seg.ack >>> 0, ack: 0, flags: RST };
    return { ...base, seq: 0, ack: seqAdd(seg.seq, segmentLength(seg)), flags: RST | ACK };
}
