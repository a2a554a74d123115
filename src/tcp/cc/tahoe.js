import { Reno, halvedSsthresh } from './reno.js';
export class Tahoe extends Reno {
    name = 'tahoe';
    recoveryStyle = 'tahoe';
    initialWindowSegments(_opts) {
        return 1;
    }
    onCongestion(ev) {
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
