import type { HeldLock } from '../storage/event-reads.js';
import type { LockInfo } from '../events/lock-info.js';
import type { VersionRow } from './read-model.js';
import type { SqlExecutor } from '../storage/sql.js';

/** A stored body as the read models describe it. */
export interface BodyRef {
  readonly version: number;
  readonly blob_key: string;
  readonly sha256: string;
  readonly md5: string | null;
  readonly size: number;
}

/** A version as the history lists it (a state_versions row, its time as a Date). */
export type VersionEntry = Omit<VersionRow, 'name' | 'created_at'> & { readonly created_at: Date };


export interface StateListing {
  readonly name: string;
  readonly version: number | null;
  readonly size: number | null;
  readonly updated_at: Date | null;
  readonly lock: { readonly id: string; readonly who: string | null; readonly operation: string | null; readonly acquired_at: Date; readonly acquired_by: string } | null;
}

type Row = Record<string, unknown>;

/** The current body of a state, or undefined when it has none (never pushed, or deleted). */
export const currentBody = async (sql: SqlExecutor, name: string): Promise<BodyRef | undefined> => {
  const { rows } = await sql.query<BodyRef & Row>(
    'SELECT version, blob_key, sha256, md5, size FROM state_heads WHERE name = $1 AND version IS NOT NULL',
    [name],
  );
  return rows[0];
};

export const heldLock = async (sql: SqlExecutor, name: string): Promise<HeldLock | undefined> => {
  const { rows } = await sql.query<HeldLock & Row>(
    'SELECT info, acquired_at, acquired_by FROM state_locks WHERE name = $1',
    [name],
  );
  return rows[0];
};

const versionColumns =
  'version, blob_key, sha256, md5, size, serial, lineage, terraform_version, encrypted, created_at, created_by, lock_id, ' +
  'operation, who, restored_from, resource_count, output_count';

const MAX_VERSION = 2 ** 31 - 1;

/** Newest first; `before` is an exclusive keyset cursor (the primary key serves it); `at` hides later versions. */
export const listVersions = async (
  sql: SqlExecutor,
  name: string,
  page: { limit: number; before?: number | undefined; at?: Date | undefined },
): Promise<VersionEntry[]> => {
  const { rows } = await sql.query<VersionEntry & Row>(
    `SELECT ${versionColumns} FROM state_versions
     WHERE name = $1 AND version < $2 AND ($4::timestamptz IS NULL OR created_at <= $4)
     ORDER BY version DESC LIMIT $3`,
    [name, page.before ?? MAX_VERSION, page.limit, page.at ?? null],
  );
  return rows;
};

export const findVersion = async (sql: SqlExecutor, name: string, version: number): Promise<VersionEntry | undefined> => {
  const { rows } = await sql.query<VersionEntry & Row>(
    `SELECT ${versionColumns} FROM state_versions WHERE name = $1 AND version = $2`,
    [name, version],
  );
  return rows[0];
};

/** States that have a body or a lock, by name, among those whose names match one of the LIKE patterns. */
export const listStates = async (sql: SqlExecutor, visible: readonly string[]): Promise<StateListing[]> => {
  const { rows } = await sql.query<Row>(
    `SELECT coalesce(h.name, l.name) AS name, h.version, h.size, h.updated_at,
            l.lock_id, l.info, l.acquired_at, l.acquired_by
     FROM state_heads h FULL OUTER JOIN state_locks l ON l.name = h.name
     WHERE (h.version IS NOT NULL OR l.name IS NOT NULL) AND coalesce(h.name, l.name) LIKE ANY($1::text[])
     ORDER BY 1`,
    [visible],
  );
  return rows.map((row) => {
    const info = row.info as LockInfo | null;
    return {
      name: row.name as string,
      version: row.version as number | null,
      size: row.size as number | null,
      updated_at: row.updated_at as Date | null,
      lock:
        info === null
          ? null
          : {
              id: info.ID,
              who: info.Who ?? null,
              operation: info.Operation ?? null,
              acquired_at: row.acquired_at as Date,
              acquired_by: row.acquired_by as string,
            },
    };
  });
};
