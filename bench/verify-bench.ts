import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stateStreams } from '../src/commands/stream-kinds.js';
import { evolve, initialState, type LedgerState } from '../src/commands/state.js';
import type { S3Config } from '../src/config.js';
import type { StateEvent } from '../src/events/events.js';
import { chainedSchemaVersion, chainHash, GENESIS_HASH } from '../src/events/hash-chain.js';
import { currentSchemaVersion } from '../src/events/upcasters.js';
import { blobKeyFor, type BlobStore } from '../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../src/storage/blobs/s3-blob-store.js';
import { CLI_POOL, openPool } from '../src/storage/postgres.js';
import { sealLedger } from '../src/storage/verify/checkpoints.js';
import { loadSigningKey } from '../src/storage/verify/signing-key.js';
import { describeProblem, verifyLedger } from '../src/storage/verify/verify-ledger.js';

/**
 * `state-ledger verify` at scale: a ledger of 1,000,000 events (1,000 states of 1,000 events:
 * lock, push, unlock, over and over) written straight into PostgreSQL, hash-chained as the server
 * would, then a checkpoint and a full verify against it, timed. The pushes refer to a small set of
 * bodies (BODIES), stored for real, so the blob re-hashing is exercised but does not dominate.
 */

export interface VerifyBenchOptions {
  /** An empty, migrated database. */
  readonly databaseUrl: string;
  /** Where the bodies go: an S3 bucket (created if missing) or a folder. */
  readonly blobs: S3Config | { readonly dir: string };
  readonly log: (line: string) => void;
  readonly events?: number;
  readonly streams?: number;
}

export interface VerifyBenchResult {
  readonly events: number;
  readonly streams: number;
  readonly blobs: number;
  readonly seedMs: number;
  /** Writing one checkpoint of every stream's head. */
  readonly checkpointMs: number;
  /** `verifyLedger` end to end: checkpoint comparison, every chain, every stream, every blob. */
  readonly verifyMs: number;
  readonly eventsPerSecond: number;
  /** Floor: reading the same rows in the same batches and doing nothing with them. */
  readonly readFloorMs: number;
  readonly problems: readonly string[];
}

const BODIES = 100;
const BATCH = 10_000;
const metadata = { actor: 'bench', remote_address: '127.0.0.1', user_agent: 'bench', request_id: 'bench' };

interface Body {
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly serial: number;
}

const storeBodies = async (blobs: BlobStore): Promise<Body[]> => {
  const bodies: Body[] = [];
  for (let serial = 1; serial <= BODIES; serial++) {
    const bytes = Buffer.from(`${JSON.stringify({ version: 4, terraform_version: '1.9.8', serial, lineage: 'bench', outputs: {}, resources: [] }, null, 2)}\n`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await blobs.upload(blobKeyFor(sha256), { kind: 'memory', bytes, size: bytes.length, sha256 }).commit();
    bodies.push({ key: blobKeyFor(sha256), sha256, size: bytes.length, serial });
  }
  return bodies;
};

/** The n-th event of a state's stream (from 0): lock, push, unlock, repeated. */
const nthEvent = (n: number, bodies: readonly Body[]): StateEvent => {
  const round = Math.floor(n / 3) + 1;
  const lock = { ID: `lock-${round}`, Operation: 'OperationTypeApply', Who: 'bench@host' };
  if (n % 3 === 0) return { type: 'StateLocked', data: { lock, taken_by: { actor: 'bench', subject: null }, lease: null } };
  if (n % 3 === 2) return { type: 'StateUnlocked', data: { lock_id: lock.ID } };
  const body = bodies[round % bodies.length] as Body;
  return {
    type: 'StatePushed',
    data: {
      version: round,
      lock_id: lock.ID,
      lock_operation: lock.Operation,
      lock_who: lock.Who,
      lease_until: null,
      blob_key: body.key,
      sha256: body.sha256,
      md5: null,
      size: body.size,
      serial: round,
      lineage: 'bench',
      terraform_version: '1.9.8',
      encrypted: false,
      resource_count: 0,
      output_count: 0,
    },
  };
};

interface Columns {
  stream: string[];
  version: number[];
  type: string[];
  data: string[];
  recordedAt: Date[];
  hash: string[];
  schema: number[];
}

const emptyColumns = (): Columns => ({ stream: [], version: [], type: [], data: [], recordedAt: [], hash: [], schema: [] });

const INSERT = `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version)
  SELECT s, v, t, d::jsonb, $8::jsonb, r, h, sv
  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::smallint[]) AS e(s, v, t, d, r, h, sv)`;

/** Writes the ledger in batches; the next batch is hashed while the last one is inserted. */
const seed = async (client: pg.Client, bodies: readonly Body[], total: number, streamCount: number, log: (line: string) => void) => {
  const perStream = Math.ceil(total / streamCount);
  const start = Date.parse('2026-01-01T00:00:00Z');
  const ids = Array.from({ length: Math.min(streamCount, Math.ceil(total / perStream)) }, (_, s) => `bench-${String(s).padStart(5, '0')}`);
  await client.query('BEGIN');
  // The events refer to their stream: the rows go first, their versions and snapshots at the end.
  await client.query(`INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) SELECT s, 1, '{}', 0 FROM unnest($1::text[]) AS s`, [ids]);
  let pending: Promise<unknown> = Promise.resolve();
  let columns = emptyColumns();
  const flush = async () => {
    await pending;
    const c = columns;
    columns = emptyColumns();
    pending = client.query(INSERT, [c.stream, c.version, c.type, c.data, c.recordedAt, c.hash, c.schema, JSON.stringify(metadata)]);
  };
  let written = 0;
  const streams: Array<[string, number, LedgerState]> = [];
  for (const [s, streamId] of ids.entries()) {
    let hash = GENESIS_HASH;
    let state = initialState;
    let version = 0;
    for (; version < perStream && written < total; version++, written++) {
      const event = nthEvent(version, bodies);
      const recordedAt = new Date(start + written);
      const schemaVersion = currentSchemaVersion(event.type);
      hash = chainHash(hash, {
        stream_id: streamId,
        stream_version: version + 1,
        type: event.type,
        data: event.data,
        metadata,
        recorded_at: recordedAt,
        schema_version: chainedSchemaVersion(schemaVersion),
      });
      state = evolve(state, event);
      columns.stream.push(streamId);
      columns.version.push(version + 1);
      columns.type.push(event.type);
      columns.data.push(JSON.stringify(event.data));
      columns.recordedAt.push(recordedAt);
      columns.hash.push(hash);
      columns.schema.push(schemaVersion);
      if (columns.stream.length >= BATCH) await flush();
    }
    streams.push([streamId, version, state]);
    if ((s + 1) % 100 === 0) log(`  ${written} events written`);
  }
  await flush();
  await pending;
  await client.query(
    `UPDATE streams SET version = x.v, snapshot = x.snap, snapshot_schema = $4
     FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS x(s, v, snap) WHERE stream_id = x.s`,
    [streams.map(([id]) => id), streams.map(([, v]) => v), streams.map(([, , state]) => JSON.stringify(state)), stateStreams.snapshotSchema],
  );
  await client.query('COMMIT');
  return { events: written, streams: streams.length };
};

const readFloor = async (pool: pg.Pool): Promise<void> => {
  let after = { stream: '', version: 0 };
  for (;;) {
    const { rows } = await pool.query<{ stream_id: string; stream_version: number }>(
      `SELECT global_position, stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version FROM events
       WHERE (stream_id, stream_version) > ($1, $2) ORDER BY stream_id, stream_version LIMIT 5000`,
      [after.stream, after.version],
    );
    const last = rows[rows.length - 1];
    if (last === undefined) return;
    after = { stream: last.stream_id, version: last.stream_version };
  }
};

const since = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e6;

export const verifyBench = async (options: VerifyBenchOptions): Promise<VerifyBenchResult> => {
  const { log } = options;
  const total = options.events ?? 1_000_000;
  const streamCount = options.streams ?? 1_000;
  const keyDir = await fs.mkdtemp(path.join(os.tmpdir(), 'verify-bench-key-'));
  const blobs = 'dir' in options.blobs ? await fsBlobStore(options.blobs.dir) : await s3BlobStore(options.blobs);
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  const pool = openPool(options.databaseUrl, CLI_POOL);
  try {
    const { key } = await loadSigningKey({ file: path.join(keyDir, 'ledger-signing-key.pem'), generate: true });
    log(`  storing ${BODIES} bodies`);
    const bodies = await storeBodies(blobs);
    log(`  writing ${total} events in ${streamCount} streams`);
    let started = process.hrtime.bigint();
    await seed(client, bodies, total, streamCount, log);
    const seedMs = since(started);
    await client.query('VACUUM ANALYZE events');
    await client.query('VACUUM ANALYZE streams');

    log('  checkpoint');
    started = process.hrtime.bigint();
    await sealLedger(pool, blobs, key);
    const checkpointMs = since(started);

    log('  floor: reading every event in stream order');
    started = process.hrtime.bigint();
    await readFloor(pool);
    const readFloorMs = since(started);

    log('  verify');
    started = process.hrtime.bigint();
    const report = await verifyLedger(pool, blobs, { key });
    const verifyMs = since(started);
    return {
      events: report.events,
      streams: report.streams,
      blobs: report.blobs,
      seedMs,
      checkpointMs,
      verifyMs,
      eventsPerSecond: Math.round(report.events / (verifyMs / 1000)),
      readFloorMs,
      problems: [...report.problems.slice(0, 5).map(describeProblem), ...(report.checkpoint.kind === 'compared' ? [] : [`no checkpoint compared (${report.checkpoint.kind})`])],
    };
  } finally {
    await pool.end();
    await client.end();
    await fs.rm(keyDir, { recursive: true, force: true });
  }
};
