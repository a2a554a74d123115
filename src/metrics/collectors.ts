/**
 * Reading the inventory at scrape time: one consistent snapshot of every registered
 * source (hosts, TCP stacks, UDP sockets), aggregated for the Prometheus collectors and
 * listed socket by socket for `/connections` and `overlay ss`. Nothing here runs per
 * packet; it runs when someone asks.
 */
import { performance } from 'node:perf_hooks';
import { inventory, emptyTotals, type HostLinkSnapshot, type InventorySource, type TcpListenerSnapshot, type TcpStackTotals, type UdpSocketSnapshot } from './inventory.js';
import type { TcpInfo, TcpState } from '../tcp/types.js';

/** ssthresh starts "arbitrarily high" (RFC 5681 3.1); like Linux's ss, such values are not shown. */
export const SSTHRESH_INFINITE = 0x3fffffff;

/** The `conn` label and trace key of a connection: "LADDR:LPORT-RADDR:RPORT". */
export function connectionLabel(info: Pick<TcpInfo, 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>): string {
  return `${info.localAddress}:${info.localPort}-${info.remoteAddress}:${info.remotePort}`;
}

/** Everything the collectors need, read once per scrape. */
export interface InventorySnapshot {
  connections: Array<TcpInfo & { conn: string }>;
  listeners: number;
  udpSockets: number;
  tcp: TcpStackTotals;
  ip: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number; drops: Map<string, number> };
  /** Each host's UDP socket as the kernel sees it (kernel drops, receive queue), by overlay address. */
  links: Array<HostLinkSnapshot & { host: string }>;
  secure: { drops: Map<string, number>; events: Map<string, number> };
}

/** A source that throws must not break a scrape: it is skipped. */
function safe<T>(f: (() => T) | undefined, fallback: T): T {
  if (!f) return fallback;
  try {
    return f();
  } catch {
    return fallback;
  }
}

export function takeSnapshot(sources: InventorySource[] = inventory.sources(), now = performance.now()): InventorySnapshot {
  const snap: InventorySnapshot = {
    connections: [],
    listeners: 0,
    udpSockets: 0,
    tcp: emptyTotals(),
    ip: { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: new Map() },
    links: [],
    secure: { drops: new Map(), events: new Map() },
  };
  for (const s of sources) {
    const h = safe(s.host && (() => s.host!()), undefined);
    if (h) {
      snap.ip.packetsIn += h.packetsIn;
      snap.ip.packetsOut += h.packetsOut;
      snap.ip.bytesIn += h.bytesIn;
      snap.ip.bytesOut += h.bytesOut;
      for (const [reason, n] of Object.entries(h.drops)) snap.ip.drops.set(reason, (snap.ip.drops.get(reason) ?? 0) + n);
      if (h.link) snap.links.push({ host: h.address, ...h.link });
      if (h.secure) {
        for (const [r, n] of Object.entries(h.secure.drops)) snap.secure.drops.set(r, (snap.secure.drops.get(r) ?? 0) + n);
        for (const [e, n] of Object.entries(h.secure.events)) snap.secure.events.set(e, (snap.secure.events.get(e) ?? 0) + n);
      }
    }
    for (const c of safe(s.tcpConnections && (() => s.tcpConnections!(now)), [] as TcpInfo[])) {
      snap.connections.push({ ...c, conn: connectionLabel(c) });
    }
    snap.listeners += safe(s.tcpListeners && (() => s.tcpListeners!()), []).length;
    snap.udpSockets += safe(s.udpSockets && (() => s.udpSockets!()), []).length;
    const t = safe(s.tcpTotals && (() => s.tcpTotals!()), undefined);
    if (t) addTotals(snap.tcp, t);
  }
  return snap;
}

function addTotals(into: TcpStackTotals, t: TcpStackTotals): void {
  into.segmentsIn += t.segmentsIn;
  into.segmentsOut += t.segmentsOut;
  into.bytesIn += t.bytesIn;
  into.bytesOut += t.bytesOut;
  for (const k of Object.keys(into.retransmits) as Array<keyof TcpStackTotals['retransmits']>) into.retransmits[k] += t.retransmits[k] ?? 0;
  for (const k of Object.keys(into.events) as Array<keyof TcpStackTotals['events']>) into.events[k] += t.events[k] ?? 0;
}

/** Connections counted by state (every state present, zero when none), listeners as LISTEN. */
export function countByState(snap: InventorySnapshot, states: readonly TcpState[]): Map<TcpState, number> {
  const m = new Map<TcpState, number>(states.map((s) => [s, 0]));
  for (const c of snap.connections) m.set(c.state, (m.get(c.state) ?? 0) + 1);
  m.set('LISTEN', (m.get('LISTEN') ?? 0) + snap.listeners);
  return m;
}

/** One row of `/connections`. */
export type SocketEntry =
  | ({ proto: 'tcp'; kind: 'listener'; state: 'LISTEN' } & TcpListenerSnapshot)
  | ({ proto: 'tcp'; kind: 'connection'; conn: string } & TcpInfo)
  | ({ proto: 'udp'; kind: 'socket' } & UdpSocketSnapshot)
  | ({ proto: 'udp'; kind: 'link'; host: string } & HostLinkSnapshot);

/** Every socket of the process, for `/connections`: listeners, connections, UDP sockets. */
export function listSockets(sources: InventorySource[] = inventory.sources(), now = performance.now()): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const s of sources) {
    for (const l of safe(s.tcpListeners && (() => s.tcpListeners!()), [])) {
      out.push({ proto: 'tcp', kind: 'listener', state: 'LISTEN', ...l });
    }
  }
  for (const s of sources) {
    for (const c of safe(s.tcpConnections && (() => s.tcpConnections!(now)), [] as TcpInfo[])) {
      out.push({ proto: 'tcp', kind: 'connection', conn: connectionLabel(c), ...c });
    }
  }
  for (const s of sources) {
    for (const u of safe(s.udpSockets && (() => s.udpSockets!()), [])) out.push({ proto: 'udp', kind: 'socket', ...u });
  }
  // The real UDP sockets the hosts' packets travel in, with the kernel's drop counts.
  for (const s of sources) {
    const h = safe(s.host && (() => s.host!()), undefined);
    if (h?.link) out.push({ proto: 'udp', kind: 'link', host: h.address, ...h.link });
  }
  return out;
}
