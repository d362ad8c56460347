import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { renderLineChart, escapeXml, powerOfTen, PALETTE } from '../src/plot/index.js';
import type { Series } from '../src/plot/index.js';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (_name, _path, _leaf, isAttribute) => !isAttribute });

function geometric(n: number, rate: number, scale = 1): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let k = 0; k < n; k++) {
    x.push(k * scale);
    y.push(rate ** k);
  }
  return { x, y };
}

type Node = Record<string, unknown>;

/** Every element named `name` anywhere below `node`. */
function findAll(node: unknown, name: string, out: Node[] = []): Node[] {
  if (Array.isArray(node)) {
    for (const n of node) findAll(n, name, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Node)) {
      if (k === name && Array.isArray(v)) out.push(...(v as Node[]));
      if (!k.startsWith('@')) findAll(v, name, out);
    }
  }
  return out;
}

/** Numbers of a path's d attribute as [x, y] pairs. */
function pathPoints(d: string): [number, number][] {
  const nums = d.match(/-?\d+(\.\d+)?(e-?\d+)?/g)?.map(Number) ?? [];
  const pts: [number, number][] = [];
  for (let i = 0; i + 1 < nums.length; i += 2) pts.push([nums[i], nums[i + 1]]);
  return pts;
}

describe('renderLineChart', () => {
  const series: Series[] = [
    { name: 'masha1 <dither>', ...geometric(200, 0.93) },
    { name: 'eg & co', ...geometric(200, 0.9) },
    { name: 'qgda', x: [0, 1, 2, 3, 4], y: [1, 10, 1e3, 1e8, Infinity] },
  ];

  it('produces well-formed SVG with one path and one legend entry per series (names escaped)', () => {
    const svg = renderLineChart({
      title: 'Bilinear',
      panels: [
        { title: 'vs iterations', xLabel: 'iteration', yLabel: 'relative distance', series, reference: { y: 1e-6, label: 'target' } },
        { title: 'vs MB', xLabel: 'MB', yLabel: 'relative distance', series, yDomain: [1e-8, 1e2] },
      ],
    });
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg.startsWith('<?xml')).toBe(true);
    const doc = parser.parse(svg) as Node;
    const paths = findAll(doc, 'path').filter((p) => p['@class'] === 'series');
    expect(paths).toHaveLength(2 * series.length);
    const names = paths.map((p) => p['@data-series']);
    for (const s of series) expect(names.filter((n) => n === s.name)).toHaveLength(2);
    const legend = findAll(doc, 'g').filter((g) => g['@class'] === 'legend-item');
    expect(legend.map((g) => g['@data-series'])).toEqual(series.map((s) => s.name));
    expect(svg).toContain('masha1 &lt;dither&gt;');
    expect(svg).toContain('eg &amp; co');
    // Each series keeps its palette colour in both panels and in the legend.
    for (let i = 0; i < series.length; i++) {
      const strokes = paths.filter((p) => p['@data-series'] === series[i].name).map((p) => p['@stroke']);
      expect(strokes).toEqual([PALETTE[i], PALETTE[i]]);
    }
    // Axis labels and panel titles present.
    const texts = findAll(doc, 'text').map((t) => String(t['#text'] ?? ''));
    for (const label of ['iteration', 'MB', 'relative distance', 'vs iterations', 'vs MB', 'Bilinear', 'target']) {
      expect(texts).toContain(label);
    }
  });

  it('maps decades to equal vertical steps on a log axis and labels powers of ten', () => {
    const svg = renderLineChart({
      panels: [{ xLabel: 'k', yLabel: 'y', yDomain: [1e-4, 1], series: [{ name: 's', x: [0, 1, 2, 3, 4], y: [1, 1e-1, 1e-2, 1e-3, 1e-4] }] }],
    });
    const doc = parser.parse(svg) as Node;
    const path = findAll(doc, 'path').find((p) => p['@class'] === 'series');
    const pts = pathPoints(String(path?.['@d']));
    expect(pts).toHaveLength(5);
    const dy = pts.slice(1).map((p, i) => p[1] - pts[i][1]);
    for (const step of dy) expect(step).toBeCloseTo(dy[0], 1);
    expect(dy[0]).toBeGreaterThan(0); // smaller values lower on the page
    const dx = pts.slice(1).map((p, i) => p[0] - pts[i][0]);
    for (const step of dx) expect(step).toBeCloseTo(dx[0], 1);
    const texts = findAll(doc, 'text').map((t) => String(t['#text'] ?? ''));
    for (const e of [0, -1, -2, -3, -4]) expect(texts).toContain(powerOfTen(e));
  });

  it('breaks lines at values a log axis cannot show and keeps diverging curves near the frame', () => {
    const svg = renderLineChart({
      panels: [{ xLabel: 'k', yLabel: 'y', yDomain: [1e-3, 10], series: [{ name: 'gap', x: [0, 1, 2, 3, 4, 5], y: [1, 0.1, 0, 0.01, 1e300, NaN] }] }],
    });
    const doc = parser.parse(svg) as Node;
    const d = String(findAll(doc, 'path').find((p) => p['@class'] === 'series')?.['@d']);
    expect(d.match(/M/g)).toHaveLength(2); // two segments: [1, 0.1] and [0.01, 1e300]
    for (const [x, y] of pathPoints(d)) {
      expect(Math.abs(x)).toBeLessThan(2000);
      expect(Math.abs(y)).toBeLessThan(2000);
    }
  });

  it('renders a hidden empty path for a series with nothing drawable', () => {
    const svg = renderLineChart({ panels: [{ xLabel: 'k', yLabel: 'y', series: [{ name: 'none', x: [0, 1], y: [0, -1] }] }] });
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('visibility="hidden"');
  });

  it('rejects a chart without panels', () => {
    expect(() => renderLineChart({ panels: [] })).toThrow(RangeError);
  });

  it('escapes XML and writes superscript exponents', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&#39;');
    expect(powerOfTen(-12)).toBe('10⁻¹²');
    expect(powerOfTen(3)).toBe('10³');
  });
});
