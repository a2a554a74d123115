import { expect } from 'chai';
import fc from 'fast-check';
import { newTxSegment, TxQueue, type TxSegment } from '../../src/tcp/send.js';

describe('tcp: the retransmission queue (TxQueue, a ring buffer)', () => {
  it('behaves like an array under any sequence of pushes and front removals (wrap-around and growth included)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('shift'), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 400 }), fc.nat(30), (ops, initial) => {
        let seq = 0;
        const seg = (): TxSegment => newTxSegment(seq++, 1, false, false, 0);
        const model: TxSegment[] = Array.from({ length: initial }, seg);
        const q = new TxQueue(model);
        for (const op of ops) {
          if (op === 'shift') expect(q.shift()).to.equal(model.shift());
          else
            for (let k = 0; k < op; k++) {
              const s = seg();
              q.push(s);
              model.push(s);
            }
          expect(q.length).to.equal(model.length);
          expect(q.at(0)).to.equal(model[0]);
          expect(q.at(q.length - 1)).to.equal(model[model.length - 1]);
          expect(q.at(q.length)).to.equal(undefined);
          expect(q.at(-1)).to.equal(undefined);
        }
        expect(q.toArray()).to.deep.equal(model);
        expect([...q]).to.deep.equal(model);
        for (let i = 0; i < model.length; i++) expect(q.at(i)).to.equal(model[i]);
      }),
      { numRuns: 300 },
    );
  });
});
