/**
 * The Prometheus metrics of one process: a prom-client Registry of its own (never the
 * global one) whose gauges and counters are computed at scrape time from inventory
 * snapshots (collect callbacks), so the data path pays nothing per packet. The only
 * pushed metric is the RTT histogram, fed by `observers.rtt` once per RTT sample.
 *
 * Naming follows the Prometheus conventions: prefix `overlay_`, base units (seconds,
 * bytes), `_total` for counters; `promtool check metrics` accepts the output.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { performance } from 'node:perf_hooks';
import { RETRANSMIT_KINDS, TCP_STATES, type TcpInfo } from '../tcp/types.js';
import { inventory, type InventorySource, type TcpConnectionEvent } from './inventory.js';
import { countByState, takeSnapshot, SSTHRESH_INFINITE, type InventorySnapshot } from './collectors.js';

/** RTT histogram buckets, 50 us to 4 s in a 1-2-5 series (seconds). */
export const RTT_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4,
];

export const DEFAULT_MAX_CONNECTIONS = 64;

/** Drop reasons exported even at zero (others appear when they first happen). */
const BASE_DROP_REASONS: readonly string[] = ['ip_bad_checksum', 'tcp_bad_checksum', 'udp_bad_checksum', 'no_route', 'spoofed', 'unknown_endpoint'];

const CONNECTION_EVENTS: readonly TcpConnectionEvent[] = [
  'active_open', 'passive_open', 'reset_in', 'reset_out', 'timeout', 'refused', 'syn_cookie',
  'time_wait_reused', 'time_wait_reopened',
];

export interface MetricsOptions {
  /** At most this many connections get per-connection series (default 64). */
  maxConnections?: number;
  /** Where the snapshots come from (default: the process inventory). */
  sources?: () => InventorySource[];
  /** Add to an existing registry (e.g. one that already holds the chaos metrics). */
  registry?: Registry;
}

export interface OverlayMetrics {
  readonly registry: Registry;
  /** Feeds the RTT histogram (seconds); install as `observers.rtt`. */
  observeRtt(seconds: number): void;
}

export { SSTHRESH_INFINITE };

/**
 * Per-connection gauges: name, help, and how to read the value from a TcpInfo
 * (undefined: no series for this connection).
 */
const PER_CONNECTION: ReadonlyArray<[string, string, (i: TcpInfo) => number | undefined]> = [
  ['overlay_tcp_cwnd_bytes', 'Congestion window of the connection.', (i) => i.cwnd],
  [
    'overlay_tcp_ssthresh_bytes',
    'Slow-start threshold of the connection (absent while it is still the initial, infinite value).',
    (i) => (Number.isFinite(i.ssthresh) && i.ssthresh < SSTHRESH_INFINITE ? i.ssthresh : undefined),
  ],
  ['overlay_tcp_srtt_seconds', 'Smoothed round-trip time (RFC 6298 SRTT).', (i) => i.srtt / 1000],
  ['overlay_tcp_rttvar_seconds', 'Round-trip time variation (RFC 6298 RTTVAR).', (i) => i.rttvar / 1000],
  ['overlay_tcp_rto_seconds', 'Current retransmission timeout.', (i) => i.rto / 1000],
  ['overlay_tcp_min_rtt_seconds', 'Smallest RTT sample seen on the connection.', (i) => i.minRtt / 1000],
  ['overlay_tcp_bytes_in_flight', 'Bytes sent and not yet acknowledged (nor deemed lost).', (i) => i.bytesInFlight],
  ['overlay_tcp_path_mtu_bytes', 'Path MTU the connection uses (IPv4 packet bytes; ICMP-learned or probed).', (i) => i.pathMtu],
  ['overlay_tcp_mss_bytes', 'Effective send MSS: payload bytes per segment after the path MTU and TCP options.', (i) => i.mss],
  ['overlay_tcp_send_window_bytes', "The peer's advertised receive window (scaled).", (i) => i.sndWnd],
  ['overlay_tcp_receive_window_bytes', 'The receive window this end advertises.', (i) => i.rcvWnd],
  ['overlay_tcp_send_queue_bytes', 'Bytes written by the application and not yet acknowledged.', (i) => i.sendQueue],
  ['overlay_tcp_receive_queue_bytes', 'Bytes received and not yet read by the application.', (i) => i.recvQueue],
];

export function createMetrics(opts: MetricsOptions = {}): OverlayMetrics {
  const registry = opts.registry ?? new Registry();
  const max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const sources = opts.sources ?? (() => inventory.sources());

  // All collectors of one scrape run in the same tick (Registry.metrics() starts every
  // get() synchronously), so they share one snapshot, dropped on the next turn.
  let cached: InventorySnapshot | undefined;
  const snapshot = (): InventorySnapshot => {
    if (!cached) {
      cached = takeSnapshot(sources(), performance.now());
      setImmediate(() => {
        cached = undefined;
      });
    }
    return cached;
  };
  // Per-connection series: live connections only. TIME-WAIT (and CLOSED) ones have
  // finished their transfer; they are counted in overlay_tcp_connections{state} only.
  const labelled = (s: InventorySnapshot): InventorySnapshot['connections'] =>
    s.connections.filter((c) => c.state !== 'TIME-WAIT' && c.state !== 'CLOSED').slice(0, max);

  for (const [name, help, read] of PER_CONNECTION) {
    new Gauge({
      name,
      help,
      labelNames: ['conn'],
      registers: [registry],
      collect() {
        // Reset first: series of closed connections disappear.
        this.reset();
        for (const c of labelled(snapshot())) {
          const v = read(c);
          if (v !== undefined) this.set({ conn: c.conn }, v);
        }
      },
    });
  }
  new Gauge({
    name: 'overlay_tcp_connections_unlabelled',
    help: `Connections beyond the per-connection series cap (${max}) that have no per-connection series.`,
    registers: [registry],
    collect() {
      const live = snapshot().connections.filter((c) => c.state !== 'TIME-WAIT' && c.state !== 'CLOSED').length;
      this.set(Math.max(0, live - max));
    },
  });
  new Gauge({
    name: 'overlay_tcp_connections',
    help: 'TCP connections by state (listeners count as LISTEN).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of countByState(snapshot(), TCP_STATES)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'overlay_udp_sockets',
    help: 'Open overlay UDP sockets.',
    registers: [registry],
    collect() {
      this.set(snapshot().udpSockets);
    },
  });

  // Counters: the stacks keep running totals (closed connections included); a collect
  // callback copies them in, so the exposition is a plain monotonic counter.
  const counter = (name: string, help: string, label: string, read: (s: InventorySnapshot) => Array<[string, number]>): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [v, n] of read(snapshot())) this.inc({ [label]: v }, n);
      },
    });
  };
  counter('overlay_tcp_retransmitted_segments_total', 'TCP segments retransmitted, by what triggered the retransmission.', 'kind', (s) =>
    RETRANSMIT_KINDS.map((k) => [k, s.tcp.retransmits[k] ?? 0]),
  );
  counter('overlay_tcp_segments_total', 'TCP segments received (in) and sent (out).', 'direction', (s) => [
    ['in', s.tcp.segmentsIn],
    ['out', s.tcp.segmentsOut],
  ]);
  counter('overlay_tcp_bytes_total', 'TCP payload bytes delivered to the application (in) and acknowledged by the peer (out).', 'direction', (s) => [
    ['in', s.tcp.bytesIn],
    ['out', s.tcp.bytesOut],
  ]);
  counter('overlay_tcp_connection_events_total', 'TCP connection events: opens, resets, timeouts, refusals, SYN cookies.', 'event', (s) =>
    CONNECTION_EVENTS.map((e) => [e, s.tcp.events[e] ?? 0]),
  );
  counter('overlay_ip_packets_total', 'IPv4 packets accepted (in) and sent (out) by the overlay hosts.', 'direction', (s) => [
    ['in', s.ip.packetsIn],
    ['out', s.ip.packetsOut],
  ]);
  counter('overlay_ip_bytes_total', 'IPv4 bytes (headers included) accepted (in) and sent (out).', 'direction', (s) => [
    ['in', s.ip.bytesIn],
    ['out', s.ip.bytesOut],
  ]);
  counter('overlay_ip_dropped_packets_total', 'Packets dropped by the overlay hosts, by reason.', 'reason', (s) => {
    // The common reasons are always present (at 0), so rate() works before the first drop.
    const m = new Map<string, number>(BASE_DROP_REASONS.map((r) => [r, 0]));
    for (const [r, n] of s.ip.drops) m.set(r, n);
    return [...m];
  });
  counter('overlay_secure_dropped_packets_total', 'Datagrams dropped by the secure mode (src/secure), by reason: bad_mac, replay, unknown_index, unknown_key, truncated, handshake_*, ...', 'reason', (s) => [
    ...s.secure.drops,
  ]);
  counter('overlay_secure_events_total', 'Secure-mode events: handshake initiations, completed and failed handshakes, rekeys, roams, sealed and opened messages.', 'event', (s) => [
    ...s.secure.events,
  ]);

  /** A counter per host link: `read` gives the link's figure (undefined: none for that link). */
  const hostCounter = (name: string, help: string, read: (l: InventorySnapshot['links'][number]) => number | undefined): void => {
    new Counter({
      name,
      help,
      labelNames: ['host'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of snapshot().links) {
          const n = read(l);
          if (n !== undefined) this.inc({ host: l.host }, n);
        }
      },
    });
  };
  hostCounter(
    'overlay_udp_kernel_drops_total',
    "Datagrams the kernel dropped on a host's UDP socket (receive queue full, bad UDP checksum), from /proc/net/udp, by overlay address.",
    (l) => l.kernelDrops,
  );
  hostCounter(
    'overlay_udp_batch_reads_total',
    "recvmmsg calls that read datagrams from a host's UDP socket during bulk transfers (batched reads), by overlay address.",
    (l) => l.batchReadCalls,
  );
  hostCounter(
    'overlay_udp_batch_datagrams_total',
    'Datagrams read by those calls (divided by overlay_udp_batch_reads_total: datagrams per recvmmsg), by overlay address.',
    (l) => l.batchDatagramsIn,
  );
  hostCounter(
    'overlay_udp_direct_datagrams_total',
    "Datagrams a host's link sent with a direct sendto(2) instead of node:dgram (direct sends), by overlay address.",
    (l) => l.directDatagramsOut,
  );

  /** A counter per host link and direction (`out`, `in`): `read` gives the two figures of one link. */
  const linkCounter = (name: string, help: string, read: (l: InventorySnapshot['links'][number]) => [number, number]): void => {
    new Counter({
      name,
      help,
      labelNames: ['host', 'direction'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of snapshot().links) {
          const [out, inn] = read(l);
          this.inc({ host: l.host, direction: 'out' }, out);
          this.inc({ host: l.host, direction: 'in' }, inn);
        }
      },
    });
  };
  linkCounter(
    'overlay_udp_trains_total',
    "Trains of datagrams a host's link sent in one sendmsg (UDP GSO, direction out) or read in one recvmsg (UDP GRO, direction in), by overlay address.",
    (l) => [l.trainsOut, l.trainsIn],
  );
  linkCounter(
    'overlay_udp_train_datagrams_total',
    'Datagrams carried in those trains (divided by overlay_udp_trains_total: datagrams per sendmsg or recvmsg), by overlay address and direction.',
    (l) => [l.trainDatagramsOut, l.trainDatagramsIn],
  );

  const rtt = new FastHistogram('overlay_tcp_rtt_seconds', 'TCP round-trip time samples (all connections).', RTT_BUCKETS);
  registry.registerMetric(rtt as unknown as Parameters<Registry['registerMetric']>[0]);
  return {
    registry,
    observeRtt: (seconds: number): void => rtt.observe(seconds),
  };
}

/**
 * A label-less histogram for a hot path: observe() is a short loop over the bounds and
 * two additions (prom-client's Histogram hashes labels on every call, ~0.5 us). It
 * plugs into a prom-client Registry as a metric object: name, help, type and get().
 */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    if (!(v >= 0) || !Number.isFinite(v)) return;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Cumulative buckets as the exposition format wants them. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += this.counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: acc });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
