/**
 * The sliding anti-replay window of RFC 6479 (as WireGuard uses it): a ring of 32-bit
 * words; the window slides by whole words, so advancing clears words instead of shifting
 * bits. It accepts any counter it has not seen that is at most WINDOW below the highest
 * seen, and refuses duplicates and anything older.
 *
 * Call `check` only after the packet authenticated: an attacker must not move the window.
 */
const WORDS = 256; // 8192 bits
const WORD_BITS = 32;
/** Counters this far below the highest seen are still accepted (one word is the slack). */
export const REPLAY_WINDOW = (WORDS - 1) * WORD_BITS; // 8160

export class ReplayWindow {
  private readonly bitmap = new Uint32Array(WORDS);
  /** Highest counter accepted so far (-1: none). */
  last = -1;

  /** Accepts `counter` (true) and marks it seen, or refuses it as a replay or too old. */
  check(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    const index = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      const current = this.last < 0 ? -1 : Math.floor(this.last / WORD_BITS);
      let diff = index - current;
      if (diff > WORDS) diff = WORDS;
      for (let i = 1; i <= diff; i++) this.bitmap[(current + i) % WORDS] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW) {
      return false;
    }
    const w = index % WORDS;
    const bit = 1 << counter % WORD_BITS;
    if ((this.bitmap[w]! & bit) !== 0) return false;
    this.bitmap[w] = this.bitmap[w]! | bit;
    return true;
  }
}
