/**
 * The CLI's view of the secure mode: one hint line on stderr when a peer does not answer
 * the handshake (the usual cause is a wrong or missing key on one side), and
 * `--pcap-outer FILE`, the sealed datagrams as they cross the network (each wrapped in an
 * IPv4/UDP header with the real endpoints, so Wireshark shows the UDP flows).
 */
import type { Host } from '../host/host.js';
import { SecureLink } from '../secure/secure-link.js';
import { PcapWriter } from '../trace/pcap.js';
import { parseIpv4 } from '../wire/addr.js';
import { encodeUdpPacket } from '../wire/udp.js';
import type { Observability } from './observe.js';

export async function withSecureObservers(host: Host, observe: Observability, pcapOuter: string | undefined): Promise<Observability> {
  const link = host.link;
  if (!(link instanceof SecureLink)) return observe;
  const ours = link.publicKey.toString('base64');
  const hinted = new Set<string>();
  const unsubscribe = link.onEvent((e) => {
    if (e.type !== 'handshake_unanswered' && e.type !== 'handshake_failed') return;
    const who = `${e.peer.address}:${e.peer.port}`;
    if (hinted.has(who)) return;
    hinted.add(who);
    process.stderr.write(
      `overlay: no answer to the secure handshake from ${who} (key ${e.publicKey.toString('base64')}): ` +
        `check that it runs with that key and lists ours, key=${ours}\n`,
    );
  });
  if (pcapOuter === undefined) {
    return { ...observe, close: async () => (unsubscribe(), observe.close()) };
  }
  const writer = await PcapWriter.open(pcapOuter);
  const origin = performance.timeOrigin;
  let id = 0;
  const removeTap = link.addOuterTap((dir, datagram, local, remote, t) => {
    const l = parseIpv4(local.address) ?? 0;
    const r = parseIpv4(remote.address) ?? 0;
    id = (id + 1) & 0xffff;
    const [src, dst, srcPort, dstPort] = dir === 'out' ? [l, r, local.port, remote.port] : [r, l, remote.port, local.port];
    writer.write(encodeUdpPacket({ src, dst, id }, { srcPort, dstPort, payload: datagram }), origin + t);
  });
  return {
    ...observe,
    close: async () => {
      unsubscribe();
      removeTap();
      await writer.close();
      await observe.close();
    },
  };
}
