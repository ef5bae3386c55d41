import { readModelTables, rowKey, type RowChange } from './read-model.js';

/** Adds a value to a statement's parameters and answers its placeholder. */
export type Param = (value: unknown) => string;

/**
 * One row change as SQL. Rows go in as JSON through jsonb_populate_record, so a row's keys are its
 * columns and the table's own types do the conversion (in whatever schema search_path names first).
 */
export const changeStatement = (change: RowChange, param: Param): string => {
  if (change.kind !== 'upsert') {
    const keys = readModelTables[change.table];
    const where = `(${keys.join(', ')}) = (${keys.map((column) => `${param(change.key[column])}::text`).join(', ')})`;
    if (change.kind === 'delete') return `DELETE FROM ${change.table} WHERE ${where}`;
    // The new values go through jsonb_populate_record too, so the table's types convert them.
    const set = Object.keys(change.set);
    return `UPDATE ${change.table} SET (${set.join(', ')}) = (SELECT ${set.join(', ')} FROM jsonb_populate_record(NULL::${change.table}, ${param(JSON.stringify(change.set))})) WHERE ${where}`;
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
    const key = `${change.table}\u0000${rowKey(change.table, change.kind === 'upsert' ? change.row : change.key)}`;
    last.set(key, merge(last.get(key), change));
  }
  return [...last.values()];
};

/** An update after an upsert or an update of the same row folds into it; anything else replaces it. */
const merge = (before: RowChange | undefined, change: RowChange): RowChange => {
  if (change.kind !== 'update' || before === undefined || before.kind === 'delete') return change;
  if (before.kind === 'update') return { ...before, set: { ...before.set, ...change.set } };
  return { ...before, row: { ...before.row, ...change.set } } as RowChange;
};
