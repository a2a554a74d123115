/**
 * The lecture's UDP echo client, on the overlay. The classic original:
 *
 *   s = socket(AF_INET, SOCK_DGRAM)            # 1. socket
 *   s.settimeout(1.0)
 *   s.sendto(b'hello', ('10.77.0.3', 7))       # 2. sendto (the kernel binds an ephemeral port)
 *   data, addr = s.recvfrom(2048)              # 3. recvfrom (or time out: UDP may lose it)
 *   print(data)
 *   s.close()                                  # 4. close
 *
 *   node dist/examples/udp-echo-client.js hello world
 *
 * Each word is one datagram. UDP is unreliable, so a datagram whose echo does not come
 * back within --timeout ms is sent again, up to --retries times.
 */
import { once } from 'node:events';
import { createSocket, type RemoteInfo } from '../src/udp/index.js';
import { makeError } from '../src/util/errors.js';
import { CLIENT, SERVER, exampleFlagSpecs, exampleHost, intFlag, parseExampleArgs, runExample } from './lib/setup.js';

const specs = exampleFlagSpecs(CLIENT, {
  server: { kind: 'string', description: 'overlay address of the echo server', default: SERVER.addr },
  port: { kind: 'number', description: 'UDP port of the echo server', default: 7 },
  timeout: { kind: 'number', description: 'ms to wait for each echo', default: 1000 },
  retries: { kind: 'number', description: 'times to resend a datagram whose echo is lost', default: 3 },
});

runExample('udp-echo-client', async () => {
  const p = parseExampleArgs(process.argv.slice(2), 'node dist/examples/udp-echo-client.js [options] MESSAGE...', specs);
  const server = String(p.flags.server);
  const port = intFlag(p, 'port', 1, 65535);
  const timeoutMs = intFlag(p, 'timeout', 1, 600_000);
  const retries = intFlag(p, 'retries', 0, 100);
  const messages = p.positional.length > 0 ? p.positional : ['hello'];
  const { host, close } = await exampleHost(p, SERVER);

  // 1. socket(AF_INET, SOCK_DGRAM)
  const sock = createSocket({ type: 'udp4', host });
  let failed = 0;
  try {
    for (const text of messages) {
      let reply: [Buffer, RemoteInfo] | undefined;
      for (let attempt = 0; attempt <= retries && !reply; attempt++) {
        // 2. sendto(): the first send binds an ephemeral port (49152-65535), as in the kernel.
        sock.send(text, port, server);
        // 3. recvfrom() with a timeout.
        reply = await recvfrom(sock, timeoutMs);
      }
      if (!reply) {
        console.log(`no echo for ${JSON.stringify(text)} after ${retries + 1} tries`);
        failed++;
        continue;
      }
      const [data, from] = reply;
      const me = sock.address();
      console.log(`${host.addressString}:${me.port} -> ${from.address}:${from.port} echo: ${data.toString()}`);
    }
  } finally {
    // 4. close()
    sock.close();
    await close();
  }
  return failed === 0 ? 0 : 1;
});

/** One datagram or undefined after `ms`; a socket error (e.g. ECONNREFUSED) rejects. */
async function recvfrom(sock: ReturnType<typeof createSocket>, ms: number): Promise<[Buffer, RemoteInfo] | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(makeError('ETIMEDOUT', 'recvfrom')), ms);
  try {
    return (await once(sock, 'message', { signal: ac.signal })) as [Buffer, RemoteInfo];
  } catch (e) {
    if ((e as { name?: string }).name === 'AbortError') return undefined;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
