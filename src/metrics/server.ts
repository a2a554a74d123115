/**
 * The HTTP side of observability (node:http, no framework): `GET /metrics` in the
 * Prometheus text format, `GET /connections`, a JSON array of every socket of the
 * process (what `overlay ss` prints), and the live view: the page at `/`, its assets, and
 * `GET /events`, the Server-Sent Events stream it reads (live.ts). On a chaos proxy with a
 * control API, `/api/...` is forwarded to that API so the page's controls are same-origin.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { UsageError } from '../util/errors.js';
import { inventory, type InventorySource } from './inventory.js';
import { listSockets } from './collectors.js';
import { LiveHub, type LiveLink } from './live.js';
import { serveAsset } from './assets.js';

export interface MetricsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  readonly port: number;
  /** The live view's event hub (absent with `live: false`). */
  readonly live?: LiveHub;
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
  /** Serve the live page and its event stream (default true). */
  live?: boolean;
  /** A chaos proxy's links (its page shows them), and its control API to forward `/api/...` to. */
  chaos?: { links: () => LiveLink[]; api?: { address: string; port: number } };
}

/** Forwards one request to the chaos control API (`/api/links` -> `/links`), body and all. */
function forward(req: IncomingMessage, res: ServerResponse, api: { address: string; port: number }, path: string): void {
  const url = (req.url ?? '/').slice('/api'.length) || '/';
  const up = request(
    { host: api.address === '0.0.0.0' ? '127.0.0.1' : api.address, port: api.port, method: req.method, path: url, headers: { 'content-type': 'application/json' } },
    (r) => {
      res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? 'application/json' });
      r.pipe(res);
    },
  );
  up.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: `control API ${path}: ${err.message}` }));
  });
  req.pipe(up);
}

export async function startMetricsServer(listen: string, registry: Registry, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  const sources = opts.sources ?? (() => inventory.sources());
  const api = opts.chaos?.api;
  const live =
    opts.live === false
      ? undefined
      : new LiveHub({ sources, ...(opts.chaos ? { links: opts.chaos.links, control: api !== undefined, trace: false } : {}) });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (api && (path === '/api' || path.startsWith('/api/'))) {
      forward(req, res, api, path);
      return;
    }
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
    } else if (live && path === '/events') {
      live.serve(req, res);
    } else if (live && serveAsset(path, res)) {
      // The page and its scripts and styles.
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('overlay-tcp: /metrics /connections\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  // Scrapes are short; do not let idle keep-alive sockets hold the process open.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      live?.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${bound}`,
    port: bound,
    ...(live ? { live } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        live?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
