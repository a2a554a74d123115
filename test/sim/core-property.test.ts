/**
 * Property (fast-check, virtual clock): random interleavings of loss, duplication, reordering
 * and jitter on a simulated link always deliver the exact byte stream both ways and end both
 * sides in CLOSED (the active closer after TIME-WAIT with a short MSL), for every recovery
 * style, with and without SACK/timestamps, with ISNs anywhere including near 2^32.
 * The property itself is in test/helpers/core-property.ts (the secure mode runs it too).
 */
import { exactDeliveryProperty } from '../helpers/core-property.js';

describe('sim: core property - exact delivery and clean close under random impairments', () => {
  it('delivers both byte streams exactly and closes both sides (40 random cases, seed 20261124)', () => {
    exactDeliveryProperty({}, { numRuns: 40, seed: 20261124 });
  });
});
