import type pg from 'pg';
import type { SqlExecutor } from '../sql.js';
import type { BlobStore } from './blob-store.js';

/**
 * The blob deletion race, and how PostgreSQL closes it across every server process.
 *
 * Bodies are content-addressed, so a push of bytes some pruned version also had uploads to a key
 * retention may be deleting. Unguarded: the push uploads X; the deleter finds no kept version
 * referring to X; the push appends its event; the deleter deletes X: an acknowledged push has lost
 * its body. The guard is one row per key in `blob_guards` (migrations/0006_retention.sql):
 *
 * - A writer claims its key before it uploads (or, for a rollback reusing a stored body, before it
 *   appends): one autocommit upsert that adds 1 to `pending` and sets `claimed_until`. The event
 *   that refers to the key settles the claim (pending - 1) in the appending statement itself, by a
 *   trigger on the events table, so the claim ends exactly when the reference becomes visible.
 * - A deleter, in one transaction, locks the key's row (creating it if missing), skips the key if
 *   a claim is pending (and not expired) or any kept version of any state refers to it, and else
 *   deletes the object while still holding the row lock, removes the row and commits.
 *
 * Why that is safe: a claim that commits before the deleter locks the row is seen (pending > 0),
 * and stays until its event commits, when the reference is seen instead (the reference and the
 * settlement commit together; the settlement waits on the row lock, so the deleter's check, a later
 * statement, sees the reference). A claim that comes after the lock waits for the deleter's commit,
 * by which time the object is gone, and its upload, which starts only once the claim returned,
 * puts it back. If the deleter dies, PostgreSQL aborts its transaction and releases the lock.
 *
 * `claimed_until` only bounds a claim whose writer never appended (a refused or failed push), so
 * that its leftover blob can be collected: a writer must append within CLAIM_SECONDS of claiming.
 */
export const CLAIM_SECONDS = 24 * 60 * 60;

/** Claims `key` for a write about to refer to it: one round trip; waits while the key is being deleted. */
export const claimBlob = async (sql: SqlExecutor, key: string, claimSeconds = CLAIM_SECONDS): Promise<void> => {
  await sql.query(
    `INSERT INTO blob_guards (key, pending, claimed_until) VALUES ($1, 1, now() + make_interval(secs => $2))
     ON CONFLICT (key) DO UPDATE SET pending = blob_guards.pending + 1, claimed_until = greatest(blob_guards.claimed_until, EXCLUDED.claimed_until)`,
    [key, claimSeconds],
  );
};

export type GuardedDeletion = 'deleted' | 'claimed' | 'referenced';

/**
 * Deletes the blob under `key` unless a write has claimed it or a kept version refers to it (see
 * above). `dryRun` takes the same decision without deleting anything (and without locking).
 */
export const deleteUnreferencedBlob = async (pool: pg.Pool, blobs: BlobStore, key: string, options: { dryRun?: boolean } = {}): Promise<GuardedDeletion> => {
  if (options.dryRun === true) {
    const { rows } = await pool.query<{ claimed: boolean; referenced: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM blob_guards WHERE key = $1 AND pending > 0 AND claimed_until > now()) AS claimed,
              EXISTS (SELECT 1 FROM state_versions WHERE blob_key = $1 AND pruned_at IS NULL) AS referenced`,
      [key],
    );
    const row = rows[0];
    return row?.claimed === true ? 'claimed' : row?.referenced === true ? 'referenced' : 'deleted';
  }
  const client = await pool.connect();
  const onError = () => undefined; // a backend terminated while checked out must not end the process (the query rejects)
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ claimed: boolean }>(
      `INSERT INTO blob_guards (key, pending, claimed_until) VALUES ($1, 0, '-infinity')
       ON CONFLICT (key) DO UPDATE SET pending = blob_guards.pending
       RETURNING pending > 0 AND claimed_until > now() AS claimed`,
      [key],
    );
    if (rows[0]?.claimed === true) {
      await client.query('ROLLBACK');
      return 'claimed';
    }
    const referenced = await client.query('SELECT 1 FROM state_versions WHERE blob_key = $1 AND pruned_at IS NULL LIMIT 1', [key]);
    if (referenced.rows.length > 0) {
      await client.query('ROLLBACK');
      return 'referenced';
    }
    await blobs.delete(key); // under the row lock: a claim made now waits for the commit below
    await client.query('DELETE FROM blob_guards WHERE key = $1', [key]);
    await client.query('COMMIT');
    return 'deleted';
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
};
