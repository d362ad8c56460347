/** CSV writing (RFC 4180 quoting; numbers in shortest round-trip form, null/non-finite as empty). */
import { writeTextFile } from './json.js';

export type CsvCell = number | string | boolean | null;

function cell(v: CsvCell): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Serialises a header and rows; every row must have the header's length. */
export function toCsv(header: readonly string[], rows: Iterable<readonly CsvCell[]>): string {
  const lines = [header.map(cell).join(',')];
  for (const row of rows) {
    if (row.length !== header.length) {
      throw new RangeError(`toCsv: row has ${row.length} cells, header has ${header.length}`);
    }
    lines.push(row.map(cell).join(','));
  }
  return lines.join('\n') + '\n';
}

export async function writeCsvFile(path: string, header: readonly string[], rows: Iterable<readonly CsvCell[]>): Promise<void> {
  // Atomic like every output file (json.ts): a temporary file, fsynced, renamed over the target.
  await writeTextFile(path, toCsv(header, rows));
}
