/**
 * Spend over time as an SVG bar chart: one bar per bucket, the empty ones included, so gaps in use
 * show as gaps. Plain SVG keeps the bundle small; the numbers are for drawing only (the table and
 * the CSV carry the exact amounts).
 */
export interface Bar {
  label: string;
  value: number;
}

const SVG = 'http://www.w3.org/2000/svg';
const W = 720;
const H = 180;
const PAD = { left: 66, right: 8, top: 10, bottom: 22 };

function node<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function barChart(bars: Bar[], format: (v: number) => string): SVGSVGElement {
  const svg = node('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'bars' });
  const max = Math.max(...bars.map((b) => b.value), 0);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  svg.append(node('line', { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: 'axis' }));
  svg.append(node('text', { x: PAD.left - 6, y: PAD.top + 8, 'text-anchor': 'end', class: 'tick' }, format(max)));
  svg.append(node('text', { x: PAD.left - 6, y: H - PAD.bottom, 'text-anchor': 'end', class: 'tick' }, format(0)));
  const step = plotW / Math.max(bars.length, 1);
  const every = Math.ceil(bars.length / 8);
  bars.forEach((b, i) => {
    const h = max > 0 ? (b.value / max) * plotH : 0;
    const x = PAD.left + i * step;
    const rect = node('rect', { x: x + step * 0.15, y: H - PAD.bottom - h, width: Math.max(step * 0.7, 1), height: h, class: 'bar' });
    rect.append(node('title', {}, `${b.label}: ${format(b.value)}`));
    svg.append(rect);
    if (i % every === 0) svg.append(node('text', { x: x + step / 2, y: H - 6, 'text-anchor': 'middle', class: 'tick' }, b.label));
  });
  return svg;
}
