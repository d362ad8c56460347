/**
 * Line charts rendered to standalone SVG strings, in pure Node (no DOM, no canvas).
 *
 * Library choice: d3-scale computes the scales and "nice" ticks (linear and log) and d3-shape
 * turns points into path data, with gaps where a value cannot be drawn (≤ 0 on a log axis, NaN,
 * ±∞). Both are small, dependency-light, well-kept ESM packages that never touch a DOM; the SVG
 * markup itself is a few string templates here. A declarative stack such as vega-lite + vega's
 * headless `toSVG` would pull in megabytes of dependencies and a renderer for the same result.
 */
import { scaleLinear, scaleLog } from 'd3-scale';
import type { ScaleContinuousNumeric } from 'd3-scale';
import { line } from 'd3-shape';
import { el, fmt, powerOfTen, text } from './svg.js';

export type AxisScale = 'linear' | 'log';

export interface Series {
  /** Legend label; series with the same name in several panels share one legend entry and colour. */
  readonly name: string;
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  /** CSS colour; default: a fixed categorical palette by legend order. */
  readonly color?: string;
  /** SVG stroke-dasharray, e.g. `6 3`. */
  readonly dash?: string;
}

export interface Panel {
  readonly title?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Default `linear` for x, `log` for y. */
  readonly xScale?: AxisScale;
  readonly yScale?: AxisScale;
  /** Fixed domains; default: from the drawable data. Values outside a fixed y domain are clipped. */
  readonly xDomain?: readonly [number, number];
  readonly yDomain?: readonly [number, number];
  /** Optional horizontal reference line (e.g. the target 1e-6), drawn dashed with its label. */
  readonly reference?: { readonly y: number; readonly label: string };
  readonly series: readonly Series[];
}

export interface ChartOptions {
  readonly title?: string;
  /** One or more panels laid out side by side, sharing one legend below them. */
  readonly panels: readonly Panel[];
  /** Size of one panel in px (default 520 × 380). */
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

/** d3's category10 palette. */
export const PALETTE: readonly string[] = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const MARGIN = { top: 34, right: 18, bottom: 48, left: 72 } as const;
const FONT = 'Helvetica, Arial, sans-serif';
const LEGEND_ROW = 20;
/** Rough advance width of a 12px sans-serif character, for legend layout. */
const CHAR_W = 7;

type Scale = ScaleContinuousNumeric<number, number>;

function drawable(v: number, scale: AxisScale): boolean {
  return Number.isFinite(v) && (scale === 'linear' || v > 0);
}

function dataExtent(panel: Panel, axis: 'x' | 'y', scale: AxisScale): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of panel.series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const xv = s.x[i];
      const yv = s.y[i];
      if (!drawable(xv, panel.xScale ?? 'linear') || !drawable(yv, panel.yScale ?? 'log')) continue;
      const v = axis === 'x' ? xv : yv;
      if (!drawable(v, scale)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

function makeScale(kind: AxisScale, domain: readonly [number, number] | undefined, extent: [number, number] | null, range: [number, number]): Scale {
  if (kind === 'log') {
    let [lo, hi] = domain ?? extent ?? [1e-3, 1];
    if (!(lo > 0)) lo = hi > 0 ? hi / 1000 : 1e-3;
    if (!(hi > lo)) hi = lo * 10;
    // Whole decades: round outwards to powers of ten.
    if (!domain) {
      lo = 10 ** Math.floor(Math.log10(lo));
      hi = 10 ** Math.ceil(Math.log10(hi));
      if (hi <= lo) hi = lo * 10;
    }
    return scaleLog().domain([lo, hi]).range(range);
  }
  const [lo, hi0] = domain ?? extent ?? [0, 1];
  let hi = hi0;
  if (!(hi > lo)) {
    hi = lo + (lo === 0 ? 1 : Math.abs(lo));
  }
  const s = scaleLinear().domain([lo, hi]).range(range);
  return domain ? s : s.nice();
}

interface Tick {
  readonly value: number;
  readonly label: string;
}

function ticks(scale: Scale, kind: AxisScale, count: number): Tick[] {
  if (kind === 'log') {
    const [lo, hi] = scale.domain() as [number, number];
    const e0 = Math.ceil(Math.log10(lo) - 1e-9);
    const e1 = Math.floor(Math.log10(hi) + 1e-9);
    const decades = e1 - e0;
    const step = Math.max(1, Math.ceil(decades / count));
    const out: Tick[] = [];
    for (let e = e0; e <= e1; e += step) out.push({ value: 10 ** e, label: powerOfTen(e) });
    return out;
  }
  const format = scale.tickFormat(count);
  return scale.ticks(count).map((v) => ({ value: v, label: format(v) }));
}

interface LegendEntry {
  readonly name: string;
  readonly color: string;
  readonly dash: string | undefined;
}

function legendEntries(panels: readonly Panel[]): LegendEntry[] {
  const entries: LegendEntry[] = [];
  const seen = new Set<string>();
  for (const p of panels) {
    for (const s of p.series) {
      if (seen.has(s.name)) continue;
      seen.add(s.name);
      entries.push({ name: s.name, color: s.color ?? PALETTE[entries.length % PALETTE.length], dash: s.dash });
    }
  }
  return entries;
}

function layoutLegend(entries: readonly LegendEntry[], width: number): { x: number; row: number }[] {
  const pos: { x: number; row: number }[] = [];
  let x = MARGIN.left;
  let row = 0;
  for (const e of entries) {
    const w = 34 + e.name.length * CHAR_W + 18;
    if (x + w > width - MARGIN.right && x > MARGIN.left) {
      row += 1;
      x = MARGIN.left;
    }
    pos.push({ x, row });
    x += w;
  }
  return pos;
}

function renderPanel(
  panel: Panel,
  index: number,
  originX: number,
  originY: number,
  width: number,
  height: number,
  colors: ReadonlyMap<string, LegendEntry>,
): string {
  const xKind = panel.xScale ?? 'linear';
  const yKind = panel.yScale ?? 'log';
  const left = originX + MARGIN.left;
  const right = originX + width - MARGIN.right;
  const top = originY + MARGIN.top;
  const bottom = originY + height - MARGIN.bottom;
  const xs = makeScale(xKind, panel.xDomain, dataExtent(panel, 'x', xKind), [left, right]);
  const ys = makeScale(yKind, panel.yDomain, dataExtent(panel, 'y', yKind), [bottom, top]);
  const parts: string[] = [];
  const clipId = `plot-area-${index}`;

  parts.push(el('clipPath', { id: clipId }, el('rect', { x: left, y: top, width: right - left, height: bottom - top })));
  parts.push(el('rect', { x: left, y: top, width: right - left, height: bottom - top, fill: '#ffffff', stroke: '#444444', 'stroke-width': 1 }));

  // Grid and tick labels.
  const grid: string[] = [];
  const labels: string[] = [];
  for (const t of ticks(xs, xKind, 6)) {
    const px = xs(t.value);
    grid.push(el('line', { x1: px, y1: top, x2: px, y2: bottom }));
    labels.push(el('line', { x1: px, y1: bottom, x2: px, y2: bottom + 5, stroke: '#444444' }));
    labels.push(text(px, bottom + 18, t.label, { 'text-anchor': 'middle' }));
  }
  for (const t of ticks(ys, yKind, 8)) {
    const py = ys(t.value);
    grid.push(el('line', { x1: left, y1: py, x2: right, y2: py }));
    labels.push(el('line', { x1: left - 5, y1: py, x2: left, y2: py, stroke: '#444444' }));
    labels.push(text(left - 8, py + 4, t.label, { 'text-anchor': 'end' }));
  }
  parts.push(el('g', { class: 'grid', stroke: '#e3e3e3', 'stroke-width': 1 }, grid));
  parts.push(el('g', { class: 'ticks', 'font-size': 11, fill: '#222222' }, labels));

  // Axis labels and title.
  parts.push(text((left + right) / 2, bottom + 38, panel.xLabel, { 'text-anchor': 'middle', 'font-size': 13, class: 'x-label' }));
  const ly = (top + bottom) / 2;
  const lx = originX + 16;
  parts.push(text(lx, ly, panel.yLabel, { 'text-anchor': 'middle', 'font-size': 13, transform: `rotate(-90 ${fmt(lx)} ${fmt(ly)})`, class: 'y-label' }));
  if (panel.title) {
    parts.push(text((left + right) / 2, originY + 22, panel.title, { 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 'bold', class: 'panel-title' }));
  }

  // Reference line.
  if (panel.reference && drawable(panel.reference.y, yKind)) {
    const py = ys(panel.reference.y);
    if (py >= top && py <= bottom) {
      parts.push(el('line', { x1: left, y1: py, x2: right, y2: py, stroke: '#555555', 'stroke-dasharray': '2 4', 'stroke-width': 1 }));
      parts.push(text(right - 4, py - 4, panel.reference.label, { 'text-anchor': 'end', 'font-size': 10, fill: '#555555' }));
    }
  }

  // Series. Pixel coordinates are clamped a little outside the plot area so that a diverging
  // curve leaves the frame (and is clipped) instead of producing astronomically large numbers.
  const clampY = (v: number): number => Math.min(bottom + 40, Math.max(top - 40, v));
  const clampX = (v: number): number => Math.min(right + 40, Math.max(left - 40, v));
  const curves: string[] = [];
  for (const s of panel.series) {
    const n = Math.min(s.x.length, s.y.length);
    const idx: number[] = [];
    for (let i = 0; i < n; i++) idx.push(i);
    const gen = line<number>()
      .defined((i) => drawable(s.x[i], xKind) && drawable(s.y[i], yKind))
      .x((i) => clampX(xs(s.x[i])))
      .y((i) => clampY(ys(s.y[i])))
      .digits(2);
    const d = gen(idx) ?? '';
    const entry = colors.get(s.name);
    curves.push(
      el('path', {
        class: 'series',
        'data-series': s.name,
        d: d === '' ? 'M0,0' : d,
        fill: 'none',
        stroke: entry?.color ?? '#000000',
        'stroke-width': 1.8,
        'stroke-dasharray': entry?.dash,
        'stroke-linejoin': 'round',
        'stroke-linecap': 'round',
        visibility: d === '' ? 'hidden' : undefined,
      }),
    );
  }
  parts.push(el('g', { 'clip-path': `url(#${clipId})` }, curves));
  return el('g', { class: 'panel' }, parts);
}

/** Renders a complete standalone SVG document. */
export function renderLineChart(options: ChartOptions): string {
  if (options.panels.length === 0) throw new RangeError('renderLineChart: at least one panel is required');
  const pw = options.panelWidth ?? 520;
  const ph = options.panelHeight ?? 380;
  const width = pw * options.panels.length;
  const titleH = options.title ? 28 : 0;
  const entries = legendEntries(options.panels);
  const legendPos = layoutLegend(entries, width);
  const legendRows = entries.length === 0 ? 0 : Math.max(...legendPos.map((p) => p.row)) + 1;
  const height = titleH + ph + legendRows * LEGEND_ROW + (legendRows > 0 ? 12 : 0);
  const colors = new Map(entries.map((e) => [e.name, e] as const));

  const parts: string[] = [];
  parts.push(el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }));
  if (options.title) {
    // Shrink a long title to fit (bold sans-serif advances ≈ 0.6 em per character).
    const size = Math.max(9, Math.min(16, Math.floor((width - 20) / (0.6 * options.title.length))));
    parts.push(text(width / 2, 20, options.title, { 'text-anchor': 'middle', 'font-size': size, 'font-weight': 'bold', class: 'chart-title' }));
  }
  options.panels.forEach((p, i) => {
    parts.push(renderPanel(p, i, i * pw, titleH, pw, ph, colors));
  });
  const legend: string[] = [];
  entries.forEach((e, i) => {
    const y = titleH + ph + 6 + legendPos[i].row * LEGEND_ROW;
    const x = legendPos[i].x;
    legend.push(
      el('g', { class: 'legend-item', 'data-series': e.name }, [
        el('line', { x1: x, y1: y + 8, x2: x + 26, y2: y + 8, stroke: e.color, 'stroke-width': 2.5, 'stroke-dasharray': e.dash }),
        text(x + 32, y + 12, e.name, { 'font-size': 12 }),
      ]),
    );
  });
  parts.push(el('g', { class: 'legend' }, legend));

  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    el(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        'font-family': FONT,
      },
      parts,
    ) +
    '\n'
  );
}
