/**
 * Two TCP stacks in one process without UDP (the TIME-WAIT reuse tests): a LocalHost hands
 * each packet to its peer's stack on the next turn of the event loop, records every TCP
 * segment it sent, and runs a clock the test moves (`skew`).
 */
import type { HostLike, HostStats, ProtocolHandler } from '../../src/host/types.js';
import { TcpStack as Stack, type TcpStack } from '../../src/tcp/driver.js';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from '../../src/net.js';
import { decodeIpv4 } from '../../src/wire/ipv4.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { decodeTcp, type TcpSegment } from '../../src/wire/tcp.js';
import type { TcpInfo } from '../../src/tcp/types.js';

/** A host in this process: its packets reach the peer's stack on a later turn; its clock runs `skew` ms ahead. */
export class LocalHost implements HostLike {
  readonly addressString: string;
  readonly mtu = 1472;
  readonly stats: HostStats = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: new Map() };
  private readonly handlers = new Map<number, ProtocolHandler>();
  peer: LocalHost | undefined;
  /** Every TCP segment this host sent, decoded. */
  readonly sent: TcpSegment[] = [];
  private id = 0;

  constructor(
    readonly address: number,
    private readonly clock: { skew: number },
  ) {
    this.addressString = formatIpv4(address);
  }

  setProtocolHandler(protocol: number, handler: ProtocolHandler): void {
    this.handlers.set(protocol, handler);
  }

  sendPacket(packet: Buffer, dst: number): boolean {
    const peer = this.peer;
    if (peer === undefined || dst !== peer.address) return false;
    const copy = Buffer.from(packet);
    const d = decodeIpv4(copy);
    if (d.ok) {
      const t = decodeTcp(d.payload, d.header.src, d.header.dst);
      if (t.ok) this.sent.push(t.segment);
    }
    this.stats.packetsOut++;
    setImmediate(() => peer.receive(copy));
    return true;
  }

  sendParts(head: Buffer, body: Buffer, dst: number): boolean {
    return this.sendPacket(Buffer.concat([head, body]), dst);
  }

  receive(packet: Buffer): void {
    const d = decodeIpv4(packet);
    if (!d.ok) return;
    this.stats.packetsIn++;
    this.handlers.get(d.header.protocol)?.onPacket(d.header, d.payload, packet);
  }

  nextIpId(): number {
    return this.id++ & 0xffff;
  }

  countDrop(reason: string): void {
    this.stats.drops.set(reason, (this.stats.drops.get(reason) ?? 0) + 1);
  }

  addTap(): () => void {
    return () => {};
  }

  now(): number {
    return performance.now() + this.clock.skew;
  }
}

/** The stack's TIME-WAIT records, as TCP_INFO. */
export function records(stack: TcpStack): TcpInfo[] {
  return [...(stack as unknown as { timeWaits: { values(): Iterable<{ getInfo(): TcpInfo }> } }).timeWaits.values()].map((tw) => tw.getInfo());
}

/** Two LocalHosts peered on one clock; an echo server on B on demand; one teardown for both stacks. */
export class LocalPair {
  readonly clock = { skew: 0 };
  readonly a: LocalHost;
  readonly b: LocalHost;
  private server: Server | undefined;

  constructor(addrA: number, addrB: number) {
    this.a = new LocalHost(addrA, this.clock);
    this.b = new LocalHost(addrB, this.clock);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  /** An echo server on B (closing after the client's FIN); resolves with its port. */
  echo(opts: Record<string, unknown> = {}): Promise<number> {
    return this.serve((s) => s.pipe(s), opts);
  }

  /** A server on B (the pair's one) calling `onConnection` for each socket; resolves with its port. */
  async serve(onConnection: (s: Socket) => void, opts: Record<string, unknown> = {}): Promise<number> {
    const server = createServer({ host: this.b, ...opts }, onConnection);
    this.server = server;
    server.listen(0);
    await once(server, 'listening');
    return (server.address() as { port: number }).port;
  }

  /** Closes B's server, if any (its connections stay). */
  closeServer(): void {
    this.server?.close();
    this.server = undefined;
  }

  close(): void {
    this.closeServer();
    Stack.for(this.a).destroy();
    Stack.for(this.b).destroy();
  }
}
