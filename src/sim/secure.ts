/**
 * The secure mode in the simulator: every simulated host gets a static key and a sans-IO
 * SecureCore (src/secure/core.ts), and every segment crosses the simulated links as the
 * secure mode's datagrams (Noise IK handshake, then ChaCha20-Poly1305 data messages with
 * the replay window), on the virtual clock. The links' loss, duplication, reordering and
 * bottleneck apply to those datagrams, handshake messages included. The TCP above sees
 * the same segments as without it, so any whole-flow test can run over it unchanged
 * (`new SimNet(clock, { secure: true })`, `runTransfer({ ..., secure: true })`).
 */
import { generateKeyPair } from '../secure/crypto.js';
import { SecureCore, type SecureStats } from '../secure/core.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { decodeTcp, encodeTcp, type TcpSegment } from '../wire/tcp.js';
import type { SimClock, SimTimer } from './clock.js';
import type { SimLink } from './link.js';

/** The simulated UDP endpoint of host `addr` (its overlay address as text, port 4789). */
const endpointOf = (addr: number): { address: string; port: number } => ({ address: formatIpv4(addr), port: 4789 });

/** The host whose endpoint this is (endpoints are only ever made by endpointOf). */
const addrOf = (address: string): number => parseIpv4(address)!;

interface Node {
  core: SecureCore;
  publicKey: Buffer;
  tick: SimTimer | undefined;
}

export class SimSecure {
  private readonly nodes = new Map<number, Node>();

  constructor(
    private readonly clock: SimClock,
    /** The link from src to dst, if any. */
    private readonly linkBetween: (src: number, dst: number) => SimLink | undefined,
    /** Where decrypted segments go: the destination host's receive. */
    private readonly arrive: (seg: TcpSegment, src: number, dst: number) => void,
  ) {}

  private node(addr: number): Node {
    let n = this.nodes.get(addr);
    if (n) return n;
    const keys = generateKeyPair();
    const core = new SecureCore(
      { privateKey: keys.privateKey, peers: [], wallClock: () => this.clock.now },
      {
        transmit: (d, _port, address) => {
          const dst = addrOf(address);
          this.linkBetween(addr, dst)?.sendDatagram(d, (x) => this.nodes.get(dst)?.core.receive(x, endpointOf(addr), this.clock.now));
        },
        deliver: (packet, from) => {
          const src = addrOf(from.address);
          const r = decodeTcp(packet, src, addr);
          if (r.ok) this.arrive(r.segment, src, addr);
        },
      },
    );
    n = { core, publicKey: keys.publicKey, tick: undefined };
    this.nodes.set(addr, n);
    const every = core.tickIntervalMs();
    const tick = (): void => {
      core.tick(this.clock.now);
      n!.tick = this.clock.after(every, tick);
    };
    n.tick = this.clock.after(every, tick);
    return n;
  }

  /** Makes a and b keyed peers of each other. */
  pair(a: number, b: number): void {
    const na = this.node(a);
    const nb = this.node(b);
    na.core.addPeer({ publicKey: nb.publicKey, endpoint: endpointOf(b) });
    nb.core.addPeer({ publicKey: na.publicKey, endpoint: endpointOf(a) });
  }

  /** Sends one segment from src to dst through src's secure core. */
  transmit(src: number, dst: number, seg: TcpSegment): void {
    const n = this.nodes.get(src);
    if (!n) return;
    const ep = endpointOf(dst);
    n.core.send(encodeTcp(seg, src, dst), ep.port, ep.address, this.clock.now);
  }

  /** The secure core's counters of host `addr`. */
  stats(addr: number): SecureStats | undefined {
    return this.nodes.get(addr)?.core.stats;
  }

  /** Stops the cores' periodic ticks (the clock can then run dry). */
  stop(): void {
    for (const n of this.nodes.values()) n.tick?.cancel();
  }
}
