/** Plain-text tables for terminal summaries. */

export type Align = 'left' | 'right';

export interface Column {
  readonly header: string;
  readonly align?: Align;
}

/** Renders rows under headers, columns padded to their widest cell, separated by two spaces. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, j) => Math.max(c.header.length, ...rows.map((r) => (r[j] ?? '').length)));
  const pad = (s: string, j: number): string => ((columns[j].align ?? 'left') === 'right' ? s.padStart(widths[j]) : s.padEnd(widths[j]));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, j) => pad(c, j))
      .join('  ')
      .replace(/\s+$/, '');
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w)))];
  for (const r of rows) out.push(line(columns.map((_, j) => r[j] ?? '')));
  return out.join('\n') + '\n';
}

/** Compact number formatting for tables: 3 significant digits, exponent form for tiny/huge values. */
export function formatNumber(v: number | null, digits = 3): string {
  if (v === null) return '—';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return String(Number(v.toPrecision(digits)));
  return v.toExponential(digits - 1);
}
