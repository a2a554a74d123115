/**
 * Observability for a CLI process: `--metrics HOST:PORT` (Prometheus /metrics, the
 * /connections JSON and the live page at /), `--pcap FILE` (every packet of the given hosts, both directions)
 * and `--trace FILE` (per-connection TCP events as msgpack). Commands call
 * startObservability once their hosts exist and close() it on exit.
 */
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { HostLike } from '../host/types.js';
import { observers } from '../metrics/inventory.js';
import { createMetrics } from '../metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { PcapWriter } from '../trace/pcap.js';
import { TraceWriter } from '../trace/trace.js';
import { UsageError } from '../util/errors.js';

export interface ObserveOptions {
  metrics?: string;
  pcap?: string;
  trace?: string;
  /** A registry that already holds other metrics (e.g. the chaos proxy's); default a new one. */
  registry?: Registry;
  /** Per-connection series cap (default 64). */
  maxConnections?: number;
}

export interface Observability {
  /** The process registry (present when --metrics was given), for extra metrics. */
  readonly registry?: Registry;
  /** The metrics server (when --metrics was given). */
  readonly server?: MetricsServer;
  /** The pcap writer (when --pcap was given), also for packets that bypass a host. */
  readonly pcap?: PcapWriter;
  close(): Promise<void>;
}

/** OVERLAY_METRICS_MAX_CONNECTIONS: the per-connection series cap for every command (default 64). */
function maxConnectionsFromEnv(): number | undefined {
  const v = process.env.OVERLAY_METRICS_MAX_CONNECTIONS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`OVERLAY_METRICS_MAX_CONNECTIONS must be a whole number, not '${v}'`);
  return n;
}

export async function startObservability(hosts: HostLike[], opts: ObserveOptions): Promise<Observability> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    // Undo in reverse order; keep going if one step fails, report the first failure.
    let first: unknown;
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        first ??= e;
      }
    }
    closers.length = 0;
    if (first) throw first;
  };
  try {
    let registry: Registry | undefined;
    let server: MetricsServer | undefined;
    let pcap: PcapWriter | undefined;
    if (opts.metrics !== undefined) {
      const maxConnections = opts.maxConnections ?? maxConnectionsFromEnv();
      const metrics = createMetrics({ ...(opts.registry ? { registry: opts.registry } : {}), ...(maxConnections !== undefined ? { maxConnections } : {}) });
      registry = metrics.registry;
      const previous = observers.rtt;
      observers.rtt = (s) => metrics.observeRtt(s);
      closers.push(() => {
        observers.rtt = previous;
      });
      server = await startMetricsServer(opts.metrics, registry);
      const srv = server;
      closers.push(() => srv.close());
    }
    if (opts.pcap !== undefined) {
      const writer = await PcapWriter.open(opts.pcap);
      pcap = writer;
      closers.push(() => writer.close());
      // Hosts time packets on the monotonic clock; pcap wants wall-clock time.
      const origin = performance.timeOrigin;
      for (const h of hosts) {
        const remove = h.addTap((_dir, packet, t) => writer.write(packet, origin + t));
        closers.push(remove);
      }
    }
    if (opts.trace !== undefined) {
      const writer = await TraceWriter.open(opts.trace);
      const previous = observers.trace;
      // Chain onto the live view's recorder (installed with --metrics) instead of replacing it.
      observers.trace = previous
        ? (conn, ev) => {
            writer.write(conn, ev);
            previous(conn, ev);
          }
        : (conn, ev) => writer.write(conn, ev);
      closers.push(() => writer.close());
      closers.push(() => {
        observers.trace = previous;
      });
    }
    return {
      ...(registry ? { registry } : {}),
      ...(server ? { server } : {}),
      ...(pcap ? { pcap } : {}),
      close,
    };
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
}
