/** RFC 6528 ISN generation: keyed per 4-tuple, advancing with a 4-microsecond clock. */
import { expect } from 'chai';
import { IsnGenerator, isnClock } from '../../src/tcp/isn.js';
import { seqDiff } from '../../src/tcp/seq.js';

const tuple = { localAddr: 0x0a4d0001, localPort: 80, remoteAddr: 0x0a4d0002, remotePort: 40000 };

describe('unit: ISN generator (RFC 6528)', () => {
  it('M is a 4-microsecond clock: 250 ticks per ms, modulo 2^32', () => {
    expect(isnClock(0)).to.equal(0);
    expect(isnClock(1)).to.equal(250);
    expect(isnClock(4.01)).to.equal(1002);
    expect(isnClock(2 ** 32 / 250 + 1)).to.equal(250);
  });

  it('the same tuple advances with time by exactly the clock', () => {
    const g = new IsnGenerator(Buffer.alloc(32, 1));
    const a = g.isn(tuple, 1000);
    const b = g.isn(tuple, 1010);
    expect(seqDiff(b, a)).to.equal(2500);
  });

  it('different tuples and different keys give unrelated ISNs', () => {
    const g = new IsnGenerator(Buffer.alloc(32, 1));
    const h = new IsnGenerator(Buffer.alloc(32, 2));
    const base = g.isn(tuple, 0);
    const others = [
      g.isn({ ...tuple, remotePort: 40001 }, 0),
      g.isn({ ...tuple, remoteAddr: 0x0a4d0003 }, 0),
      g.isn({ ...tuple, localPort: 81 }, 0),
      h.isn(tuple, 0),
    ];
    for (const o of others) expect(o).to.not.equal(base);
    expect(new Set(others).size).to.equal(others.length);
    // Deterministic for a given key.
    expect(new IsnGenerator(Buffer.alloc(32, 1)).isn(tuple, 0)).to.equal(base);
  });

  it('random keys by default: two generators disagree', () => {
    expect(new IsnGenerator().isn(tuple, 0)).to.not.equal(new IsnGenerator().isn(tuple, 0));
  });

  it('ISNs are 32-bit unsigned', () => {
    const g = new IsnGenerator();
    for (let t = 0; t < 1e7; t += 123457) {
      const x = g.isn(tuple, t);
      expect(Number.isInteger(x) && x >= 0 && x <= 0xffffffff).to.equal(true);
    }
  });
});
