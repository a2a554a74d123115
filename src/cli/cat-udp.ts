/**
 * `overlay cat -u`: each line on stdin becomes one datagram (newline included); each
 * datagram received is written to stdout as it is.
 *   overlay cat -u --addr 10.77.0.3 --peer ... -l 7           listen, answer the last sender
 *   overlay cat -u --addr 10.77.0.2 --peer ... 10.77.0.3 7     send to 10.77.0.3:7
 * While it runs, the host also answers pings. When ready it prints on stderr
 *   listening 10.77.0.3 udp=127.0.0.1:40123 port=7
 */
import { createInterface, type Interface } from 'node:readline';
import { createSocket, type RemoteInfo } from '../udp/socket.js';
import { catTarget, hostFromFlags, announceListening, onShutdown } from './common.js';
import type { Parsed } from './args.js';

export async function runUdp(p: Parsed): Promise<number> {
  const t = catTarget(p);
  const { host, observe } = await hostFromFlags(p);
  const sock = createSocket({ type: 'udp4', host });
  let last: { address: string; port: number } | undefined;
  let finished: ((code: number) => void) | undefined;
  const done = new Promise<number>((resolve) => (finished = resolve));

  let rl: Interface | undefined;
  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    rl?.close();
    try {
      sock.close();
    } catch {
      // already closed
    }
    await observe.close();
    await host.close();
  };
  onShutdown(async () => {
    await shutdown();
    process.exitCode = 0;
  });

  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    last = { address: rinfo.address, port: rinfo.port };
    process.stdout.write(msg);
  });
  // Errors (ECONNREFUSED from ICMP port unreachable, EMSGSIZE, no route) do not end cat.
  sock.on('error', (e: Error) => process.stderr.write(`overlay: ${e.message}\n`));

  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    if (t.listen) sock.bind(t.port, t.address, () => resolve());
    else sock.bind(0, () => resolve());
  });
  sock.removeAllListeners('error');
  sock.on('error', (e: Error) => process.stderr.write(`overlay: ${e.message}\n`));
  if (!t.listen) last = { address: t.address!, port: t.port };
  announceListening(host, sock.address().port);

  rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (closing) return;
    if (!last) {
      process.stderr.write('overlay: no peer yet; line dropped\n');
      return;
    }
    sock.send(line + '\n', last.port, last.address);
  });
  rl.on('close', () => {
    if (closing || t.quitAfterEofS === undefined) return; // keep running (answers and pings) until a signal
    setTimeout(() => {
      void shutdown().then(() => finished?.(0));
    }, t.quitAfterEofS * 1000);
  });
  return done;
}
