/**
 * The lecture's TCP echo server, on the overlay. The classic original:
 *
 *   s = socket(AF_INET, SOCK_STREAM)         # 1. socket
 *   s.bind(('', 7))                          # 2. bind to the echo port
 *   s.listen(5)                              # 3. listen: passive open, state LISTEN
 *   while True:
 *       conn, addr = s.accept()              # 4. accept: one connection, a NEW socket
 *       while data := conn.recv(2048):       # 5. recv until the peer closes (b'')
 *           conn.sendall(data)               # 6. send it back
 *       conn.close()                         # 7. close: our FIN
 *
 * In Node (and here) socket+bind+listen are createServer() + listen(port), accept() is
 * the 'connection' event, and recv() is the 'data' event ('end' is recv() returning b'').
 * The server is overlay host 10.77.0.3 on real UDP 127.0.0.1:40003.
 *
 *   node dist/examples/tcp-echo-server.js
 *   node dist/examples/tcp-echo-client.js hello
 *
 * Flags: --addr, --udp, --peer (see --help), --port (default 7), --count N (exit after N
 * connections; 0 = serve forever).
 */
import { once } from 'node:events';
import { createServer, type Socket } from '../src/net.js';
import { onShutdown } from '../src/cli/common.js';
import { CLIENT, SERVER, announce, exampleFlagSpecs, exampleHost, intFlag, parseExampleArgs, runExample } from './lib/setup.js';

const specs = exampleFlagSpecs(SERVER, {
  port: { kind: 'number', description: 'TCP port to serve on', default: 7 },
  count: { kind: 'number', description: 'exit after N connections (0 = forever)', default: 0 },
});

runExample('tcp-echo-server', async () => {
  const p = parseExampleArgs(process.argv.slice(2), 'node dist/examples/tcp-echo-server.js [options]', specs);
  const port = intFlag(p, 'port', 1, 65535);
  const count = intFlag(p, 'count', 0, 1e9);
  const { host, close } = await exampleHost(p, CLIENT);

  let served = 0;
  // 1. socket(AF_INET, SOCK_STREAM): a listening socket on this overlay host.
  const server = createServer({ host });
  const done = new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    onShutdown(() => resolve());
    // 4. accept(): each completed handshake gives a new connected socket.
    server.on('connection', (conn: Socket) => {
      const peer = `${conn.remoteAddress}:${conn.remotePort}`;
      console.log(`accept ${peer}`);
      // 5. recv(): bytes as they arrive (a byte stream: no message boundaries).
      conn.on('data', (data: Buffer) => {
        console.log(`recv ${data.length} bytes from ${peer}: ${JSON.stringify(data.toString())}`);
        // 6. send(): the same bytes back.
        conn.write(data);
      });
      // recv() returned b'': the client sent its FIN. 7. close(): send ours.
      conn.on('end', () => {
        console.log(`close ${peer}`);
        conn.end();
      });
      conn.on('error', (e: Error) => console.log(`error ${peer}: ${e.message}`));
      conn.on('close', () => {
        served++;
        if (count > 0 && served >= count) resolve();
      });
    });
  });

  // 2. bind() + 3. listen(): claim the port and enter LISTEN (a passive open).
  server.listen(port);
  await once(server, 'listening');
  announce(host, port);

  await done;
  server.close();
  await close();
  return 0;
});
