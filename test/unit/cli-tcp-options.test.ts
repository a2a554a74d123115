/** `overlay cat`'s TCP flags become socket options; a bad value is a UsageError (exit 2). */
import { expect } from 'chai';
import { parseArgs } from '../../src/cli/args.js';
import { catFlagSpecs, tcpOptionsFromFlags } from '../../src/cli/common.js';
import { UsageError } from '../../src/util/errors.js';

const opts = (argv: string[]) => tcpOptionsFromFlags(parseArgs(argv, catFlagSpecs));

describe('unit: overlay cat TCP options', () => {
  it('no flags: the defaults (nothing overridden)', () => {
    expect(opts(['10.77.0.3', '7'])).to.deep.equal({});
  });

  it('--cc, --nodelay and --classic-acks map to cc, noDelay and coalesceAcks: false', () => {
    expect(opts(['--cc', 'reno', '--nodelay', '--classic-acks', '10.77.0.3', '7'])).to.deep.equal({ cc: 'reno', noDelay: true, coalesceAcks: false });
  });

  it('an unknown congestion control is a usage error naming the valid ones', () => {
    expect(() => opts(['--cc', 'vegas', '10.77.0.3', '7'])).to.throw(UsageError, /vegas.*reno/);
  });
});
