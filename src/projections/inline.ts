import type { RecordedEvent } from '../events/events.js';
import { project, readModelTables, type RowChange } from './read-model.js';
import type { SqlExecutor } from './sql.js';

/**
 * Writes one row change. Rows go in as JSON through jsonb_populate_record, so a row's keys are its
 * columns and the table's own types do the conversion (in whatever schema search_path names first).
 */
export const applyChange = async (sql: SqlExecutor, change: RowChange): Promise<void> => {
  if (change.kind === 'delete') {
    await sql.query(`DELETE FROM ${change.table} WHERE name = $1`, [change.name]);
    return;
  }
  const columns = Object.keys(change.row);
  await sql.query(
    `INSERT INTO ${change.table} SELECT * FROM jsonb_populate_record(NULL::${change.table}, $1)
     ON CONFLICT (${readModelTables[change.table].join(', ')})
     DO UPDATE SET (${columns.join(', ')}) = ROW(${columns.map((c) => `EXCLUDED.${c}`).join(', ')})`,
    [JSON.stringify(change.row)],
  );
};

/** The inline projections: run inside the appending transaction, so a read right after a write sees it. */
export const applyEvents = async (sql: SqlExecutor, events: readonly RecordedEvent[]): Promise<void> => {
  for (const event of events) for (const change of project(event)) await applyChange(sql, change);
};
