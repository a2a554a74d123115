/**
 * Why the TCP core refused input, as types: every refusal is counted under one of these
 * reasons (the receive path never throws). Kept apart from events, which are decisions the
 * protocol took (a challenge ACK sent or rate-limited) rather than input it threw away.
 *
 * The driver adds the counts of every connection and listener to the host's drop counters,
 * so they reach `overlay_ip_dropped_packets_total{reason}` (prefixed `tcp_`, see driver.ts).
 */

/** A segment (or part of one) the connection discarded. */
export type ConnectionDropReason =
  | 'syn_sent_bad_ack' // SYN-SENT: an ACK of something we never sent (answered with RST)
  | 'syn_sent_rst_no_ack' // SYN-SENT: a RST without an acceptable ACK (RFC 5961 3)
  | 'syn_sent_no_syn' // SYN-SENT: neither SYN nor RST
  | 'paws' // RFC 7323 5.3: an old TSval
  | 'zero_window' // the data of a segment at RCV.NXT while our window is zero (its ACK is used)
  | 'rst_out_of_window' // a RST outside the window (RFC 5961 3.2)
  | 'out_of_window' // a segment outside the window (answered with an ACK)
  | 'rst_in_time_wait' // RFC 1337: TIME-WAIT ignores RSTs
  | 'trimmed_right' // bytes beyond the window's right edge
  | 'no_ack' // a segment without ACK in a synchronized state
  | 'syn_received_bad_ack' // SYN-RECEIVED: an unacceptable ACK (answered with RST)
  | 'accept_queue_full' // the handshake-completing ACK while the accept queue is full
  | 'ack_unsent' // SEG.ACK > SND.NXT (answered with an ACK)
  | 'ack_too_old' // RFC 5961 5.2: SEG.ACK < SND.UNA - MAX.SND.WND (answered with an ACK)
  | 'ooo_full' // out-of-order data beyond the reassembly bound
  | 'internal_error'; // an exception in the core: a bug, never a reaction to input

/** A segment the listener discarded. */
export type ListenerDropReason =
  | 'listen_rst' // a RST in LISTEN (ignored, scenario 2)
  | 'listen_ack' // an ACK in LISTEN that completes no SYN cookie (answered with RST)
  | 'listen_no_syn' // neither SYN, RST nor ACK
  | 'listener_closed' // a SYN after the listener closed
  | 'queue_full' // a SYN with the SYN or accept queue full and no SYN cookies
  | 'internal_error';

export type TcpDropReason = ConnectionDropReason | ListenerDropReason;

/** Decisions counted beside the drops: RFC 5961 challenge ACKs, sent or rate-limited. */
export type ConnectionEvent = 'challenge_ack_syn' | 'challenge_ack_rst' | 'challenge_ack_limited_syn' | 'challenge_ack_limited_rst';

export type DropCounts<R extends string = TcpDropReason> = Partial<Record<R, number>>;

export function countDrop<R extends string>(counts: DropCounts<R>, reason: R): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}
