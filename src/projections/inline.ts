import { assertNever } from '../commands/state.js';
import type { RecordedEvent } from '../events/events.js';
import type { SqlExecutor } from './sql.js';

/** The tables the inline projections own; `replay` empties and refills exactly these. */
export const readModelTables = ['state_heads', 'state_locks', 'state_versions'] as const;

/**
 * Applies one event to the read models. Runs inside the appending transaction, so a read
 * right after a write sees it; uses only what the event row holds, so a replay comes out identical.
 */
export const applyEvent = async (sql: SqlExecutor, recorded: RecordedEvent): Promise<void> => {
  const { event, streamId: name, recordedAt: at, metadata } = recorded;
  switch (event.type) {
    case 'StateLocked':
      await sql.query(
        `INSERT INTO state_locks (name, lock_id, info, acquired_at, acquired_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET lock_id = EXCLUDED.lock_id, info = EXCLUDED.info,
           acquired_at = EXCLUDED.acquired_at, acquired_by = EXCLUDED.acquired_by`,
        [name, event.data.lock.ID, event.data.lock, at, metadata.actor],
      );
      return;
    case 'StateUnlocked':
    case 'LockForceReleased':
      await sql.query('DELETE FROM state_locks WHERE name = $1', [name]);
      return;
    case 'StatePushed': {
      const d = event.data;
      const row = [name, d.version, d.blob_key, d.sha256, d.md5, d.size, d.serial, d.lineage, d.terraform_version, d.encrypted];
      await sql.query(
        `INSERT INTO state_versions (name, version, blob_key, sha256, md5, size, serial, lineage, terraform_version,
           encrypted, lock_id, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [...row, d.lock_id, at, metadata.actor],
      );
      await sql.query(
        `INSERT INTO state_heads (name, version, blob_key, sha256, md5, size, serial, lineage, terraform_version,
           encrypted, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, blob_key = EXCLUDED.blob_key,
           sha256 = EXCLUDED.sha256, md5 = EXCLUDED.md5, size = EXCLUDED.size, serial = EXCLUDED.serial,
           lineage = EXCLUDED.lineage, terraform_version = EXCLUDED.terraform_version, encrypted = EXCLUDED.encrypted,
           updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
        [...row, at, metadata.actor],
      );
      return;
    }
    case 'StateDeleted':
      await sql.query(
        `UPDATE state_heads SET version = NULL, blob_key = NULL, sha256 = NULL, md5 = NULL, size = NULL,
           serial = NULL, lineage = NULL, terraform_version = NULL, encrypted = NULL, updated_at = $2, updated_by = $3
         WHERE name = $1`,
        [name, at, metadata.actor],
      );
      return;
    default:
      return assertNever(event);
  }
};

export const applyEvents = async (sql: SqlExecutor, events: readonly RecordedEvent[]): Promise<void> => {
  for (const event of events) await applyEvent(sql, event);
};
