// Printing data for people (aligned tables, key: value) or programs (--format json).
import { quote } from '../common/errors.js';
export type Format = 'text' | 'json';

export function parseFormat(value: string): Format {
  if (value !== 'text' && value !== 'json') {
    throw new Error(`invalid --format ${quote(value)}: expected text or json`);
  }
  return value;
}

export function formatJson(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/** Columns padded to the widest cell, like `docker network ls`. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

export function formatKeyValues(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n')}\n`;
}
