export const TCP_STATES = [
    'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1',
    'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
];
export const CC_NAMES = ['tahoe', 'reno', 'newreno', 'cubic', 'bbr'];
export const RETRANSMIT_KINDS = ['rto', 'fast', 'tlp', 'rack', 'probe'];
