import type { SqlExecutor } from '../sql.js';

/**
 * Bodies the ledger itself records as gone on purpose (a retention rule pruned the version), as
 * opposed to bodies lost from the blob store. An export lists a known-absent body as `pruned` and
 * carries on; a body that is simply missing stops the export unless --allow-missing is given.
 *
 * Of `keys` (a batch of the ones the export could not find), those absent on purpose as of the
 * events up to position `upTo`, read through `sql`: the export's own snapshot, so that a version
 * pruned while it runs (kept in the archive, its body gone) counts as missing, never as pruned.
 */
export type KnownAbsentBodies = (sql: SqlExecutor, keys: readonly string[], upTo: number) => Promise<ReadonlySet<string>>;

/** For ledgers that prune nothing. */
export const noKnownAbsentBodies: KnownAbsentBodies = async () => new Set<string>();

/**
 * Bodies retention removed: keys that VersionPruned events name and that no version those events
 * left kept refers to (a body shared with a kept version must be there, and is missing if not).
 */
export const prunedBodies: KnownAbsentBodies = async (sql, keys, upTo) => {
  if (keys.length === 0) return new Set<string>();
  const { rows } = await sql.query<{ key: string }>(
    `SELECT DISTINCT p.data->>'blob_key' AS key FROM events p
     WHERE p.type = 'VersionPruned' AND p.global_position <= $2 AND p.data->>'blob_key' = ANY($1::text[])
       AND NOT EXISTS (
         SELECT 1 FROM events e
         WHERE e.type IN ('StatePushed', 'StateRolledBack') AND e.global_position <= $2 AND e.data->>'blob_key' = p.data->>'blob_key'
           AND NOT EXISTS (
             SELECT 1 FROM events x
             WHERE x.type = 'VersionPruned' AND x.global_position <= $2 AND x.stream_id = e.stream_id AND x.data->'version' = e.data->'version'))`,
    [keys, upTo],
  );
  return new Set(rows.map((row) => row.key));
};
