/**
 * The core property (test/helpers/core-property.ts, the same one test/sim/core-property
 * runs) over the secure mode: every segment crosses the simulated links as the secure
 * mode's datagrams (src/sim/secure.ts: Noise IK handshake, ChaCha20-Poly1305, the replay
 * window), so the links' loss, duplication and reordering hit handshake messages and
 * sealed data alike. Virtual time.
 */
import { expect } from 'chai';
import { exactDeliveryProperty } from '../helpers/core-property.js';
import type { SecureStats } from '../../src/secure/core.js';

/** What a duplicated or late datagram may cost on an impaired path; anything else is a bug. */
const EXPECTED_DROPS = new Set(['replay', 'handshake_replay', 'unknown_index']);

const dropsOf = (s: SecureStats): number => [...s.drops.values()].reduce((x, y) => x + y, 0);

describe('sim: core property over the secure mode', () => {
  it('delivers both byte streams exactly and closes both sides (40 random cases, seed 20261124), every segment sealed', () => {
    let duplicated = 0;
    let replays = 0;
    exactDeliveryProperty({ secure: true }, { numRuns: 40, seed: 20261124 }, (r) => {
      const { client, server } = r.secure!;
      // Segments really crossed as sealed datagrams, after a completed handshake.
      expect(client.sealed, 'client sealed').to.be.above(0);
      expect(server.sealed, 'server sealed').to.be.above(0);
      expect(client.opened + server.opened, 'opened').to.be.above(0);
      expect(client.handshakesCompleted + server.handshakesCompleted).to.be.at.least(2);
      for (const s of [client, server]) for (const reason of s.drops.keys()) expect(EXPECTED_DROPS, `drop reason ${reason}`).to.include(reason);
      // A drop needs a datagram the link duplicated, or a handshake message overtaken by a
      // retry: never more drops than duplicates and initiations together.
      expect(dropsOf(client) + dropsOf(server)).to.be.at.most(r.ab.stats.duplicated + r.ba.stats.duplicated + client.handshakeInitiations + server.handshakeInitiations);
      duplicated += r.ab.stats.duplicated + r.ba.stats.duplicated;
      replays += (client.drops.get('replay') ?? 0) + (server.drops.get('replay') ?? 0);
    });
    // Across the cases, duplicated data datagrams were refused by the replay window.
    expect(duplicated).to.be.above(0);
    expect(replays).to.be.above(0);
  });
});
