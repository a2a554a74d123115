/**
 * The live page's static files, shipped in the package (no CDN): the page itself from
 * src/metrics/static/ (listed in package.json "files"), and uPlot's browser build from
 * its npm package, resolved at run time (node_modules is there wherever overlay-tcp is).
 * Files are read once and kept in memory.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

/** From dist/src/metrics/ back to the source tree's static folder. */
const STATIC = fileURLToPath(new URL('../../../src/metrics/static/', import.meta.url));
const require = createRequire(import.meta.url);

const FILES: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => STATIC + 'live.html', type: 'text/html; charset=utf-8' },
  '/live.js': { file: () => STATIC + 'live.js', type: 'text/javascript; charset=utf-8' },
  '/live.css': { file: () => STATIC + 'live.css', type: 'text/css; charset=utf-8' },
  '/uplot.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/uplot.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

/** Serves `path` if it is one of the page's files; false if it is not. */
export function serveAsset(path: string, res: ServerResponse): boolean {
  const f = FILES[path];
  if (!f) return false;
  let body = cache.get(path);
  if (!body) {
    try {
      body = readFileSync(f.file());
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`live view asset ${path} missing: ${(err as Error).message}\n`);
      return true;
    }
    cache.set(path, body);
  }
  res.writeHead(200, { 'content-type': f.type, 'content-length': body.length, 'cache-control': 'no-cache' }).end(body);
  return true;
}
