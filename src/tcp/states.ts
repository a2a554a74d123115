/** Groups of RFC 9293 states that the connection and its parts test membership of. */
import type { TcpState } from './types.js';

export const SYNCHRONIZED: ReadonlySet<TcpState> = new Set<TcpState>([
  'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
]);
/** States in which we may still transmit data or our FIN. */
export const SENDING: ReadonlySet<TcpState> = new Set<TcpState>(['ESTABLISHED', 'CLOSE-WAIT', 'FIN-WAIT-1', 'CLOSING', 'LAST-ACK']);
/** States in which received data is accepted (RFC 9293 3.10.7.4 seventh). */
export const RECEIVING: ReadonlySet<TcpState> = new Set<TcpState>(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2']);
