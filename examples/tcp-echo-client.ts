/**
 * The lecture's TCP echo client, on the overlay. The classic original:
 *
 *   s = socket(AF_INET, SOCK_STREAM)         # 1. socket
 *   s.connect(('10.77.0.3', 7))              # 2. connect: the three-way handshake
 *   s.sendall(b'hello')                      # 3. send
 *   data = s.recv(2048)                      # 4. recv (loop: a stream has no boundaries)
 *   s.close()                                # 5. close: FIN, then the server's FIN
 *
 *   node dist/examples/tcp-echo-client.js hello world
 *
 * The words are sent as one line each; the client reads until every byte came back.
 */
import { once } from 'node:events';
import { connect } from '../src/net.js';
import { CLIENT, SERVER, connected, exampleFlagSpecs, exampleHost, intFlag, parseExampleArgs, runExample } from './lib/setup.js';

const specs = exampleFlagSpecs(CLIENT, {
  server: { kind: 'string', description: 'overlay address of the echo server', default: SERVER.addr },
  port: { kind: 'number', description: 'TCP port of the echo server', default: 7 },
  'connect-timeout': { kind: 'number', description: 'ms to wait for the handshake', default: 10_000 },
});

runExample('tcp-echo-client', async () => {
  const p = parseExampleArgs(process.argv.slice(2), 'node dist/examples/tcp-echo-client.js [options] MESSAGE...', specs);
  const server = String(p.flags.server);
  const port = intFlag(p, 'port', 1, 65535);
  const messages = p.positional.length > 0 ? p.positional : ['hello'];
  const { host, close } = await exampleHost(p, SERVER);
  try {
    // 1. socket() + 2. connect(): the first send of a SYN, from an ephemeral port.
    const sock = connect({ via: host, host: server, port });
    await connected(sock, intFlag(p, 'connect-timeout', 1, 600_000), `${server}:${port}`);
    console.log(`connected ${sock.localAddress}:${sock.localPort} -> ${server}:${port}`);

    const expected = messages.map((m) => `${m}\n`).join('');
    let received = '';
    const echoed = new Promise<void>((resolve, reject) => {
      // 4. recv(): the echo may come back in pieces of any size; collect until complete.
      sock.on('data', (d: Buffer) => {
        received += d.toString();
        if (received.length >= expected.length) resolve();
      });
      sock.on('error', reject);
      sock.on('end', () => (received.length >= expected.length ? resolve() : reject(new Error('server closed early'))));
    });
    // 3. send()
    for (const m of messages) sock.write(`${m}\n`);
    await echoed;
    for (const line of received.split('\n').filter((l) => l !== '')) console.log(`echo: ${line}`);
    // 5. close(): our FIN; 'close' once the server's FIN came back too.
    sock.end();
    await once(sock, 'close');
    return received === expected ? 0 : 1;
  } finally {
    await close();
  }
});
