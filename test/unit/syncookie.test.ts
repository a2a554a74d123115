import { expect } from 'chai';
import fc from 'fast-check';
import {
  COOKIE_MSS_TABLE,
  COOKIE_PERIOD_MS,
  checkCookie,
  cookieTsval,
  halfSipHash24,
  halfSipHash24x4,
  makeCookie,
  mssIndex,
  newCookieSecret,
  SynCookieJar,
  type SegmentView,
} from '../../src/tcp/syncookie.js';
import { ACK, RST, SYN } from '../../src/wire/tcp.js';
import type { FourTuple } from '../../src/tcp/types.js';

// Official HalfSipHash-2-4 32-bit vectors (veorq/SipHash vectors_hsip32): key 00..07,
// message 00..len-1, output read little-endian.
const HSIP32_VECTORS = [
  0x5b9f35a9, 0xb85a4727, 0x03a662fa, 0x04e7fe8a, 0x89466e2a, 0x69b6fac5, 0x23fc6358, 0xc563cf8b, 0x8f84b8d0,
  0x79e706f8, 0x3479b094, 0x50300808, 0x2f87f057, 0xff63e677, 0x7cf8ffd6, 0x972bfe74, 0x84acb5d9, 0x5b6474c4,
  0x9b8d5b46, 0x87e3ef7b, 0x45104de3,
];

const tupleArb = fc.record({
  localAddr: fc.nat({ max: 0xffffffff }),
  localPort: fc.nat({ max: 0xffff }),
  remoteAddr: fc.nat({ max: 0xffffffff }),
  remotePort: fc.nat({ max: 0xffff }),
});
const u32 = fc.nat({ max: 0xffffffff });
// Any time in a long-running process (up to ~1 year of ms), so counters wrap their 8 bits.
const timeArb = fc.double({ min: 0, max: 3.2e10, noNaN: true });

const T: FourTuple = { localAddr: 0x0a4d0001, localPort: 80, remoteAddr: 0x0a4d0002, remotePort: 40000 };

describe('syncookie', () => {
  describe('HalfSipHash-2-4', () => {
    it('matches the reference test vectors', () => {
      const key = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
      HSIP32_VECTORS.forEach((want, len) => {
        const msg = Uint8Array.from({ length: len }, (_, i) => i);
        expect(halfSipHash24(key, msg), `length ${len}`).to.equal(want);
      });
    });

    it('the four-word fast path equals the byte-string algorithm', () => {
      fc.assert(
        fc.property(u32, u32, u32, u32, u32, u32, (k0, k1, a, b, c, d) => {
          const key = Buffer.alloc(8);
          key.writeUInt32LE(k0, 0);
          key.writeUInt32LE(k1, 4);
          const msg = Buffer.alloc(16);
          [a, b, c, d].forEach((w, i) => msg.writeUInt32LE(w, 4 * i));
          return halfSipHash24x4(k0, k1, a, b, c, d) === halfSipHash24(key, msg);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('MSS encoding', () => {
    it('maps an MSS to the largest table entry not above it', () => {
      expect(COOKIE_MSS_TABLE).to.deep.equal([536, 1300, 1440, 1460]);
      expect(COOKIE_MSS_TABLE[mssIndex(100)]).to.equal(536);
      expect(COOKIE_MSS_TABLE[mssIndex(536)]).to.equal(536);
      expect(COOKIE_MSS_TABLE[mssIndex(1299)]).to.equal(536);
      expect(COOKIE_MSS_TABLE[mssIndex(1432)]).to.equal(1300);
      expect(COOKIE_MSS_TABLE[mssIndex(1440)]).to.equal(1440);
      expect(COOKIE_MSS_TABLE[mssIndex(1459)]).to.equal(1440);
      expect(COOKIE_MSS_TABLE[mssIndex(9000)]).to.equal(1460);
    });

    it('round-trips the MSS index for any tuple, ISN and time', () => {
      const secret = newCookieSecret();
      fc.assert(
        fc.property(tupleArb, u32, fc.integer({ min: 1, max: 65535 }), timeArb, (t, isn, mss, now) => {
          const c = makeCookie(t, isn, mss, now, { secret });
          const d = checkCookie(t, c.isn, isn, now, undefined, { secret });
          return d !== undefined && d.mss === c.mss && c.mss === COOKIE_MSS_TABLE[mssIndex(mss)] && d.wscale === undefined;
        }),
        { numRuns: 5000 },
      );
    });
  });

  describe('timestamp-encoded options', () => {
    it('round-trips window scale and SACK-permitted through TSval/TSecr', () => {
      const secret = newCookieSecret();
      const wsArb = fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined });
      fc.assert(
        fc.property(tupleArb, u32, timeArb, u32, wsArb, fc.boolean(), (t, isn, now, tsNow, wscale, sackOk) => {
          const ts = wscale === undefined ? { tsNow, sackOk } : { tsNow, sackOk, wscale };
          const c = makeCookie(t, isn, 1460, now, { secret, timestamps: ts });
          expect(c.tsval).to.be.a('number');
          const d = checkCookie(t, c.isn, isn, now, c.tsval, { secret });
          expect(d).to.not.equal(undefined);
          expect(d!.mss).to.equal(1460);
          expect(d!.wscale).to.equal(wscale);
          expect(d!.sackOk).to.equal(sackOk);
          expect(d!.timestamps).to.equal(true);
        }),
        { numRuns: 3000 },
      );
    });

    it('TSval is never ahead of the clock and at most 63 ticks behind', () => {
      fc.assert(
        fc.property(u32, fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }), fc.boolean(), (tsNow, wscale, sackOk) => {
          const v = cookieTsval(wscale === undefined ? { tsNow, sackOk } : { tsNow, sackOk, wscale });
          const behind = (tsNow - v) >>> 0;
          return behind < 64;
        }),
        { numRuns: 5000 },
      );
    });

    it('a window shift above 14 clamps to 14 (RFC 7323 2.3) and an echoed 15 means none', () => {
      const secret = newCookieSecret();
      const c = makeCookie(T, 1, 1460, 0, { secret, timestamps: { tsNow: 1_000_000, wscale: 20, sackOk: false } });
      expect(checkCookie(T, c.isn, 1, 0, c.tsval, { secret })!.wscale).to.equal(14);
      const none = makeCookie(T, 1, 1460, 0, { secret, timestamps: { tsNow: 1_000_000, sackOk: true } });
      const d = checkCookie(T, none.isn, 1, 0, none.tsval, { secret })!;
      expect(d.wscale).to.equal(undefined);
      expect(d.sackOk).to.equal(true);
    });
  });

  describe('rejection', () => {
    it('rejects any change of the 4-tuple', () => {
      const secret = newCookieSecret();
      fc.assert(
        fc.property(tupleArb, u32, timeArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 0xffff }), (t, isn, now, field, delta) => {
          const c = makeCookie(t, isn, 1460, now, { secret });
          const other = { ...t };
          if (field === 0) other.localAddr = (other.localAddr + delta) >>> 0;
          if (field === 1) other.localPort = (other.localPort + delta) & 0xffff;
          if (field === 2) other.remoteAddr = (other.remoteAddr + delta) >>> 0;
          if (field === 3) other.remotePort = (other.remotePort + delta) & 0xffff;
          return checkCookie(other, c.isn, isn, now, undefined, { secret }) === undefined;
        }),
        { numRuns: 20000 },
      );
    });

    it('rejects a different client ISN and a different secret', () => {
      const secret = newCookieSecret();
      const c = makeCookie(T, 1000, 1460, 5000, { secret });
      expect(checkCookie(T, c.isn, 1000, 5000, undefined, { secret })).to.not.equal(undefined);
      expect(checkCookie(T, c.isn, 1000, 5000, undefined, { secret: newCookieSecret() })).to.equal(undefined);
      // The client ISN is added in, as in Linux: a shift of less than 4 moves the MSS
      // index (harmless: only the holder of the cookie can do it); a larger shift of the
      // low 24 bits lands outside the table, unless it happens to land on another valid
      // (counter, index) pair: as in Linux, 2 counters x 4 indices of 2^24, so about one
      // wrong ISN in two million passes (a borrow into the counter byte makes it the
      // previous one). Over 20,000 tries that is 0.01 expected: more than one is a bug.
      let accepted = 0;
      fc.assert(
        fc.property(tupleArb, u32, timeArb, fc.integer({ min: 4, max: (1 << 24) - 4 }), (t, isn, now, delta) => {
          const k = makeCookie(t, isn, 536, now, { secret });
          if (checkCookie(t, k.isn, (isn + delta) >>> 0, now, undefined, { secret }) !== undefined) accepted++;
        }),
        { numRuns: 20000 },
      );
      expect(accepted, 'wrong client ISNs accepted in 20,000').to.be.at.most(1);
    });

    it('accepts the current and previous counter, rejects older and future ones', () => {
      const secret = newCookieSecret();
      fc.assert(
        fc.property(tupleArb, u32, fc.integer({ min: 2, max: 1_000_000 }), (t, isn, period) => {
          const made = period * COOKIE_PERIOD_MS + 10;
          const c = makeCookie(t, isn, 1300, made, { secret });
          const at = (p: number): boolean => checkCookie(t, c.isn, isn, p, undefined, { secret }) !== undefined;
          expect(at(made)).to.equal(true);
          expect(at((period + 1) * COOKIE_PERIOD_MS - 1)).to.equal(true); // same counter
          expect(at((period + 1) * COOKIE_PERIOD_MS + 5)).to.equal(true); // previous counter
          expect(at((period + 2) * COOKIE_PERIOD_MS)).to.equal(false); // two periods old
          expect(at((period + 200) * COOKIE_PERIOD_MS)).to.equal(false);
          expect(at((period - 1) * COOKIE_PERIOD_MS)).to.equal(false); // from the future
        }),
        { numRuns: 2000 },
      );
    });

    it('random ACKs never validate (forged cookies)', () => {
      const secret = newCookieSecret();
      // A forged ACK passes with probability 2/256 * 4/2^24 ~ 1.9e-9: over 200,000 tries
      // the expected number of passes is 0.0004, so any pass is a bug.
      let passes = 0;
      fc.assert(
        fc.property(tupleArb, u32, u32, timeArb, (t, ack, isn, now) => {
          if (checkCookie(t, ack, isn, now, undefined, { secret }) !== undefined) passes++;
          return true;
        }),
        { numRuns: 200_000 },
      );
      expect(passes).to.equal(0);
    });

    it('forgeries with the right counter byte still fail (the 24-bit MAC holds)', () => {
      const secret = newCookieSecret();
      const now = 77 * COOKIE_PERIOD_MS;
      const real = makeCookie(T, 5, 1460, now, { secret });
      // Keep the top byte an attacker could predict, randomise the low 24 bits: passes
      // with probability 4/2^24 each, i.e. 0.012 expected in 50,000 tries.
      let passes = 0;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffffff }), (low) => {
          const forged = ((real.isn & 0xff000000) | low) >>> 0;
          if (forged !== real.isn && checkCookie(T, forged, 5, now, undefined, { secret }) !== undefined) passes++;
          return true;
        }),
        { numRuns: 50_000 },
      );
      expect(passes).to.be.at.most(1);
    });

    it('costs well under 10 us per cookie (fast enough to answer a flood)', () => {
      const secret = newCookieSecret();
      const n = 100_000;
      const t0 = process.hrtime.bigint();
      let x = 0;
      for (let i = 0; i < n; i++) {
        const tuple = { localAddr: T.localAddr, localPort: 80, remoteAddr: (0x0a4d0000 + i) >>> 0, remotePort: i & 0xffff };
        x ^= makeCookie(tuple, i, 1460, 1000, { secret }).isn;
      }
      const perCookieUs = Number(process.hrtime.bigint() - t0) / 1000 / n;
      expect(x).to.be.a('number');
      expect(perCookieUs).to.be.below(10);
    });
  });

  describe('SynCookieJar (the listener hook)', () => {
    const LOCAL = 0x0a4d0003;
    const REMOTE = 0x0a4d0002;
    const syn = (opts: SegmentView['options']): SegmentView => ({ srcPort: 40001, dstPort: 7, seq: 0xfffffff0, ack: 0, flags: SYN, options: opts });
    const ackFor = (s: SegmentView, iss: number, ecr?: number): SegmentView => ({
      srcPort: s.srcPort,
      dstPort: s.dstPort,
      seq: (s.seq + 1) >>> 0,
      ack: (iss + 1) >>> 0,
      flags: ACK,
      options: ecr === undefined ? {} : { ts: { val: 5, ecr } },
    });

    it('completes a handshake from the ACK alone, restoring wscale and SACK via TSecr', () => {
      const jar = new SynCookieJar({ localAddr: LOCAL, mss: 1432, sack: true, windowScale: true, timestampOptions: true });
      const s = syn({ mss: 1460, wscale: 7, sackPermitted: true, ts: { val: 99, ecr: 0 } });
      const c = jar.synAck(s, REMOTE, 1000, 123456);
      expect(c.mss).to.equal(1300);
      const r = jar.checkAck(ackFor(s, c.isn, c.tsval), REMOTE, 2000);
      expect(r).to.deep.equal({ mss: 1300, ts: true, sackPermitted: true, wscale: 7 });
      expect(jar.stats).to.deep.equal({ sent: 1, accepted: 1, rejected: 0 });
    });

    it('without timestamp options it restores only the MSS (as Linux without timestamps)', () => {
      const jar = new SynCookieJar({ localAddr: LOCAL, mss: 1432, sack: true, windowScale: true });
      const s = syn({ mss: 1460, wscale: 7, sackPermitted: true });
      const iss = jar.issForSyn(s, REMOTE, 1000);
      expect(jar.checkAck(ackFor(s, iss), REMOTE, 1000)).to.deep.equal({ mss: 1300, ts: false });
      // A SYN without an MSS option means 536 (RFC 9293 3.7.1).
      const s2 = syn({});
      const iss2 = jar.issForSyn(s2, REMOTE, 1000);
      expect(jar.checkAck(ackFor(s2, iss2), REMOTE, 1000)!.mss).to.equal(536);
    });

    it('ignores SYN, RST and ACK-less segments, another remote address, and counts rejections', () => {
      const jar = new SynCookieJar({ localAddr: LOCAL, mss: 1432, sack: true, windowScale: true });
      const s = syn({ mss: 1460 });
      const iss = jar.issForSyn(s, REMOTE, 1000);
      const good = ackFor(s, iss);
      expect(jar.checkAck({ ...good, flags: ACK | RST }, REMOTE, 1000)).to.equal(undefined);
      expect(jar.checkAck({ ...good, flags: ACK | SYN }, REMOTE, 1000)).to.equal(undefined);
      expect(jar.checkAck({ ...good, flags: 0 }, REMOTE, 1000)).to.equal(undefined);
      expect(jar.checkAck(good, REMOTE + 1, 1000)).to.equal(undefined);
      expect(jar.checkAck({ ...good, srcPort: 40002 }, REMOTE, 1000)).to.equal(undefined);
      expect(jar.checkAck(good, REMOTE, 1000)).to.not.equal(undefined);
      expect(jar.stats.rejected).to.equal(2);
    });
  });
});
