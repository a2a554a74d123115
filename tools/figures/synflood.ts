/**
 * The SYN-flood figure: a listener with a small SYN queue on the simulator, a legitimate
 * client opening a connection every 250 ms, and from 1 s to 6 s a flood of 2000 spoofed
 * SYNs a second whose SYN-ACKs go nowhere. Run twice on the same seed, without and with SYN
 * cookies (RFC 4987, src/tcp/syncookie.ts): the cumulative count of the client's completed
 * handshakes, and the listener's SYN queue.
 */
import type { TcpConfig } from '../../src/tcp/types.js';
import { SimClock, SimNet } from '../../src/sim/index.js';
import { SynCookieJar, newCookieSecret } from '../../src/tcp/syncookie.js';
import { SYN } from '../../src/wire/tcp.js';
import { renderChart, type Point, type Series } from '../../src/trace/svg.js';

const SERVER = 0x0a4d0003;
const CLIENT = 0x0a4d0002;
const FLOOD_FROM = 1000;
const FLOOD_TO = 6000;
const END = 9000;

interface Run {
  established: Point[];
  synQueue: Point[];
}

function run(config: TcpConfig, cookies: boolean): Run {
  const clock = new SimClock();
  const net = new SimNet(clock);
  const b = net.host(SERVER);
  const c = net.host(CLIENT);
  net.link(c, b, { delay: 10 }, { delay: 10 });
  const jar = cookies
    ? new SynCookieJar({ localAddr: SERVER, mss: config.mss, sack: config.sack, windowScale: config.windowScale, timestampOptions: false, secret: newCookieSecret() })
    : undefined;
  const l = b.listen(7, config, { backlog: 16, synBacklog: 16, ...(jar ? { synCookies: jar } : {}) });
  const out: Run = { established: [{ x: 0, y: 0 }], synQueue: [] };
  let done = 0;
  // The legitimate client: a new connection every 250 ms.
  for (let t = 0; t < END - 500; t += 250) {
    clock.schedule(t, () => {
      c.connect(SERVER, 7, config, {
        hooks: {
          onEstablished: () => {
            done++;
            out.established.push({ x: clock.now / 1000, y: out.established[out.established.length - 1]!.y }, { x: clock.now / 1000, y: done });
          },
        },
      });
    });
  }
  // The flood: spoofed sources (no route back, so their SYN-ACKs are lost), 2 per ms, seeded.
  let seed = 12345;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let t = FLOOD_FROM; t < FLOOD_TO; t++) {
    clock.schedule(t, () => {
      for (let k = 0; k < 2; k++) {
        const src = (0x0a4e0000 | (rnd() & 0xffff)) >>> 0;
        b.receive({ srcPort: 1024 + (rnd() % 60000), dstPort: 7, seq: rnd(), ack: 0, flags: SYN, window: 65535, urgent: 0, options: { mss: 1460 }, payload: Buffer.alloc(0) }, src);
      }
    });
  }
  for (let t = 0; t <= END; t += 50) clock.schedule(t, () => out.synQueue.push({ x: t / 1000, y: l.synQueueLength }));
  clock.runUntilTime(END);
  out.established.push({ x: END / 1000, y: done });
  return out;
}

export function synFloodFigure(config: TcpConfig, size: { width: number; height: number }): string {
  const without = run(config, false);
  const withCookies = run(config, true);
  const series: Series[] = [
    { kind: 'line', label: 'client handshakes completed, no SYN cookies', color: '#d62728', points: without.established, width: 2.5 },
    { kind: 'line', label: 'client handshakes completed, SYN cookies', color: '#2ca02c', points: withCookies.established, width: 2.5 },
    { kind: 'line', label: 'half-open connections (SYN queue, limit 16), no cookies', color: '#ff7f0e', points: without.synQueue, width: 1.5, dash: '6 4' },
  ];
  return renderChart({
    title: 'SYN flood (2000 spoofed SYN/s, 1-6 s) against a 16-entry SYN queue',
    xLabel: 'time (s)',
    yLabel: 'connections',
    series,
    spans: [{ x1: FLOOD_FROM / 1000, x2: FLOOD_TO / 1000, label: 'SYN flood', color: '#d62728' }],
    ...size,
  });
}
