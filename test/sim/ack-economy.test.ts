/**
 * ACK economy on a bulk transfer whose application reads as data arrives (every
 * onReadable): the receiver ACKs every second full-sized segment (RFC 5681 4.2 / RFC 1122
 * 4.2.3.2) and reading does not add a window-update ACK per segment; a window update is sent
 * only when the peer's view of the window is small (see Connection.read).
 */
import { expect } from 'chai';
import { runTransfer } from '../../src/sim/index.js';
import { defaultTcpConfig } from '../../src/tcp/config.js';

describe('sim: ACK economy', function () {
  this.timeout(20_000);

  for (const rcvBuf of [4 << 20, 256 << 10]) {
    it(`a reading receiver (rcvBuf ${rcvBuf >> 10} KiB) ACKs about every second segment, and the window never closes`, () => {
      const upload = Buffer.alloc(3_000_000, 0x41);
      const config = defaultTcpConfig({ cc: 'reno', pacing: false, msl: 500, rcvBuf, sndBuf: 1 << 20 });
      const r = runTransfer({ clientConfig: config, ab: { delay: 5 }, upload, maxTime: 60_000 });
      expect(r.ok).to.equal(true);
      const sent = r.client.getInfo(r.time).segmentsOut;
      const acks = r.server!.getInfo(r.time).segmentsOut;
      const dataSegs = Math.ceil(upload.length / r.client.getInfo(r.time).mss);
      expect(sent).to.be.at.least(dataSegs);
      expect(acks / dataSegs, `receiver segments ${acks} for ${dataSegs} data segments`).to.be.within(0.45, 0.6);
      expect(r.client.getInfo(r.time).retransmits.probe, 'zero-window probes').to.equal(0);
    });
  }
});
