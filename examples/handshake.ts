/**
 * One TCP connection, opened and closed, with every segment printed the way the lecture
 * draws it: the three-way handshake (RFC 9293 3.5), data and its acknowledgments, and the
 * four-segment teardown (3.6). Sequence numbers are shown relative to each side's ISN
 * (the first byte after the SYN is 1), with the absolute value next to it; the SYNs show
 * the window and the options (MSS, window scale, SACK permitted, timestamps).
 *
 *   node dist/examples/handshake.js
 *   node dist/examples/handshake.js --message "GET / HTTP/1.0" --cc reno
 *
 * Both hosts live in this process (client 10.77.0.2, server 10.77.0.3), each on its own
 * real UDP socket; a tap on each host sees every segment it sends.
 */
import { once } from 'node:events';
import { parseArgs, usage } from '../src/cli/args.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { CLIENT, SERVER, hostPair, intFlag, runExample } from './lib/setup.js';
import { SegmentLog, formatRecord, type SegmentRecord } from './lib/segments.js';

const specs = {
  message: { kind: 'string' as const, description: 'what the client sends (the server echoes it)', default: 'hello' },
  'client-port': { kind: 'number' as const, description: 'the client\'s local port', default: 49500 },
  port: { kind: 'number' as const, description: 'the server port (7 = echo)', default: 7 },
  ladder: { kind: 'boolean' as const, description: 'also draw the ASCII ladder diagram (default on; --ladder=false to omit)', default: true },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

runExample('handshake', async () => {
  const p = parseArgs(process.argv.slice(2), specs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/handshake.js [options]', specs));
    return 0;
  }
  const message = String(p.flags.message);
  const clientPort = intFlag(p, 'client-port', 1, 65535);
  const port = intFlag(p, 'port', 1, 65535);
  const { a, b, close } = await hostPair();
  const log = new SegmentLog([a, b]);
  log.onRecord = (r) => console.log(`${r.t.toFixed(1).padStart(7)} ms  ${formatRecord(r)}`);

  // The server: an echo service that closes its side a moment after the client closed
  // its own, so the lecture's four teardown segments stay apart (a real server often
  // sends its FIN together with the ACK of the client's FIN: three segments).
  const server = createServer({ host: b, allowHalfOpen: true }, (s: Socket) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => setTimeout(() => s.end(), 300));
  });
  server.listen(port);
  await once(server, 'listening');
  console.log(`server ${SERVER.addr}:${port} LISTEN; client ${CLIENT.addr}:${clientPort} connects\n`);

  const sock = connect({ via: a, host: SERVER.addr, port, localPort: clientPort, allowHalfOpen: true });
  const closed = once(sock, 'close');
  await once(sock, 'connect');
  sock.write(message);
  const [echo] = (await once(sock, 'data')) as [Buffer];
  console.log(`\nclient got the echo "${echo.toString()}"; closing\n`);
  sock.end(); // FIN: the client has nothing more to send
  await once(sock, 'end'); // the server's FIN arrived
  await closed;
  // Give the last ACK a moment to be seen by the taps, then stop.
  await new Promise((r) => setTimeout(r, 50));
  log.close();
  server.close();
  await close();

  if (p.flags.ladder !== false) console.log('\n' + ladder(log.records, `${CLIENT.addr}:${clientPort}`));
  return 0;
});

/** The lecture's ladder diagram: client on the left, server on the right. */
function ladder(records: SegmentRecord[], client: string): string {
  const width = 44;
  const lines = [`${'client'.padEnd(width + 5)}server`, `${'  |'.padEnd(width + 7)}|`];
  for (const r of records) {
    let label = `${r.flags} seq=${r.relSeq}`;
    if (r.relAck !== undefined) label += ` ack=${r.relAck}`;
    if (r.len > 0) label += ` len=${r.len}`;
    const fill = width - label.length - 4;
    const toServer = r.src === client;
    const arrow = toServer ? `--${label}${'-'.repeat(Math.max(2, fill))}->` : `<-${'-'.repeat(Math.max(2, fill))}${label}--`;
    lines.push(`  |  ${arrow}  |`);
  }
  return lines.join('\n');
}
