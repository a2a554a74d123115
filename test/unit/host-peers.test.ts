import { expect } from 'chai';
import fc from 'fast-check';
import { PeerTable } from '../../src/host/peers.js';
import { TokenBucket, isIcmpError } from '../../src/host/icmp.js';
import { prefixMask } from '../../src/wire/addr.js';

describe('host: peer table (longest-prefix match)', () => {
  it('picks the longest matching prefix', () => {
    const t = new PeerTable();
    t.add('0.0.0.0/0', { address: '127.0.0.1', port: 1 });
    t.add('10.77.0.0/16', { address: '127.0.0.1', port: 2 });
    t.add('10.77.1.0/24', { address: '127.0.0.1', port: 3 });
    t.add('10.77.1.9', { address: '127.0.0.1', port: 4 });
    const port = (a: number): number | undefined => t.lookup(a)?.port;
    expect(port(0x0a4d0109)).to.equal(4);
    expect(port(0x0a4d0108)).to.equal(3);
    expect(port(0x0a4d0208)).to.equal(2);
    expect(port(0x08080808)).to.equal(1);
    expect(t.remove('10.77.1.0/24')).to.equal(true);
    expect(port(0x0a4d0108)).to.equal(2);
    expect(t.remove('10.77.1.0/24')).to.equal(false);
    expect(t.remove('0.0.0.0/0')).to.equal(true);
    expect(port(0x08080808)).to.equal(undefined);
  });

  it('clears host bits of a prefix and replaces an existing route', () => {
    const t = new PeerTable();
    t.add('10.77.0.99/24', { address: '127.0.0.1', port: 1 });
    t.add('10.77.0.0/24', { address: '127.0.0.1', port: 2 });
    expect(t.routes()).to.have.length(1);
    expect(t.lookup(0x0a4d0001)?.port).to.equal(2);
  });

  it('rejects a bad prefix', () => {
    const t = new PeerTable();
    expect(() => t.add('10.77.0.0/33', { address: '127.0.0.1', port: 1 })).to.throw(TypeError);
    expect(() => t.add('10.77.0', { address: '127.0.0.1', port: 1 })).to.throw(TypeError);
  });

  it('agrees with a brute-force longest match on random tables (fast-check)', () => {
    const route = fc.record({ net: fc.integer({ min: 0, max: 0xffffffff }), len: fc.integer({ min: 0, max: 32 }) });
    fc.assert(
      fc.property(fc.array(route, { maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }), (routes, addrs) => {
        const t = new PeerTable();
        const ref: Array<{ net: number; len: number; port: number }> = [];
        routes.forEach((r, i) => {
          const net = (r.net & prefixMask(r.len)) >>> 0;
          t.add({ network: net, length: r.len }, { address: '127.0.0.1', port: i + 1 });
          const old = ref.findIndex((x) => x.net === net && x.len === r.len);
          if (old >= 0) ref.splice(old, 1);
          ref.push({ net, len: r.len, port: i + 1 });
        });
        // Also probe addresses inside the routes.
        for (const a of [...addrs, ...routes.map((r) => r.net)]) {
          let best: { len: number; port: number } | undefined;
          for (const r of ref) if (((a & prefixMask(r.len)) >>> 0) === r.net && (!best || r.len > best.len)) best = r;
          expect(t.lookup(a)?.port).to.equal(best?.port);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('host: ICMP error rate limit (token bucket)', () => {
  it('allows the burst, then the rate', () => {
    const b = new TokenBucket(1000, 50, 0);
    let n = 0;
    for (let i = 0; i < 200; i++) if (b.take(0)) n++;
    expect(n).to.equal(50);
    // 10 ms later: 10 more tokens at 1000/s.
    n = 0;
    for (let i = 0; i < 200; i++) if (b.take(10)) n++;
    expect(n).to.equal(10);
    // A long pause refills only to the burst.
    n = 0;
    for (let i = 0; i < 200; i++) if (b.take(10_000)) n++;
    expect(n).to.equal(50);
  });

  it('knows which ICMP types are errors', () => {
    expect([0, 3, 8, 11].map(isIcmpError)).to.deep.equal([false, true, false, true]);
  });
});
