/** Plain-text tables and JSON result files for the benchmarks. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Cell = string | number | null | undefined;

/** A table with a header row; numbers are right-aligned, null/undefined print as "-". */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = (c: Cell) => (c === null || c === undefined ? '-' : String(c));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: Cell[], header = false) =>
    cells
      .map((c, i) => {
        const alignRight = !header && i > 0 && (typeof c === 'number' || c === null || c === undefined || /^[\d.x%-]+$/.test(text(c)));
        return alignRight ? text(c).padStart(widths[i]) : text(c).padEnd(widths[i]);
      })
      .join('  ')
      .trimEnd();
  return [line(headers, true), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r))].join('\n');
}

/** Rounds to a number of significant digits (for tables and JSON), keeping null as null. */
export function round(value: number | null | undefined, digits = 3): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  if (value === 0) return 0;
  return Number(value.toPrecision(digits));
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
