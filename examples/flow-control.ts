/**
 * Flow control: a receiver that does not read. The receiver's buffer fills, the window it
 * advertises shrinks to zero and the sender must stop (RFC 9293 3.8.6). The sender then
 * probes the zero window on its persist timer (3.8.6.1) so a lost window update cannot
 * deadlock the connection. When the reader resumes, the window reopens, but only once a
 * worthwhile amount is free: receiver-side silly window syndrome avoidance (RFC 9293
 * 3.8.6.2.2, RFC 1122 4.2.3.3) waits for min(MSS, buffer/2) bytes before announcing it.
 *
 *   node dist/examples/flow-control.js
 *   node dist/examples/flow-control.js --kib 512 --rcvbuf 32768 --pause 2000
 *
 * The segments are read from taps on both hosts: the window is the value on the wire,
 * scaled by the receiver's window-scale option.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs, usage } from '../src/cli/args.js';
import { connect, createServer, type Socket } from '../src/net.js';
import { SERVER, formatBytes, hostPair, intFlag, runExample } from './lib/setup.js';
import { SegmentLog, formatRecord, type SegmentRecord } from './lib/segments.js';

const specs = {
  kib: { kind: 'number' as const, description: 'KiB the sender writes', default: 256 },
  rcvbuf: { kind: 'number' as const, description: 'receiver buffer (the largest window it advertises), bytes', default: 65536 },
  pause: { kind: 'number' as const, description: 'ms the reader stays paused before reading', default: 1500 },
  verbose: { kind: 'boolean' as const, description: 'print every segment' },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

const PORT = 5001;

runExample('flow-control', async () => {
  const p = parseArgs(process.argv.slice(2), specs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/flow-control.js [options]', specs));
    return 0;
  }
  const bytes = intFlag(p, 'kib', 1, 1 << 20) * 1024;
  const rcvBuf = intFlag(p, 'rcvbuf', 2048, 1 << 30);
  const pauseMs = intFlag(p, 'pause', 0, 600_000);
  const verbose = p.flags.verbose === true;

  const { a, b, close } = await hostPair();
  const log = new SegmentLog([a, b], (seg) => seg.srcPort === PORT || seg.dstPort === PORT);
  const mss = Math.min(a.mtu, b.mtu) - 40;
  const swsThreshold = Math.min(mss, Math.floor(rcvBuf / 2));

  // What we watch for, in the order it happens.
  let peerWindow = Infinity; // the receiver's last advertised window, as the sender sees it
  let zeroWindows = 0;
  let probes = 0;
  let reopened: SegmentRecord | undefined;
  let resumedAt: number | undefined;
  let printed = 0;
  let afterReopen = 0;
  const say = (line: string): void => {
    console.log(line);
    printed++;
  };
  log.onRecord = (r) => {
    const fromReceiver = r.src.endsWith(`:${PORT}`);
    let note = '';
    if (fromReceiver && r.seg.flags & 0x10 /* ACK */) {
      if (r.window === 0 && peerWindow !== 0) note = '  <- ZERO WINDOW: the receiver\'s buffer is full';
      else if (r.window === 0) note = '  <- still zero';
      else if (peerWindow === 0) {
        note = `  <- WINDOW REOPENS (${r.window} >= min(MSS ${mss}, buffer/2 ${rcvBuf / 2}) = ${swsThreshold})`;
        reopened ??= r;
      }
      if (r.window === 0) zeroWindows++;
      peerWindow = r.window;
    } else if (!fromReceiver && peerWindow === 0 && r.seg.flags & 0x10) {
      // Anything the sender emits while the window is zero is a window probe.
      probes++;
      note = `  <- PERSIST PROBE #${probes}`;
    }
    const interesting = note !== '' || (fromReceiver && peerWindow < rcvBuf && !reopened) || (reopened && afterReopen++ < 3);
    if (verbose || (interesting && printed < 80)) say(`${r.t.toFixed(1).padStart(8)} ms  ${formatRecord(r, { options: false })}${note}`);
  };

  const received = createHash('sha256');
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    // pauseOnConnect: the application reads nothing until resume().
    const server = createServer({ host: b, pauseOnConnect: true, rcvBuf }, (s: Socket) => {
      s.on('data', (d: Buffer) => {
        received.update(d);
        got += d.length;
      });
      s.on('end', () => {
        server.close();
        resolve();
      });
      s.on('error', reject);
      setTimeout(() => {
        resumedAt = log.elapsed();
        console.log(`\n--- the reader resumes after ${pauseMs} ms ---\n`);
        s.resume();
      }, pauseMs);
    });
    server.listen(PORT);
  });
  await new Promise((r) => setImmediate(r));

  console.log(`receiver ${SERVER.addr}:${PORT} with a ${formatBytes(rcvBuf)} buffer, paused for ${pauseMs} ms; sender writes ${formatBytes(bytes)}\n`);
  const data = randomBytes(bytes);
  const sock = connect({ via: a, host: SERVER.addr, port: PORT });
  const closed = once(sock, 'close');
  sock.resume(); // read to the receiver's FIN, so the socket can close
  sock.end(data);
  await done;
  const info = sock.getInfo();
  await closed;
  log.close();
  await close();

  const ok = got === bytes && received.digest('hex') === createHash('sha256').update(data).digest('hex');
  console.log(`\nsummary`);
  console.log(`  zero-window advertisements: ${zeroWindows}`);
  console.log(`  persist probes seen on the wire: ${probes}${info ? ` (sender counted ${info.retransmits.probe})` : ''}`);
  console.log(
    reopened
      ? `  window reopened at ${reopened.t.toFixed(1)} ms with ${reopened.window} bytes${resumedAt !== undefined ? ` (${(reopened.t - resumedAt).toFixed(1)} ms after the reader resumed)` : ''}`
      : '  the window never closed (try a smaller --rcvbuf or a longer --pause)',
  );
  console.log(`  ${got} of ${bytes} bytes arrived, sha256 ${ok ? 'match' : 'MISMATCH'}`);
  return ok ? 0 : 1;
});
