/**
 * The loss-recovery strategies (LossRecovery in loss-recovery.ts holds what they share):
 *
 *   tahoe    no fast recovery: a loss sends the sender back to SND.UNA (go-back-N) in slow start
 *   reno     RFC 5681 3.2 fast recovery, which ends at the first ACK of new data
 *   newreno  RFC 6582: a partial ACK retransmits the next hole and recovery continues
 *   sack     RFC 6675 SACK-based recovery with RACK-TLP (RFC 8985)
 *
 * Which one a connection uses: `sack` when SACK was negotiated (Tahoe keeps go-back-N, with
 * the SACK scoreboard telling it what not to resend), else the default of its congestion
 * controller (DEFAULT_RECOVERY), or `TcpConfig.recovery`.
 */
import type { Connection } from '../connection.js';
import type { CcName } from '../types.js';
import { LossRecovery, type RecoveryName } from './loss-recovery.js';

export class TahoeRecovery extends LossRecovery {
  readonly name: RecoveryName = 'tahoe';
  protected readonly guardsRecover = true;
  protected enter(kind: 'fast' | 'rack'): void {
    this.goBackN(kind);
  }
  protected onPartialAck(): void {
    // Never in recovery.
  }
}

export class RenoRecovery extends LossRecovery {
  readonly name: RecoveryName = 'reno';
  /** RFC 5681 has no `recover` point: every third duplicate ACK may start a new recovery. */
  protected readonly guardsRecover = false;
  protected enter(): void {
    this.fastRecovery();
  }
  protected onPartialAck(): void {
    // Reno: recovery ends at the first ACK of new data (RFC 5681 3.2 step 6).
    this.exitRecovery();
  }
}

export class NewRenoRecovery extends LossRecovery {
  readonly name: RecoveryName = 'newreno';
  protected readonly guardsRecover = true;
  protected enter(): void {
    this.fastRecovery();
  }
  protected onPartialAck(ackedSegs: number): void {
    this.retransmitNextHole(ackedSegs);
  }
}

export class SackRecovery extends LossRecovery {
  readonly name: RecoveryName = 'sack';
  protected readonly guardsRecover: boolean;
  /** `guardsRecover` false keeps Reno's rule (no `recover` point) for a Reno sender with SACK. */
  constructor(c: Connection, guardsRecover: boolean) {
    super(c, true);
    this.guardsRecover = guardsRecover;
  }
  protected enter(): void {
    this.fastRecovery();
  }
  protected onPartialAck(): void {
    // RFC 6675: the scoreboard keeps repairing holes until `recover` is acknowledged.
  }
}

/** The recovery each congestion controller gets without SACK. */
export const DEFAULT_RECOVERY: Readonly<Record<CcName, 'tahoe' | 'reno' | 'newreno'>> = {
  tahoe: 'tahoe',
  reno: 'reno',
  newreno: 'newreno',
  cubic: 'newreno',
  bbr: 'newreno',
};

/** The strategy for a connection, once the handshake has said whether SACK is in use. */
export function createLossRecovery(c: Connection, style: 'tahoe' | 'reno' | 'newreno', sack: boolean): LossRecovery {
  if (style === 'tahoe') return new TahoeRecovery(c, sack);
  if (sack) return new SackRecovery(c, style !== 'reno');
  return style === 'reno' ? new RenoRecovery(c, false) : new NewRenoRecovery(c, false);
}
