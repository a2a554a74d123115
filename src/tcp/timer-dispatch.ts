/**
 * What each of a connection's timers does when it expires (timers.ts keeps the deadlines;
 * Connection.onTimer fires the expired ones through here, then flushes).
 */
import type { Connection } from './connection.js';
import { SENDING, SYNCHRONIZED } from './states.js';
import type { TimerKind } from './timers.js';

export function fireTimer(c: Connection, k: TimerKind): void {
  const st = c.state;
  switch (k) {
    case 'retransmit':
      if (c.snd.rtxQ.length === 0 || st === 'CLOSED' || st === 'TIME-WAIT') break;
      if (!c.snd.onRetransmitTimeout(st === 'SYN-SENT' || st === 'SYN-RECEIVED')) c.enterClosed('ETIMEDOUT');
      break;
    case 'persist':
      if (SENDING.has(st) && !c.snd.onPersist()) c.enterClosed('ETIMEDOUT');
      break;
    case 'delayedAck':
      if (SYNCHRONIZED.has(st)) c.rcv.ackNeeded = true;
      break;
    case 'keepalive':
      if (!c.keepalive.fire()) {
        c.sendRst();
        c.enterClosed('ETIMEDOUT');
      }
      break;
    case 'timeWait':
      if (st === 'TIME-WAIT') c.enterClosed(undefined);
      break;
    case 'finWait2':
      // An orphaned FIN-WAIT-2 gives up on the peer's FIN.
      if (st === 'FIN-WAIT-2') c.enterClosed(undefined);
      break;
    case 'pacing':
      break; // the flush after the timers sends what is due
    case 'tlp':
      c.recovery.onTlp();
      break;
    case 'rack':
      c.recovery.rackDetect();
      break;
  }
}
