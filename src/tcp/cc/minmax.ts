/**
 * Windowed max filter (Kathleen Nichols' algorithm, as in Linux lib/win_minmax.c): the
 * running maximum of samples over a sliding window of "time", kept as the best, second-best
 * and third-best samples, so each update is O(1). Time may be any monotonic counter: ms for
 * BBR's min-RTT, or the ProbeBW cycle count for its max-bandwidth filter.
 */
interface Sample {
  t: number;
  v: number;
}

export class WindowedMax {
  private s: [Sample, Sample, Sample];

  constructor(readonly window: number) {
    const none = { t: -Infinity, v: 0 };
    this.s = [none, none, none];
  }

  get value(): number {
    return this.s[0].v;
  }

  reset(t: number, v: number): number {
    const x = { t, v };
    this.s = [x, x, x];
    return v;
  }

  update(t: number, v: number): number {
    const s = this.s;
    if (v >= s[0].v || t - s[2].t > this.window) return this.reset(t, v);
    if (v >= s[1].v) s[2] = s[1] = { t, v };
    else if (v >= s[2].v) s[2] = { t, v };
    return this.subwinUpdate(t, v);
  }

  /** Age out the best samples as the window moves, promoting the next-best ones. */
  private subwinUpdate(t: number, v: number): number {
    const s = this.s;
    const dt = t - s[0].t;
    if (dt > this.window) {
      s[0] = s[1];
      s[1] = s[2];
      s[2] = { t, v };
      if (t - s[0].t > this.window) {
        s[0] = s[1];
        s[1] = s[2];
      }
    } else if (s[1].t === s[0].t && dt > this.window / 4) {
      s[2] = s[1] = { t, v };
    } else if (s[2].t === s[1].t && dt > this.window / 2) {
      s[2] = { t, v };
    }
    return s[0].v;
  }
}
