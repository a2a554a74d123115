/**
 * A connection's real timer (src/tcp/conn-timer.ts) on Node's timers: a coarse wait (at least
 * COARSE_WAIT_MS: the RTO, the TLP, the delayed ACK) is one setTimeout rounded up, never
 * early, and does not poll the event loop through its last millisecond with setImmediate; a
 * sub-millisecond deadline (pacing, RACK) still runs from setImmediate, at once.
 */
import { expect } from 'chai';
import { COARSE_WAIT_MS, ConnTimer } from '../../src/tcp/conn-timer.js';
import type { TcpConn } from '../../src/tcp/tcp-conn.js';

/** A stand-in for TcpConn with only what ConnTimer reads and writes. */
function fakeConn(timers: ConnTimer, deadline: () => number | undefined): TcpConn {
  const tc = {
    c: { nextDeadline: deadline },
    timer: undefined,
    timerIsImmediate: false,
    coarseWait: false,
    lastFiredAt: -Infinity,
    armedFor: Infinity,
    fire: (): void => timers.fired(tc as unknown as TcpConn),
    fireAfterPoll: (): void => timers.afterPoll(tc as unknown as TcpConn),
  };
  return tc as unknown as TcpConn;
}

/** Arms one deadline `wait` ms ahead; resolves with when it was serviced and how many setImmediate calls it took. */
async function armOnce(wait: number): Promise<{ deadline: number; firedAt: number; immediates: number }> {
  let immediates = 0;
  let tc: TcpConn | undefined;
  const realSetImmediate = globalThis.setImmediate;
  // Only this connection's immediates count: others may come from earlier tests' stacks.
  const counting = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
    if (tc && fn === tc.fire) immediates++;
    return realSetImmediate(fn, ...args);
  }) as typeof setImmediate;
  globalThis.setImmediate = counting;
  try {
    return await new Promise((resolve, reject) => {
      let deadline = 0;
      const cap = setTimeout(() => reject(new Error('the timer never fired')), 2_000);
      const timers = new ConnTimer(
        () => performance.now(),
        (_tc, now) => {
          clearTimeout(cap);
          resolve({ deadline, firedAt: now, immediates });
        },
      );
      deadline = performance.now() + wait;
      tc = fakeConn(timers, () => deadline);
      timers.arm(tc);
    });
  } finally {
    globalThis.setImmediate = realSetImmediate;
  }
}

describe('ConnTimer: coarse waits are one timer, short ones are precise', () => {
  it('a 10.9 ms wait (a TLP) fires at or after its deadline without polling through its last millisecond', async () => {
    expect(COARSE_WAIT_MS).to.be.at.most(10);
    // Five waits: each would otherwise fire up to 0.9 ms early and poll the rest with setImmediate.
    for (let i = 0; i < 5; i++) {
      const r = await armOnce(10.9);
      expect(r.firedAt, 'never early').to.be.at.least(r.deadline);
      // One immediate per setTimeout that fired (its callback runs after the poll): at most two.
      expect(r.immediates, `wait ${i}: setImmediate calls`).to.be.at.most(2);
    }
  });

  it('a 0.3 ms wait (a pacing release) runs from setImmediate, not a whole-millisecond setTimeout', async () => {
    const r = await armOnce(0.3);
    expect(r.firedAt).to.be.at.least(r.deadline);
    expect(r.immediates).to.be.at.least(1);
  });
});
