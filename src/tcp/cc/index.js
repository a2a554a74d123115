/**
 * Congestion-control factory: one file per algorithm behind the CongestionControl interface
 * (./types.ts). To add an algorithm, write `src/tcp/cc/<name>.ts` implementing the interface,
 * add its name to CcName/CC_NAMES in src/tcp/types.ts and one line to FACTORIES below.
 */
import { makeError } from '../../util/errors.js';
import { CC_NAMES } from '../types.js';
import { Reno } from './reno.js';
import { NewReno } from './newreno.js';
import { Tahoe } from './tahoe.js';
import { Cubic } from './cubic.js';
import { Bbr } from './bbr.js';
export { Reno } from './reno.js';
export { NewReno } from './newreno.js';
export { Tahoe } from './tahoe.js';
export { Cubic, cubicK, cubicWindow, CUBIC_C, CUBIC_BETA, CUBIC_ALPHA } from './cubic.js';
export { HyStartPlusPlus, HYSTART } from './hystart.js';
export { Bbr, BBR } from './bbr.js';
const FACTORIES = {
    tahoe: (o) => new Tahoe(o),
    reno: (o) => new Reno(o),
    newreno: (o) => new NewReno(o),
    cubic: (o) => new Cubic(o),
    bbr: (o) => new Bbr(o),
};
/** Create the named algorithm. Throws ERR_INVALID_ARG_VALUE for an unknown name. */
export function createCongestionControl(name, opts) {
    const factory = Object.prototype.hasOwnProperty.call(FACTORIES, name) ? FACTORIES[name] : undefined;
    if (!factory) {
        throw makeError('ERR_INVALID_ARG_VALUE', undefined, {
            message: `unknown congestion control ${JSON.stringify(name)}; valid: ${CC_NAMES.join(', ')}`,
        });
    }
    if (!(opts.mss > 0)) {
        throw makeError('ERR_INVALID_ARG_VALUE', undefined, { message: `mss must be a positive number, got ${opts.mss}` });
    }
    return factory(opts);
}
/** Type guard for user input (CLI flags, options objects). */
export function isCcName(name) {
    return typeof name === 'string' && CC_NAMES.includes(name);
}
