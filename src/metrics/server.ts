/**
 * The HTTP side of observability (node:http, no framework): `GET /metrics` in the
 * Prometheus text format and `GET /connections`, a JSON array of every socket of the
 * process (what `overlay ss` prints).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { UsageError } from '../util/errors.js';
import { inventory, type InventorySource } from './inventory.js';
import { listSockets } from './collectors.js';

export interface MetricsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Parses `HOST:PORT`, `:PORT` or `PORT` (host defaults to 127.0.0.1). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`bad listen address '${text}' (expected HOST:PORT)`);
  return { host: m[1] ? m[1] : '127.0.0.1', port };
}

export interface MetricsServerOptions {
  /** Where /connections reads from (default: the process inventory). */
  sources?: () => InventorySource[];
}

export async function startMetricsServer(listen: string, registry: Registry, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const sources = opts.sources ?? (() => inventory.sources());
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (path === '/connections') {
      let body: string;
      try {
        body = JSON.stringify(listSockets(sources()));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('overlay-tcp: /metrics /connections\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  // Scrapes are short; do not let idle keep-alive sockets hold the process open.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
