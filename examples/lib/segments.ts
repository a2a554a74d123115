/**
 * A tcpdump for the lecture: taps overlay hosts (Host.addTap), decodes each outgoing IPv4
 * packet with src/wire, and keeps per-direction state so sequence numbers can be shown
 * relative to the initial sequence number (ISN) as in the lecture's diagrams, next to the
 * absolute value on the wire, and windows can be shown scaled (RFC 7323 2.3: the window
 * field of a segment without SYN is shifted left by the scale its sender announced).
 */
import type { Host } from '../../src/host/host.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { decodeIpv4, IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, decodeTcp, type TcpSegment } from '../../src/wire/tcp.js';
import { seqDiff } from '../../src/tcp/seq.js';

export interface SegmentRecord {
  /** ms since the log started. */
  t: number;
  src: string;
  dst: string;
  /** "SYN", "SYN-ACK", "ACK", "PSH-ACK", "FIN-ACK", "RST", ... */
  flags: string;
  seg: TcpSegment;
  /** Sequence and acknowledgment numbers relative to each side's ISN. */
  relSeq: number;
  relAck: number | undefined;
  /** The advertised receive window in bytes (scaled), and the raw 16-bit field. */
  window: number;
  rawWindow: number;
  len: number;
}

/** Lecture-style flag names. */
export function flagName(flags: number): string {
  const parts: string[] = [];
  if (flags & RST) parts.push('RST');
  if (flags & SYN) parts.push('SYN');
  if (flags & FIN) parts.push('FIN');
  if (flags & PSH) parts.push('PSH');
  if (flags & ACK) parts.push('ACK');
  return parts.join('-') || 'none';
}

interface Side {
  isn: number | undefined;
  wscale: number;
  /** Whether this side's SYN offered window scaling (it applies only if both did). */
  offeredScale: boolean;
}

export class SegmentLog {
  readonly records: SegmentRecord[] = [];
  /** Called for each new record (e.g. to print it live). */
  onRecord: ((r: SegmentRecord) => void) | undefined;
  private readonly sides = new Map<string, Side>();
  private readonly t0: number;
  private readonly clock: (() => number) | undefined;
  private readonly detach: Array<() => void> = [];

  constructor(hosts: Host[], private readonly filter?: (seg: TcpSegment) => boolean) {
    const h0 = hosts[0];
    this.clock = h0 ? () => h0.now() : undefined;
    this.t0 = h0?.now() ?? 0;
    // Only 'out': with every host of the conversation tapped, each packet is seen once, in
    // the order it was sent.
    for (const h of hosts) this.detach.push(h.addTap((dir, packet, now) => dir === 'out' && this.add(packet, now)));
  }

  /** ms since the log started (the clock of SegmentRecord.t). */
  elapsed(): number {
    return (this.clock?.() ?? 0) - this.t0;
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
  }

  private side(addr: string, port: number): Side {
    const key = `${addr}:${port}`;
    let s = this.sides.get(key);
    if (!s) {
      s = { isn: undefined, wscale: 0, offeredScale: false };
      this.sides.set(key, s);
    }
    return s;
  }

  private add(packet: Buffer, now: number): void {
    const ip = decodeIpv4(packet);
    if (!ip.ok || ip.header.protocol !== IPPROTO_TCP) return;
    const d = decodeTcp(ip.payload);
    if (!d.ok) return;
    const seg = d.segment;
    if (this.filter && !this.filter(seg)) return;
    const srcAddr = formatIpv4(ip.header.src);
    const dstAddr = formatIpv4(ip.header.dst);
    const me = this.side(srcAddr, seg.srcPort);
    const peer = this.side(dstAddr, seg.dstPort);
    if (seg.flags & SYN) {
      me.isn = seg.seq;
      me.offeredScale = seg.options.wscale !== undefined;
      me.wscale = seg.options.wscale ?? 0;
    }
    const scaled = me.offeredScale && peer.offeredScale && !(seg.flags & SYN);
    const window = scaled ? seg.window * 2 ** me.wscale : seg.window;
    this.push({
      t: now - this.t0,
      src: `${srcAddr}:${seg.srcPort}`,
      dst: `${dstAddr}:${seg.dstPort}`,
      flags: flagName(seg.flags),
      seg,
      relSeq: me.isn === undefined ? seg.seq : seqDiff(seg.seq, me.isn),
      relAck: seg.flags & ACK ? (peer.isn === undefined ? seg.ack : seqDiff(seg.ack, peer.isn)) : undefined,
      window,
      rawWindow: seg.window,
      len: seg.payload.length,
    });
  }

  private push(r: SegmentRecord): void {
    this.records.push(r);
    this.onRecord?.(r);
  }
}

/** Options in the lecture's words: "MSS 1432, WS 7, SACK_PERM, TS val=1 ecr=0". */
export function formatOptions(seg: TcpSegment): string {
  const o = seg.options;
  const parts: string[] = [];
  if (o.mss !== undefined) parts.push(`MSS ${o.mss}`);
  if (o.wscale !== undefined) parts.push(`WS ${o.wscale}`);
  if (o.sackPermitted) parts.push('SACK_PERM');
  if (o.sack) parts.push(`SACK ${o.sack.map((b) => `${b.left}-${b.right}`).join(',')}`);
  if (o.ts) parts.push(`TS val=${o.ts.val} ecr=${o.ts.ecr}`);
  return parts.join(', ');
}

/**
 * One line per segment:
 *   10.77.0.2:49500 -> 10.77.0.3:7  SYN  seq=0 (abs 123456789) win=65535  <MSS 1432, WS 7, SACK_PERM, TS ...>
 */
export function formatRecord(r: SegmentRecord, opts: { options?: boolean } = {}): string {
  const seg = r.seg;
  const seq = r.len > 0 ? `seq=${r.relSeq}:${r.relSeq + r.len}` : `seq=${r.relSeq}`;
  const ack = r.relAck !== undefined ? ` ack=${r.relAck}` : '';
  const abs = ` (abs ${seg.seq}${r.relAck !== undefined ? ` ack ${seg.ack}` : ''})`;
  const len = r.len > 0 ? ` len=${r.len}` : '';
  const win = ` win=${r.window}`;
  const options = opts.options !== false && (seg.flags & SYN || seg.options.sack) ? `  <${formatOptions(seg)}>` : '';
  return `${r.src} -> ${r.dst}  ${r.flags}  ${seq}${ack}${len}${win}${abs}${options}`;
}
