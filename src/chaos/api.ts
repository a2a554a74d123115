/**
 * The live HTTP JSON control API, in Toxiproxy's vocabulary (a "link" is Toxiproxy's
 * proxy, a "toxic" an impairment; `type`/`stream`/`attributes` are accepted as aliases of
 * `stage`/`direction`/`params`). Link '*' (or %2A) addresses every link.
 *
 *   GET    /links                         all links with stats and toxics
 *   GET    /links/:link                   one link
 *   GET    /links/:link/toxics            its own toxics
 *   POST   /links/:link/toxics            add a toxic           -> 200 toxic
 *   POST   /links/:link/toxics/:name      update (params merge) -> 200 toxic
 *   DELETE /links/:link/toxics/:name      remove                -> 204
 *   POST   /links/:link/stages/:stage     set a base impairment {direction, params, merge}
 *   DELETE /links/:link/stages/:stage     clear a stage
 *   POST   /reset                         remove every toxic    -> 204
 *   GET    /stats                         counters
 *
 * A bad value is 400 with {"error": "..."}; an unknown link/toxic is 404.
 */
import http from 'node:http';
import type { Endpoint } from './router.js';
import type { Proxy } from './proxy-types.js';
import { ChaosConfigError, parseDirection } from './rules.js';

export interface HttpServerHandle {
  address: Endpoint;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 1 << 20;

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

function asObject(b: unknown): Record<string, unknown> {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new HttpError(400, 'body must be a JSON object');
  return b as Record<string, unknown>;
}

/** Handles one request; returns [status, body] (body undefined for 204). */
export async function handleApi(proxy: Proxy, method: string, url: string, body: () => Promise<unknown>): Promise<[number, unknown]> {
  const path = new URL(url, 'http://x').pathname;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [a, link, b, name] = parts;
  if (method === 'GET' && path === '/links') return [200, proxy.links()];
  if (method === 'GET' && path === '/stats') return [200, proxy.stats()];
  if (method === 'POST' && path === '/reset') {
    proxy.reset();
    return [204, undefined];
  }
  if (a === 'links' && link !== undefined) {
    if (parts.length === 2 && method === 'GET') {
      const info = proxy.link(link);
      if (!info) throw new HttpError(404, `no link '${link}'`);
      return [200, info];
    }
    if (b === 'toxics' && parts.length === 3) {
      if (method === 'GET') return [200, proxy.rules(link)];
      if (method === 'POST') {
        const t = proxy.addRule(link, asObject(await body()));
        return [200, proxy.rules(link).find((x) => x.name === t.name)];
      }
    }
    if (b === 'toxics' && name !== undefined && parts.length === 4) {
      const exists = proxy.rules(link).some((x) => x.name === name);
      if (!exists) throw new HttpError(404, `no toxic '${name}' on ${link}`);
      if (method === 'GET') return [200, proxy.rules(link).find((x) => x.name === name)];
      if (method === 'POST') {
        proxy.updateRule(link, name, asObject(await body()));
        return [200, proxy.rules(link).find((x) => x.name === name)];
      }
      if (method === 'DELETE') {
        proxy.removeRule(link, name);
        return [204, undefined];
      }
    }
    if (b === 'stages' && name !== undefined && parts.length === 4) {
      if (method === 'POST') {
        const o = asObject(await body());
        const params = (o.params ?? o.attributes ?? {}) as Record<string, unknown>;
        if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new HttpError(400, 'params must be an object');
        const ts = proxy.setImpairment(link, parseDirection(o.direction ?? o.stream), name, params, { merge: o.merge === true });
        return [200, ts.map((t) => proxy.rules(link).find((x) => x.name === t.name))];
      }
      if (method === 'DELETE') return [200, { removed: proxy.clearStage(link, name) }];
    }
  }
  throw new HttpError(404, `no route ${method} ${path}`);
}

export function startApi(proxy: Proxy, at: Endpoint): Promise<HttpServerHandle> {
  const server = http.createServer((req, res) => {
    const send = (status: number, payload: unknown): void => {
      if (status === 204) {
        res.writeHead(204).end();
        return;
      }
      const text = JSON.stringify(payload, (_k, v: unknown) => (v === Infinity ? null : v), 2);
      res.writeHead(status, { 'content-type': 'application/json' }).end(text + '\n');
    };
    handleApi(proxy, req.method ?? 'GET', req.url ?? '/', () => readBody(req)).then(
      ([status, payload]) => send(status, payload),
      (err: unknown) => {
        if (err instanceof HttpError) send(err.status, { error: err.message });
        else if (err instanceof ChaosConfigError) send(400, { error: err.message });
        else send(500, { error: (err as Error)?.message ?? String(err) });
      },
    );
  });
  return listen(server, at);
}

/** Listens and resolves with the bound address and a close function. */
export function listen(server: http.Server, at: Endpoint): Promise<HttpServerHandle> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.address, () => {
      server.off('error', reject);
      const a = server.address();
      const address = typeof a === 'object' && a ? { address: a.address, port: a.port } : at;
      resolve({
        address,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}
