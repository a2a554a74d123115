#!/usr/bin/env node
/**
 * `overlay COMMAND ...`: each command is a module `src/cli/<command>.ts` exporting
 * `run(argv: string[]): Promise<number>` (the exit status). A user error is one line on
 * stderr and exit status 2 (usage) or 1 (runtime failure); never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import { guardStdout } from './stdout.js';

export interface CommandModule {
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, string> = {
  ping: 'send ICMP echo requests to an overlay host',
  cat: 'netcat over overlay TCP (or UDP with -u)',
  proxy: 'the chaos proxy: a router or relay that impairs traffic',
  chaos: 'change a running proxy\'s impairments through its HTTP API',
  ss: 'list a process\'s sockets from its /connections endpoint',
  plot: 'draw cwnd, sequence or RTT plots from a trace as SVG',
  demo: 'run the multi-process streaming demo through the chaos proxy',
  forward: 'forward real TCP ports to the overlay and back (like ssh -L/-R)',
  socks: 'a SOCKS5 proxy whose targets are overlay hosts',
  perf: 'measure overlay TCP throughput between two hosts, iperf3-style',
  keygen: 'write a key pair for the secure mode and print the public key',
  bench: 'run the benchmark suites (udp, tcp, proxy, cc, metrics, linux) in a source checkout',
};

/** The package's version, from package.json (three levels above dist/src/cli/main.js). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const rows = Object.entries(COMMANDS).map(([n, d]) => `  ${n.padEnd(8)} ${d}`);
  return ['usage: overlay COMMAND [options]', '       overlay --version', '', 'commands:', ...rows, '', "Run 'overlay COMMAND --help' for a command's options.", 'Exit status: 0 success, 1 runtime failure (e.g. EADDRINUSE, ECONNREFUSED), 2 usage error.'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(help() + '\n');
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`overlay ${version()}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, cmd)) throw new UsageError(`unknown command '${cmd}' (try 'overlay --help')`);
  const mod = (await import(`./${cmd}.js`)) as CommandModule;
  return mod.run(rest);
}

export function reportFatal(err: unknown): number {
  const e = err as { code?: string; message?: string };
  if (err instanceof UsageError) {
    process.stderr.write(`overlay: ${err.message}\n`);
    return 2;
  }
  const msg = e?.message ?? String(err);
  process.stderr.write(`overlay: ${msg}\n`);
  if (process.env.OVERLAY_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  // Usage errors (bad flags or values) exit 2, above; everything else is a runtime failure.
  return 1;
}

guardStdout();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.exitCode = reportFatal(err);
  },
);
