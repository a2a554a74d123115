/**
 * One overlay TCP transfer between two hosts in this process, over real loopback UDP, for
 * the packet-reuse tests (test/integration/slab-reuse.test.ts): prints one JSON line with
 * what the receiving host saw. A packet overwritten while libuv still held it leaves as a
 * copy of a later packet, so the receiver sees that packet's IPv4 identification twice (TCP
 * would recover the lost one, hiding the damage from a digest alone). With --tap the sender
 * has a tap that keeps every packet it sees, unread until the end, and reports the
 * identifications those kept packets carry then.
 *
 *   node [--test-udp-no-try-send] dist/test/helpers/slab-transfer.js [--tap] [--no-reuse]
 *
 * Node's --test-udp-no-try-send makes every send go through libuv's queue (uv_udp_send), as
 * a send the kernel did not take at once does: the sends of one tick after the first wait
 * there until the event loop's next poll.
 */
import { randomBytes } from 'node:crypto';
import { Host } from '../../src/host/host.js';
import { connect } from '../../src/net.js';
import { decodeIpv4 } from '../../src/wire/ipv4.js';
import { decodeTcp } from '../../src/wire/tcp.js';
import { packetReuseCount, setPacketReuse } from '../../src/util/slab.js';
import { hashServer, sendAndDigest, sha } from './digest.js';

const BYTES = 6 * 1024 * 1024; // about 4,400 segments: IPv4 identifications do not wrap

/** Counts the identifications seen more than once among `packets` (TCP data segments only). */
function duplicates(packets: Buffer[]): { data: number; dups: number; bad: number } {
  const seen = new Set<number>();
  let data = 0;
  let dups = 0;
  let bad = 0;
  for (const p of packets) {
    const ip = decodeIpv4(p);
    if (!ip.ok) {
      bad++;
      continue;
    }
    const t = decodeTcp(ip.payload, ip.header.src, ip.header.dst);
    if (!t.ok) {
      bad++;
      continue;
    }
    if (t.segment.payload.length === 0) continue;
    data++;
    if (seen.has(ip.header.id)) dups++;
    seen.add(ip.header.id);
  }
  return { data, dups, bad };
}

async function main(): Promise<void> {
  const tap = process.argv.includes('--tap');
  if (process.argv.includes('--no-reuse')) setPacketReuse(false);
  const b = await Host.create({ address: '10.78.0.2', learn: true });
  const a = await Host.create({ address: '10.78.0.1', connectPeer: true, peers: [{ prefix: '10.78.0.2/32', endpoint: b.endpoint }] });
  const got: Buffer[] = [];
  // B's record of what arrives is taken at its link, not with a tap: a host never gives back
  // a packet a tap saw (the tap may keep it), so a tap on B would keep every ACK B sends, and
  // the slabs those ACKs share with A's data packets would never be reused (this process
  // carves both hosts' packets from the same slabs).
  const deliver = b.link.deliver.bind(b.link);
  b.link.deliver = (p, rinfo) => {
    got.push(Buffer.from(p));
    deliver(p, rinfo);
  };
  const kept: Buffer[] = [];
  if (tap) a.addTap((dir, p) => dir === 'out' && kept.push(p)); // kept as they are, not copied
  const before = packetReuseCount();
  try {
    const { server } = await hashServer(b, 5001);
    const data = randomBytes(BYTES);
    const s = connect({ via: a, host: '10.78.0.2', port: 5001 });
    const digest = await sendAndDigest(s, data, 30_000);
    const after = packetReuseCount();
    const rx = duplicates(got);
    const held = duplicates(kept);
    process.stdout.write(
      `${JSON.stringify({
        digestOk: digest === sha(data),
        received: rx,
        kept: held,
        reusedPackets: after.packets - before.packets,
        reusedSlabs: after.slabs - before.slabs,
      })}\n`,
    );
    server.close();
  } finally {
    await a.close();
    await b.close();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`slab-transfer: ${e.message}\n`);
    process.exit(1);
  },
);
