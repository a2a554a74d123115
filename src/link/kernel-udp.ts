/**
 * What the kernel says about a UDP socket: how much its receive queue really holds, and
 * how many datagrams it dropped because the queue was full.
 *
 * Receive capacity. Linux doubles an SO_RCVBUF request (up to net.core.rmem_max, so at
 * most 2 * rmem_max) and reports the doubled value back (getRecvBufferSize): that is the
 * limit on sk_rmem_alloc, which charges each queued datagram its skb's *truesize*, not
 * its payload. Measured on loopback (Linux 6.x, x86-64; /proc/net/udp rx_queue divided by
 * the datagrams queued in a socket that is never read):
 *
 *   payload  1 B -> 832   200..1600 B -> 1280..2304   1700..3700 -> 4352   3800 -> 8448
 *   12000..16000 -> 16640   16500 -> 17332   32768 -> 33600   65000 -> 65832
 *
 * that is, up to about 16 KiB the payload plus 384 bytes of headers and shared info is
 * rounded up to a power of two, plus 256 bytes of struct sk_buff; above it, the payload
 * plus 832 bytes. A full-size 1472-byte datagram costs 2304 bytes: a receive buffer holds
 * 1.57x fewer payload bytes than its size says, and only three quarters of it is sure
 * to be free while the queue is being read (see datagramCapacity). `udpTruesize` is that model (an upper
 * bound over the measured sizes); a NIC driver may charge more per packet (a page per
 * frame is common), so treat the capacity as loopback's, and a best case elsewhere.
 *
 * Drops. /proc/net/udp lists every IPv4 UDP socket of the network namespace: local
 * address:port in hex, rx_queue (sk_rmem_alloc), the inode and, in the last column, the
 * datagrams dropped on that socket (sk_drops: receive queue full, or a bad checksum).
 * Reading it is a file read: done at scrape time, never per packet.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

/** Kernel memory charged for one queued UDP datagram of `payload` bytes (see above). */
export function udpTruesize(payload: number): number {
  const linear = payload + 384;
  if (linear <= 16384) {
    let p = 512;
    while (p < linear) p *= 2;
    return Math.max(832, p + 256);
  }
  return payload + 832;
}

/**
 * How many datagrams of `payload` bytes a receive buffer of `grant` bytes (the kernel's
 * value) is sure to queue while its reader keeps reading. A quarter of the grant is not:
 * Linux returns the memory of datagrams already read in batches (udp_rmem_release keeps up
 * to sk_rcvbuf / 4, the forward threshold, charged while more datagrams wait), so a queue
 * being drained can drop at three quarters of the grant. Seen in the bench: a 4 MiB window
 * (2954 full-size datagrams) against an 8 MiB grant lost 28 datagrams in the kernel.
 */
export function datagramCapacity(grant: number, payload: number): number {
  if (!(grant > 0)) return 0;
  return Math.floor((grant - Math.floor(grant / 4)) / udpTruesize(payload));
}

export interface KernelUdpStats {
  /** The socket's inode (unique while it is open). */
  inode: number;
  /** Bytes charged to the receive queue right now (truesize, not payload). */
  rxQueue: number;
  /** Datagrams the kernel dropped on this socket since it was created. */
  drops: number;
}

const LE = endianness() === 'LE';

/** The dotted IPv4 address of /proc/net/udp's hex form (the __be32 printed as a host-order u32). */
export function procHexToIpv4(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  const b = LE ? [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24] : [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return b.join('.');
}

/**
 * The kernel's counters for the IPv4 UDP socket bound to `address:port`, from the text of
 * /proc/net/udp (`text`, for tests) or the file itself; undefined when not listed (not
 * Linux, another namespace, closed). A socket bound to 0.0.0.0 matches any `address`.
 * Several sockets bound to the same address and port (SO_REUSEADDR: a link's connected
 * sending socket beside its own) are summed; the inode is the first one's.
 */
export function kernelUdpStats(address: string, port: number, text?: string): KernelUdpStats | undefined {
  const rows = udpRows(port, text);
  if (rows === undefined) return undefined;
  let wildcard: KernelUdpStats | undefined;
  let exact: KernelUdpStats | undefined;
  for (const r of rows) {
    const stats: KernelUdpStats = { inode: r.inode, rxQueue: r.rxQueue, drops: r.drops };
    if (r.local === address) {
      if (exact) {
        exact.rxQueue += stats.rxQueue;
        exact.drops += stats.drops;
      } else exact = stats;
    } else if (r.local === '0.0.0.0' && !wildcard) wildcard = stats;
  }
  return exact ?? wildcard;
}

/**
 * The IPv4 UDP sockets of this namespace bound to `address:port` (or to 0.0.0.0 and `port`),
 * from /proc/net/udp (`text`, for tests): each one's inode, and whether it is connected (a
 * remote address other than 0.0.0.0:0). Empty off Linux.
 */
export function udpSocketInodes(address: string, port: number, text?: string): { inode: number; connected: boolean }[] {
  return (udpRows(port, text) ?? []).filter((r) => r.local === address || r.local === '0.0.0.0').map((r) => ({ inode: r.inode, connected: r.connected }));
}

interface UdpRow {
  local: string;
  inode: number;
  connected: boolean;
  rxQueue: number;
  drops: number;
}

/** The rows of /proc/net/udp (or `text`) for local port `port`; undefined when unreadable. */
function udpRows(port: number, text?: string): UdpRow[] | undefined {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/net/udp', 'latin1');
    } catch {
      return undefined;
    }
  }
  const out: UdpRow[] = [];
  const lines = t.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 13) continue;
    const [hexAddr, hexPort] = f[1]!.split(':');
    if (hexAddr === undefined || hexPort === undefined || parseInt(hexPort, 16) !== port) continue;
    const queues = f[4]!.split(':');
    out.push({
      local: procHexToIpv4(hexAddr),
      inode: Number(f[9]),
      connected: f[2] !== '00000000:0000',
      rxQueue: parseInt(queues[1] ?? '0', 16),
      drops: Number(f[f.length - 1]),
    });
  }
  return out;
}
