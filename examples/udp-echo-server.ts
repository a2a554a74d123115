/**
 * The lecture's UDP echo server, on the overlay. The classic original:
 *
 *   s = socket(AF_INET, SOCK_DGRAM)        # 1. socket
 *   s.bind(('', 7))                        # 2. bind to the echo port (RFC 862)
 *   while True:
 *       data, addr = s.recvfrom(2048)      # 3. recvfrom: one datagram and who sent it
 *       s.sendto(data, addr)               # 4. sendto: the same bytes back to that address
 *
 * Here the "machine" is an overlay host: 10.77.0.3 whose IPv4 packets travel inside real
 * UDP datagrams on 127.0.0.1:40003. Run it, then the client in another terminal:
 *
 *   node dist/examples/udp-echo-server.js
 *   node dist/examples/udp-echo-client.js hello
 *
 * Flags: --addr, --udp, --peer (see --help), --port (default 7), --count N (exit after
 * N datagrams; 0 = serve forever).
 */
import { createSocket } from '../src/udp/index.js';
import { onShutdown } from '../src/cli/common.js';
import { CLIENT, SERVER, announce, exampleFlagSpecs, exampleHost, intFlag, parseExampleArgs, runExample } from './lib/setup.js';

const specs = exampleFlagSpecs(SERVER, {
  port: { kind: 'number', description: 'UDP port to serve on', default: 7 },
  count: { kind: 'number', description: 'exit after echoing N datagrams (0 = forever)', default: 0 },
});

runExample('udp-echo-server', async () => {
  const p = parseExampleArgs(process.argv.slice(2), 'node dist/examples/udp-echo-server.js [options]', specs);
  const port = intFlag(p, 'port', 1, 65535);
  const count = intFlag(p, 'count', 0, 1e9);
  const { host, close } = await exampleHost(p, CLIENT);

  // 1. socket(AF_INET, SOCK_DGRAM): a datagram socket on this overlay host.
  const sock = createSocket({ type: 'udp4', host });

  let echoed = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    // 3. recvfrom(): every arriving datagram, with the sender's address and port.
    sock.on('message', (data, rinfo) => {
      console.log(`recvfrom ${rinfo.address}:${rinfo.port} ${rinfo.size} bytes: ${JSON.stringify(data.toString())}`);
      // 4. sendto(): the same bytes back to where they came from.
      sock.send(data, rinfo.port, rinfo.address, (err: Error | null) => {
        if (err) return reject(err);
        echoed++;
        if (count > 0 && echoed >= count) resolve();
      });
    });
    onShutdown(() => resolve());
  });

  // 2. bind(): claim the port; from now on datagrams to 10.77.0.3:port reach us.
  await new Promise<void>((resolve) => sock.bind(port, resolve));
  announce(host, sock.address().port);

  await done;
  // 5. close(): release the port.
  sock.close();
  await close();
  return 0;
});
