import type { RecordedEvent } from '../events/events.js';
import { appendOnlyTables, project, readModelTables, rowKey, type TableName } from './read-model.js';
import type { SqlExecutor } from '../storage/sql.js';

const CHUNK = 5000;

const tables = Object.keys(readModelTables) as TableName[];

/**
 * Folds events into the read models in memory and writes them in bulk: what makes a replay fast.
 * Rows that change (one per state, user, token, grant) stay in memory until `finish`; rows only
 * ever inserted (versions) are written out batch by batch. Rows land in whatever schema search_path names first.
 */
export class ReadModelRebuild {
  private readonly current = new Map<TableName, Map<string, object>>(tables.map((table) => [table, new Map()]));
  private inserted: Array<{ table: TableName; row: object }> = [];

  apply(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      for (const change of project(event)) {
        const rows = this.current.get(change.table);
        if (change.kind === 'delete') rows?.delete(rowKey(change.table, change.key));
        else if (change.kind === 'update') {
          const key = rowKey(change.table, change.key);
          const row = rows?.get(key);
          if (row !== undefined) rows?.set(key, { ...row, ...change.set });
        }
        else if (appendOnlyTables.includes(change.table)) this.inserted.push(change);
        else rows?.set(rowKey(change.table, change.row), change.row);
      }
    }
  }

  /** Writes the append-only rows gathered so far (taken at the call: folding may go on meanwhile). */
  async flush(sql: SqlExecutor): Promise<void> {
    const gathered = this.inserted;
    this.inserted = [];
    for (const table of appendOnlyTables) await insertAll(sql, table, gathered.filter((change) => change.table === table).map((change) => change.row));
  }

  /** Writes everything still in memory. */
  async finish(sql: SqlExecutor): Promise<void> {
    await this.flush(sql);
    for (const [table, rows] of this.current) await insertAll(sql, table, [...rows.values()]);
  }
}

const insertAll = async (sql: SqlExecutor, table: TableName, rows: readonly object[]): Promise<void> => {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await sql.query(`INSERT INTO ${table} SELECT * FROM jsonb_populate_recordset(NULL::${table}, $1)`, [JSON.stringify(rows.slice(i, i + CHUNK))]);
  }
};
