/**
 * Congestion-control benchmark on the simulated network (src/sim), in VIRTUAL time: one bulk
 * flow per algorithm for 30 s through a 50 Mbit/s link with 20 ms base RTT, a drop-tail
 * queue of one BDP, and random loss of 0.1%, 1% and 3% on the data direction. Each goodput
 * is shown next to the Mathis et al. bound for a Reno-style AIMD flow,
 *
 *     goodput <= MSS/RTT * 1.22/sqrt(p)
 *
 * (capped by the link rate), so you can see which algorithms are loss-limited like Reno
 * (ratio ~1), which beat the bound (CUBIC somewhat, BBR by design) and what Tahoe's missing
 * fast recovery costs. Deterministic: same seed, same numbers, on any machine.
 *
 *   node <out>/bench/cc.js [--seconds N]      prints a table (N virtual seconds, default 30)
 *   npm run bench -- cc
 */
import { isMain } from './lib/cli.js';
import { fileURLToPath } from 'node:url';
import { SimClock, SimNet, type LinkOptions, type SimHost } from '../src/sim/index.js';
import { defaultTcpConfig } from '../src/tcp/config.js';
import type { Connection } from '../src/tcp/connection.js';
import { CC_NAMES, type TcpConfig, type TcpTraceEvent } from '../src/tcp/types.js';

type Row = Record<string, string | number>;

/**
 * An endless bulk flow on a simulated network: the sender keeps its send buffer full, the
 * receiver reads and discards (counting bytes). Unlike src/sim BulkApp it needs no data
 * buffer and keeps nothing, so it can run for minutes of virtual time.
 */
export class EndlessFlow {
  received = 0;
  conn!: Connection;
  private readonly chunk = Buffer.alloc(65536, 0x5a);

  constructor(
    readonly net: SimNet,
    readonly a: SimHost,
    readonly b: SimHost,
    readonly port: number,
    readonly config: TcpConfig,
    readonly onTrace?: (ev: TcpTraceEvent) => void,
  ) {}

  start(): this {
    const clock = this.net.clock;
    this.b.listen(this.port, this.config);
    const prev = this.b.onAccept;
    this.b.onAccept = (c, port) => {
      if (port !== this.port) return prev?.(c, port);
      c.hooks.onReadable = () =>
        clock.schedule(clock.now, () =>
          this.b.call(c, () => {
            for (let buf = c.read(); buf; buf = c.read()) this.received += buf.length;
          }),
        );
    };
    this.conn = this.a.connect(this.b.addr, this.port, this.config, {
      hooks: {
        ...(this.onTrace ? { onTrace: this.onTrace } : {}),
        onEstablished: () => this.fill(),
        onWritable: () => clock.schedule(clock.now, () => this.fill()),
      },
    });
    return this;
  }

  private fill(): void {
    this.a.call(this.conn, (now) => {
      while (this.conn.sendBufferFree > 0) {
        const n = this.conn.send(this.chunk.subarray(0, Math.min(this.chunk.length, this.conn.sendBufferFree)), now);
        if (n === 0) break;
      }
    });
  }
}

/** Two hosts joined by a link pair on a fresh virtual clock. */
export function simPair(ab: LinkOptions, ba: LinkOptions = { delay: ab.delay ?? 10 }) {
  const clock = new SimClock();
  const net = new SimNet(clock);
  const a = net.host(0x0a4d0001);
  const b = net.host(0x0a4d0002);
  const links = net.link(a, b, ab, ba);
  return { clock, net, a, b, links };
}

/** Mathis et al. 1997: MSS/RTT * C/sqrt(p), C = sqrt(3/2) ~ 1.22; bytes/s. */
export function mathisBound(mss: number, rttMs: number, p: number): number {
  return (mss / (rttMs / 1000)) * (1.22 / Math.sqrt(p));
}

export async function run(opts: { seconds?: number } = {}): Promise<Row[]> {
  const seconds = opts.seconds ?? 30;
  const rate = 6.25e6; // 50 Mbit/s
  const rtt = 20;
  const bdp = (rate * rtt) / 1000;
  const rows: Row[] = [];
  for (const loss of [0.001, 0.01, 0.03]) {
    for (const cc of CC_NAMES) {
      const wall = performance.now();
      const { clock, net, a, b, links } = simPair({ delay: rtt / 2, rate, queueBytes: bdp, loss, seed: 42 }, { delay: rtt / 2 });
      const config = defaultTcpConfig({ cc, sndBuf: 4 << 20, rcvBuf: 4 << 20 });
      const flow = new EndlessFlow(net, a, b, 80, config).start();
      clock.runUntilTime(seconds * 1000);
      const info = flow.conn.getInfo(clock.now);
      const goodput = flow.received / seconds;
      const bound = Math.min(rate, mathisBound(info.mss, rtt, loss));
      const rtx = Object.values(info.retransmits).reduce((x, y) => x + y, 0);
      rows.push({
        cc,
        loss: `${(loss * 100).toFixed(1)}%`,
        'goodput Mbit/s': (goodput * 8) / 1e6,
        'Mathis Mbit/s': (bound * 8) / 1e6,
        'goodput/Mathis': goodput / bound,
        'link util': goodput / rate,
        retransmits: rtx,
        'link drops': links.ab.stats.lost + links.ab.stats.queueDrops,
        'wall ms': Math.round(performance.now() - wall),
      });
      await new Promise((r) => setImmediate(r));
    }
  }
  return rows;
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--seconds');
  const seconds = i >= 0 ? Number(process.argv[i + 1]) : undefined;
  if (seconds !== undefined && !(seconds > 0)) {
    process.stderr.write('bench/cc: --seconds needs a positive number\n');
    process.exit(2);
  }
  const { formatTable } = await import('./main.js');
  process.stdout.write(formatTable(await run(seconds !== undefined ? { seconds } : {})) + '\n');
}
