/**
 * `overlay cat [host flags] [-u] [-l] [-k] [-q SECONDS] [DEST] PORT`: netcat over the overlay.
 * Parses the flags (catFlagSpecs in ./common.ts; `catTarget(p)` validates DEST/PORT) and
 * runs the UDP mode (-u, ./cat-udp.ts) or the TCP mode (./cat-tcp.ts).
 */
import { boolFlag, parseArgs, usage } from './args.js';
import { catFlagSpecs } from './common.js';
import { runTcp } from './cat-tcp.js';
import { runUdp } from './cat-udp.js';

const SYNOPSIS = 'overlay cat --addr A.B.C.D [--peer PREFIX=HOST:PORT ...] [-u] [-l] [-k] [-q SECONDS] [DEST] PORT';

export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv, catFlagSpecs);
  if (boolFlag(p, 'help')) {
    process.stdout.write(usage(SYNOPSIS, catFlagSpecs) + '\n');
    return 0;
  }
  return boolFlag(p, 'dgram') ? runUdp(p) : runTcp(p);
}
