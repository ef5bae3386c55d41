import type { Request, Response } from 'express';

/** `Accept: text/plain` or `?format=table` asks for a table a terminal can show. */
export const wantsTable = (req: Request): boolean =>
  req.query.format === 'table' || req.accepts(['application/json', 'text/plain']) === 'text/plain';

const cell = (value: unknown): string => {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  // Control characters from client-supplied text must not drive the reader's terminal.
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
};

/** Aligned columns under a header line. */
export const formatTable = (columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string => {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((row) => row.map(cell))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return `${cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
};

export const sendTable = (res: Response, columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>): void => {
  res.type('text/plain').send(formatTable(columns, rows));
};
