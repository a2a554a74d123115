/**
 * TCP Tahoe (Jacobson 1988, "Congestion Avoidance and Control"): slow start, congestion
 * avoidance and fast retransmit, but no fast recovery. Any loss, whether three duplicate
 * ACKs or a timeout, sets ssthresh = max(FlightSize/2, 2*SMSS) and cwnd = 1 SMSS, and the
 * sender slow-starts again from SND.UNA (go-back-N: TahoeRecovery in
 * src/tcp/recovery/strategies.ts, the default recovery for cc 'tahoe'). The initial window is the classic 1 segment whatever the
 * connection asks for.
 */
import type { CcName } from '../types.js';
import type { CcOptions, CongestionEvent } from './types.js';
import { Reno, halvedSsthresh } from './reno.js';

export class Tahoe extends Reno {
  override readonly name: CcName = 'tahoe';

  protected override initialWindowSegments(_opts: CcOptions): number {
    return 1;
  }

  override onCongestion(ev: CongestionEvent): void {
    // The same response to both kinds of loss. A loss signal before any new data has been
    // acknowledged belongs to the episode already being handled (RFC 5681 3.1: ssthresh is
    // held constant across repeated retransmissions), so it does not halve ssthresh again.
    if (!this.inRtoBackoff) {
      this.saveForUndo();
      this.ssthreshBytes = halvedSsthresh(ev.inFlight, this.mss);
    }
    this.cwndBytes = this.mss;
    this.bytesAckedCa = 0;
    this.inFastRecovery = false;
    this.inRtoBackoff = true;
  }
}
