/**
 * A tiny hand-written SVG chart: linear axes with "nice" 1-2-5 ticks and units, grid,
 * shaded spans, step/line series as <polyline>, segment series as one <path>, point
 * markers, vertical event markers and a legend. No dependencies; the output is plain
 * SVG 1.1 that browsers, Inkscape and `rsvg-convert` open.
 */

export interface Point {
  x: number;
  y: number;
}

export interface LineSeries {
  kind: 'line';
  label: string;
  color: string;
  points: Point[];
  width?: number;
  dash?: string;
  /** Do not widen the y axis for this series (it is clipped at the top instead). */
  noExtent?: boolean;
}

/** Vertical bars from (x, y1) to (x, y2), drawn as one path (tcptrace-style segments). */
export interface BarSeries {
  kind: 'bars';
  label: string;
  color: string;
  bars: Array<{ x: number; y1: number; y2: number }>;
  width?: number;
}

export interface DotSeries {
  kind: 'dots';
  label: string;
  color: string;
  points: Point[];
  radius?: number;
}

export type Series = LineSeries | BarSeries | DotSeries;

/** A shaded x-range (a phase), labelled in the legend by `label`. */
export interface Span {
  x1: number;
  x2: number;
  label: string;
  color: string;
}

/** A vertical marker line at x (an event such as an RTO). */
export interface Marker {
  x: number;
  label: string;
  color: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  spans?: Span[];
  markers?: Marker[];
  width?: number;
  height?: number;
  /** Force the y axis to include 0 (default true). */
  yFromZero?: boolean;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Ticks at 1, 2 or 5 times a power of ten, about `target` of them, covering [min, max]. */
export function niceTicks(min: number, max: number, target = 6): { lo: number; hi: number; step: number; ticks: number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (max <= min) max = min + (min === 0 ? 1 : Math.abs(min) * 0.1);
  const raw = (max - min) / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo, hi, step, ticks };
}

/** A tick label with just enough decimals for the step. */
export function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/**
 * Keeps at most about 4 points per pixel column (first, min, max, last), preserving the
 * visual shape of a dense line while bounding the SVG's size.
 */
export function decimate(points: Point[], x0: number, x1: number, columns: number): Point[] {
  if (points.length <= columns * 4) return points;
  const out: Point[] = [];
  const w = (x1 - x0) / columns || 1;
  let col = NaN;
  let first: Point | undefined;
  let lo: Point | undefined;
  let hi: Point | undefined;
  let last: Point | undefined;
  const emit = (): void => {
    if (!first) return;
    const group = [first, lo!, hi!, last!].filter((p, i, a) => a.indexOf(p) === i);
    group.sort((a, b) => a.x - b.x);
    out.push(...group);
  };
  for (const p of points) {
    const c = Math.floor((p.x - x0) / w);
    if (c !== col) {
      emit();
      col = c;
      first = lo = hi = last = p;
    } else {
      if (p.y < lo!.y) lo = p;
      if (p.y > hi!.y) hi = p;
      last = p;
    }
  }
  emit();
  return out;
}

const f = (n: number): string => (Math.round(n * 10) / 10).toString();

export function renderChart(spec: ChartSpec): string {
  const W = spec.width ?? 960;
  const H = spec.height ?? 540;
  const m = { left: 80, right: 24, top: 44, bottom: 96 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;

  // Data extents.
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = spec.yFromZero === false ? Infinity : 0;
  let ymax = -Infinity;
  const seeX = (x: number): void => {
    if (Number.isFinite(x)) {
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
    }
  };
  const seeY = (y: number): void => {
    if (Number.isFinite(y)) {
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
  };
  for (const s of spec.series) {
    if (s.kind === 'bars') {
      for (const b of s.bars) {
        seeX(b.x);
        seeY(b.y1);
        seeY(b.y2);
      }
    } else {
      for (const p of s.points) {
        seeX(p.x);
        if (!(s.kind === 'line' && s.noExtent)) seeY(p.y);
      }
    }
  }
  if (!Number.isFinite(xmin)) {
    xmin = 0;
    xmax = 1;
  }
  if (!Number.isFinite(ymax)) ymax = 1;
  if (!Number.isFinite(ymin)) ymin = 0;
  const xt = niceTicks(xmin, xmax, 10);
  const yt = niceTicks(ymin, ymax * 1.05, 8);
  const X = (x: number): number => m.left + ((x - xt.lo) / (xt.hi - xt.lo)) * pw;
  const Y = (y: number): number => m.top + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;
  const clampY = (y: number): number => (Number.isFinite(y) ? Math.max(yt.lo, Math.min(yt.hi, y)) : yt.hi);

  const out: string[] = [];
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<defs><clipPath id="plot"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath></defs>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );

  // Shaded phases.
  out.push(`<g class="spans" clip-path="url(#plot)">`);
  for (const s of spec.spans ?? []) {
    const x1 = X(s.x1);
    const x2 = X(s.x2);
    if (x2 - x1 > 0.05) out.push(`<rect x="${f(x1)}" y="${m.top}" width="${f(x2 - x1)}" height="${ph}" fill="${s.color}" fill-opacity="0.18"/>`);
  }
  out.push(`</g>`);

  // Grid, axes, ticks and labels.
  out.push(`<g class="grid" stroke="#e3e3e3" stroke-width="1">`);
  for (const t of xt.ticks) out.push(`<line x1="${f(X(t))}" y1="${m.top}" x2="${f(X(t))}" y2="${m.top + ph}"/>`);
  for (const t of yt.ticks) out.push(`<line x1="${m.left}" y1="${f(Y(t))}" x2="${m.left + pw}" y2="${f(Y(t))}"/>`);
  out.push(`</g>`);
  out.push(`<g class="axes" stroke="black" stroke-width="1">`);
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/>`);
  for (const t of xt.ticks) out.push(`<line x1="${f(X(t))}" y1="${m.top + ph}" x2="${f(X(t))}" y2="${m.top + ph + 5}"/>`);
  for (const t of yt.ticks) out.push(`<line x1="${m.left - 5}" y1="${f(Y(t))}" x2="${m.left}" y2="${f(Y(t))}"/>`);
  out.push(`</g>`);
  out.push(`<g class="tick-labels" fill="black">`);
  for (const t of xt.ticks) out.push(`<text x="${f(X(t))}" y="${m.top + ph + 18}" text-anchor="middle">${formatTick(t, xt.step)}</text>`);
  for (const t of yt.ticks) out.push(`<text x="${m.left - 8}" y="${f(Y(t) + 4)}" text-anchor="end">${formatTick(t, yt.step)}</text>`);
  out.push(`</g>`);
  out.push(`<text class="x-label" x="${m.left + pw / 2}" y="${m.top + ph + 38}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  out.push(
    `<text class="y-label" x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})">${escapeXml(spec.yLabel)}</text>`,
  );

  // Series.
  out.push(`<g class="series" clip-path="url(#plot)" fill="none">`);
  for (const s of spec.series) {
    if (s.kind === 'line') {
      const pts = decimate(s.points, xt.lo, xt.hi, pw);
      if (pts.length === 0) continue;
      const text = pts.map((p) => `${f(X(p.x))},${f(Y(clampY(p.y)))}`).join(' ');
      out.push(
        `<polyline points="${text}" stroke="${s.color}" stroke-width="${s.width ?? 1.5}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round"/>`,
      );
    } else if (s.kind === 'bars') {
      if (s.bars.length === 0) continue;
      const d = s.bars.map((b) => `M${f(X(b.x))} ${f(Y(clampY(b.y1)))}V${f(Y(clampY(b.y2)))}`).join('');
      out.push(`<path d="${d}" stroke="${s.color}" stroke-width="${s.width ?? 1.5}"/>`);
    } else {
      if (s.points.length === 0) continue;
      const r = s.radius ?? 1.8;
      // Dots as zero-length round-capped segments: one path for thousands of points.
      const d = decimate(s.points, xt.lo, xt.hi, pw)
        .map((p) => `M${f(X(p.x))} ${f(Y(clampY(p.y)))}h0`)
        .join('');
      out.push(`<path d="${d}" stroke="${s.color}" stroke-width="${2 * r}" stroke-linecap="round"/>`);
    }
  }
  out.push(`</g>`);

  // Event markers.
  out.push(`<g class="markers" clip-path="url(#plot)">`);
  for (const mk of spec.markers ?? []) {
    out.push(`<line x1="${f(X(mk.x))}" y1="${m.top}" x2="${f(X(mk.x))}" y2="${m.top + ph}" stroke="${mk.color}" stroke-width="1.2" stroke-dasharray="4 3"/>`);
  }
  out.push(`</g>`);

  // Legend: one entry per series, span label and marker label, in rows under the x label.
  const entries: Array<{ label: string; color: string; style: 'line' | 'box' | 'dash' | 'dot' }> = [];
  for (const s of spec.series) entries.push({ label: s.label, color: s.color, style: s.kind === 'dots' ? 'dot' : s.kind === 'line' && s.dash ? 'dash' : 'line' });
  const seen = new Set<string>();
  for (const s of spec.spans ?? []) {
    if (!seen.has(s.label)) entries.push({ label: s.label, color: s.color, style: 'box' });
    seen.add(s.label);
  }
  for (const mk of spec.markers ?? []) {
    if (!seen.has(mk.label)) entries.push({ label: mk.label, color: mk.color, style: 'dash' });
    seen.add(mk.label);
  }
  out.push(`<g class="legend">`);
  let lx = m.left;
  let ly = m.top + ph + 60;
  for (const e of entries) {
    const w = 34 + e.label.length * 6.6;
    if (lx + w > W - m.right) {
      lx = m.left;
      ly += 18;
    }
    if (e.style === 'box') out.push(`<rect x="${lx}" y="${ly - 9}" width="22" height="12" fill="${e.color}" fill-opacity="0.3"/>`);
    else if (e.style === 'dot') out.push(`<circle cx="${lx + 11}" cy="${ly - 3}" r="3" fill="${e.color}"/>`);
    else out.push(`<line x1="${lx}" y1="${ly - 3}" x2="${lx + 22}" y2="${ly - 3}" stroke="${e.color}" stroke-width="2"${e.style === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 1}">${escapeXml(e.label)}</text>`);
    lx += w + 14;
  }
  out.push(`</g>`);
  out.push(`</svg>`, '');
  return out.join('\n');
}
