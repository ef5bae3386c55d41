import { readModelTables, rowKey, type RowChange } from './read-model.js';

/** Adds a value to a statement's parameters and answers its placeholder. */
export type Param = (value: unknown) => string;

/**
 * One row change as SQL. Rows go in as JSON through jsonb_populate_record, so a row's keys are its
 * columns and the table's own types do the conversion (in whatever schema search_path names first).
 */
export const changeStatement = (change: RowChange, param: Param): string => {
  if (change.kind === 'delete') {
    const columns = readModelTables[change.table];
    return `DELETE FROM ${change.table} WHERE (${columns.join(', ')}) = (${columns.map((column) => `${param(change.key[column])}::text`).join(', ')})`;
  }
  const columns = Object.keys(change.row);
  return `INSERT INTO ${change.table} SELECT * FROM jsonb_populate_record(NULL::${change.table}, ${param(JSON.stringify(change.row))})
    ON CONFLICT (${readModelTables[change.table].join(', ')})
    DO UPDATE SET (${columns.join(', ')}) = ROW(${columns.map((c) => `EXCLUDED.${c}`).join(', ')})`;
};

/**
 * Keeps the last change per row: one statement must not touch a row twice, and only the final
 * state of each row matters.
 */
export const collapse = (changes: readonly RowChange[]): RowChange[] => {
  const last = new Map<string, RowChange>();
  for (const change of changes) {
    const key = `${change.table}\u0000${rowKey(change.table, change.kind === 'delete' ? change.key : change.row)}`;
    last.delete(key);
    last.set(key, change);
  }
  return [...last.values()];
};
