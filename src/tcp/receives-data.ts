/**
 * The states in which a connection still receives data from its peer (RFC 9293 3.3.2): the
 * peer has not sent its FIN. Our own FIN (FIN-WAIT-1, FIN-WAIT-2) closes only our direction,
 * so a half-closed receiver acknowledges data exactly as in ESTABLISHED (e.g. one coalesced
 * ACK per receive burst).
 */
import type { TcpState } from './types.js';

export function receivesData(state: TcpState): boolean {
  return state === 'ESTABLISHED' || state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2';
}
