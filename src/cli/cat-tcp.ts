/** `overlay cat` over TCP. (Placeholder until the socket API lands; replaced by it.) */
import type { Parsed } from './args.js';
import { UsageError } from '../util/errors.js';

export async function runTcp(_p: Parsed): Promise<number> {
  throw new UsageError('TCP mode is not available yet; use -u for UDP');
}
