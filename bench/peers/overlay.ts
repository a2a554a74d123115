/**
 * Overlay TCP (this project): hosts 10.77.0.2 (sender) and 10.77.0.3 (receiver), one
 * connection through the node:net-like API, 8 MiB socket buffers. The sender reports its
 * retransmissions by kind (TLP and RTO on their own) from the stack's running totals, and
 * both ends the kernel's drop count for their host's UDP socket.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Host } from '../../src/host/host.js';
import { takeSnapshot } from '../../src/metrics/collectors.js';
import { connect, createServer, type Socket } from '../../src/net.js';
import { pacerWaitCount } from '../../src/tcp/pacing.js';
import { setPacketReuse } from '../../src/util/slab.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { arg, GcRecorder, per64Bytes, pingReport, runRoleIfMain, say, sendFor, SteadyMeter, StdinLines } from '../lib/measure.js';
import { runBulk, runPing, type Peer } from '../lib/peer.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

/**
 * Datagrams per send call (`out`) or per read of the link: a train of n datagrams (UDP GSO/GRO)
 * is one call for n of them.
 */
function perCall(datagrams: number, st: Host['link']['stats'], out = false): number {
  const trains = out ? st.trainsOut : st.trainsIn;
  const inTrains = out ? st.trainPacketsOut : st.trainPacketsIn;
  return datagrams / Math.max(1, datagrams - inTrains + trains);
}

function kernelDrops(host: Host): number {
  return host.link.kernelStats()?.drops ?? 0;
}

/** Host 10.77.0.3 listening on 5001: counts bytes, or echoes with --echo. */
async function tcpServer(): Promise<void> {
  const stdin = new StdinLines();
  const mtu = Number(arg('mtu', '1472'));
  const echo = process.argv.includes('--echo');
  const offload = !process.argv.includes('--no-offload');
  const batchReads = offload && !process.argv.includes('--no-batch-reads');
  const directSends = offload && !process.argv.includes('--no-direct');
  const host = await Host.create({ address: '10.77.0.3', mtu, learn: true, recvBufferSize: 8 * MiB, sendBufferSize: 8 * MiB, offload, batchReads, directSends });
  const meter = new SteadyMeter();
  const gc = process.argv.includes('--gc') ? new GcRecorder(PerformanceObserver) : undefined;
  const server = createServer({ host, noDelay: echo }, (s: Socket) => {
    if (echo) {
      s.pipe(s);
      return;
    }
    s.on('data', (d: Buffer) => meter.add(d.length));
    s.on('end', () => meter.finish());
  });
  await new Promise<void>((r) => server.listen(5001, r));
  say({ port: host.endpoint.port });
  await stdin.ended;
  say({ ...meter.report(), kernelDrops: kernelDrops(host), datagramsPerRead: perCall(host.link.stats.packetsIn, host.link.stats), ...(gc && { pauses: gc.pauses }) });
  await host.close();
}

/** Host 10.77.0.2: one connection, writes for --seconds with backpressure, then ends. */
async function tcpClient(): Promise<void> {
  if (process.argv.includes('--no-packet-reuse')) setPacketReuse(false);
  const mtu = Number(arg('mtu', '1472'));
  const seconds = Number(arg('seconds'));
  const port = Number(arg('port'));
  const host = await Host.create({
    address: '10.77.0.2',
    mtu,
    peers: [{ prefix: '10.77.0.3/32', endpoint: { address: '127.0.0.1', port } }],
    recvBufferSize: 8 * MiB,
    sendBufferSize: 8 * MiB,
    connectPeer: !process.argv.includes('--unconnected'),
    offload: !process.argv.includes('--no-offload'),
    batchReads: !process.argv.includes('--no-offload') && !process.argv.includes('--no-batch-reads'),
  });
  // The A/B rows of `bench/tcp.js --only pacing,reuse` (CUBIC paces by default; packets are reused).
  const s = connect({ via: host, host: '10.77.0.3', port: 5001, ...(process.argv.includes('--no-pacing') && { pacing: false }) });
  s.resume(); // read the server's FIN, so the socket can close
  await once(s, 'connect');
  const faults0 = process.resourceUsage().minorPageFault;
  const segs0 = takeSnapshot().tcp.segmentsOut;
  const waits0 = pacerWaitCount();
  const meter = await sendFor(s, seconds);
  const faults = process.resourceUsage().minorPageFault - faults0;
  const waits = pacerWaitCount() - waits0;
  const snap = takeSnapshot().tcp;
  const sent = Math.max(1, snap.segmentsOut - segs0);
  const r = snap.retransmits;
  // The connection's last TCP_INFO: how many of its TLPs its ACKs showed to be spurious.
  const info = s.getInfo();
  const spuriousTlp = info?.spuriousTlps ?? 0;
  // Where slow start ended (ssthresh; absent when it never did: no loss and no HyStart++ exit),
  // the pacer's waits and the minor page faults per segment sent (docs/benchmarks-bulk.md, bulk6).
  const ssthresh = info && Number.isFinite(info.ssthresh) ? info.ssthresh : undefined;
  say({
    ...meter.report(),
    tlp: r.tlp,
    spuriousTlp,
    rto: r.rto,
    otherRetransmits: r.fast + r.rack + r.probe,
    kernelDrops: kernelDrops(host),
    segmentsOut: snap.segmentsOut,
    segmentsIn: snap.segmentsIn,
    faultsPerSegment: faults / sent,
    pacerWaitsPerSegment: waits / sent,
    datagramsPerSend: perCall(host.link.stats.packetsOut, host.link.stats, true),
    ...(ssthresh !== undefined && { ssthresh }),
  });
  await host.close();
}

/** 64-byte ping-pong with noDelay against tcp-server --echo. */
async function tcpPing(): Promise<void> {
  const port = Number(arg('port'));
  const rounds = Number(arg('rounds'));
  const directSends = !process.argv.includes('--no-direct');
  const host = await Host.create({ address: '10.77.0.2', connectPeer: true, directSends, peers: [{ prefix: '10.77.0.3/32', endpoint: { address: '127.0.0.1', port } }] });
  const s = connect({ via: host, host: '10.77.0.3', port: 5001, noDelay: true });
  await once(s, 'connect');
  const msg = Buffer.alloc(64, 1);
  say(await pingReport(rounds, () => s.write(msg), per64Bytes(s)));
  s.destroy();
  await host.close();
}


/**
 * The sender's variant for an A/B row: its link unconnected (no connectPeer), its connection
 * not pacing, or its packets never given back for reuse (src/util/slab.ts).
 */
export type OverlayVariant = 'unconnected' | 'no-pacing' | 'no-packet-reuse' | 'no-offload' | 'no-batch-reads';

const VARIANT_LABEL: Record<OverlayVariant, string> = {
  unconnected: 'unconnected link',
  'no-pacing': 'pacing off',
  'no-packet-reuse': 'no packet reuse',
  'no-offload': 'no UDP GSO/GRO',
  'no-batch-reads': 'no batched reads',
};

/** The sender's host uses connectPeer (a connected UDP socket), paces and reuses packets, unless `variant` says otherwise. */
export function overlayPeer(mtu: number, variant?: OverlayVariant): Peer {
  const txArgs = ['--mtu', String(mtu), ...(variant ? [`--${variant}`] : [])];
  // UDP GSO/GRO off is off at both ends (the receiver reads trains whole otherwise).
  const rxArgs = ['--mtu', String(mtu), ...(variant === 'no-offload' || variant === 'no-batch-reads' ? [`--${variant}`] : [])];
  return {
    label: `overlay TCP, MTU ${mtu}${variant ? `, ${VARIANT_LABEL[variant]}` : ''}`,
    bulk: (_size, seconds, pins) =>
      runBulk(
        { script: SELF, rx: { role: 'tcp-server', args: rxArgs }, tx: { role: 'tcp-client', args: txArgs } },
        seconds,
        pins,
      ),
    ping: (rounds, pins) => runPing(SELF, { role: 'tcp-server', args: ['--echo'] }, { role: 'tcp-ping' }, rounds, pins),
  };
}

runRoleIfMain(import.meta.url, { 'tcp-server': tcpServer, 'tcp-client': tcpClient, 'tcp-ping': tcpPing });
