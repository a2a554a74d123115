/**
 * `overlay ss URL [-l] [-t] [-u]`: the sockets of a running overlay process, read from
 * its `/connections` endpoint and printed like `ss -tuna -i`.
 */
import { UsageError } from '../util/errors.js';
import { ApiError, request } from './http-json.js';
import { boolFlag, parseArgs, usage, type FlagSpecs } from './args.js';
import { SSTHRESH_INFINITE, type SocketEntry } from '../metrics/collectors.js';

const SPECS: FlagSpecs = {
  listening: { kind: 'boolean', short: 'l', description: 'listening sockets only' },
  tcp: { kind: 'boolean', short: 't', description: 'TCP sockets' },
  udp: { kind: 'boolean', short: 'u', description: 'UDP sockets' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};
const SYNOPSIS = 'overlay ss URL [-l] [-t] [-u]   (URL: http://HOST:PORT of a --metrics endpoint, or HOST:PORT)';

/** Accepts `http://h:p`, `http://h:p/connections` or `h:p`; returns the /connections URL. */
export function connectionsUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new UsageError(`bad URL '${text}'`);
  }
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/connections';
  return u.toString();
}

const ms = (v: number | null | undefined): string => (typeof v === 'number' ? `${(Math.round(v * 1000) / 1000).toString()}` : '-');
const bytes = (v: number | null | undefined): string => (typeof v === 'number' ? String(v) : '-');
/** Like Linux ss: ssthresh is shown only once it is no longer the initial "infinite" value. */
const ssthresh = (v: number | null | undefined): string => (typeof v === 'number' && v < SSTHRESH_INFINITE ? ` ssthresh:${v}` : '');

/** Formats the socket table (exported for tests). */
export function formatTable(entries: SocketEntry[], opts: { listening?: boolean; tcp?: boolean; udp?: boolean } = {}): string {
  const wantTcp = opts.tcp || !opts.udp;
  const wantUdp = opts.udp || !opts.tcp;
  const rows: string[][] = [];
  const info: Array<string | undefined> = [];
  for (const e of entries) {
    if (e.proto === 'tcp' && !wantTcp) continue;
    if (e.proto === 'udp' && !wantUdp) continue;
    const isListen = e.kind === 'listener' || e.kind === 'link' || (e.kind === 'socket' && e.remoteAddress === undefined);
    if (opts.listening && !isListen) continue;
    if (e.kind === 'listener') {
      rows.push(['tcp', 'LISTEN', String(e.acceptQueue), String(e.backlog), `${e.localAddress}:${e.localPort}`, '*:*']);
      info.push(undefined);
    } else if (e.kind === 'connection') {
      rows.push(['tcp', e.state, String(e.recvQueue), String(e.sendQueue), `${e.localAddress}:${e.localPort}`, `${e.remoteAddress}:${e.remotePort}`]);
      const r = e.retransmits ?? {};
      const retrans = Object.values(r).reduce((a: number, b) => a + (b as number), 0);
      info.push(
        `\t ${e.cc} mss:${e.mss}${e.pathMtu !== undefined ? ` pmtu:${e.pathMtu}` : ''} cwnd:${bytes(e.cwnd)}${ssthresh(e.ssthresh)} rtt:${ms(e.srtt)}/${ms(e.rttvar)} rto:${ms(e.rto)}` +
          ` minrtt:${ms(e.minRtt)} bytes_in_flight:${e.bytesInFlight} bytes_sent:${e.bytesSent} bytes_acked:${e.bytesAcked}` +
          ` bytes_received:${e.bytesReceived} segs_out:${e.segmentsOut} segs_in:${e.segmentsIn} retrans:${retrans}` +
          ` (${Object.entries(r).filter(([, n]) => (n as number) > 0).map(([k, n]) => `${k}:${n as number}`).join(',') || 'none'})` +
          ` snd_wnd:${e.sndWnd} rcv_wnd:${e.rcvWnd}${e.inRecovery ? ' recovery' : ''}`,
      );
    } else if (e.kind === 'link') {
      // A host's real UDP socket: Recv-Q is the kernel's queue (bytes charged, truesize).
      rows.push(['udp', 'UNCONN', bytes(e.rxQueue), '0', `${e.localAddress}:${e.localPort}`, '*:*']);
      info.push(`\t overlay_host:${e.host} rcvbuf:${e.recvBuffer} capacity:${e.receiveCapacity} kernel_drops:${bytes(e.kernelDrops)}` +
          ` gso:${e.gso > 0 ? e.gso : 'off'} gro:${e.gro ? 'on' : 'off'} trains_out:${e.trainsOut}/${e.trainDatagramsOut} trains_in:${e.trainsIn}/${e.trainDatagramsIn}` +
          ` batch_reads:${e.batchReads ? `${e.batchReadCalls}/${e.batchDatagramsIn}` : 'off'}` +
          ` direct_out:${e.directSends ? e.directDatagramsOut : 'off'}`);
    } else {
      const peer = e.remoteAddress !== undefined ? `${e.remoteAddress}:${e.remotePort}` : '*:*';
      rows.push(['udp', e.remoteAddress !== undefined ? 'ESTAB' : 'UNCONN', '0', '0', `${e.localAddress}:${e.localPort}`, peer]);
      info.push(`\t datagrams_in:${e.datagramsIn} datagrams_out:${e.datagramsOut} bytes_in:${e.bytesIn} bytes_out:${e.bytesOut}`);
    }
  }
  const header = ['Netid', 'State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header)];
  rows.forEach((r, i) => {
    out.push(line(r));
    if (info[i]) out.push(info[i]!);
  });
  return out.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, SPECS);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, SPECS) + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(`expected one URL (${SYNOPSIS})`);
  const url = connectionsUrl(p.positional[0]!);
  let entries: SocketEntry[];
  try {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const json = await request({ address: u.hostname.replace(/^\[|\]$/g, ''), port }, 'GET', u.pathname + u.search, undefined, 'the metrics endpoint');
    if (!Array.isArray(json)) throw new ApiError(1, `${url} did not return a JSON array`);
    entries = json as SocketEntry[];
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    process.stderr.write(`overlay: ${e.message}\n`);
    return 1;
  }
  process.stdout.write(
    formatTable(entries, { listening: boolFlag(p, 'listening'), tcp: boolFlag(p, 'tcp'), udp: boolFlag(p, 'udp') }),
  );
  return 0;
}
