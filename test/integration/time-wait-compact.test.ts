/**
 * TIME-WAIT connections whose sockets are gone are held as compact records (time-wait.ts)
 * by the stack, over real loopback UDP: they stay listed as TIME-WAIT in the inventory
 * (`overlay ss`, metrics) and in connectionCount, keep their port, answer a retransmitted
 * FIN with an ACK and a SYN with a challenge ACK, and leave after 2*MSL.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Host } from '../../src/host/host.js';
import { connect, type Server } from '../../src/net.js';
import { inventory } from '../../src/metrics/inventory.js';
import { TcpStack } from '../../src/tcp/driver.js';
import { Connection } from '../../src/tcp/connection.js';
import { TimeWait } from '../../src/tcp/time-wait.js';
import { decodeIpv4 } from '../../src/wire/ipv4.js';
import { ACK, decodeTcp, encodeTcp, FIN, SYN, type TcpSegment } from '../../src/wire/tcp.js';
import type { TcpInfo } from '../../src/tcp/types.js';
import { until, within } from '../helpers/real-tcp.js';
import { echoServer, hostPair } from '../helpers/overlay-echo.js';

const A = '10.77.0.2';
const B = '10.77.0.3';

/** Runs `fn` and counts the TCP_INFOs built meanwhile (by connections and by TIME-WAIT records). */
function infosBuiltBy<T>(fn: () => T): { value: T; built: number } {
  let built = 0;
  const conn = Connection.prototype.getInfo;
  const tw = TimeWait.prototype.getInfo;
  Connection.prototype.getInfo = function (this: Connection, now: number) {
    built++;
    return conn.call(this, now);
  };
  TimeWait.prototype.getInfo = function (this: TimeWait) {
    built++;
    return tw.call(this);
  };
  try {
    return { value: fn(), built };
  } finally {
    Connection.prototype.getInfo = conn;
    TimeWait.prototype.getInfo = tw;
  }
}

function timeWaitInfos(address: string): TcpInfo[] {
  const out: TcpInfo[] = [];
  for (const s of inventory.sources()) for (const c of s.tcpConnections?.(performance.now()) ?? []) if (c.state === 'TIME-WAIT' && c.localAddress === address) out.push(c);
  return out;
}

describe('compact TIME-WAIT in the stack (two hosts, real UDP)', function () {
  this.timeout(20_000);
  let a: Host;
  let b: Host;
  let server: Server;

  beforeEach(async () => {
    [a, b] = await hostPair(A, B);
  });

  afterEach(async () => {
    server?.close();
    await a.close();
    await b.close();
  });

  /** Starts an echo server on B with `msl`; resolves with its port. */
  async function echoOnB(msl: number): Promise<number> {
    const e = await echoServer(b, { msl });
    server = e.server;
    return e.port;
  }

  async function cycles(n: number, msl: number): Promise<void> {
    const port = await echoOnB(msl);
    for (let i = 0; i < n; i++) {
      const s = connect({ via: a, host: B, port, msl });
      await once(s, 'connect');
      s.end(Buffer.from('ping'));
      s.resume();
      await within(once(s, 'close'), 5000, 'close');
    }
  }

  it('a closed client connection in TIME-WAIT becomes a record, still listed, counted, and gone after 2*MSL', async () => {
    await cycles(5, 300);
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitRecords === 5, 2000, 'five records');
    expect(timeWaitInfos(A)).to.have.length(5);
    expect(stack.connectionCount).to.equal(5);
    for (const info of timeWaitInfos(A)) {
      expect(info.remoteAddress).to.equal(B);
      expect(info.bytesAcked).to.equal(4);
      expect(info.bytesReceived).to.equal(4);
    }
    await until(() => stack.connectionCount === 0, 5000, 'TIME-WAIT over');
    expect(timeWaitInfos(A)).to.have.length(0);
    expect(stack.timeWaitRecords).to.equal(0);
  });

  it('a record re-ACKs a retransmitted FIN and answers a SYN with a challenge ACK', async () => {
    await cycles(1, 5000);
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitRecords === 1, 2000, 'one record');
    const info = timeWaitInfos(A)[0]!;
    const out: TcpSegment[] = [];
    a.addTap((dir, packet) => {
      if (dir !== 'out') return;
      const ip = decodeIpv4(packet);
      if (!ip.ok) return;
      const t = decodeTcp(ip.payload, ip.header.src, ip.header.dst);
      if (t.ok) out.push(t.segment);
    });
    const from = (seg: TcpSegment): void => {
      const src = b.address;
      const payload = encodeTcp(seg, src, a.address);
      stack.onPacket({ src, dst: a.address, protocol: 6, ttl: 64, id: 0, tos: 0, headerLength: 20, totalLength: 20 + payload.length, dontFragment: false }, payload);
    };
    const base = { srcPort: info.remotePort, dstPort: info.localPort, window: 1000, urgent: 0, options: {}, payload: Buffer.alloc(0) };
    from({ ...base, seq: info.rcvNxt - 1, ack: info.sndNxt, flags: FIN | ACK });
    expect(out).to.have.length(1);
    expect(out[0]!.flags).to.equal(ACK);
    expect(out[0]!.seq).to.equal(info.sndNxt);
    expect(out[0]!.ack).to.equal(info.rcvNxt);
    from({ ...base, seq: info.rcvNxt + 1_000_000, ack: 0, flags: SYN });
    expect(out).to.have.length(2);
    expect(out[1]!.flags).to.equal(ACK);
    expect(out[1]!.ack).to.equal(info.rcvNxt);
    expect(timeWaitInfos(A)[0]!.segmentsIn).to.equal(info.segmentsIn + 2);
    // The 4-tuple stays taken while TIME-WAIT lasts (with reuse off: with it on, a connect
    // naming the port takes a record that saw timestamps, time-wait-reuse-bound.test.ts).
    stack.timeWaitReuse = false;
    const again = connect({ via: a, host: B, port: info.remotePort, localPort: info.localPort });
    const [err] = (await within(once(again, 'error'), 2000, 'EADDRINUSE')) as [NodeJS.ErrnoException];
    expect(err.code).to.equal('EADDRINUSE');
  });

  it('timeWaitCount counts the records and the TIME-WAIT connections not compacted, as the inventory lists them, without building a TCP_INFO', async () => {
    await cycles(3, 5000);
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitRecords === 3, 2000, 'three records');
    // A fourth client whose echo stays unread: TIME-WAIT, but its socket still holds the
    // connection (unread data), so it is not compacted.
    const port = server.address()!.port;
    const s = connect({ via: a, host: B, port, msl: 5000 });
    s.on('error', () => {});
    await once(s, 'connect');
    s.end(Buffer.from('ping'));
    await until(() => timeWaitInfos(A).length === 4, 2000, 'a fourth TIME-WAIT');
    expect(stack.timeWaitRecords).to.equal(3);
    const { value, built } = infosBuiltBy(() => stack.timeWaitCount);
    expect(value).to.equal(4);
    expect(built, 'TCP_INFOs built to count').to.equal(0);
    s.destroy();
  });

  it('the stack totals read each connection\'s and record\'s retransmit counters in place, without building a TCP_INFO for each', async () => {
    await cycles(3, 5000);
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitRecords === 3, 2000, 'three records');
    const expected = { ...(stack as unknown as { closedRetransmits: Record<string, number> }).closedRetransmits };
    for (const info of timeWaitInfos(A)) for (const [k, v] of Object.entries(info.retransmits)) expected[k] = (expected[k] ?? 0) + v;
    const { value, built } = infosBuiltBy(() => stack.stats());
    expect(value.retransmits).to.deep.equal(expected);
    expect(value.segmentsOut).to.be.above(0);
    expect(built, 'TCP_INFOs built for the totals').to.equal(0);
  });

  it('a record retains under 1,100 bytes of heap (1,470 with a TCP_INFO copy and a Map per record)', async function () {
    this.timeout(60_000);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const msl = 600_000;
    const port = await echoOnB(msl);
    const n = 1500;
    let left = n;
    const payload = Buffer.alloc(100, 7);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) {
          const s = connect({ via: a, host: B, port, msl });
          s.on('error', () => {});
          s.on('connect', () => s.end(payload));
          s.resume();
          await within(once(s, 'close'), 5000, 'close');
        }
      }),
    );
    const stack = TcpStack.for(a);
    await until(() => stack.timeWaitRecords === n, 5000, `${n} records`);
    const settled = async (): Promise<number> => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setImmediate(r));
        gc();
      }
      return process.memoryUsage().heapUsed;
    };
    const held = await settled();
    (stack as unknown as { timeWaits: { clear(): void } }).timeWaits.clear();
    const freed = await settled();
    expect(stack.timeWaitRecords).to.equal(0);
    const perRecord = (held - freed) / n;
    expect(perRecord, 'heap bytes per TIME-WAIT record').to.be.below(1100);
    expect(perRecord, 'the records were measured at all').to.be.above(200);
  });
});
