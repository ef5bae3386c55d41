import { createHash } from 'node:crypto';
import pg from 'pg';
import { evolve, initialState, type LedgerState } from '../src/commands/state.js';
import type { StateEvent } from '../src/events/events.js';
import { chainHash, GENESIS_HASH } from '../src/events/hash-chain.js';
import { asyncProjections } from '../src/projections/async/projections.js';
import { projectionLag } from '../src/projections/async/checkpoints.js';
import { replay } from '../src/projections/replay.js';
import { blobKeyFor } from '../src/storage/blobs/blob-store.js';
import { stateStreams } from '../src/commands/stream-kinds.js';
import { expectStatus, send, type Target } from './http.js';
import { percentile } from './stats.js';

/**
 * History at scale: a state with 100,000 versions (each under a lock: 300,000 events), then
 * `replay` over the whole ledger and version listing (keyset pages) through the server, each
 * against the floor of reading the same rows straight from PostgreSQL.
 *
 * The server's asynchronous projections read each version's body. Their catch-up is measured on
 * its own state of 1,000 versions with 1,000 distinct bodies (written straight into the server's
 * bucket); the 100,000 versions are recorded as encrypted (the projections do not read their
 * bodies), so that catching up on them and rebuilding them after the replay (which sets the
 * projections back to the start) costs events only. Both are waited for, so that no phase is
 * measured while the projections work.
 */

export const HISTORY_STATE = 'history-100k';
const CATCH_UP_STATE = 'history-bodies';
const CATCH_UP_VERSIONS = 1000;
const BATCH = 6000;
const PAGE = 50;
const REQUESTS = 100;

export interface Latency {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface HistoryResult {
  readonly versions: number;
  /** Every event replayed: the big state's and those the earlier phases wrote. */
  readonly events: number;
  readonly replayMs: number;
  /** The asynchronous projections catching up on catchUpVersions versions with distinct bodies. */
  readonly catchUpVersions: number;
  readonly catchUpMs: number;
  /** And on every event again after the replay (the bodies of the 100,000 versions left unread). */
  readonly rebuildMs: number;
  readonly readFloorMs: number;
  readonly pages: ReadonlyArray<{ readonly page: string; readonly server: Latency; readonly floor: Latency }>;
}

const metadata = { actor: 'bench', remote_address: '127.0.0.1', user_agent: 'bench', request_id: 'bench' };

/** The body a seeded version refers to. */
interface StoredBody {
  readonly sha256: string;
  readonly size: number;
  readonly encrypted: boolean;
}

/** A small state of 10 resources. */
const bodyBytes = (serial: number): Buffer => Buffer.from(
  JSON.stringify({
    version: 4,
    terraform_version: '1.9.8',
    serial,
    lineage: 'bench-lineage',
    outputs: { bucket: { value: 'logs', type: 'string' }, password: { value: 'x', type: 'string', sensitive: true } },
    resources: Array.from({ length: 10 }, (_, i) => ({
      mode: 'managed',
      type: 'aws_s3_bucket',
      name: `b${i}`,
      provider: 'provider["registry.terraform.io/hashicorp/aws"]',
      instances: [{ schema_version: 0, attributes: { id: `bucket-${i}`, tags: { team: 'bench', serial: String(serial) } }, sensitive_attributes: [] }],
    })),
  }),
);
const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The lock, push and unlock of one apply, as the decider would have written them. */
const applyEvents = (version: number, body: StoredBody): StateEvent[] => {
  const lock = { ID: `lock-${version}`, Operation: 'OperationTypeApply', Who: 'bench@host' };
  const { sha256 } = body;
  return [
    { type: 'StateLocked', data: { lock, taken_by: null, lease: null } },
    {
      type: 'StatePushed',
      data: {
        version,
        lock_id: lock.ID,
        lock_operation: lock.Operation,
        lock_who: lock.Who,
        lease_until: null,
        blob_key: blobKeyFor(sha256),
        sha256,
        md5: null,
        size: body.size,
        serial: version,
        lineage: 'bench-lineage',
        terraform_version: '1.9.8',
        encrypted: body.encrypted,
        resource_count: 10,
        output_count: 2,
      },
    },
    { type: 'StateUnlocked', data: { lock_id: lock.ID } },
  ];
};

/** Writes the stream straight into the ledger (hash-chained, as the server would), in bulk. */
export const seed = async (client: pg.Client, name: string, versions: number, bodyOf: (version: number) => StoredBody): Promise<number> => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  let state: LedgerState = initialState;
  let hash = GENESIS_HASH;
  let streamVersion = 0;
  const rows: unknown[] = [];
  await client.query('BEGIN');
  await client.query("INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) VALUES ($1, 1, '{}', 0)", [name]);
  const flush = async () => {
    await client.query(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash)
       SELECT $1, e.stream_version, e.type, e.data, e.metadata, e.recorded_at, e.hash
       FROM jsonb_to_recordset($2::jsonb) AS e(stream_version bigint, type text, data jsonb, metadata jsonb, recorded_at timestamptz, hash text)`,
      [name, JSON.stringify(rows.splice(0))],
    );
  };
  for (let version = 1; version <= versions; version++) {
    for (const event of applyEvents(version, bodyOf(version))) {
      streamVersion++;
      const recorded_at = new Date(start + streamVersion * 1000);
      hash = chainHash(hash, { stream_id: name, stream_version: streamVersion, type: event.type, data: event.data, metadata, recorded_at });
      rows.push({ stream_version: streamVersion, type: event.type, data: event.data, metadata, recorded_at, hash });
      state = evolve(state, event);
    }
    if (rows.length >= BATCH) await flush();
  }
  await flush();
  await client.query('UPDATE streams SET version = $2, snapshot = $3, snapshot_schema = $4 WHERE stream_id = $1', [
    name,
    streamVersion,
    state,
    stateStreams.snapshotSchema,
  ]);
  await client.query('COMMIT');
  return streamVersion;
};

/** Until every asynchronous projection of the server has applied every event (polled every 200 ms). */
const caughtUp = async (client: pg.Client): Promise<void> => {
  const names = asyncProjections.map((projection) => projection.name);
  while (!(await projectionLag(client, names)).every((lag) => lag.events === 0)) await new Promise((resolve) => setTimeout(resolve, 200));
};

const latency = async (run: () => Promise<void>): Promise<Latency> => {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = process.hrtime.bigint();
    await run();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) };
};

export const historyBench = async (
  databaseUrl: string,
  target: Target,
  versions: number,
  log: (line: string) => void,
  /** Writes a body straight into the server's bucket under its key. */
  storeBody: (key: string, bytes: Buffer) => Promise<void>,
): Promise<HistoryResult> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    log(`  writing ${CATCH_UP_VERSIONS} versions with distinct bodies`);
    const bodies: StoredBody[] = [];
    for (let first = 1; first <= CATCH_UP_VERSIONS; first += 8) {
      const serials = Array.from({ length: Math.min(8, CATCH_UP_VERSIONS - first + 1) }, (_, i) => first + i);
      bodies.push(...(await Promise.all(serials.map(async (serial) => {
        const bytes = bodyBytes(serial);
        const sha256 = sha256Of(bytes);
        await storeBody(blobKeyFor(sha256), bytes);
        return { sha256, size: bytes.length, encrypted: false };
      }))));
    }
    await caughtUp(client);
    let started = Date.now();
    await seed(client, CATCH_UP_STATE, CATCH_UP_VERSIONS, (version) => bodies[version - 1]!);
    log('  asynchronous projections catching up on them');
    await caughtUp(client);
    const catchUpMs = Date.now() - started;

    log(`  writing ${versions} versions into the ledger`);
    const unread = bodies[0]!;
    await seed(client, HISTORY_STATE, versions, () => ({ ...unread, encrypted: true }));
    await caughtUp(client);
    const total = (await client.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]?.n;

    log(`  replay of all ${total} events`);
    started = Date.now();
    const report = await replay(pool, { kind: 'swap' });
    const replayMs = Date.now() - started;

    log('  asynchronous projections rebuilding after the replay');
    started = Date.now();
    await caughtUp(client);
    const rebuildMs = Date.now() - started;

    log('  floor: reading the same events in the same batches');
    started = Date.now();
    let cursor = { tx: '0', position: 0 };
    for (;;) {
      const { rows } = await client.query<{ tx: string; global_position: string }>(
        `SELECT global_position, stream_id, stream_version, type, data, metadata, recorded_at, hash, transaction_id::text AS tx
         FROM events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) ORDER BY transaction_id, global_position LIMIT 5000`,
        [cursor.tx, cursor.position],
      );
      const last = rows[rows.length - 1];
      if (last === undefined) break;
      cursor = { tx: last.tx, position: Number(last.global_position) };
    }
    const readFloorMs = Date.now() - started;

    log('  version listing: server against the same keyset query');
    const pages = [];
    for (const [page, before] of [
      ['newest page', undefined],
      ['page at version 50,000', Math.floor(versions / 2)],
      ['oldest page', PAGE + 1],
    ] as const) {
      const query = `?limit=${PAGE}${before === undefined ? '' : `&before=${before}`}`;
      const server = await latency(async () => {
        const reply = await send(target, 'GET', `/states/${HISTORY_STATE}/versions${query}`, { timeoutMs: 10_000 });
        expectStatus(reply, 200, 'list versions');
      });
      const floor = await latency(async () => {
        await client.query('SELECT * FROM state_versions WHERE name = $1 AND version < $2 ORDER BY version DESC LIMIT $3', [
          HISTORY_STATE,
          before ?? 2 ** 31 - 1,
          PAGE,
        ]);
      });
      pages.push({ page, server, floor });
    }
    return { versions, events: report.events, replayMs, catchUpVersions: CATCH_UP_VERSIONS, catchUpMs, rebuildMs, readFloorMs, pages };
  } finally {
    await pool.end();
    await client.end();
  }
};
