/**
 * TCP NewReno (RFC 6582). The window arithmetic is Reno's (RFC 5681); the difference is in
 * loss recovery (NewRenoRecovery in src/tcp/recovery/strategies.ts): a partial ACK (one that acknowledges some
 * but not all of the data outstanding when recovery began, RFC 6582 3.2 step 3) retransmits
 * the next hole and stays in fast recovery, so several losses in one window cost one
 * reduction and no timeout. Recovery ends when the ACK covers the "recover" point.
 */
import type { CcName } from '../types.js';
import { Reno } from './reno.js';

export class NewReno extends Reno {
  override readonly name: CcName = 'newreno';
}
