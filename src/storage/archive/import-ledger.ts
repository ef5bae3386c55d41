import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import tar from 'tar-stream';
import { chainHash, GENESIS_HASH } from '../../events/hash-chain.js';
import { Refused } from '../../refused.js';
import { blobKeyFor, isBodyKey, type BlobSource, type BlobStore } from '../blobs/blob-store.js';
import { chainedFieldsOf, decodeEventRow, type EventRow } from '../event-rows.js';
import {
  ABSENT_ENTRY,
  AbsentBlobCodec,
  ArchivedEventCodec,
  ArchiveManifestCodec,
  BLOB_ENTRY_PREFIX,
  BODY_EVENT_TYPES,
  decodeOrProblem,
  EVENTS_ENTRY,
  MANIFEST_ENTRY,
  type ArchivedEvent,
  type ArchiveManifest,
} from './format.js';

export interface ImportOptions {
  /** A private folder where bodies too large to hold in memory wait while they are checked. */
  readonly tmpDir: string;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ImportReport {
  readonly manifest: ArchiveManifest;
  readonly events: number;
  readonly blobs: number;
  /** Bodies the archive lists as absent (missing from the exporting ledger, or pruned there). */
  readonly absent: number;
}

/** An entry of an archive being read: its header, and its bytes as a stream. */
type ArchiveEntry = AsyncIterable<Buffer> & { readonly header: tar.Header };

/** Bodies up to this size are checked in memory; larger ones in a file of tmpDir. */
const IN_MEMORY = 8 * 1024 * 1024;
/** No manifest or events chunk of a sound archive comes near this. */
const MAX_TEXT_ENTRY = 64 * 1024 * 1024;

/** The archive is not a sound copy of a ledger: refused, and nothing of it is kept. */
const corrupt = (why: string) => new Refused(`the archive is corrupt or truncated: ${why}; nothing was imported`);

/** An entry's chunks; an archive that ends inside the entry is refused as truncated. */
const chunksOf = async function* (entry: ArchiveEntry): AsyncGenerator<Buffer> {
  const chunks = entry[Symbol.asyncIterator]();
  for (;;) {
    let step: IteratorResult<Buffer>;
    try {
      step = await chunks.next();
    } catch (error) {
      throw corrupt(`${entry.header.name} could not be read to its end (${(error as Error).message})`);
    }
    if (step.done === true) return;
    yield step.value;
  }
};

const readText = async (entry: ArchiveEntry, name: string): Promise<string> => {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of chunksOf(entry)) {
    bytes += chunk.length;
    if (bytes > MAX_TEXT_ENTRY) throw corrupt(`${name} is larger than ${MAX_TEXT_ENTRY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
};

const parseLines = <A>(text: string, name: string, decode: (value: unknown) => E.Either<string, A>): A[] => {
  if (text.length > 0 && !text.endsWith('\n')) throw corrupt(`${name} does not end with a newline`);
  return text
    .split('\n')
    .slice(0, -1)
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw corrupt(`line ${i + 1} of ${name} is not JSON`);
      }
      const decoded = decode(value);
      if (E.isLeft(decoded)) throw corrupt(`line ${i + 1} of ${name}: ${decoded.left}`);
      return decoded.right;
    });
};

/** What the target holds where the archive begins. */
const checkTarget = async (client: pg.PoolClient, manifest: ArchiveManifest): Promise<void> => {
  const { rows } = await client.query<{ last: number; streams: boolean }>(
    'SELECT coalesce(max(global_position), 0)::bigint AS last, EXISTS (SELECT FROM streams) AS streams FROM events',
  );
  const { last, streams } = rows[0] ?? { last: 0, streams: false };
  if (manifest.since === 0) {
    if (last > 0 || streams) {
      throw new Refused(
        `the target ledger is not empty (its last position is ${last}): a whole-ledger archive imports only into an empty one; ` +
          'point DATABASE_URL at a new database, or bring this one up to date with an increment (export --since)',
      );
    }
    return;
  }
  if (last !== manifest.since) {
    throw new Refused(
      `this archive is an increment after position ${manifest.since}, but the target ledger ends at position ${last}: ` +
        (last < manifest.since ? 'import the archives before it first' : `export the increment with --since ${last} instead`),
    );
  }
  const hash = (await client.query<{ hash: string }>('SELECT hash FROM events WHERE global_position = $1', [last])).rows[0]?.hash;
  if (hash !== manifest.since_hash) {
    throw new Refused(
      `this archive continues a ledger whose event at position ${last} has hash ${manifest.since_hash ?? 'none'}, but the target's has hash ${hash ?? 'none'}: they are different ledgers`,
    );
  }
};

interface Head {
  readonly version: number;
  readonly hash: string;
  /** Whether the head is the target's own (before this import) rather than an event of the archive. */
  readonly target: boolean;
}

interface BodyRef {
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
}

/** A body named by an event's data, as verify reads it. */
const bodyOf = (event: ArchivedEvent): BodyRef | undefined => {
  if (!BODY_EVENT_TYPES.includes(event.type)) return undefined;
  const data = event.data as { blob_key?: unknown; sha256?: unknown; size?: unknown };
  if (typeof data.blob_key !== 'string' || typeof data.sha256 !== 'string' || typeof data.size !== 'number') return undefined;
  return { key: data.blob_key, sha256: data.sha256, size: data.size };
};

const where = (e: ArchivedEvent) => `event at position ${e.position} (${e.stream_id} v${e.stream_version})`;

/**
 * Checks one chunk of events against the chains they continue (the target's heads, or earlier
 * events of the archive, read back from this transaction) and inserts them with their own
 * positions, hashes and times, their streams rows, and the bodies they refer to (to be checked
 * off as the bodies arrive).
 */
const importEvents = async (client: pg.PoolClient, events: readonly ArchivedEvent[], after: number, manifest: ArchiveManifest): Promise<number> => {
  const streams = [...new Set(events.map((e) => e.stream_id))];
  const { rows } = await client.query<{ stream_id: string; version: number; hash: string; imported: boolean }>(
    `SELECT s.id AS stream_id, e.stream_version AS version, e.hash, e.transaction_id = pg_current_xact_id() AS imported
     FROM unnest($1::text[]) AS s(id)
     CROSS JOIN LATERAL (SELECT stream_version, hash, transaction_id FROM events WHERE stream_id = s.id ORDER BY stream_version DESC LIMIT 1) e`,
    [streams],
  );
  const heads = new Map<string, Head>(rows.map((row) => [row.stream_id, { version: row.version, hash: row.hash, target: !row.imported }]));
  const bodies = new Map<string, BodyRef>();
  let previous = after;
  for (const e of events) {
    if (e.position <= previous) throw corrupt(`${where(e)} follows position ${previous}: positions must increase`);
    if (e.position > manifest.last_position) throw corrupt(`${where(e)} is past the archive's last position ${manifest.last_position}`);
    previous = e.position;
    const head = heads.get(e.stream_id) ?? { version: 0, hash: GENESIS_HASH, target: false };
    if (e.stream_version !== head.version + 1) {
      throw head.target
        ? new Refused(`${where(e)} does not follow the target's ${e.stream_id} at version ${head.version}: the archive does not continue this ledger; nothing was imported`)
        : corrupt(`${where(e)} follows version ${head.version}: its stream has a gap`);
    }
    const row: EventRow = { ...e, global_position: e.position, recorded_at: new Date(e.recorded_at) };
    if (chainHash(head.hash, chainedFieldsOf(row)) !== e.hash) {
      throw head.target
        ? new Refused(`${where(e)} does not continue the target's chain of ${e.stream_id} (its head there has hash ${head.hash}): the archive does not continue this ledger; nothing was imported`)
        : corrupt(`${where(e)} does not match its hash`);
    }
    try {
      decodeEventRow(row);
    } catch (error) {
      throw corrupt(`${(error as Error).message} (written by a newer state-ledger?)`);
    }
    heads.set(e.stream_id, { version: e.stream_version, hash: e.hash, target: false });
    const body = bodyOf(e);
    // A body's key is its content address, nothing else: a key of the archive's choosing could
    // name a place outside the blob store (`../../etc/...` on the file system).
    if (body !== undefined && (!isBodyKey(body.key) || body.key !== blobKeyFor(body.sha256))) throw corrupt(`${where(e)} stores its body under ${JSON.stringify(body.key.slice(0, 100))}, not its content address`);
    if (body !== undefined) bodies.set(body.key, body);
  }
  await client.query(
    `INSERT INTO streams (stream_id, version, snapshot, snapshot_schema)
     SELECT id, version, 'null'::jsonb, 0 FROM jsonb_to_recordset($1::jsonb) AS r(id text, version bigint)
     ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, snapshot_schema = EXCLUDED.snapshot_schema, updated_at = now()`,
    // snapshot_schema 0 matches no decider: until replay rewrites them, commands refold the stream.
    [JSON.stringify(streams.map((id) => ({ id, version: heads.get(id)?.version })))],
  );
  await client.query(
    `INSERT INTO events (global_position, stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version)
     OVERRIDING SYSTEM VALUE
     SELECT position, stream_id, stream_version, type, data, metadata, recorded_at::timestamptz, hash, schema_version
     FROM jsonb_to_recordset($1::jsonb)
       AS r(position bigint, stream_id text, stream_version bigint, type text, data jsonb, metadata jsonb, recorded_at text, hash text, schema_version smallint)
     ORDER BY position`,
    [JSON.stringify(events)],
  );
  if (bodies.size > 0) {
    await client.query(
      `INSERT INTO pg_temp.import_bodies (key, sha256, size) SELECT key, sha256, size FROM jsonb_to_recordset($1::jsonb) AS r(key text, sha256 text, size bigint)
       ON CONFLICT (key) DO NOTHING`,
      [JSON.stringify([...bodies.values()])],
    );
  }
  return previous;
};

/** Reads a body entry, checking it against the events' record, into memory or a private file. */
const receiveBody = async (entry: ArchiveEntry, body: BodyRef, tmpDir: string): Promise<{ source: BlobSource; cleanup: () => Promise<void> }> => {
  const hash = createHash('sha256');
  let bytes = 0;
  const counted = async function* () {
    for await (const chunk of chunksOf(entry)) {
      bytes += chunk.length;
      if (bytes > body.size) throw corrupt(`body ${body.key} is longer than the ${body.size} bytes the events record`);
      hash.update(chunk);
      yield chunk;
    }
  };
  const check = () => {
    const actual = hash.digest('hex');
    if (bytes !== body.size || actual !== body.sha256) {
      throw corrupt(`body ${body.key} is ${bytes} bytes with sha256 ${actual}, but the events record ${body.size} bytes with sha256 ${body.sha256}`);
    }
  };
  if (body.size <= IN_MEMORY) {
    const chunks: Buffer[] = [];
    for await (const chunk of counted()) chunks.push(chunk);
    check();
    return { source: { kind: 'memory', bytes: Buffer.concat(chunks), size: bytes, sha256: body.sha256 }, cleanup: async () => undefined };
  }
  const file = path.join(tmpDir, `import-${randomUUID()}`);
  const cleanup = () => fs.rm(file, { force: true });
  try {
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      for await (const chunk of counted()) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    check();
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { source: { kind: 'file', path: file, size: bytes, sha256: body.sha256 }, cleanup };
};

type Phase = 'events' | 'bodies';

/**
 * Loads an archive (format.ts) into the target: a whole ledger into an empty one, or an increment
 * onto the ledger it continues. The archive is checked as it is read: each event against its
 * stream's hash chain, each body against the size and SHA-256 its events recorded, the counts
 * against the manifest. Events go into one transaction, committed only after every body they refer
 * to is stored, so a refused archive leaves no event behind (bodies stored before the refusal
 * stay, unreferenced, under their content addresses). The read models are not touched: rebuild
 * them with replay afterwards.
 */
export const importLedger = async (pool: pg.Pool, blobs: BlobStore, source: Readable, options: ImportOptions): Promise<ImportReport> => {
  const extract = tar.extract();
  const reading = pipeline(source, extract);
  reading.catch(() => undefined); // its failure also ends the entries below
  const entries = extract[Symbol.asyncIterator]();
  const client = await pool.connect();
  let inTransaction = false;
  const next = async (): Promise<ArchiveEntry | undefined> => {
    try {
      const step = await entries.next();
      return step.done === true ? undefined : (step.value as unknown as ArchiveEntry);
    } catch (error) {
      throw corrupt((error as Error).message);
    }
  };
  try {
    const first = await next();
    if (first === undefined || first.header.name !== MANIFEST_ENTRY) throw new Refused(`not a state-ledger archive: it does not begin with ${MANIFEST_ENTRY}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readText(first, MANIFEST_ENTRY));
    } catch (error) {
      throw error instanceof Refused ? error : corrupt(`${MANIFEST_ENTRY} is not JSON`);
    }
    const decoded = decodeOrProblem(ArchiveManifestCodec, parsed);
    if (E.isLeft(decoded)) throw new Refused(`not an archive this state-ledger reads: in ${MANIFEST_ENTRY}, ${decoded.left}`);
    const manifest = decoded.right;

    await client.query('BEGIN');
    inTransaction = true;
    // Appends take a ROW EXCLUSIVE lock on streams: none can run beside the import, nor a second import.
    await client.query('LOCK TABLE streams IN EXCLUSIVE MODE');
    await checkTarget(client, manifest);
    await client.query(
      `CREATE TEMP TABLE import_bodies (key text PRIMARY KEY, sha256 text NOT NULL, size bigint NOT NULL, received boolean NOT NULL DEFAULT false, absent text)
       ON COMMIT DROP`,
    );

    const total = manifest.events + manifest.blobs;
    let done = 0;
    const progressed = (n: number) => options.onProgress?.((done += n), total);
    options.onProgress?.(0, total);
    let phase: Phase = 'events';
    let chunk = 0;
    let position = manifest.since;
    let events = 0;
    let received = 0;
    let absent = 0;
    for (let entry = await next(); entry !== undefined; entry = await next()) {
      const { name, type } = entry.header;
      if (type !== 'file') throw corrupt(`entry ${name} is a ${type ?? 'special entry'}, not a file`);
      const eventsChunk = EVENTS_ENTRY.exec(name);
      if (eventsChunk !== null) {
        if (phase !== 'events') throw corrupt(`${name} comes after the bodies`);
        if (Number(eventsChunk[1]) !== ++chunk) throw corrupt(`${name} is not events chunk ${chunk}`);
        const chunkEvents = parseLines(await readText(entry, name), name, (v) => decodeOrProblem(ArchivedEventCodec, v));
        position = await importEvents(client, chunkEvents, position, manifest);
        events += chunkEvents.length;
        progressed(chunkEvents.length);
      } else if (name.startsWith(BLOB_ENTRY_PREFIX)) {
        phase = 'bodies';
        const key = name.slice(BLOB_ENTRY_PREFIX.length);
        const { rows } = await client.query<{ sha256: string; size: number; received: boolean; absent: string | null }>(
          'SELECT sha256, size, received, absent FROM pg_temp.import_bodies WHERE key = $1',
          [key],
        );
        const expected = rows[0];
        if (expected === undefined) throw corrupt(`it holds body ${key}, which none of its events refers to`);
        if (expected.received || expected.absent !== null) throw corrupt(`it holds body ${key} twice`);
        const body = await receiveBody(entry, { key, sha256: expected.sha256, size: expected.size }, options.tmpDir);
        try {
          await blobs.upload(key, body.source).commit();
        } finally {
          await body.cleanup();
        }
        await client.query('UPDATE pg_temp.import_bodies SET received = true WHERE key = $1', [key]);
        received += 1;
        progressed(1);
      } else if (ABSENT_ENTRY.test(name)) {
        phase = 'bodies';
        const lines = parseLines(await readText(entry, name), name, (v) => decodeOrProblem(AbsentBlobCodec, v));
        for (const line of lines) {
          const { rowCount } = await client.query('UPDATE pg_temp.import_bodies SET absent = $2 WHERE key = $1 AND NOT received AND absent IS NULL', [line.key, line.reason]);
          if (rowCount !== 1) throw corrupt(`${name} lists body ${line.key}, which none of its events refers to or which it already holds`);
        }
        absent += lines.length;
        progressed(lines.length);
      } else {
        throw corrupt(`unexpected entry ${name}`);
      }
    }
    await reading.catch((error: Error) => Promise.reject(corrupt(error.message)));

    if (events !== manifest.events) throw corrupt(`it ends after ${events} of the ${manifest.events} events its manifest announces`);
    if (events > 0 && position !== manifest.last_position) throw corrupt(`its last event is at position ${position}, not ${manifest.last_position} as its manifest says`);
    const lacking = await client.query<{ key: string }>('SELECT key FROM pg_temp.import_bodies WHERE NOT received AND absent IS NULL ORDER BY key LIMIT 5');
    if (lacking.rows.length > 0) throw corrupt(`bodies its events refer to are not in it: ${lacking.rows.map((r) => r.key).join(', ')}`);
    // "Pruned" only where the events say so: every version that refers to the body was pruned.
    const unpruned = await client.query<{ key: string }>(
      `SELECT DISTINCT b.key FROM pg_temp.import_bodies b
       JOIN events e ON e.type IN ('StatePushed', 'StateRolledBack') AND e.data->>'blob_key' = b.key
       WHERE b.absent = 'pruned'
         AND NOT EXISTS (SELECT 1 FROM events x WHERE x.stream_id = e.stream_id AND x.type = 'VersionPruned' AND x.data->'version' = e.data->'version')
       ORDER BY b.key LIMIT 5`,
    );
    if (unpruned.rows.length > 0) throw corrupt(`it lists bodies as pruned that versions no event pruned refer to: ${unpruned.rows.map((r) => r.key).join(', ')}`);
    if (received + absent !== manifest.blobs) throw corrupt(`it holds ${received + absent} bodies where its manifest announces ${manifest.blobs}`);
    if (manifest.last_position > 0) {
      // Positions continue after the archive's last one (rows given their own position leave the identity behind).
      await client.query(`SELECT setval(pg_get_serial_sequence('events', 'global_position'), $1)`, [manifest.last_position]);
    }
    await client.query('COMMIT');
    inTransaction = false;
    return { manifest, events, blobs: received, absent };
  } catch (error) {
    extract.destroy();
    source.destroy();
    throw error;
  } finally {
    if (inTransaction) await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
};
