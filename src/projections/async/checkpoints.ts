import { COMMIT_ORDER_START, type CommitCursor } from '../../storage/event-reads.js';
import type { SqlExecutor } from '../../storage/sql.js';

/** Where a projection stands; a projection that never ran stands at the start. */
export const readCheckpoint = async (sql: SqlExecutor, name: string, forUpdate = false): Promise<CommitCursor> => {
  const { rows } = await sql.query<{ tx: string; position: string | number }>(
    `SELECT tx::text AS tx, position FROM projection_checkpoints WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [name],
  );
  const row = rows[0];
  return row === undefined ? COMMIT_ORDER_START : { tx: row.tx, position: Number(row.position) };
};

export const sameCursor = (a: CommitCursor, b: CommitCursor): boolean => a.tx === b.tx && a.position === b.position;

/** Sets a checkpoint (creating its row if needed). */
export const writeCheckpoint = async (sql: SqlExecutor, name: string, cursor: CommitCursor): Promise<void> => {
  await sql.query(
    `INSERT INTO projection_checkpoints (name, tx, position, updated_at) VALUES ($1, $2::xid8, $3, now())
     ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`,
    [name, cursor.tx, cursor.position],
  );
};

/** How far a projection is behind the ledger's final events. */
export interface ProjectionLag {
  readonly name: string;
  /** Final events not applied yet (counted up to LAG_COUNT_LIMIT). */
  readonly events: number;
  /** How long the oldest of them has waited (0 when none). */
  readonly seconds: number;
  /** When its checkpoint last moved (null: it never ran). */
  readonly checkpointAt: Date | null;
}

/** Counting stops here: the answer is "at least this many" for a projection rebuilding a large ledger. */
export const LAG_COUNT_LIMIT = 100_000;

/**
 * Each projection's lag, from its checkpoint and the events (any process can answer, not only the
 * one running it). Index range scans on events_commit_order.
 */
export const projectionLag = async (sql: SqlExecutor, names: readonly string[]): Promise<ProjectionLag[]> => {
  const { rows } = await sql.query<{ name: string; events: number; seconds: number; updated_at: Date | null }>(
    `WITH p AS (
       SELECT n.name, COALESCE(c.tx, '0'::xid8) AS tx, COALESCE(c.position, 0) AS position, c.updated_at
       FROM unnest($1::text[]) AS n(name) LEFT JOIN projection_checkpoints c USING (name)
     )
     SELECT p.name, p.updated_at,
       (SELECT count(*) FROM (SELECT 1 FROM events e
          WHERE (e.transaction_id, e.global_position) > (p.tx, p.position) AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          LIMIT ${LAG_COUNT_LIMIT}) x)::int AS events,
       COALESCE((SELECT EXTRACT(EPOCH FROM now() - e.recorded_at) FROM events e
          WHERE (e.transaction_id, e.global_position) > (p.tx, p.position) AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY e.transaction_id, e.global_position LIMIT 1), 0)::float8 AS seconds
     FROM p ORDER BY p.name`,
    [names],
  );
  return rows.map((r) => ({ name: r.name, events: r.events, seconds: Math.max(0, r.seconds), checkpointAt: r.updated_at }));
};
