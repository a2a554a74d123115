/**
 * The handshake's negotiation and what it leaves behind: the options both SYNs agreed on
 * (window scale RFC 7323 2, SACK-permitted RFC 2018, timestamps RFC 7323 3, the peer's MSS
 * RFC 9293 3.7.1), the timestamp state used by every later segment (TS.Recent, PAWS RFC 7323
 * 5), and our SYN / SYN-ACK. The state transitions of the handshake are the connection's
 * (RFC 9293 3.10.7.2-3.10.7.3); this part holds what they negotiate.
 */
import { ACK, FIN, RST, SYN, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { createLossRecovery, DEFAULT_RECOVERY } from './recovery/strategies.js';
import { IP_TCP_HEADERS } from './pmtu.js';
import { DEFAULT_PEER_MSS, MIN_PEER_MSS } from './config.js';
import type { Connection } from './connection.js';
import { MAX_WINDOW_FIELD, TS_OPTION_LEN } from './receiver.js';
import { seqAdd, seqGe, seqGt, seqLe, seqLt } from './seq.js';

/** Largest window-scale shift (RFC 7323 2.3). */
export const MAX_WSCALE = 14;
const EMPTY: Buffer = Buffer.alloc(0);

/** TS.Recent and when it was stored, handed from a TIME-WAIT to the connection that reuses its 4-tuple. */
export interface InheritedTsRecent {
  tsRecent: number;
  at: number;
}

/** What a SYN cookie restores (RFC 4987 3.6). */
export interface CookieOptions {
  mss: number;
  sackPermitted?: boolean;
  wscale?: number;
  ts?: boolean;
}

export class Handshake {
  tsOk = false;
  private wsAgreed = false;
  sackOk = false;
  tsRecent = 0;
  tsRecentValid = false;
  /** When TS.Recent was last stored (ms; Linux's ts_recent_stamp): the TIME-WAIT reuse delay counts from it. */
  tsRecentAt = 0;
  /** RCV.NXT carried by our last ACK (RFC 7323 4.3 Last.ACK.sent). */
  lastAckSent = 0;
  private readonly tsOffset: number;
  private peerMss = DEFAULT_PEER_MSS;
  sndWscale = 0;
  rcvWscale = 0;
  /** Opened from LISTEN (a RST in SYN-RECEIVED then returns there, not ECONNREFUSED). */
  passive = false;
  /** Our SYN was retransmitted (RFC 6298 5.7 at establishment). */
  synRetransmitted = false;

  constructor(
    private readonly c: Connection,
    tsOffset: number,
    inherited?: InheritedTsRecent,
  ) {
    this.tsOffset = tsOffset >>> 0;
    // An active open reusing a TIME-WAIT 4-tuple starts with the old connection's TS.Recent
    // (Linux tcp_twsk_unique copies ts_recent and ts_recent_stamp): PAWS keeps the old
    // incarnation's segments out from the first one on (synSentArrives), until the peer's
    // SYN-ACK stores its own TSval.
    if (inherited !== undefined) {
      this.tsRecent = inherited.tsRecent >>> 0;
      this.tsRecentValid = true;
      this.tsRecentAt = inherited.at;
    }
    const cfg = c.config;
    if (cfg.windowScale) {
      let ws = 0;
      while (ws < MAX_WSCALE && cfg.rcvBuf > MAX_WINDOW_FIELD * 2 ** ws) ws++;
      this.rcvWscale = ws;
    }
  }

  /** Records the options of the peer's SYN (MSS, WS, SACK-permitted, TS). */
  takeSyn(seg: TcpSegment): void {
    const cfg = this.c.config;
    const o = seg.options;
    // Window scaling only when both SYNs carry the option (RFC 7323 2.2).
    this.wsAgreed = cfg.windowScale && o.wscale !== undefined;
    if (this.wsAgreed) {
      this.sndWscale = Math.min(o.wscale ?? 0, MAX_WSCALE);
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.sackOk = cfg.sack && !!o.sackPermitted;
    this.tsOk = cfg.timestamps && o.ts !== undefined;
    if (this.tsOk && o.ts) {
      this.tsRecent = o.ts.val >>> 0;
      this.tsRecentValid = true;
      this.tsRecentAt = this.c.now;
    }
    this.peerMss = clampPeerMss(o.mss);
  }

  /**
   * A connection completed by a SYN cookie (RFC 4987 3.6): the ACK `ack` answered our cookie
   * SYN-ACK (ISS = SEG.ACK-1); the options are what the cookie restored. Ends ESTABLISHED.
   */
  fromCookie(ack: TcpSegment, negotiated: CookieOptions): void {
    const c = this.c;
    const snd = c.snd;
    const rcv = c.rcv;
    this.passive = true;
    rcv.irs = seqAdd(ack.seq, -1);
    rcv.rcvNxt = ack.seq >>> 0;
    snd.sndUna = ack.ack >>> 0;
    snd.sndNxt = ack.ack >>> 0;
    snd.sendBase = ack.ack >>> 0;
    this.takeCookie(negotiated, ack);
    this.negotiated();
    snd.setWindow(ack.window * this.sndScale, ack.seq >>> 0, ack.ack >>> 0);
    rcv.rcvAdv = seqAdd(rcv.rcvNxt, Math.min(c.config.rcvBuf, MAX_WINDOW_FIELD * 2 ** this.rcvWscale));
    this.lastAckSent = rcv.rcvNxt;
    c.setState('ESTABLISHED');
    c.output.evEstablished = true;
  }

  /** The options a SYN cookie restored, with the timestamps of the completing ACK. */
  private takeCookie(negotiated: CookieOptions, ack: TcpSegment): void {
    const cfg = this.c.config;
    this.sackOk = !!negotiated.sackPermitted && cfg.sack;
    this.tsOk = !!negotiated.ts && cfg.timestamps && ack.options.ts !== undefined;
    if (this.tsOk && ack.options.ts) {
      this.tsRecent = ack.options.ts.val;
      this.tsRecentValid = true;
      this.tsRecentAt = this.c.now;
    }
    if (negotiated.wscale !== undefined && cfg.windowScale) this.sndWscale = Math.min(negotiated.wscale, MAX_WSCALE);
    else this.rcvWscale = 0;
    this.peerMss = clampPeerMss(negotiated.mss);
  }

  /** The peer's MSS option (clamped). */
  get peerMssValue(): number {
    return this.peerMss;
  }

  /** Effective MSS for sending: the smaller MSS and path MTU, less the timestamp option. */
  sendMss(): number {
    const pathMss = this.c.snd.pmtu.mtu - IP_TCP_HEADERS;
    return Math.max(1, Math.min(this.peerMss, this.c.config.mss, pathMss) - (this.tsOk ? TS_OPTION_LEN : 0));
  }

  recvMss(): number {
    return Math.max(1, this.c.config.mss - (this.tsOk ? TS_OPTION_LEN : 0));
  }

  /** The peer's window field scaled. */
  get sndScale(): number {
    return 1 << this.sndWscale;
  }

  /** TSval for a segment sent now (RFC 7323 5.4: a per-connection offset). */
  tsNow(): number {
    return (Math.floor(this.c.now) + this.tsOffset) >>> 0;
  }

  /** RFC 7323 5.3 R1 (PAWS): an old TSval makes a segment unacceptable (never a RST). */
  pawsRejects(seg: TcpSegment): boolean {
    const ts = seg.options.ts;
    return this.tsOk && ts !== undefined && this.tsRecentValid && !(seg.flags & RST) && seqLt(ts.val, this.tsRecent);
  }

  /** RFC 7323 5.3 R3: remember the peer's TSval (and when: Linux's tcp_store_ts_recent). */
  noteTsVal(seg: TcpSegment): void {
    const ts = seg.options.ts;
    if (this.tsOk && ts && seqGe(ts.val, this.tsRecent) && seqLe(seg.seq, this.lastAckSent)) {
      this.tsRecent = ts.val >>> 0;
      this.tsRecentValid = true;
      this.tsRecentAt = this.c.now;
    }
  }

  /** RFC 9293 3.10.7.3. */
  synSentArrives(seg: TcpSegment): void {
    const c = this.c;
    const snd = c.snd;
    let ackOk = false;
    // First: check the ACK bit.
    if (seg.flags & ACK) {
      if (seqLe(seg.ack, snd.iss) || seqGt(seg.ack, snd.sndNxt)) {
        // Scenario 5: unacceptable ACK -> <SEQ=SEG.ACK><CTL=RST> unless it is a RST.
        if (!(seg.flags & RST)) c.output.emit(c.output.bareSeg(seg.ack >>> 0, RST));
        c.drop('syn_sent_bad_ack');
        return;
      }
      ackOk = true; // SND.UNA < SEG.ACK =< SND.NXT (SND.UNA = ISS here)
    }
    // Second: the RST bit (only with an acceptable ACK; RFC 5961 3: not without one).
    if (seg.flags & RST) {
      if (ackOk) c.enterClosed('ECONNREFUSED');
      else c.drop('syn_sent_rst_no_ack');
      return;
    }
    // Fourth: the SYN bit.
    if (!(seg.flags & SYN)) {
      c.drop('syn_sent_no_syn');
      return;
    }
    // A SYN without ACK (simultaneous open) older than an inherited TS.Recent is the old
    // incarnation's: PAWS drops it (Linux tcp_rcv_synsent_state_process, before the SYN is taken).
    const ts = seg.options.ts;
    if (!ackOk && this.tsRecentValid && ts !== undefined && seqLt(ts.val, this.tsRecent)) {
      c.drop('paws');
      return;
    }
    this.takePeerSyn(seg);
    if (ackOk) {
      snd.releaseAcked(snd.processNewAck(seg.ack >>> 0, this.tsOk ? seg.options.ts?.ecr : undefined));
      this.establish();
      c.rcv.ackNeeded = true;
      // Data or FIN carried by the SYN-ACK (RFC 9293 3.10.7.3: "continue processing at the sixth step").
      if (seg.payload.length > 0 || seg.flags & FIN) c.processText(seqAdd(seg.seq, 1), seg.payload, (seg.flags & FIN) !== 0);
    } else {
      // Simultaneous open (scenario 8): SYN-RECEIVED and <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
      c.setState('SYN-RECEIVED');
      snd.resendSyn();
    }
  }

  /** Records the peer's SYN: IRS, the negotiated options, the first window (never scaled, RFC 7323 2.2). */
  takePeerSyn(seg: TcpSegment): void {
    const c = this.c;
    const rcv = c.rcv;
    rcv.irs = seg.seq >>> 0;
    rcv.rcvNxt = seqAdd(seg.seq, 1);
    this.lastAckSent = rcv.rcvNxt;
    this.takeSyn(seg);
    this.negotiated();
    c.snd.setWindow(seg.window, seg.seq >>> 0, seg.ack >>> 0);
    rcv.rcvAdv = seqAdd(rcv.rcvNxt, rcv.synWindow());
  }

  /** The options are known: segment sizes and the loss-recovery strategy follow from them. */
  negotiated(): void {
    const c = this.c;
    this.applyMss();
    c.recovery = createLossRecovery(c, this.recoveryStyle(), this.sackOk);
  }

  /** Segment sizes from the options and the path MTU (again whenever the path MTU changes). */
  applyMss(): void {
    const c = this.c;
    const mss = this.sendMss();
    c.snd.sndMss = mss;
    c.rcv.rcvMss = this.recvMss();
    c.ccCall('init', () => c.cc.setMss(mss));
  }

  recoveryStyle(): 'tahoe' | 'reno' | 'newreno' {
    const c = this.c;
    return c.config.recovery ?? DEFAULT_RECOVERY[c.config.cc];
  }

  /** The handshake completed (RFC 6298 5.7; a FIN queued meanwhile now leaves). */
  establish(): void {
    const c = this.c;
    // RFC 6298 5.7: a lost SYN without an RTT sample leaves a 3 s RTO for the data phase.
    if (this.synRetransmitted && !c.rtt.hasSample) c.rtt.synRetransmitted();
    c.setState('ESTABLISHED');
    c.output.evEstablished = true;
    const rcv = c.rcv;
    if (rcv.rcvAdv === 0 || seqLt(rcv.rcvAdv, rcv.rcvNxt)) rcv.rcvAdv = seqAdd(rcv.rcvNxt, rcv.synWindow());
    if (c.snd.finQueued) c.setState('FIN-WAIT-1');
    c.keepalive.arm();
  }

  /** Our SYN or SYN-ACK with its options (only those the peer's SYN offered, for a SYN-ACK). */
  synSegment(flags: number): TcpSegment {
    const c = this.c;
    const cfg = c.config;
    const o: TcpOptions = { mss: cfg.mss };
    // A SYN offers what we are configured for; a SYN-ACK only what the peer's SYN offered.
    if (flags & ACK ? this.wsAgreed : cfg.windowScale) o.wscale = this.rcvWscale;
    if (cfg.sack && (!(flags & ACK) || this.sackOk)) o.sackPermitted = true;
    if (cfg.timestamps && (!(flags & ACK) || this.tsOk)) {
      o.ts = { val: this.tsNow(), ecr: flags & ACK ? this.tsRecent : 0 };
    }
    return {
      srcPort: c.tuple.localPort,
      dstPort: c.tuple.remotePort,
      seq: c.snd.iss,
      ack: flags & ACK ? c.rcv.rcvNxt : 0,
      flags,
      window: c.rcv.synWindow(),
      urgent: 0,
      options: o,
      payload: EMPTY,
    };
  }
}

/**
 * The peer's MSS option (RFC 9293 3.7.1): absent or 0 -> 536 (RFC 1122 4.2.2.6; 0 is treated
 * as absent), tiny values raised to MIN_PEER_MSS.
 */
export function clampPeerMss(mss: number | undefined): number {
  if (mss === undefined || mss === 0) return DEFAULT_PEER_MSS;
  return Math.max(MIN_PEER_MSS, mss);
}
