/**
 * The core property of test/sim/core-property.test.ts, shared so that it runs unchanged
 * over other link layers (test/sim/secure-property.test.ts: the secure mode): random
 * interleavings of loss, duplication, reordering and jitter on a simulated link always
 * deliver the exact byte stream both ways and end both sides in CLOSED, for every recovery
 * style, with and without SACK/timestamps, with ISNs anywhere including near 2^32.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { runTransfer, type TransferOptions, type TransferResult } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';
import type { CcName } from '../../src/tcp/types.js';

/**
 * Asserts the property on `numRuns` random cases from `seed`; `over` is merged into every
 * runTransfer (e.g. `{ secure: true }`), `check` sees each result after the property's own
 * assertions.
 */
export function exactDeliveryProperty(over: Partial<TransferOptions>, params: { numRuns: number; seed: number }, check?: (r: TransferResult) => void): void {
  const impairment = fc.record({
    delay: fc.integer({ min: 1, max: 40 }),
    jitter: fc.integer({ min: 0, max: 20 }),
    loss: fc.integer({ min: 0, max: 12 }).map((x) => x / 100),
    duplicate: fc.integer({ min: 0, max: 8 }).map((x) => x / 100),
    reorder: fc.integer({ min: 0, max: 15 }).map((x) => x / 100),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
  });
  fc.assert(
    fc.property(
      fc.record({
        cc: fc.constantFrom<CcName>('tahoe', 'reno', 'newreno', 'cubic'),
        sack: fc.boolean(),
        timestamps: fc.boolean(),
        windowScale: fc.boolean(),
        noDelay: fc.boolean(),
        rcvBuf: fc.constantFrom(8_000, 65_535, 1 << 20),
        up: fc.integer({ min: 0, max: 40_000 }),
        down: fc.integer({ min: 0, max: 40_000 }),
        clientIss: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffffff - 30_000, max: 0xffffffff })),
        serverIss: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffffff - 30_000, max: 0xffffffff })),
        ab: impairment,
        ba: impairment,
        fill: fc.integer({ min: 0, max: 255 }),
      }),
      (p) => {
        const up = Buffer.alloc(p.up);
        const down = Buffer.alloc(p.down);
        for (let i = 0; i < up.length; i++) up[i] = (i * 31 + p.fill) & 0xff;
        for (let i = 0; i < down.length; i++) down[i] = (i * 17 + p.fill + 1) & 0xff;
        const cfg = defaultTcpConfig({
          cc: p.cc,
          sack: p.sack,
          timestamps: p.timestamps,
          windowScale: p.windowScale,
          noDelay: p.noDelay,
          rcvBuf: p.rcvBuf,
          msl: 300,
          maxRetries: 30,
          synRetries: 30,
          maxRto: 5000,
        });
        const r = runTransfer({
          ...over,
          clientConfig: cfg,
          ab: p.ab,
          ba: p.ba,
          upload: up,
          download: down,
          clientIss: p.clientIss,
          serverIss: p.serverIss,
          maxTime: 900_000,
        });
        expect(r.serverReceived.length, 'upload length').to.equal(up.length);
        expect(r.serverReceived.equals(up), 'upload bytes').to.equal(true);
        expect(r.clientReceived.equals(down), 'download bytes').to.equal(true);
        expect(r.client.state, 'client state').to.equal('CLOSED');
        expect(r.server?.state, 'server state').to.equal('CLOSED');
        expect(r.client.error, 'client error').to.equal(undefined);
        check?.(r);
      },
    ),
    { numRuns: params.numRuns, seed: params.seed },
  );
}
