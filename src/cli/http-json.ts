/**
 * A small JSON-over-HTTP client for the CLI (overlay chaos, overlay ss), so that the same
 * failure reads the same way everywhere: `cannot reach WHAT at HOST:PORT: ECONNREFUSED`
 * (exit 1), `WHAT at HOST:PORT did not answer` after 5 s (exit 1), and an HTTP 4xx with the
 * server's {"error"} message (exit 2: the request was bad).
 */
import http from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}

export function request(api: { address: string; port: number }, method: string, path: string, body?: unknown, what = 'the chaos API'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: api.address, port: api.port, method, path, timeout: 5000, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json);
          const msg = (json as { error?: string } | undefined)?.error ?? `HTTP ${status}`;
          reject(new ApiError(status >= 400 && status < 500 ? 2 : 1, msg));
        });
      },
    );
    req.on('timeout', () => req.destroy(new ApiError(1, `${what} at ${api.address}:${api.port} did not answer`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ApiError) return reject(err);
      reject(new ApiError(1, `cannot reach ${what} at ${api.address}:${api.port}: ${err.code ?? err.message}`));
    });
    req.end(payload);
  });
}
