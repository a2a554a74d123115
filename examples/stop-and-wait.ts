/**
 * Stop-and-wait versus a sliding window, measured: the same file crosses the same
 * impaired path (the chaos proxy adding delay and loss) twice,
 *
 *   1. with TFTP (RFC 1350) over overlay UDP: 512-byte DATA blocks numbered from 1, ONE
 *      block in flight, the next only after its ACK, a retransmission on timeout, and a
 *      final block shorter than 512 bytes that ends the transfer;
 *   2. with overlay TCP: a sliding window of many segments in flight.
 *
 * and prints both throughputs and their ratio. Stop-and-wait can never beat
 * 512 bytes per round trip (25.6 KB/s at 20 ms); a window of W bytes allows W per RTT.
 *
 *   node dist/examples/stop-and-wait.js                       # 128 KiB, RTT 20 ms, 1% loss
 *   node dist/examples/stop-and-wait.js --kib 64 --rtt 50 --loss 0.02
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs, usage } from '../src/cli/args.js';
import type { Host } from '../src/host/host.js';
import { connect, createServer, type Socket as TcpSocket } from '../src/net.js';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from '../src/udp/index.js';
import { UsageError } from '../src/util/errors.js';
import { SERVER, formatBytes, intFlag, runExample } from './lib/setup.js';
import { impairedPair } from './lib/path.js';

const specs = {
  kib: { kind: 'number' as const, description: 'size of the file to transfer, KiB', default: 128 },
  rtt: { kind: 'number' as const, description: 'round-trip time the proxy adds, ms (half each way)', default: 20 },
  loss: { kind: 'number' as const, description: 'packet loss probability each way, 0..1', default: 0.01 },
  timeout: { kind: 'number' as const, description: 'TFTP initial retransmission timeout, ms (then it follows the measured RTT, RFC 6298)', default: 1000 },
  seed: { kind: 'number' as const, description: 'the proxy\'s random seed (same losses each run)', default: 1 },
  help: { kind: 'boolean' as const, short: 'h', description: 'show this help' },
};

// ---- TFTP (RFC 1350) ----

const TFTP_PORT = 69;
const OP_WRQ = 2;
const OP_DATA = 3;
const OP_ACK = 4;
const OP_ERROR = 5;
/** RFC 1350 2: "each data packet contains one block of data ... 512 bytes long". */
const BLOCK = 512;
const MAX_TRIES = 20;

const wrq = (name: string): Buffer =>
  Buffer.concat([u16(OP_WRQ), Buffer.from(`${name}\0octet\0`)]);
const data = (block: number, bytes: Buffer): Buffer => Buffer.concat([u16(OP_DATA), u16(block), bytes]);
const ack = (block: number): Buffer => Buffer.concat([u16(OP_ACK), u16(block)]);
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

/** Datagrams queued as they arrive, taken one at a time with a timeout. */
class Mailbox {
  private readonly queue: Array<[Buffer, RemoteInfo]> = [];
  private waiter: (() => void) | undefined;
  constructor(sock: UdpSocket) {
    sock.on('message', (m: Buffer, r: RemoteInfo) => {
      this.queue.push([m, r]);
      this.waiter?.();
    });
  }
  /** The next datagram, or undefined after `ms`. */
  async next(ms: number): Promise<[Buffer, RemoteInfo] | undefined> {
    if (this.queue.length > 0) return this.queue.shift();
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.waiter = done;
    });
    this.waiter = undefined;
    return this.queue.shift();
  }
}

interface TftpResult {
  bytes: number;
  sha256: string;
  ms: number;
  retransmissions: number;
  /** TFTP only: the estimator's final SRTT and RTO, ms. */
  srtt?: number;
  rto?: number;
}

/**
 * The TFTP server side of one write request: the reply comes from a fresh port (the
 * server's transfer ID, RFC 1350 4), each in-order DATA block is stored and ACKed, a
 * duplicate (its ACK was lost) is ACKed again, and the transfer ends with the first block
 * shorter than 512 bytes.
 */
async function tftpReceiveOne(host: Host, timeoutMs: number): Promise<{ bytes: number; sha256: string }> {
  const listen = createSocket({ type: 'udp4', host });
  await new Promise<void>((r) => listen.bind(TFTP_PORT, r));
  const [req, client] = (await once(listen, 'message')) as [Buffer, RemoteInfo];
  listen.close();
  if (req.readUInt16BE(0) !== OP_WRQ) throw new Error('expected a write request');
  const tid = createSocket({ type: 'udp4', host });
  await new Promise<void>((r) => tid.bind(0, r)); // our transfer ID: an ephemeral port
  const box = new Mailbox(tid);
  const hash = createHash('sha256');
  let bytes = 0;
  let expected = 1;
  tid.send(ack(0), client.port, client.address);
  for (;;) {
    const m = await box.next(MAX_TRIES * 1000);
    if (!m) throw new Error('tftp server: the client went silent');
    const [pkt, from] = m;
    if (from.port !== client.port || pkt.readUInt16BE(0) !== OP_DATA) continue;
    const block = pkt.readUInt16BE(2);
    if (block === (expected & 0xffff)) {
      const chunk = pkt.subarray(4);
      hash.update(chunk);
      bytes += chunk.length;
      tid.send(ack(block), client.port, client.address);
      expected++;
      if (chunk.length < BLOCK) break;
    } else if (block === ((expected - 1) & 0xffff)) {
      tid.send(ack(block), client.port, client.address); // our ACK was lost: say it again
    }
  }
  // Dally (RFC 1350 6): answer a retransmitted last block in case our final ACK was lost,
  // for a few of the sender's timeouts.
  const last = (expected - 1) & 0xffff;
  const dally = 4 * timeoutMs;
  const dallyEnd = performance.now() + dally;
  for (let left = dally; left > 0; left = dallyEnd - performance.now()) {
    const m = await box.next(left);
    if (m && m[0].readUInt16BE(0) === OP_DATA && m[0].readUInt16BE(2) === last) tid.send(ack(last), client.port, client.address);
  }
  tid.close();
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * The retransmission timeout of the TFTP client, estimated from the RTT as a real client's
 * (and TCP's) is, RFC 6298: SRTT and RTTVAR from each ACK of a block sent once (Karn: never
 * from a retransmitted one), RTO = SRTT + max(G, 4 RTTVAR), doubled on each timeout. A fixed
 * timeout shorter than the RTT would send every block twice; one much longer would stall on
 * every loss: either makes the comparison with TCP unfair.
 */
export class RtoEstimator {
  srtt: number | undefined;
  rttvar = 0;
  rto: number;
  constructor(
    initialMs: number,
    private readonly granularityMs = 10,
    private readonly maxMs = 60_000,
  ) {
    this.rto = initialMs;
  }
  sample(r: number): void {
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(this.maxMs, this.srtt + Math.max(this.granularityMs, 4 * this.rttvar));
  }
  backoff(): void {
    this.rto = Math.min(this.maxMs, this.rto * 2);
  }
}

/** The TFTP client: write `file` to the server, one block at a time. */
async function tftpSend(host: Host, server: string, file: Buffer, timeoutMs: number): Promise<TftpResult> {
  const sock = createSocket({ type: 'udp4', host });
  await new Promise<void>((r) => sock.bind(0, r));
  const box = new Mailbox(sock);
  let retransmissions = 0;
  const est = new RtoEstimator(timeoutMs);
  const t0 = performance.now();

  /** Sends `pkt` to `port` until an ACK for `block` arrives (from `tid` once known). */
  const exchange = async (pkt: Buffer, port: number, block: number, tid?: number): Promise<number> => {
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      if (tries > 0) retransmissions++;
      const sentAt = performance.now();
      sock.send(pkt, port, server);
      const rto = est.rto;
      const deadline = sentAt + rto;
      for (let left = rto; left > 0; left = deadline - performance.now()) {
        const m = await box.next(left);
        if (!m) break; // timeout: retransmit
        const [reply, from] = m;
        if (tid !== undefined && from.port !== tid) continue;
        if (reply.readUInt16BE(0) === OP_ERROR) throw new Error(`tftp error ${reply.readUInt16BE(2)}: ${reply.subarray(4).toString()}`);
        // A duplicate ACK of an earlier block is ignored, never answered with a resend:
        // that would double every packet from then on (the Sorcerer's Apprentice bug,
        // RFC 1123 4.2.3.1).
        if (reply.readUInt16BE(0) === OP_ACK && reply.readUInt16BE(2) === (block & 0xffff)) {
          if (tries === 0) est.sample(performance.now() - sentAt); // Karn: only unambiguous samples
          return from.port;
        }
      }
      est.backoff();
    }
    throw new Error(`tftp: no ACK for block ${block} after ${MAX_TRIES} tries`);
  };

  const tid = await exchange(wrq('file.bin'), TFTP_PORT, 0);
  // floor(n/512) + 1 blocks: the last one is shorter than 512 (possibly empty) and ends it.
  const blocks = Math.floor(file.length / BLOCK) + 1;
  for (let n = 1; n <= blocks; n++) {
    await exchange(data(n, file.subarray((n - 1) * BLOCK, n * BLOCK)), tid, n, tid);
  }
  const ms = performance.now() - t0;
  sock.close();
  return { bytes: file.length, sha256: createHash('sha256').update(file).digest('hex'), ms, retransmissions, srtt: est.srtt ?? 0, rto: est.rto };
}

// ---- the same file over TCP ----

async function tcpTransfer(a: Host, b: Host, file: Buffer): Promise<TftpResult & { received: string }> {
  const port = 5001;
  let received = '';
  const got = new Promise<void>((resolve, reject) => {
    const server = createServer({ host: b }, (s: TcpSocket) => {
      const hash = createHash('sha256');
      s.on('data', (d: Buffer) => hash.update(d));
      s.on('error', reject);
      s.on('end', () => {
        received = hash.digest('hex');
        s.end();
        server.close();
        resolve();
      });
    });
    server.listen(port);
  });
  const t0 = performance.now();
  const sock = connect({ via: a, host: SERVER.addr, port });
  const closed = once(sock, 'close');
  sock.resume(); // read (and discard) to the server's FIN, so the socket can close
  sock.end(file);
  await got; // the receiver has every byte (it saw our FIN after them)
  const ms = performance.now() - t0;
  const info = sock.getInfo();
  await closed;
  const retransmissions = info ? Object.values(info.retransmits).reduce((x, y) => x + y, 0) : 0;
  return { bytes: file.length, sha256: createHash('sha256').update(file).digest('hex'), ms, retransmissions, received };
}

runExample('stop-and-wait', async () => {
  const p = parseArgs(process.argv.slice(2), specs);
  if (p.flags.help) {
    console.log(usage('node dist/examples/stop-and-wait.js [options]', specs));
    return 0;
  }
  const kib = intFlag(p, 'kib', 1, 64 * 1024);
  const rtt = intFlag(p, 'rtt', 0, 10_000);
  const timeout = intFlag(p, 'timeout', 1, 60_000);
  const seed = intFlag(p, 'seed', 0, 0xffffffff);
  const loss = Number(p.flags.loss);
  if (!(loss >= 0 && loss < 1)) throw new UsageError(`option --loss: ${loss} is not a probability in 0..1`);

  const file = randomBytes(kib * 1024);
  const path = await impairedPair({ delayMs: rtt / 2, loss, seed });
  console.log(`path: ${path.describe}`);
  console.log(`file: ${formatBytes(file.length)} (${Math.floor(file.length / BLOCK) + 1} TFTP blocks)\n`);
  try {
    const [srv, sw] = await Promise.all([tftpReceiveOne(path.b, timeout), tftpSend(path.a, SERVER.addr, file, timeout)]);
    const swRate = (sw.bytes / sw.ms) * 1000;
    console.log(`stop-and-wait (TFTP/UDP): ${formatBytes(sw.bytes)} in ${(sw.ms / 1000).toFixed(2)} s = ${(swRate / 1024).toFixed(1)} KiB/s, ${sw.retransmissions} retransmissions`);
    console.log(`  adaptive timeout (RFC 6298): SRTT ${(sw.srtt ?? 0).toFixed(1)} ms, final RTO ${(sw.rto ?? 0).toFixed(1)} ms`);
    console.log(`  sha256 sent ${sw.sha256}`);
    console.log(`  sha256 recv ${srv.sha256} ${srv.sha256 === sw.sha256 ? 'match' : 'MISMATCH'}`);

    const tcp = await tcpTransfer(path.a, path.b, file);
    const tcpRate = (tcp.bytes / tcp.ms) * 1000;
    console.log(`sliding window (TCP):     ${formatBytes(tcp.bytes)} in ${(tcp.ms / 1000).toFixed(2)} s = ${(tcpRate / 1024).toFixed(1)} KiB/s, ${tcp.retransmissions} retransmissions`);
    console.log(`  sha256 sent ${tcp.sha256}`);
    console.log(`  sha256 recv ${tcp.received} ${tcp.received === tcp.sha256 ? 'match' : 'MISMATCH'}`);

    console.log(`\nTCP / stop-and-wait throughput ratio: ${(tcpRate / swRate).toFixed(1)}x`);
    console.log(`stop-and-wait bound: ${BLOCK} B per RTT = ${rtt > 0 ? ((BLOCK / rtt) * 1000 / 1024).toFixed(1) : 'inf'} KiB/s at RTT ${rtt} ms`);
    return srv.sha256 === sw.sha256 && tcp.received === tcp.sha256 ? 0 : 1;
  } finally {
    await path.close();
  }
});
