import { createHash } from 'node:crypto';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import tar from 'tar-stream';
import { Refused } from '../../refused.js';
import type { BlobStore } from '../blobs/blob-store.js';
import {
  absentEntryName,
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  BLOB_ENTRY_PREFIX,
  BODY_EVENT_TYPES,
  EVENTS_PER_CHUNK,
  eventsEntryName,
  MANIFEST_ENTRY,
  type AbsentBlob,
  type ArchivedEvent,
  type ArchiveManifest,
} from './format.js';
import type { KnownAbsentBodies } from './known-absent.js';

export interface ExportOptions {
  /** 0: the whole ledger; otherwise only the events after this position (an increment). */
  readonly since: number;
  /** Write the archive even if bodies the events refer to are missing from the blob store (listed in the archive as missing). */
  readonly allowMissing: boolean;
  readonly knownAbsent: KnownAbsentBodies;
  /** Recorded in the manifest: which state-ledger wrote the archive. */
  readonly writtenBy: string;
  readonly now: Date;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ExportReport {
  readonly manifest: ArchiveManifest;
  /** Bodies listed as absent in the archive: missing (with --allow-missing) or pruned. */
  readonly missing: number;
  readonly pruned: number;
}

const BLOB_BATCH = 200;
/** Missing bodies named in a refusal; the rest are counted. */
const NAMED = 20;

/** Event rows exactly as stored; recorded_at with its microseconds, in UTC whatever the session's time zone. */
const EVENT_PAGE = `
  SELECT global_position AS position, stream_id, stream_version, type, data, metadata,
         to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at, hash, schema_version
  FROM events WHERE global_position > $1 AND global_position <= $2 ORDER BY global_position LIMIT $3`;

/** The bodies referred to by the events in (since, last], each once, in key order. */
const bodiesIn = (since: number, last: number) => `
  SELECT key, min(sha256) AS sha256, min(size) AS size FROM (
    SELECT data->>'blob_key' AS key, data->>'sha256' AS sha256, (data->>'size')::bigint AS size
    FROM events
    WHERE type IN (${BODY_EVENT_TYPES.map((type) => `'${type}'`).join(', ')}) AND global_position > ${since} AND global_position <= ${last}
  ) b GROUP BY key ORDER BY key`;

interface BodyRow {
  key: string;
  sha256: string;
  size: number;
}

class CorruptBody extends Error {}

/** Passes a body through, failing it as soon as it differs from what the events recorded. */
const checked = (body: BodyRow): Transform => {
  const hash = createHash('sha256');
  let bytes = 0;
  const corrupt = (what: string) =>
    new CorruptBody(`body ${body.key} in the blob store is not the one the ledger recorded (${what}): run \`state-ledger verify\``);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > body.size) return done(corrupt(`more than ${body.size} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const actual = hash.digest('hex');
      if (bytes !== body.size || actual !== body.sha256) return done(corrupt(`${bytes} bytes with sha256 ${actual}, expected ${body.size} bytes with sha256 ${body.sha256}`));
      done();
    },
  });
};

const addEntry = (pack: tar.Pack, name: string, bytes: Buffer, mtime: Date): Promise<void> =>
  new Promise((resolve, reject) => {
    pack.entry({ name, size: bytes.length, mode: 0o600, mtime }, bytes, (error) => (error ? reject(error) : resolve()));
  });

const ndjson = (lines: readonly unknown[]): Buffer => Buffer.from(lines.map((line) => `${JSON.stringify(line)}\n`).join(''), 'utf8');

/**
 * Which positions are final: holding a SHARE lock on streams waits for every append under way
 * (each one writes its streams row first) and lets none start, so once it is granted, every
 * position up to the largest committed one belongs to a committed event or to none, ever. The lock
 * is held only for that one read.
 */
const finalPosition = async (client: pg.PoolClient): Promise<number> => {
  await client.query('BEGIN');
  try {
    await client.query('LOCK TABLE streams IN SHARE MODE');
    const { rows } = await client.query<{ last: number }>('SELECT coalesce(max(global_position), 0)::bigint AS last FROM events');
    await client.query('COMMIT');
    return rows[0]?.last ?? 0;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
};

/** Names up to NAMED missing bodies with the versions that refer to them. */
const describeMissing = async (client: pg.PoolClient, keys: readonly string[], count: number): Promise<string> => {
  const { rows } = await client.query<{ key: string; refs: string }>(
    `SELECT data->>'blob_key' AS key, string_agg(stream_id || ' v' || (data->>'version'), ', ' ORDER BY stream_id, (data->>'version')::int) AS refs
     FROM events WHERE type = ANY($1) AND data->>'blob_key' = ANY($2) GROUP BY 1 ORDER BY 1`,
    [BODY_EVENT_TYPES, keys],
  );
  const named = rows.map((row) => `  ${row.key} (${row.refs})`).join('\n');
  return `${count} ${count === 1 ? 'body' : 'bodies'} the events refer to ${count === 1 ? 'is' : 'are'} missing from the blob store:\n${named}${count > keys.length ? `\n  and ${count - keys.length} more` : ''}\nnothing was exported; restore them into the blob store, or export with --allow-missing to list them in the archive as missing`;
};

/**
 * Writes the ledger (or the part after `since`) to `sink` as one tar stream (see format.ts): the
 * events from a consistent snapshot, a page at a time, then every body they refer to, streamed
 * from the blob store and checked against its recorded size and SHA-256 on the way. Memory stays
 * bounded by a page of events and a few chunks of a body, whatever the ledger's size.
 */
export const exportLedger = async (pool: pg.Pool, blobs: BlobStore, sink: Writable, options: ExportOptions): Promise<ExportReport> => {
  const client = await pool.connect();
  const pack = tar.pack();
  const writing = pipeline(pack, sink);
  writing.catch(() => undefined); // awaited at the end
  // A failing sink (a full disk, a closed pipe) may leave an entry waiting forever: fail it with the sink.
  const orSinkFailure = <A>(work: Promise<A>): Promise<A> => Promise.race([work, writing.then(() => work)]);
  let inTransaction = false;
  try {
    const last = await finalPosition(client);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    inTransaction = true;
    const { since } = options;
    if (since > last) throw new Refused(`--since ${since} is past the end of the ledger (its last position is ${last})`);
    let sinceHash: string | null = null;
    if (since > 0) {
      const { rows } = await client.query<{ hash: string }>('SELECT hash FROM events WHERE global_position = $1', [since]);
      sinceHash = rows[0]?.hash ?? null;
      if (sinceHash === null) throw new Refused(`--since ${since}: there is no event at that position (give the last_position of the archive the increment follows)`);
    }
    const counts = (
      await client.query<{ events: number; blobs: number }>(
        `SELECT (SELECT count(*)::int FROM events WHERE global_position > $1 AND global_position <= $2) AS events,
                (SELECT count(*)::int FROM (${bodiesIn(since, last)}) b) AS blobs`,
        [since, last],
      )
    ).rows[0] ?? { events: 0, blobs: 0 };
    const manifest: ArchiveManifest = {
      format: ARCHIVE_FORMAT,
      format_version: ARCHIVE_FORMAT_VERSION,
      written_by: options.writtenBy,
      created_at: options.now.toISOString(),
      since,
      since_hash: sinceHash,
      last_position: last,
      events: counts.events,
      blobs: counts.blobs,
    };
    const total = counts.events + counts.blobs;
    let done = 0;
    const progressed = (n: number) => options.onProgress?.((done += n), total);
    options.onProgress?.(0, total);
    await orSinkFailure(addEntry(pack, MANIFEST_ENTRY, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), options.now));

    let after = since;
    let chunk = 0;
    let events = 0;
    for (;;) {
      const { rows } = await client.query<ArchivedEvent & Record<string, unknown>>(EVENT_PAGE, [after, last, EVENTS_PER_CHUNK]);
      const final = rows[rows.length - 1];
      if (final === undefined) break;
      await orSinkFailure(addEntry(pack, eventsEntryName(++chunk), ndjson(rows), options.now));
      after = final.position;
      events += rows.length;
      progressed(rows.length);
    }
    if (events !== counts.events) throw new Error(`read ${events} events where the snapshot counted ${counts.events}`);

    await client.query(`DECLARE archive_bodies NO SCROLL CURSOR FOR ${bodiesIn(since, last)}`);
    const missing: string[] = [];
    let missingCount = 0;
    let prunedCount = 0;
    let absentChunk = 0;
    for (;;) {
      const { rows } = await client.query<BodyRow & Record<string, unknown>>(`FETCH ${BLOB_BATCH} FROM archive_bodies`);
      if (rows.length === 0) break;
      const absent: string[] = [];
      for (const body of rows) {
        // Once the export is bound to fail, only look for the other missing bodies.
        if (missingCount > 0 && !options.allowMissing) {
          if (!(await blobs.exists(body.key))) absent.push(body.key);
          continue;
        }
        const stream: Readable | null = await blobs.get(body.key);
        if (stream === null) {
          absent.push(body.key);
          continue;
        }
        const entry = pack.entry({ name: `${BLOB_ENTRY_PREFIX}${body.key}`, size: body.size, mode: 0o600, mtime: options.now });
        await orSinkFailure(pipeline(stream, checked(body), entry));
      }
      const pruned = absent.length === 0 ? new Set<string>() : await options.knownAbsent(client, absent, last);
      const lines: AbsentBlob[] = absent.map((key) => ({ key, reason: pruned.has(key) ? 'pruned' : 'missing' }));
      for (const line of lines) {
        if (line.reason === 'pruned') prunedCount += 1;
        else if (++missingCount <= NAMED) missing.push(line.key);
      }
      if (lines.length > 0 && (missingCount === 0 || options.allowMissing)) {
        await orSinkFailure(addEntry(pack, absentEntryName(++absentChunk), ndjson(lines), options.now));
      }
      progressed(rows.length);
    }
    await client.query('CLOSE archive_bodies');
    if (missingCount > 0 && !options.allowMissing) throw new Refused(await describeMissing(client, missing, missingCount));
    await client.query('COMMIT');
    inTransaction = false;
    pack.finalize();
    await writing;
    return { manifest, missing: missingCount, pruned: prunedCount };
  } catch (error) {
    pack.destroy(error as Error);
    await writing.catch(() => undefined);
    throw error;
  } finally {
    if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
};
