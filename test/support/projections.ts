import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Test } from 'tap';
import type { Logger } from '../../src/logger.js';
import type { AsyncProjection } from '../../src/projections/async/async-projection.js';
import { projectionLag } from '../../src/projections/async/checkpoints.js';
import { projectFrom } from '../../src/projections/async/project-from.js';
import { startProjectionRunner, type ProjectionRunner, type RunnerSettings } from '../../src/projections/async/runner.js';
import { sharedBodyReader } from '../../src/projections/async/stored-contents.js';
import type { BlobStore } from '../../src/storage/blobs/blob-store.js';
import { COMMIT_ORDER_START } from '../../src/storage/event-reads.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import type { SqlExecutor } from '../../src/storage/sql.js';

/** Polls `check` until it holds, or fails after `ms`. */
export const waitFor = async (what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> => {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/** Records every event it is given, in the order it was given them (to check order and exactly once). */
export const recorder: AsyncProjection = {
  name: 'recorder',
  tables: ['recorded_events'],
  prepare: async (events) => async (sql) => {
    await sql.query('INSERT INTO recorded_events (position) SELECT unnest($1::bigint[])', [events.map((e) => e.position)]);
  },
};

export const createRecorderTable = (pool: pg.Pool) => pool.query('CREATE TABLE recorded_events (seq bigserial PRIMARY KEY, position bigint NOT NULL)');

export const recorded = async (pool: pg.Pool): Promise<number[]> => (await pool.query<{ position: number }>('SELECT position FROM recorded_events ORDER BY seq')).rows.map((r) => Number(r.position));

/** Every event's position in commit order: (transaction id, position). */
export const commitOrder = async (pool: pg.Pool): Promise<number[]> =>
  (await pool.query<{ p: number }>('SELECT global_position AS p FROM events ORDER BY transaction_id, global_position')).rows.map((r) => Number(r.p));

/** A runner of its own (its own listener too), stopped at the end of the test. */
export const runner = async (
  t: Test,
  deps: { url: string; blobs: BlobStore; logger: Logger; projections: readonly AsyncProjection[]; settings?: Partial<RunnerSettings>; onApplied?: (projection: string, events: number) => void },
): Promise<ProjectionRunner> => {
  const wakeups = await listenForEvents(deps.url, deps.logger);
  const started = startProjectionRunner({
    url: deps.url,
    wakeups,
    logger: deps.logger,
    context: { bodies: sharedBodyReader(deps.blobs) },
    projections: deps.projections,
    settings: { takeoverMs: 200, backstopMs: 500, ...deps.settings },
    ...(deps.onApplied === undefined ? {} : { onApplied: deps.onApplied }),
  });
  t.teardown(async () => {
    await started.stop();
    await wakeups.close();
  });
  return started;
};

export const caughtUp = async (pool: pg.Pool, names: readonly string[]): Promise<boolean> =>
  (await projectionLag(pool, names)).every((lag) => lag.events === 0);

/** A projection's tables, row by row. */
export const dumpTables = async (sql: SqlExecutor, projection: AsyncProjection, schema: string): Promise<Record<string, unknown[]>> => {
  const out: Record<string, unknown[]> = {};
  for (const table of projection.tables) {
    out[table] = (await sql.query<{ row: unknown }>(`SELECT to_jsonb(t) AS row FROM ${schema}.${table} t ORDER BY to_jsonb(t)::text`)).rows.map((r) => r.row);
  }
  return out;
};

/**
 * A projection's tables rebuilt from every event, as `replay` rebuilds them (projectFrom into a
 * schema of its own through search_path), without touching the live tables the servers use.
 */
export const rebuilt = async (pool: pg.Pool, projection: AsyncProjection, blobs: BlobStore): Promise<Record<string, unknown[]>> => {
  const client = await pool.connect();
  const onError = () => undefined;
  client.on('error', onError);
  const schema = `rebuild_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    for (const table of projection.tables) await client.query(`CREATE TABLE ${schema}.${table} (LIKE public.${table} INCLUDING ALL)`);
    await client.query(`SET search_path TO ${schema}, public`);
    await projectFrom(client, projection, { bodies: sharedBodyReader(blobs) }, COMMIT_ORDER_START, false);
    return await dumpTables(client, projection, schema);
  } finally {
    await client.query('RESET search_path').catch(() => undefined);
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    client.off('error', onError);
    client.release();
  }
};
