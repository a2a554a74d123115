/**
 * Observability for a CLI process: `--metrics HOST:PORT` and `--pcap FILE`, `--trace FILE`.
 * (Placeholder until the observability layer lands; replaced by it.)
 */
import type { HostLike } from '../host/types.js';

export interface ObserveOptions {
  metrics?: string;
  pcap?: string;
  trace?: string;
}

export interface Observability {
  close(): Promise<void>;
}

export async function startObservability(_hosts: HostLike[], _opts: ObserveOptions): Promise<Observability> {
  return { close: async () => {} };
}
