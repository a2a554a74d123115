/**
 * Cutting a GRO read of the secure mode into its sealed datagrams (src/secure/train.ts): by
 * the 8 bytes every data message of one session starts with.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { splitSealedTrain } from '../../src/secure/train.js';
import { DATA_OVERHEAD, MSG_DATA } from '../../src/secure/session.js';

/** A data message of `len` bytes to session `index`: header, counter, random "ciphertext". */
function sealed(len: number, index: number, counter: number): Buffer {
  const b = randomBytes(len);
  b[0] = MSG_DATA;
  b[1] = b[2] = b[3] = 0;
  b.writeUInt32LE(index, 4);
  b.writeUInt32LE(counter, 8);
  b.writeUInt32LE(0, 12);
  return b;
}

function cut(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  expect(splitSealedTrain(buf, (d) => out.push(d))).to.equal(out.length);
  return out;
}

describe('secure: splitSealedTrain', () => {
  it('passes one datagram on whole', () => {
    const d = sealed(1472, 7, 1);
    expect(cut(d)).to.deep.equal([d]);
  });

  it('cuts a train of one session at the repeated header, the last piece shorter', () => {
    const parts = [sealed(1472, 7, 1), sealed(1472, 7, 2), sealed(1472, 7, 3), sealed(300, 7, 4)];
    const out = cut(Buffer.concat(parts));
    expect(out.map((d) => d.length)).to.deep.equal([1472, 1472, 1472, 300]);
    out.forEach((d, i) => expect(d.equals(parts[i]!)).to.equal(true));
  });

  it('passes on whole what does not cut cleanly: another session mid-train, a handshake message, a last piece under 32 bytes', () => {
    expect(cut(Buffer.concat([sealed(1472, 7, 1), sealed(1472, 8, 1)]))).to.have.length(1);
    const init = Buffer.concat([sealed(148, 7, 0), sealed(148, 7, 1)]);
    init[0] = 1;
    expect(cut(init)).to.have.length(1);
    expect(cut(Buffer.concat([sealed(1472, 7, 1), sealed(1472, 7, 2), sealed(DATA_OVERHEAD, 7, 3).subarray(0, 20)]))).to.have.length(1);
  });

  it('gives back exactly its input, cut as sent, for any train', () => {
    fc.assert(
      fc.property(fc.integer({ min: DATA_OVERHEAD + 8, max: 1472 }), fc.integer({ min: 1, max: 44 }), fc.integer({ min: DATA_OVERHEAD, max: 1472 }), fc.integer({ min: 1, max: 0xffffffff }), (size, n, last, index) => {
        const parts: Buffer[] = [];
        for (let i = 0; i < n - 1; i++) parts.push(sealed(size, index, i));
        parts.push(sealed(Math.min(size, last), index, n));
        const train = Buffer.concat(parts);
        const out = cut(train);
        expect(Buffer.concat(out).equals(train)).to.equal(true);
        expect(out.map((d) => d.length)).to.deep.equal(n === 1 ? [train.length] : parts.map((p) => p.length));
      }),
    );
  });
});
