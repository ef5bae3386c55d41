import type { RecordedEvent } from '../events/events.js';
import { project, rowKey, type RowChange, type VersionRow } from './read-model.js';
import type { SqlExecutor } from './sql.js';

const CHUNK = 5000;

/**
 * Folds events into the read models in memory and writes them in bulk: what makes a replay fast.
 * Heads and locks (one row per state) stay in memory until `finish`; versions are only ever
 * inserted, so they are written out batch by batch. Rows land in whatever schema search_path names first.
 */
export class ReadModelRebuild {
  private readonly heads = new Map<string, RowChange & { kind: 'upsert' }>();
  private readonly locks = new Map<string, RowChange & { kind: 'upsert' }>();
  private versions: VersionRow[] = [];

  apply(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      for (const change of project(event)) {
        if (change.kind === 'delete') this.locks.delete(change.name);
        else if (change.table === 'state_versions') this.versions.push(change.row);
        else (change.table === 'state_heads' ? this.heads : this.locks).set(rowKey(change.table, change.row), change);
      }
    }
  }

  /** Writes the versions gathered so far. */
  async flush(sql: SqlExecutor): Promise<void> {
    for (let i = 0; i < this.versions.length; i += CHUNK) {
      await sql.query('INSERT INTO state_versions SELECT * FROM jsonb_populate_recordset(NULL::state_versions, $1)', [
        JSON.stringify(this.versions.slice(i, i + CHUNK)),
      ]);
    }
    this.versions = [];
  }

  /** Writes everything still in memory. */
  async finish(sql: SqlExecutor): Promise<void> {
    await this.flush(sql);
    for (const rows of [this.heads, this.locks]) {
      const changes = [...rows.values()];
      for (let i = 0; i < changes.length; i += CHUNK) {
        const chunk = changes.slice(i, i + CHUNK);
        const table = chunk[0]?.table;
        if (table === undefined) continue;
        await sql.query(`INSERT INTO ${table} SELECT * FROM jsonb_populate_recordset(NULL::${table}, $1)`, [
          JSON.stringify(chunk.map((change) => change.row)),
        ]);
      }
    }
  }
}
