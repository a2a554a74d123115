/**
 * What every overlay command shares: the host flags, building a Host (and its
 * observability) from them, the "listening" line tests wait for, and shutdown hooks.
 *
 *   --addr A.B.C.D          this process's overlay address (required)
 *   --udp HOST:PORT         local UDP bind (port 0 = any; default 127.0.0.1:0)
 *   --peer PREFIX=HOST:PORT[,key=BASE64]  route an overlay prefix (address or CIDR) to a UDP
 *                           endpoint (repeatable); with key= the peer is reached only through
 *                           the secure mode (its public key, from `overlay keygen`)
 *   --key FILE              this host's private key: the secure mode (src/secure)
 *   --allow-plain           with --key: peers without key= stay plain FOU
 *   --pcap-outer FILE       with --key: record the outer (sealed) datagrams as IPv4/UDP
 *   --mtu N                 largest IPv4 packet (68..65507, default 1472)
 *   --learn                 learn a /32 route to the sender of a packet from an unknown source
 *   --metrics HOST:PORT, --pcap FILE, --trace FILE   observability (src/cli/observe.ts)
 */
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { Host, DEFAULT_MTU, MAX_MTU, MIN_MTU, type HostOptions } from '../host/host.js';
import type { UdpEndpoint } from '../host/types.js';
import { CC_NAMES, type CcName } from '../tcp/types.js';
import { UsageError } from '../util/errors.js';
import { parseEndpoint, parseIpv4, parsePrefix } from '../wire/addr.js';
import { listFlag, numberFlag, stringFlag, boolFlag, type FlagSpecs, type Parsed } from './args.js';
import { startObservability, type Observability } from './observe.js';
import { connectTimeoutFlag } from './connect-watch.js';
import { decodeKey } from '../secure/keys.js';
import { readKeyFile } from './keygen.js';
import { withSecureObservers } from './secure-observe.js';

export const hostFlagSpecs: FlagSpecs = {
  addr: { kind: 'string', description: 'overlay address of this host, A.B.C.D (required)' },
  udp: { kind: 'string', description: 'local UDP bind HOST:PORT, port 0 = any', default: '127.0.0.1:0' },
  peer: { kind: 'list', description: 'route PREFIX (A.B.C.D or A.B.C.D/N) to UDP HOST:PORT, as PREFIX=HOST:PORT[,key=PUBLIC_KEY] (repeatable)' },
  key: { kind: 'string', description: "secure mode: this host's private key FILE (overlay keygen); peers need key=" },
  'allow-plain': { kind: 'boolean', description: 'with --key: peers without key= are reached in plain FOU' },
  'pcap-outer': { kind: 'string', description: 'with --key: write the outer (encrypted) datagrams to this pcap FILE' },
  mtu: { kind: 'number', description: `largest IPv4 packet in bytes (${MIN_MTU}..${MAX_MTU})`, default: DEFAULT_MTU },
  learn: { kind: 'boolean', description: 'learn a /32 route to the UDP sender of a packet from an unknown source' },
  'no-offload': { kind: 'boolean', description: 'one UDP datagram per send and read call: no UDP GSO/GRO trains (on by default where Linux and koffi allow)' },
  metrics: { kind: 'string', description: 'serve Prometheus /metrics and /connections on HOST:PORT' },
  pcap: { kind: 'string', description: 'write every overlay packet to this pcap FILE' },
  trace: { kind: 'string', description: 'write TCP trace events to this FILE' },
  help: { kind: 'boolean', short: 'h', description: 'show this help' },
};

/** Validates an overlay address flag value. */
export function parseAddressArg(name: string, text: string | undefined): string {
  if (text === undefined) throw new UsageError(`option --${name} is required`);
  if (parseIpv4(text) === undefined) throw new UsageError(`option --${name}: '${text}' is not an IPv4 address`);
  return text;
}

/** Parses HOST:PORT, resolving a host name to an IPv4 address (anti-spoofing compares addresses). */
export async function parseEndpointArg(name: string, text: string, allowZeroPort: boolean): Promise<UdpEndpoint> {
  const ep = parseEndpoint(text);
  if (!ep) throw new UsageError(`option --${name}: '${text}' is not HOST:PORT (port 0..65535)`);
  if (!allowZeroPort && ep.port === 0) throw new UsageError(`option --${name}: port 0 is not a destination in '${text}'`);
  if (isIPv4(ep.address)) return ep;
  try {
    const r = await lookup(ep.address, { family: 4 });
    return { address: r.address, port: ep.port };
  } catch {
    throw new UsageError(`option --${name}: cannot resolve '${ep.address}' to an IPv4 address`);
  }
}

/** Parses one --peer value PREFIX=HOST:PORT[,key=BASE64]. */
export async function parsePeerArg(text: string): Promise<{ prefix: string; endpoint: UdpEndpoint; publicKey?: Buffer }> {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(`option --peer: '${text}' is not PREFIX=HOST:PORT`);
  const prefix = text.slice(0, eq);
  if (!parsePrefix(prefix)) throw new UsageError(`option --peer: '${prefix}' is not an address or A.B.C.D/N prefix`);
  const [ep, ...extras] = text.slice(eq + 1).split(',');
  const out: { prefix: string; endpoint: UdpEndpoint; publicKey?: Buffer } = { prefix, endpoint: await parseEndpointArg('peer', ep!, false) };
  for (const x of extras) {
    if (!x.startsWith('key=')) throw new UsageError(`option --peer: unknown '${x}' in '${text}' (only key=PUBLIC_KEY)`);
    const key = decodeKey(x.slice(4));
    if (!key) throw new UsageError(`option --peer: '${x.slice(4)}' is not a public key (base64 of 32 bytes, from overlay keygen)`);
    out.publicKey = key;
  }
  return out;
}

/** The HostOptions the flags describe (validated; throws UsageError). */
export async function hostOptionsFromFlags(p: Parsed): Promise<HostOptions> {
  const address = parseAddressArg('addr', stringFlag(p, 'addr'));
  const udp = await parseEndpointArg('udp', stringFlag(p, 'udp') ?? '127.0.0.1:0', true);
  const mtu = numberFlag(p, 'mtu', MIN_MTU, MAX_MTU) ?? DEFAULT_MTU;
  const peers = [];
  for (const v of listFlag(p, 'peer')) peers.push(await parsePeerArg(v));
  const opts: HostOptions = { address, udp, mtu, peers, learn: boolFlag(p, 'learn') };
  if (boolFlag(p, 'no-offload')) opts.offload = false;
  const keyFile = stringFlag(p, 'key');
  const allowPlain = boolFlag(p, 'allow-plain');
  if (keyFile === undefined) {
    const keyed = peers.find((x) => x.publicKey);
    if (keyed) throw new UsageError(`option --peer: ${keyed.prefix} has key= but this host has no --key FILE (overlay keygen FILE writes one)`);
    if (allowPlain) throw new UsageError('option --allow-plain needs --key');
    if (stringFlag(p, 'pcap-outer') !== undefined) throw new UsageError('option --pcap-outer needs --key (in plain mode --pcap already shows the datagrams)');
    return opts;
  }
  const plain = peers.find((x) => !x.publicKey);
  if (plain && !allowPlain) throw new UsageError(`option --peer: ${plain.prefix} has no key= (give its public key, or --allow-plain)`);
  opts.key = await readKeyFile(keyFile);
  if (allowPlain) opts.allowPlain = true;
  return opts;
}

/** Builds the Host and starts observability (--metrics, --pcap, --trace) for it. */
export async function hostFromFlags(p: Parsed): Promise<{ host: Host; observe: Observability }> {
  const opts = await hostOptionsFromFlags(p);
  const metrics = stringFlag(p, 'metrics');
  if (metrics !== undefined) await parseEndpointArg('metrics', metrics, true);
  const host = await Host.create(opts);
  let observe: Observability;
  try {
    const o: { metrics?: string; pcap?: string; trace?: string } = {};
    if (metrics !== undefined) o.metrics = metrics;
    const pcap = stringFlag(p, 'pcap');
    if (pcap !== undefined) o.pcap = pcap;
    const trace = stringFlag(p, 'trace');
    if (trace !== undefined) o.trace = trace;
    observe = await startObservability([host], o);
    observe = await withSecureObservers(host, observe, stringFlag(p, 'pcap-outer'));
  } catch (e) {
    await host.close();
    throw e;
  }
  // Stopped by SIGINT/SIGTERM, whatever the command does: flush --pcap/--trace (runs after
  // the command's own cleanups; closing twice is harmless).
  onShutdown(() => observe.close());
  return { host, observe };
}

/**
 * The line tests (and people) wait for once a command is ready, on stderr:
 *   listening 10.77.0.3 udp=127.0.0.1:40123
 * followed by ` port=N` (the overlay port) when there is one.
 */
export function announceListening(host: Host, overlayPort?: number): void {
  const ep = host.endpoint;
  process.stderr.write(
    `listening ${host.addressString} udp=${ep.address}:${ep.port}${overlayPort !== undefined ? ` port=${overlayPort}` : ''}\n`,
  );
}

/** The flags of `overlay cat` (shared by the UDP and TCP modes; src/cli/cat.ts parses with them). */
export const catFlagSpecs: FlagSpecs = {
  ...hostFlagSpecs,
  dgram: { kind: 'boolean', short: 'u', description: 'UDP instead of TCP' },
  listen: { kind: 'boolean', short: 'l', description: 'listen on PORT instead of connecting to DEST PORT' },
  keep: { kind: 'boolean', short: 'k', description: 'with -l (TCP): keep listening after a client leaves' },
  quit: { kind: 'number', short: 'q', description: 'after EOF on stdin, wait SECONDS then quit (default: keep running; TCP: half-close)' },
  cc: { kind: 'string', description: 'TCP congestion control: tahoe, reno, newreno, cubic, bbr (default cubic)' },
  nodelay: { kind: 'boolean', description: 'TCP: disable Nagle (send small writes at once)' },
  'classic-acks': { kind: 'boolean', description: 'TCP: ACK every second segment instead of once per receive burst (coalesceAcks: false)' },
  'connect-timeout': connectTimeoutFlag,
};

/** `--cc NAME`, `--nodelay` and `--classic-acks` as TCP socket options; a bad name is a UsageError. */
export function tcpOptionsFromFlags(p: Parsed): { cc?: CcName; noDelay?: boolean; coalesceAcks?: boolean } {
  const out: { cc?: CcName; noDelay?: boolean; coalesceAcks?: boolean } = {};
  const cc = p.flags['cc'];
  if (cc !== undefined) {
    if (!(CC_NAMES as readonly string[]).includes(String(cc))) {
      throw new UsageError(`option --cc: '${cc}' is not one of ${CC_NAMES.join(', ')}`);
    }
    out.cc = cc as CcName;
  }
  if (p.flags['nodelay'] === true) out.noDelay = true;
  if (p.flags['classic-acks'] === true) out.coalesceAcks = false;
  return out;
}

export interface CatTarget {
  listen: boolean;
  keep: boolean;
  /** -q: seconds to linger after stdin EOF, if given. */
  quitAfterEofS: number | undefined;
  /** The destination (connect mode) or the local bind address (listen mode, optional). */
  address: string | undefined;
  port: number;
}

/** Validates cat's positional arguments: `DEST PORT`, or with -l `[ADDR] PORT`. */
export function catTarget(p: Parsed): CatTarget {
  const listen = boolFlag(p, 'listen');
  const pos = p.positional;
  const want = listen ? 'PORT or ADDR PORT' : 'DEST PORT';
  if (listen ? pos.length < 1 || pos.length > 2 : pos.length !== 2) throw new UsageError(`cat needs ${want}`);
  const portText = pos[pos.length - 1]!;
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535 || (port === 0 && !listen)) {
    throw new UsageError(`cat: '${portText}' is not a port (${listen ? 0 : 1}..65535)`);
  }
  const address = pos.length === 2 ? pos[0]! : undefined;
  if (address !== undefined && parseIpv4(address) === undefined) throw new UsageError(`cat: '${address}' is not an IPv4 address`);
  return {
    listen,
    keep: boolFlag(p, 'keep'),
    quitAfterEofS: numberFlag(p, 'quit', 0, 86400, false),
    address,
    port,
  };
}

type Cleanup = (signal: NodeJS.Signals) => void | Promise<void>;
const cleanups: Cleanup[] = [];
let installed = false;
let shuttingDown = false;

/**
 * Runs `fn` once on the first SIGINT or SIGTERM (all registered cleanups run, latest
 * first), then exits with process.exitCode if a cleanup set it, else 128 + signal number.
 * Returns a function that unregisters `fn`.
 */
export function onShutdown(fn: Cleanup): () => void {
  cleanups.push(fn);
  if (!installed) {
    installed = true;
    const handle = (signal: NodeJS.Signals): void => {
      if (shuttingDown) return;
      shuttingDown = true;
      void (async () => {
        for (const c of cleanups.splice(0).reverse()) {
          try {
            await c(signal);
          } catch {
            // A failing cleanup must not stop the others.
          }
        }
        const code = typeof process.exitCode === 'number' ? process.exitCode : 128 + (signal === 'SIGINT' ? 2 : 15);
        process.exit(code);
      })();
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  }
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}
