/**
 * `overlay ping [host flags] DEST [-c N] [-i SECONDS] [-s SIZE] [-W TIMEOUT_S]`
 * ICMP echo over the overlay, printing like iputils ping:
 *   64 bytes from 10.77.0.3: icmp_seq=1 ttl=64 time=0.123 ms
 *   --- 10.77.0.3 ping statistics ---
 *   3 packets transmitted, 3 received, 0% packet loss, time 2003ms
 *   rtt min/avg/max/mdev = 0.101/0.120/0.140/0.016 ms
 * Exit status 0 when any reply came back, 1 when none, 2 on a usage error.
 */
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { UsageError } from '../util/errors.js';
import { numberFlag, parseArgs, usage, boolFlag, type FlagSpecs } from './args.js';
import { hostFlagSpecs, hostFromFlags, onShutdown } from './common.js';

const specs: FlagSpecs = {
  ...hostFlagSpecs,
  count: { kind: 'number', short: 'c', description: 'stop after N echo requests (default: until interrupted)' },
  interval: { kind: 'number', short: 'i', description: 'seconds between requests', default: 1 },
  size: { kind: 'number', short: 's', description: 'ICMP payload bytes', default: 56 },
  timeout: { kind: 'number', short: 'W', description: 'seconds to wait for each reply', default: 1 },
};

const SYNOPSIS = 'overlay ping --addr A.B.C.D [--peer PREFIX=HOST:PORT ...] DEST [-c N] [-i SECONDS] [-s SIZE] [-W TIMEOUT_S]';

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, specs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, specs) + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(`ping needs exactly one DEST (usage: ${SYNOPSIS})`);
  const destText = p.positional[0]!;
  const dest = parseIpv4(destText);
  if (dest === undefined) throw new UsageError(`ping: '${destText}' is not an IPv4 address`);
  const count = numberFlag(p, 'count', 1, 1e9);
  const intervalS = numberFlag(p, 'interval', 0.001, 3600, false)!;
  // 8 bytes of ICMP header + payload + 20 of IP must fit an IPv4 packet; the MTU check comes at send.
  const size = numberFlag(p, 'size', 0, 65507 - IPV4_HEADER_LEN - 8)!;
  const timeoutS = numberFlag(p, 'timeout', 0.001, 3600, false)!;

  const { host, observe } = await hostFromFlags(p);
  const destStr = formatIpv4(dest);
  process.stdout.write(`PING ${destStr} ${size}(${size + 28}) bytes of data.\n`);
  const rtts: number[] = [];
  let sent = 0;
  let stop = false;
  const started = performance.now();
  let wake: (() => void) | undefined;

  const finish = async (): Promise<number> => {
    const elapsed = Math.round(performance.now() - started);
    const received = rtts.length;
    const loss = sent === 0 ? 0 : Math.round(((sent - received) / sent) * 1000) / 10;
    process.stdout.write(`\n--- ${destStr} ping statistics ---\n`);
    process.stdout.write(`${sent} packets transmitted, ${received} received, ${loss}% packet loss, time ${elapsed}ms\n`);
    if (received > 0) {
      const min = Math.min(...rtts);
      const max = Math.max(...rtts);
      const avg = rtts.reduce((a, b) => a + b, 0) / received;
      const mdev = Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / received);
      process.stdout.write(`rtt min/avg/max/mdev = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)}/${mdev.toFixed(3)} ms\n`);
    }
    await observe.close();
    await host.close();
    return received > 0 ? 0 : 1;
  };

  onShutdown(async () => {
    stop = true;
    wake?.();
    process.exitCode = await finish();
  });

  const inFlight: Promise<void>[] = [];
  for (let seq = 1; !stop && (count === undefined || seq <= count); seq++) {
    sent++;
    const echo = host.echo(dest, { seq, size, timeoutMs: timeoutS * 1000 }).then(
      (r) => {
        rtts.push(r.rttMs);
        process.stdout.write(`${r.bytes} bytes from ${formatIpv4(r.from)}: icmp_seq=${seq} ttl=${r.ttl} time=${fmtRtt(r.rttMs)} ms\n`);
      },
      (e: { code?: string; message?: string }) => {
        if (e.code === 'ETIMEDOUT' || stop) return; // like ping: silence, counted as loss
        process.stdout.write(`From ${host.addressString} icmp_seq=${seq} ${e.code === 'EHOSTUNREACH' ? 'Destination Host Unreachable' : e.message}\n`);
      },
    );
    inFlight.push(echo);
    if (count !== undefined && seq === count) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, intervalS * 1000);
    });
  }
  await Promise.all(inFlight);
  if (stop) return new Promise<number>(() => {}); // the shutdown hook finishes and exits
  return finish();
}

function fmtRtt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(3);
}
