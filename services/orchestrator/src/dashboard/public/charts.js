/**
 * Line charts as inline SVG (built through the DOM: the page's CSP allows no inline style): a
 * time axis, a value axis, one polyline per series with a point per value (its outcome as a
 * class, its value and time in a tooltip), error bars for confidence bounds, and dashed lines for
 * the thresholds.
 */
import { svg } from './dom.js';
import { num } from './format.js';

/**
 * @typedef {{ x: number, y: number, low?: number, high?: number, cls?: string, label?: string }} Point
 * @typedef {{ name: string, cls: string, points: Point[] }} Series
 * @typedef {{ label: string, y: number, kind: 'min' | 'max' }} Threshold
 */

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 56, right: 16, top: 14, bottom: 40 };

/**
 * @param {{ title: string, unit: string, series: Series[], thresholds: Threshold[] }} chart
 * @returns {SVGElement}
 */
export function lineChart(chart) {
  const points = chart.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  /** @type {number[]} */
  const ys = [];
  for (const y of [
    ...points.flatMap((p) => [p.y, p.low, p.high]),
    ...chart.thresholds.map((t) => t.y),
  ]) {
    if (y !== undefined && Number.isFinite(y)) ys.push(y);
  }
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (!(x1 > x0)) {
    x0 -= 1000;
    x1 += 1000;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  const spread = y1 - y0 || Math.abs(y1) || 1;
  y0 -= spread * 0.1;
  y1 += spread * 0.1;
  const px = (/** @type {number} */ x) =>
    PAD.left + ((x - x0) / (x1 - x0)) * (WIDTH - PAD.left - PAD.right);
  const py = (/** @type {number} */ y) =>
    HEIGHT - PAD.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - PAD.top - PAD.bottom);
  const unit = chart.unit === '' ? '' : ` ${chart.unit}`;

  const ticks = [0, 1, 2, 3, 4].map((i) => y0 + ((y1 - y0) * i) / 4);
  const root = svg(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-label': chart.title,
      'data-chart': chart.title,
    },
    svg('title', {}, chart.title),
    ticks.map((y) =>
      svg(
        'g',
        { class: 'tick' },
        svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: py(y), y2: py(y) }),
        svg('text', { x: PAD.left - 6, y: py(y) + 4, 'text-anchor': 'end' }, num(y, 2)),
      ),
    ),
    svg(
      'text',
      { class: 'axis-label', x: PAD.left, y: HEIGHT - 8 },
      new Date(x0).toLocaleTimeString([], { hour12: false }),
    ),
    svg(
      'text',
      { class: 'axis-label', x: WIDTH - PAD.right, y: HEIGHT - 8, 'text-anchor': 'end' },
      new Date(x1).toLocaleTimeString([], { hour12: false }),
    ),
    chart.thresholds.map((t) =>
      svg(
        'g',
        { class: `threshold threshold-${t.kind}`, 'data-threshold': t.kind, 'data-value': t.y },
        svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: py(t.y), y2: py(t.y) }),
        svg(
          'text',
          { x: WIDTH - PAD.right - 4, y: py(t.y) - 4, 'text-anchor': 'end' },
          `${t.label}${unit}`,
        ),
      ),
    ),
    chart.series.map((s) =>
      svg(
        'g',
        { class: `series ${s.cls}`, 'data-series': s.name },
        svg('polyline', {
          points: s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' '),
        }),
        s.points.map((p) =>
          svg(
            'g',
            { class: `point ${p.cls ?? ''}`.trim(), 'data-value': p.y },
            p.low !== undefined && p.high !== undefined
              ? svg('line', {
                  class: 'bounds',
                  x1: px(p.x),
                  x2: px(p.x),
                  y1: py(p.low),
                  y2: py(p.high),
                })
              : null,
            svg(
              'circle',
              { cx: px(p.x), cy: py(p.y), r: 3.5 },
              svg(
                'title',
                {},
                `${s.name}: ${num(p.y, 3)}${unit} at ${new Date(p.x).toLocaleTimeString([], { hour12: false })}${p.label ? ` (${p.label})` : ''}`,
              ),
            ),
          ),
        ),
      ),
    ),
    svg(
      'g',
      { class: 'legend' },
      chart.series.map((s, i) =>
        svg(
          'g',
          { class: `series ${s.cls}` },
          svg('line', {
            x1: PAD.left + 8 + i * 110,
            x2: PAD.left + 26 + i * 110,
            y1: PAD.top,
            y2: PAD.top,
          }),
          svg('text', { x: PAD.left + 30 + i * 110, y: PAD.top + 4 }, s.name),
        ),
      ),
    ),
  );
  return root;
}
