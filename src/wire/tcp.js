/**
 * TCP header and options (RFC 9293 section 3.1, RFC 7323, RFC 2018).
 * Pure encode/decode: no state. Decoding never throws; it names a drop reason instead.
 */
import { fold, internetChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { DEFAULT_TTL, IPPROTO_TCP, IPV4_HEADER_LEN, writeIpv4HeaderAt } from './ipv4.js';
import { allocPacket } from '../util/slab.js';
import { get16, get32, put16, put32 } from './bytes.js';
export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;
export const TCP_HEADER_LEN = 20;
export const TCP_MAX_OPTIONS = 40;
export const OPT_EOL = 0;
export const OPT_NOP = 1;
export const OPT_MSS = 2;
export const OPT_WSCALE = 3;
export const OPT_SACK_PERMITTED = 4;
export const OPT_SACK = 5;
export const OPT_TIMESTAMP = 8;
const EMPTY = Buffer.alloc(0);
/** SEG.LEN: payload bytes plus one for SYN and one for FIN. */
export function segmentLength(seg) {
    return seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
}
/** Parses the options area; returns undefined when a length is malformed. */
export function decodeOptions(buf, start, end) {
    const o = {};
    let i = start;
    while (i < end) {
        const kind = buf[i];
        if (kind === OPT_EOL)
            break;
        if (kind === OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= end)
            return undefined;
        const len = buf[i + 1];
        if (len < 2 || i + len > end)
            return undefined;
        switch (kind) {
            case OPT_MSS:
                if (len !== 4)
                    return undefined;
                o.mss = get16(buf, i + 2);
                break;
            case OPT_WSCALE:
                if (len !== 3)
                    return undefined;
                o.wscale = buf[i + 2];
                break;
            case OPT_SACK_PERMITTED:
                if (len !== 2)
                    return undefined;
                o.sackPermitted = true;
                break;
            case OPT_SACK: {
                if ((len - 2) % 8 !== 0 || len === 2)
                    return undefined;
                const blocks = [];
                for (let j = i + 2; j < i + len; j += 8) {
                    blocks.push({ left: get32(buf, j), right: get32(buf, j + 4) });
                }
                o.sack = blocks;
                break;
            }
            case OPT_TIMESTAMP:
                if (len !== 10)
                    return undefined;
                o.ts = { val: get32(buf, i + 2), ecr: get32(buf, i + 6) };
                break;
            default:
                // Unknown option: skipped by its length (RFC 9293 3.1, RFC 1122 4.2.2.5).
                break;
        }
        i += len;
    }
    return o;
}
/**
 * Decodes a TCP segment. When `src`/`dst` are given, the checksum (with the IPv4
 * pseudo-header) is verified.
 */
export function decodeTcp(buf, src, dst) {
    if (buf.length < TCP_HEADER_LEN)
        return { ok: false, reason: 'tcp_truncated' };
    const offset = (buf[12] >> 4) * 4;
    if (offset < TCP_HEADER_LEN || offset > buf.length)
        return { ok: false, reason: 'tcp_bad_offset' };
    if (src !== undefined && dst !== undefined) {
        const sum = internetChecksum(buf, 0, buf.length, pseudoHeaderSum(src, dst, IPPROTO_TCP, buf.length));
        if (sum !== 0)
            return { ok: false, reason: 'tcp_bad_checksum' };
    }
    const options = offset > TCP_HEADER_LEN ? decodeOptions(buf, TCP_HEADER_LEN, offset) : {};
    if (!options)
        return { ok: false, reason: 'tcp_bad_option' };
    return {
        ok: true,
        segment: {
            srcPort: get16(buf, 0),
            dstPort: get16(buf, 2),
            seq: get32(buf, 4),
            ack: get32(buf, 8),
            flags: buf[13],
            window: get16(buf, 14),
            urgent: get16(buf, 18),
            options,
            payload: offset === buf.length ? EMPTY : buf.subarray(offset),
        },
    };
}
/** Writes options at buf[start..); returns the end offset (padded with NOPs/EOL to 4). */
export function encodeOptions(o, buf, start) {
    let i = start;
    if (o.mss !== undefined) {
        buf[i++] = OPT_MSS;
        buf[i++] = 4;
        put16(buf, i, o.mss & 0xffff);
        i += 2;
    }
    if (o.sackPermitted && o.ts) {
        buf[i++] = OPT_SACK_PERMITTED;
        buf[i++] = 2;
    }
    else if (o.sackPermitted) {
        buf[i++] = OPT_NOP;
        buf[i++] = OPT_NOP;
        buf[i++] = OPT_SACK_PERMITTED;
        buf[i++] = 2;
    }
    if (o.ts) {
        if (!o.sackPermitted) {
            buf[i++] = OPT_NOP;
            buf[i++] = OPT_NOP;
        }
        buf[i++] = OPT_TIMESTAMP;
        buf[i++] = 10;
        put32(buf, i, o.ts.val >>> 0);
        put32(buf, i + 4, o.ts.ecr >>> 0);
        i += 8;
    }
    if (o.wscale !== undefined) {
        buf[i++] = OPT_NOP;
        buf[i++] = OPT_WSCALE;
        buf[i++] = 3;
        buf[i++] = o.wscale;
    }
    if (o.sack && o.sack.length > 0) {
        buf[i++] = OPT_NOP;
        buf[i++] = OPT_NOP;
        buf[i++] = OPT_SACK;
        buf[i++] = 2 + 8 * o.sack.length;
        for (const b of o.sack) {
            put32(buf, i, b.left >>> 0);
            put32(buf, i + 4, b.right >>> 0);
            i += 8;
        }
    }
    while ((i - start) & 3)
        buf[i++] = OPT_EOL;
    return i;
}
/** Exact encoded options length (the layout above, NOP-padded where it pads). */
export function encodedOptionsLength(o) {
    let n = 0;
    if (o.mss !== undefined)
        n += 4;
    if (o.sackPermitted)
        n += o.ts ? 2 : 4;
    if (o.ts)
        n += o.sackPermitted ? 10 : 12;
    if (o.wscale !== undefined)
        n += 4;
    if (o.sack && o.sack.length > 0)
        n += 4 + 8 * o.sack.length;
    return (n + 3) & ~3;
}
/** Writes the TCP header + payload at buf[start..] and its checksum. Returns the end. */
export function writeTcp(buf, start, seg, src, dst) {
    put16(buf, start, seg.srcPort);
    put16(buf, start + 2, seg.dstPort);
    put32(buf, start + 4, seg.seq);
    put32(buf, start + 8, seg.ack);
    const optEnd = encodeOptions(seg.options, buf, start + TCP_HEADER_LEN);
    const hdrLen = optEnd - start;
    buf[start + 12] = (hdrLen / 4) << 4;
    buf[start + 13] = seg.flags & 0xff;
    put16(buf, start + 14, seg.window);
    put16(buf, start + 16, 0);
    put16(buf, start + 18, seg.urgent);
    buf.set(seg.payload, optEnd);
    const end = optEnd + seg.payload.length;
    const len = end - start;
    const sum = sumWords(buf, start, end, pseudoHeaderSum(src, dst, IPPROTO_TCP, len));
    put16(buf, start + 16, ~fold(sum) & 0xffff);
    return end;
}
/** The TCP segment alone (header, options, payload) with its checksum. */
export function encodeTcp(seg, src, dst) {
    const buf = Buffer.allocUnsafe(TCP_HEADER_LEN + encodedOptionsLength(seg.options) + seg.payload.length);
    writeTcp(buf, 0, seg, src, dst);
    return buf;
}
/** A whole IPv4 packet carrying `seg`, built in one buffer (one copy of the payload). */
export function encodeTcpPacket(ip, seg) {
    const tcpLen = TCP_HEADER_LEN + encodedOptionsLength(seg.options) + seg.payload.length;
    const buf = allocPacket(IPV4_HEADER_LEN + tcpLen);
    writeIpv4HeaderAt(buf, 0, ip.src, ip.dst, IPPROTO_TCP, ip.id, buf.length, ip.ttl ?? DEFAULT_TTL, ip.tos ?? 0);
    writeTcp(buf, IPV4_HEADER_LEN, seg, ip.src, ip.dst);
    return buf;
}
/** tcpdump-like flags text: "S." for SYN-ACK, "F." for FIN-ACK, "." for a bare ACK. */
export function flagsToString(flags) {
    let s = '';
    if (flags & SYN)
        s += 'S';
    if (flags & FIN)
        s += 'F';
    if (flags & RST)
        s += 'R';
    if (flags & PSH)
        s += 'P';
    if (flags & URG)
        s += 'U';
    if (flags & ECE)
        s += 'E';
    if (flags & CWR)
        s += 'W';
    if (flags & ACK)
        s += '.';
    return s || 'none';
}
