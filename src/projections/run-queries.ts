import type { SqlExecutor } from '../storage/sql.js';
import { MAX_VERSION } from './queries.js';

/** A run as the runs projection (src/projections/async/runs.ts) recorded it. */
export interface RunEntry extends Record<string, unknown> {
  readonly lock_id: string | null;
  readonly operation: string | null;
  readonly who: string | null;
  readonly actor: string;
  readonly started_at: Date;
  readonly ended_at: Date | null;
  readonly ended: string | null;
  readonly base_version: number | null;
  readonly first_version: number;
  readonly last_version: number;
  readonly version_count: number;
  readonly added: number | null;
  readonly changed: number | null;
  readonly removed: number | null;
  readonly changes_unknown: string | null;
}

/**
 * A state's runs with at least one version, newest first; `before` is an exclusive keyset cursor
 * on the first version (a partial unique index serves it).
 */
export const listRuns = async (sql: SqlExecutor, name: string, page: { limit: number; before?: number | undefined }): Promise<RunEntry[]> => {
  const { rows } = await sql.query<RunEntry>(
    `SELECT lock_id, operation, who, actor, started_at, ended_at, ended, base_version, first_version, last_version, version_count,
            added, changed, removed, changes_unknown
     FROM state_runs WHERE name = $1 AND first_version IS NOT NULL AND first_version < $2
     ORDER BY first_version DESC LIMIT $3`,
    [name, page.before ?? MAX_VERSION, page.limit],
  );
  return rows;
};
