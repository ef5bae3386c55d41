import pg from 'pg';
import { evolve, initialState, type LedgerState } from '../src/commands/state.js';
import type { StateEvent } from '../src/events/events.js';
import { chainHash, GENESIS_HASH } from '../src/events/hash-chain.js';
import { replay } from '../src/projections/replay.js';
import { stateStreams } from '../src/commands/stream-kinds.js';
import { expectStatus, send, type Target } from './http.js';
import { percentile } from './stats.js';

/**
 * History at scale: a state with 100,000 versions (each under a lock: 300,000 events), then
 * `replay` over the whole ledger and version listing (keyset pages) through the server, each
 * against the floor of reading the same rows straight from PostgreSQL.
 */

export const HISTORY_STATE = 'history-100k';
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
  readonly readFloorMs: number;
  readonly pages: ReadonlyArray<{ readonly page: string; readonly server: Latency; readonly floor: Latency }>;
}

const metadata = { actor: 'bench', remote_address: '127.0.0.1', user_agent: 'bench', request_id: 'bench' };

/** The lock, push and unlock of one apply, as the decider would have written them. */
const applyEvents = (version: number): StateEvent[] => {
  const lock = { ID: `lock-${version}`, Operation: 'OperationTypeApply', Who: 'bench@host' };
  const sha256 = version.toString(16).padStart(64, '0');
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
        blob_key: `sha256/${sha256.slice(0, 2)}/${sha256}`,
        sha256,
        md5: 'AAAAAAAAAAAAAAAAAAAAAA==',
        size: 1000 + version,
        serial: version,
        lineage: 'bench-lineage',
        terraform_version: '1.9.8',
        encrypted: false,
        resource_count: 10,
        output_count: 2,
      },
    },
    { type: 'StateUnlocked', data: { lock_id: lock.ID } },
  ];
};

/** Writes the stream straight into the ledger (hash-chained, as the server would), in bulk. */
export const seed = async (client: pg.Client, versions: number): Promise<number> => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  let state: LedgerState = initialState;
  let hash = GENESIS_HASH;
  let streamVersion = 0;
  const rows: unknown[] = [];
  await client.query('BEGIN');
  await client.query("INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) VALUES ($1, 1, '{}', 0)", [HISTORY_STATE]);
  const flush = async () => {
    await client.query(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash)
       SELECT $1, e.stream_version, e.type, e.data, e.metadata, e.recorded_at, e.hash
       FROM jsonb_to_recordset($2::jsonb) AS e(stream_version bigint, type text, data jsonb, metadata jsonb, recorded_at timestamptz, hash text)`,
      [HISTORY_STATE, JSON.stringify(rows.splice(0))],
    );
  };
  for (let version = 1; version <= versions; version++) {
    for (const event of applyEvents(version)) {
      streamVersion++;
      const recorded_at = new Date(start + streamVersion * 1000);
      hash = chainHash(hash, { stream_id: HISTORY_STATE, stream_version: streamVersion, type: event.type, data: event.data, metadata, recorded_at });
      rows.push({ stream_version: streamVersion, type: event.type, data: event.data, metadata, recorded_at, hash });
      state = evolve(state, event);
    }
    if (rows.length >= BATCH) await flush();
  }
  await flush();
  await client.query('UPDATE streams SET version = $2, snapshot = $3, snapshot_schema = $4 WHERE stream_id = $1', [
    HISTORY_STATE,
    streamVersion,
    state,
    stateStreams.snapshotSchema,
  ]);
  await client.query('COMMIT');
  return streamVersion;
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

export const historyBench = async (databaseUrl: string, target: Target, versions: number, log: (line: string) => void): Promise<HistoryResult> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    log(`  writing ${versions} versions into the ledger`);
    await seed(client, versions);
    const total = (await client.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]?.n;

    log(`  replay of all ${total} events`);
    let started = Date.now();
    const report = await replay(pool, { kind: 'swap' });
    const replayMs = Date.now() - started;

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
    return { versions, events: report.events, replayMs, readFloorMs, pages };
  } finally {
    await pool.end();
    await client.end();
  }
};
