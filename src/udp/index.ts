export { createSocket, Socket, type SocketOptions, type RemoteInfo, type AddressInfo, type MessageListener } from './socket.js';
export { UdpStack, EPHEMERAL_LOW, EPHEMERAL_HIGH } from './stack.js';
