/**
 * Two overlay hosts whose every packet crosses the chaos proxy (router mode), so an
 * example can put a delay, a loss rate or a bottleneck between them:
 *
 *   A 10.77.0.2 (127.0.0.1:x) --\                      /-- B 10.77.0.3 (127.0.0.1:y)
 *                                 chaos proxy (router)
 *                                 127.0.0.1:z, impairments on every link, both directions
 *
 * Each host routes the other's address to the proxy; the proxy routes each address back
 * to its host. The same layout across processes is `overlay proxy --listen ... --peer ...`.
 */
import { createProxy, type Proxy } from '../../src/chaos/proxy.js';
import { quickImpairments } from '../../src/chaos/config.js';
import { Host } from '../../src/host/host.js';
import { CLIENT, SERVER } from './setup.js';

export interface PathOptions {
  /** One-way delay each direction, ms (RTT = 2 x delay). */
  delayMs?: number;
  /** Loss probability each direction. */
  loss?: number;
  /** Bottleneck rate, e.g. "20mbit", and its queue, e.g. "50p" or "64kb". */
  rate?: string;
  queue?: string;
  seed?: number;
  /** Also serve the proxy's Prometheus /metrics here (HOST:PORT). */
  metrics?: string;
}

export interface ImpairedPath {
  a: Host;
  b: Host;
  proxy: Proxy;
  /** "RTT 20 ms, loss 1%, ..." */
  describe: string;
  close(): Promise<void>;
}

export async function impairedPair(opts: PathOptions): Promise<ImpairedPath> {
  const a = await Host.create({ address: CLIENT.addr, udp: { address: '127.0.0.1', port: 0 } });
  const b = await Host.create({ address: SERVER.addr, udp: { address: '127.0.0.1', port: 0 } });
  const ep = (h: Host): string => `${h.endpoint.address}:${h.endpoint.port}`;
  let proxy: Proxy;
  try {
    proxy = await createProxy({
      listen: '127.0.0.1:0',
      peers: { [`${CLIENT.addr}/32`]: ep(a), [`${SERVER.addr}/32`]: ep(b) },
      learn: false,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.metrics !== undefined ? { metrics: opts.metrics } : {}),
    });
  } catch (e) {
    await a.close();
    await b.close();
    throw e;
  }
  const flags: Parameters<typeof quickImpairments>[0] = {};
  if (opts.delayMs !== undefined && opts.delayMs > 0) flags.delay = opts.delayMs;
  if (opts.loss !== undefined && opts.loss > 0) flags.loss = opts.loss;
  if (opts.rate !== undefined) flags.rate = opts.rate;
  if (opts.queue !== undefined) flags.queue = opts.queue;
  for (const imp of quickImpairments(flags)) proxy.setImpairment('*', 'both', imp.stage, imp.params ?? {});
  a.addPeer(`${SERVER.addr}/32`, proxy.address());
  b.addPeer(`${CLIENT.addr}/32`, proxy.address());

  const parts = [`RTT ${2 * (opts.delayMs ?? 0)} ms`, `loss ${((opts.loss ?? 0) * 100).toFixed(1)}% each way`];
  if (opts.rate) parts.push(`bottleneck ${opts.rate}${opts.queue ? ` queue ${opts.queue}` : ''}`);
  const pa = proxy.address();
  return {
    a,
    b,
    proxy,
    describe: `${CLIENT.addr} -> chaos proxy ${pa.address}:${pa.port} (${parts.join(', ')}, seed ${proxy.seed}) -> ${SERVER.addr}`,
    close: async () => {
      await a.close();
      await b.close();
      await proxy.close();
    },
  };
}
