export * from './addr.js';
export * from './checksum.js';
export * from './icmp.js';
export * from './ipv4.js';
export * from './tcp.js';
export * from './udp.js';
