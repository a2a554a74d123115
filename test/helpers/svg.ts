/**
 * A tiny well-formedness check for the SVG plots: every tag closes in order, attributes
 * are quoted, the root is <svg>; returns the element names and text content for asserts.
 */
export interface SvgCheck {
  elements: Map<string, number>;
  texts: string[];
  /** The numbers of every <polyline points="..."> attribute. */
  polylinePoints: number[][];
}

export function checkSvg(svg: string): SvgCheck {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const elements = new Map<string, number>();
  const texts: string[] = [];
  const polylinePoints: number[][] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    last = re.lastIndex;
    if (m[5] !== undefined) {
      if (m[5].trim()) {
        if (stack.length === 0) throw new Error('text outside the root element');
        if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in text: ${m[5].slice(0, 40)}`);
        if (stack[stack.length - 1] === 'text' || stack[stack.length - 1] === 'title') texts.push(m[5]);
      }
      continue;
    }
    const [, close, name, attrs, selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    if (stack.length === 0 && name !== 'svg') throw new Error(`root element is <${name}>, not <svg>`);
    elements.set(name!, (elements.get(name!) ?? 0) + 1);
    if (name === 'polyline') {
      const p = /\spoints="([^"]*)"/.exec(attrs ?? '');
      if (!p) throw new Error('polyline without points');
      const nums = p[1]!.trim().split(/[\s,]+/).map(Number);
      if (nums.length % 2 !== 0 || nums.some((n) => !Number.isFinite(n))) throw new Error('bad polyline points');
      polylinePoints.push(nums);
    }
    if (!selfClose) stack.push(name!);
  }
  if (last !== body.length) throw new Error(`unparsable markup at offset ${last}: ${body.slice(last, last + 40)}`);
  if (stack.length) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (!elements.has('svg')) throw new Error('no <svg> element');
  return { elements, texts, polylinePoints };
}
