/**
 * The TCP bench's peers: each transport is a Peer (bench/peers/*.ts) whose bulk() and
 * ping() spawn its own children, pinned, and return figures measured the same way for all
 * (bench/lib/measure.ts). This file has the parent's side of the common protocol:
 *
 *   receiver: prints {port}; may read one JSON line from stdin (the sender's port, for
 *             transports without a handshake); prints {ready} when it can receive; prints
 *             its RxReport (+ kernelDrops) once its stdin ends.
 *   sender:   started with --port; with --wait-go reads one line from stdin before it
 *             starts; prints {port} first when asked to (--announce); prints its report
 *             ({sentBytes, cpuPerGiB, kernelDrops, tlp, rto, ...}) when done.
 */
import { spawnRole, withTimeout, type Child, type Report } from './child.js';
import { OMIT_MS } from './measure.js';

const MB = 1e6;

export interface BulkResult {
  mbs: number;
  /** Goodput over the whole transfer, warm-up included. */
  wholeMbs: number;
  txCpuPerGiB: number;
  rxCpuPerGiB: number;
  /** Datagrams the kernel dropped on the UDP sockets of both ends (0 for kernel TCP). */
  kernelDrops: number;
  /** Tail-loss probes and RTO retransmissions (undefined where the transport does not say). */
  tlp?: number;
  /** Of those TLPs, how many the sender found spurious (their ACK was for earlier data). */
  spuriousTlp?: number;
  rto?: number;
  /** Segments the sender received per segment it sent (overlay TCP: the ACK rate). */
  acksPerSegment?: number;
  /** Minor page faults of the sender per segment sent (overlay TCP). */
  faultsPerSegment?: number;
  /** Times the sender's pacer held a segment back, per segment sent (overlay TCP). */
  pacerWaitsPerSegment?: number;
  /** Datagrams per send call of the sender, and per read of the receiver (overlay TCP: UDP GSO/GRO trains). */
  datagramsPerSend?: number;
  datagramsPerRead?: number;
  /** The sender's ssthresh at the end, bytes; undefined when slow start never ended (overlay TCP). */
  ssthresh?: number;
  /** Other retransmissions (fast, RACK, ...; or the transport's own total). */
  otherRetransmits?: number;
  /** Payload bytes per datagram, when the transport chooses it itself. */
  packet?: number;
}

export interface Peer {
  /** Row label. */
  label: string;
  /** Why the peer cannot run here (then it is skipped with this reason printed). */
  skip?: string;
  bulk(size: number, seconds: number, pins: [number, number] | undefined): Promise<BulkResult>;
  /** p50/p99/p999/max of 64-byte round trips (us). */
  ping?(rounds: number, pins: [number, number] | undefined): Promise<Report>;
}

export interface BulkPlan {
  script: string;
  rx: { role: string; args?: string[] };
  tx: { role: string; args?: string[] };
  /** The receiver must learn the sender's port before the sender starts (no handshake). */
  exchangePorts?: boolean;
}

/** Runs one bulk transfer by the common protocol; `seconds` are counted after the warm-up. */
export async function runBulk(plan: BulkPlan, seconds: number, pins: [number, number] | undefined): Promise<BulkResult> {
  const rx = spawnRole(plan.script, plan.rx.role, plan.rx.args ?? [], [], pins?.[1]);
  const { port } = await withTimeout(rx.next(), 10_000, `${plan.rx.role} start`);
  const txArgs = ['--port', String(port), '--seconds', String(seconds + OMIT_MS / 1000), ...(plan.tx.args ?? [])];
  if (plan.exchangePorts) txArgs.push('--announce', '--wait-go');
  const tx: Child = spawnRole(plan.script, plan.tx.role, txArgs, [], pins?.[0]);
  if (plan.exchangePorts) {
    const t = await withTimeout(tx.next(), 10_000, `${plan.tx.role} start`);
    rx.proc.stdin!.write(JSON.stringify({ peerPort: t['port'] }) + '\n');
    await withTimeout(rx.next(), 10_000, `${plan.rx.role} ready`);
    tx.proc.stdin!.write('go\n');
  }
  const s = await withTimeout(tx.next(), (seconds + 30) * 1000, `${plan.tx.role} transfer`);
  await new Promise((r) => setTimeout(r, 100));
  rx.proc.stdin!.end();
  const r = await withTimeout(rx.next(), 10_000, `${plan.rx.role} report`);
  tx.proc.stdin!.end();
  const out: BulkResult = {
    mbs: r['bytes']! / r['seconds']! / MB,
    wholeMbs: r['totalBytes']! / r['totalSeconds']! / MB,
    txCpuPerGiB: s['cpuPerGiB']!,
    rxCpuPerGiB: r['cpuPerGiB']!,
    kernelDrops: (r['kernelDrops'] ?? 0) + (s['kernelDrops'] ?? 0),
  };
  if (s['tlp'] !== undefined) out.tlp = s['tlp'];
  if (s['spuriousTlp'] !== undefined) out.spuriousTlp = s['spuriousTlp'];
  if (s['rto'] !== undefined) out.rto = s['rto'];
  if (s['otherRetransmits'] !== undefined) out.otherRetransmits = s['otherRetransmits'];
  if (s['packet'] !== undefined) out.packet = s['packet'];
  // Segments the sender received (the receiver's ACKs) per segment it sent: each is a
  // recvmsg and a TCP input on the sender, an encode and a send on the receiver.
  if (s['segmentsIn'] !== undefined && s['segmentsOut']) out.acksPerSegment = s['segmentsIn'] / s['segmentsOut'];
  if (s['faultsPerSegment'] !== undefined) out.faultsPerSegment = s['faultsPerSegment'];
  if (s['pacerWaitsPerSegment'] !== undefined) out.pacerWaitsPerSegment = s['pacerWaitsPerSegment'];
  if (s['ssthresh'] !== undefined) out.ssthresh = s['ssthresh'];
  if (s['datagramsPerSend'] !== undefined) out.datagramsPerSend = s['datagramsPerSend'];
  if (r['datagramsPerRead'] !== undefined) out.datagramsPerRead = r['datagramsPerRead'];
  return out;
}

/** Ping-pong: an echo server child (receiver CPU) and a client child (sender CPU) that reports percentiles. */
export async function runPing(
  script: string,
  server: { role: string; args?: string[] },
  client: { role: string; args?: string[] },
  rounds: number,
  pins: [number, number] | undefined,
  exchangePorts = false,
): Promise<Report> {
  const rx = spawnRole(script, server.role, server.args ?? [], [], pins?.[1]);
  const { port } = await withTimeout(rx.next(), 10_000, `${server.role} start`);
  const tx = spawnRole(script, client.role, ['--port', String(port), '--rounds', String(rounds), ...(client.args ?? [])], [], pins?.[0]);
  if (exchangePorts) {
    const t = await withTimeout(tx.next(), 10_000, `${client.role} start`);
    rx.proc.stdin!.write(JSON.stringify({ peerPort: t['port'] }) + '\n');
    await withTimeout(rx.next(), 10_000, `${server.role} ready`);
    tx.proc.stdin!.write('go\n');
  }
  const r = await withTimeout(tx.next(), 120_000, `${client.role} rounds`);
  rx.proc.stdin!.end();
  await withTimeout(rx.next(), 10_000, `${server.role} end`).catch(() => undefined);
  return r;
}
