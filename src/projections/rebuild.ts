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
  /** Where each row of `inserted` is, to apply a later change to it before it is written. */
  private insertedAt = new Map<string, number>();
  /** Changes to append-only rows already written (a version pinned or pruned long after it was pushed), by row. */
  private updates = new Map<TableName, Map<string, { key: Readonly<Record<string, string>>; set: Record<string, unknown> }>>();

  apply(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      for (const change of project(event)) {
        const rows = this.current.get(change.table);
        if (change.kind === 'delete') rows?.delete(rowKey(change.table, change.key));
        else if (change.kind === 'update' && appendOnlyTables.includes(change.table)) this.updateAppended(change.table, change.key, change.set);
        else if (change.kind === 'update') {
          const key = rowKey(change.table, change.key);
          const row = rows?.get(key);
          if (row !== undefined) rows?.set(key, { ...row, ...change.set });
        }
        else if (appendOnlyTables.includes(change.table)) {
          this.insertedAt.set(`${change.table}\u0000${rowKey(change.table, change.row)}`, this.inserted.length);
          this.inserted.push(change);
        }
        else rows?.set(rowKey(change.table, change.row), change.row);
      }
    }
  }

  /** A change to an append-only row: made in memory while the row waits to be written, else written after it. */
  private updateAppended(table: TableName, key: Readonly<Record<string, string>>, set: Readonly<Record<string, unknown>>): void {
    const id = rowKey(table, key);
    const at = this.insertedAt.get(`${table}\u0000${id}`);
    const pending = at === undefined ? undefined : this.inserted[at];
    if (at !== undefined && pending !== undefined) {
      this.inserted[at] = { table, row: { ...pending.row, ...set } };
      return;
    }
    const rows = this.updates.get(table) ?? new Map();
    this.updates.set(table, rows);
    const earlier = rows.get(id);
    rows.set(id, { key, set: { ...earlier?.set, ...set } });
  }

  /** Writes the append-only rows gathered so far, then the changes to rows written before (taken at the call: folding may go on meanwhile). */
  async flush(sql: SqlExecutor): Promise<void> {
    const gathered = this.inserted;
    const updates = this.updates;
    this.inserted = [];
    this.insertedAt = new Map();
    this.updates = new Map();
    for (const table of appendOnlyTables) await insertAll(sql, table, gathered.filter((change) => change.table === table).map((change) => change.row));
    for (const [table, rows] of updates) await updateAll(sql, table, [...rows.values()]);
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

/** Sets columns of existing rows, in one statement per set of columns changed. */
const updateAll = async (sql: SqlExecutor, table: TableName, changes: ReadonlyArray<{ key: Readonly<Record<string, string>>; set: Record<string, unknown> }>): Promise<void> => {
  const keys = readModelTables[table];
  const bySet = new Map<string, Array<Record<string, unknown>>>();
  for (const { key, set } of changes) {
    const columns = Object.keys(set).sort().join(',');
    bySet.set(columns, [...(bySet.get(columns) ?? []), { ...key, ...set }]);
  }
  for (const [joined, rows] of bySet) {
    const columns = joined.split(',');
    const quote = (column: string) => `"${column.replace(/"/g, '""')}"`;
    for (let i = 0; i < rows.length; i += CHUNK) {
      await sql.query(
        `UPDATE ${table} t SET (${columns.map(quote).join(', ')}) = ROW(${columns.map((c) => `r.${quote(c)}`).join(', ')})
         FROM jsonb_populate_recordset(NULL::${table}, $1) r WHERE (${keys.map((k) => `t.${quote(k)}`).join(', ')}) = (${keys.map((k) => `r.${quote(k)}`).join(', ')})`,
        [JSON.stringify(rows.slice(i, i + CHUNK))],
      );
    }
  }
};
