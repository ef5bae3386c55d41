import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import { checkpointKey, type BlobStore } from '../blobs/blob-store.js';
import type { SqlExecutor } from '../sql.js';
import { newCheckpoint, openCheckpoint, signCheckpoint, type Checkpoint, type StreamHead } from './checkpoint-document.js';
import type { SigningKey } from './signing-key.js';

/** A checkpoint that was found but cannot be trusted, and why (phrased to follow "checkpoint <name> "). */
export interface RejectedCheckpoint {
  readonly name: string;
  readonly reason: string;
}

export interface CheckpointLookup {
  /** How many checkpoints the store holds. */
  readonly count: number;
  /** The newest checkpoint, when it does not hold. */
  readonly rejected: RejectedCheckpoint | undefined;
  /** The newest checkpoint this key signed, if any. */
  readonly trusted: Checkpoint | undefined;
}

/**
 * How far back to look for a checkpoint this key signed, past ones that do not hold. Bounded: a
 * store full of another key's checkpoints (after the key was replaced) costs one read each.
 */
const LOOK_BACK = 100;

/** Nothing a server writes comes near this; a bigger object is not read into memory. */
const MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024;

const readCheckpoint = async (blobs: BlobStore, name: string): Promise<Buffer | 'missing' | 'too large'> => {
  const stream = await blobs.get(checkpointKey(name));
  if (stream === null) return 'missing';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_CHECKPOINT_BYTES) {
      stream.destroy();
      return 'too large';
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
};

/** The newest checkpoint that this key signed, and the newest one if it does not hold. */
export const findTrustedCheckpoint = async (blobs: BlobStore, key: SigningKey): Promise<CheckpointLookup> => {
  const names = await blobs.listCheckpoints();
  let rejected: RejectedCheckpoint | undefined;
  for (const name of names.slice(-LOOK_BACK).reverse()) {
    const bytes = await readCheckpoint(blobs, name);
    const opened =
      bytes === 'missing' ? E.left('was listed but could not be read: it was deleted') : bytes === 'too large' ? E.left(`is over ${MAX_CHECKPOINT_BYTES} bytes: not a checkpoint`) : openCheckpoint(key, name, bytes);
    if (E.isRight(opened)) return { count: names.length, rejected, trusted: opened.right };
    rejected ??= { name, reason: opened.left };
  }
  return { count: names.length, rejected, trusted: undefined };
};

/**
 * A way in which the ledger no longer matches a checkpoint, phrased to follow "state <stream> ",
 * or "checkpoint <name> " when it is about the ledger as a whole.
 */
export interface CheckpointBreak {
  readonly checkpoint: string;
  readonly stream: string | undefined;
  readonly reason: string;
}

/**
 * Every stream the checkpoint names must still exist, have reached at least that version, and have
 * the same hash at that version; and the ledger must not end before the checkpoint's position.
 * Catches a deleted stream, a cut-off tail and a chain rewritten with recomputed hashes.
 */
export const checkAgainst = async (sql: SqlExecutor, checkpoint: Checkpoint): Promise<CheckpointBreak[]> => {
  const { rows } = await sql.query<{ stream_id: string; version: number; hash: string; now_version: number | null; now_hash: string | null }>(
    `SELECT c.stream_id, c.version, c.hash, s.version AS now_version, e.hash AS now_hash
     FROM unnest($1::text[], $2::bigint[], $3::text[]) AS c(stream_id, version, hash)
     LEFT JOIN streams s ON s.stream_id = c.stream_id
     LEFT JOIN events e ON e.stream_id = c.stream_id AND e.stream_version = c.version
     WHERE s.stream_id IS NULL OR s.version < c.version OR e.hash IS DISTINCT FROM c.hash
     ORDER BY c.stream_id`,
    [checkpoint.streams.map((s) => s.stream_id), checkpoint.streams.map((s) => s.version), checkpoint.streams.map((s) => s.hash)],
  );
  const breaks: CheckpointBreak[] = rows.map((row) => {
    const now =
      row.now_version === null
        ? 'now missing'
        : row.now_version < row.version
          ? `now at version ${row.now_version}: cut short`
          : row.now_hash === null
            ? 'now without its event at that version'
            : `now has hash ${row.now_hash} at that version: its history was rewritten`;
    return { checkpoint: checkpoint.name, stream: row.stream_id, reason: `was at version ${row.version} with hash ${row.hash} at checkpoint ${checkpoint.name}, ${now}` };
  });
  const end = (await sql.query<{ position: number }>('SELECT coalesce(max(global_position), 0) AS position FROM events')).rows[0]?.position ?? 0;
  if (end < checkpoint.global_position) {
    breaks.push({
      checkpoint: checkpoint.name,
      stream: undefined,
      reason: `recorded the ledger up to position ${checkpoint.global_position}, but it now ends at position ${end}: its last events were removed`,
    });
  }
  return breaks;
};

/** Every stream's version and the hash of its event at that version (null if that event is gone), and the last position. */
const readHeads = async (sql: SqlExecutor) => {
  const { rows } = await sql.query<{ global_position: number; heads: Array<[string, number, string | null]> }>(
    `SELECT (SELECT coalesce(max(global_position), 0) FROM events) AS global_position,
            coalesce(json_agg(json_build_array(s.stream_id, s.version, e.hash) ORDER BY s.stream_id), '[]') AS heads
     FROM streams s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.stream_version = s.version`,
  );
  return rows[0] ?? { global_position: 0, heads: [] };
};

/** Runs `work` on one REPEATABLE READ snapshot, so everything it reads is of one moment. */
const inOneSnapshot = async <A>(pool: pg.Pool, work: (sql: SqlExecutor) => Promise<A>): Promise<A> => {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(failed); // a client whose connection failed mid-transaction is not reused
  }
};

export type SealRefusal =
  /** The ledger no longer matches the newest trusted checkpoint: sealing it would bury the evidence. */
  | { readonly kind: 'broken'; readonly breaks: readonly CheckpointBreak[] }
  /** A stream's record points at an event that is not there. */
  | { readonly kind: 'headless'; readonly streams: readonly string[] };

export type Sealed =
  | { readonly kind: 'written'; readonly checkpoint: Checkpoint; readonly writeOnce: boolean; readonly lookup: CheckpointLookup }
  /** Nothing was appended since the newest trusted checkpoint. */
  | { readonly kind: 'unchanged'; readonly checkpoint: Checkpoint; readonly lookup: CheckpointLookup };

/**
 * Writes a checkpoint of every stream's head, signed, unless the ledger no longer matches the
 * newest checkpoint this key signed (checked in the same snapshot the heads are read from).
 * Failures of PostgreSQL or the store are thrown; refusals are values.
 */
export const sealLedger = async (
  pool: pg.Pool,
  blobs: BlobStore,
  key: SigningKey,
  options: { readonly skipUnchanged: boolean; readonly now?: () => Date } = { skipUnchanged: false },
): Promise<E.Either<SealRefusal, Sealed>> => {
  const lookup = await findTrustedCheckpoint(blobs, key);
  const { trusted } = lookup;
  const { breaks, heads } = await inOneSnapshot(pool, async (sql) => ({
    breaks: trusted === undefined ? [] : await checkAgainst(sql, trusted),
    heads: await readHeads(sql),
  }));
  if (breaks.length > 0) return E.left({ kind: 'broken', breaks });
  const headless = heads.heads.filter(([, , hash]) => hash === null).map(([stream]) => stream);
  if (headless.length > 0) return E.left({ kind: 'headless', streams: headless });
  if (options.skipUnchanged && trusted !== undefined && trusted.global_position === heads.global_position) {
    return E.right({ kind: 'unchanged', checkpoint: trusted, lookup });
  }
  const streams: StreamHead[] = heads.heads.map(([stream_id, version, hash]) => ({ stream_id, version, hash: hash ?? '' }));
  const checkpoint = newCheckpoint(key, { globalPosition: heads.global_position, streams }, (options.now ?? (() => new Date()))());
  const { writeOnce } = await blobs.putCheckpoint(checkpoint.name, signCheckpoint(key, checkpoint));
  return E.right({ kind: 'written', checkpoint, writeOnce, lookup });
};
