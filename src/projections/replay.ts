import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { streamFold } from '../commands/stream-kinds.js';
import { COMMIT_ORDER_START, eventsInCommitOrder, type CommitCursor } from '../storage/event-reads.js';
import type { AsyncProjection, ProjectionContext } from './async/async-projection.js';
import { writeCheckpoint } from './async/checkpoints.js';
import { projectFrom } from './async/project-from.js';
import { asyncProjections } from './async/projections.js';
import { readModelTables, type TableName } from './read-model.js';
import { ReadModelRebuild } from './rebuild.js';

const BATCH = 5000;

/** swap: rebuild and replace the live read models (and rewrite the streams' decider snapshots); verify: rebuild and compare; until: rebuild as of a time, for inspection. */
export type ReplayMode = { readonly kind: 'swap' } | { readonly kind: 'verify' } | { readonly kind: 'until'; readonly until: Date };

export interface ReplayProgress {
  readonly events: number;
  readonly total: number;
}

export interface TableDifference {
  readonly table: TableName;
  /** Rows only in the live table, and only in the rebuilt one (a few of each as samples). */
  readonly onlyLive: number;
  readonly onlyRebuilt: number;
  readonly samples: readonly unknown[];
}

export interface ReplayReport {
  readonly events: number;
  /** The schema holding the rebuilt tables (kept only for `until`). */
  readonly schema: string;
  readonly differences: readonly TableDifference[];
}

const tables = Object.keys(readModelTables) as TableName[];

export interface ReplayOptions {
  /** The asynchronous projections (all of them unless told). */
  readonly asyncProjections?: readonly AsyncProjection[];
  /**
   * Where they read bodies. With it, a swap rebuilds them here, from scratch, like the inline
   * ones; without it (a replay that opened no blob store), a swap empties their tables and sets
   * their checkpoints back to the start, and the servers' projection runners rebuild them.
   */
  readonly context?: ProjectionContext;
}

/**
 * Reads events in (transaction, position) order after the cursor and feeds them to the rebuild.
 * With `committedOnly`, only transactions older than every running one: nothing can later appear
 * behind the cursor. The next batch is asked for, and the last one's rows written, while this one
 * is folded: PostgreSQL and this process work at the same time.
 */
const readInto = async (
  client: pg.PoolClient,
  rebuild: ReadModelRebuild,
  snapshots: Map<string, unknown>,
  from: CommitCursor,
  options: { committedOnly: boolean; until: Date | null },
  onBatch: (count: number) => void,
): Promise<CommitCursor> => {
  // Both are awaited later; until then a failure must not count as unhandled (it would end the process).
  const started = <A>(work: Promise<A>): Promise<A> => {
    work.catch(() => undefined);
    return work;
  };
  const read = (after: CommitCursor) => started(eventsInCommitOrder(client, after, { ...options, limit: BATCH }));
  let reading = read(from);
  let writing: Promise<void> = Promise.resolve();
  for (;;) {
    const batch = await reading;
    const more = batch.events.length === BATCH;
    if (more) reading = read(batch.cursor);
    rebuild.apply(batch.events);
    for (const e of batch.events) {
      const kind = streamFold(e.streamId);
      snapshots.set(e.streamId, kind.evolve(snapshots.has(e.streamId) ? snapshots.get(e.streamId) : kind.initial, e.event));
    }
    await writing;
    writing = started(rebuild.flush(client));
    onBatch(batch.events.length);
    if (!more) {
      await writing;
      return batch.cursor;
    }
  }
};

const compare = async (client: pg.PoolClient, schema: string): Promise<TableDifference[]> => {
  const differences: TableDifference[] = [];
  for (const table of tables) {
    const only = async (a: string, b: string) =>
      (
        await client.query<{ row: unknown }>(
          `SELECT to_jsonb(d) AS row FROM (SELECT * FROM ${a}.${table} EXCEPT ALL SELECT * FROM ${b}.${table}) d`,
        )
      ).rows.map((r) => r.row);
    const onlyLive = await only('public', schema);
    const onlyRebuilt = await only(schema, 'public');
    if (onlyLive.length + onlyRebuilt.length > 0) {
      differences.push({
        table,
        onlyLive: onlyLive.length,
        onlyRebuilt: onlyRebuilt.length,
        samples: [...onlyLive.slice(0, 3).map((row) => ({ live: row })), ...onlyRebuilt.slice(0, 3).map((row) => ({ rebuilt: row }))],
      });
    }
  }
  return differences;
};

const SNAPSHOT_CHUNK = 5000;

/** The decider snapshots are derived from the events too: a swap rewrites them from the same fold. */
const rewriteSnapshots = async (client: pg.PoolClient, snapshots: Map<string, unknown>): Promise<void> => {
  const entries = [...snapshots].map(([stream, snapshot]) => ({ stream, snapshot, schema: streamFold(stream).snapshotSchema }));
  for (let i = 0; i < entries.length; i += SNAPSHOT_CHUNK) {
    await client.query(
      `UPDATE public.streams s SET snapshot = r.snapshot, snapshot_schema = r.schema
       FROM jsonb_to_recordset($1::jsonb) AS r(stream text, snapshot jsonb, schema integer) WHERE s.stream_id = r.stream`,
      [JSON.stringify(entries.slice(i, i + SNAPSHOT_CHUNK))],
    );
  }
};

/**
 * Rebuilds every read model from the events into a schema of its own, while the server keeps
 * serving from the live tables. A swap stops writers only for its last step (a SHARE lock on
 * streams, which every append updates): it catches up on the events committed meanwhile and
 * swaps the tables in, in one transaction. A verify compares inside one snapshot instead.
 */
export const replay = async (
  pool: pg.Pool,
  mode: ReplayMode,
  onProgress: (progress: ReplayProgress) => void = () => undefined,
  options: ReplayOptions = {},
): Promise<ReplayReport> => {
  const asynchronous = options.asyncProjections ?? asyncProjections;
  const asyncTables = mode.kind === 'swap' ? asynchronous.flatMap((projection) => projection.tables) : [];
  const schema = `replay_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const client = await pool.connect();
  let broken: Error | undefined;
  let keepSchema = false;
  try {
    const total = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]?.n ?? 0;
    await client.query(`CREATE SCHEMA ${schema}`);
    for (const table of [...tables, ...asyncTables]) await client.query(`CREATE TABLE ${schema}.${table} (LIKE public.${table} INCLUDING ALL)`);
    await client.query(`SET search_path TO ${schema}, public`);

    const rebuild = new ReadModelRebuild();
    const snapshots = new Map<string, unknown>();
    let done = 0;
    const progress = (count: number) => onProgress({ events: (done += count), total: Math.max(total, done) });
    const until = mode.kind === 'until' ? mode.until : null;
    const cursor = await readInto(client, rebuild, snapshots, COMMIT_ORDER_START, { committedOnly: true, until }, progress);

    if (mode.kind === 'until') {
      await rebuild.finish(client);
      keepSchema = true;
      return { events: done, schema, differences: [] };
    }

    if (mode.kind === 'verify') {
      // Events and read models commit together, so one snapshot sees them consistently:
      // comparing inside it needs no lock, and writers carry on.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await readInto(client, rebuild, snapshots, cursor, { committedOnly: false, until: null }, progress);
      await rebuild.finish(client);
      const differences = await compare(client, schema);
      await client.query('ROLLBACK');
      return { events: done, schema, differences };
    }
    // The asynchronous projections read every body: most of that before writers are stopped.
    const { context } = options;
    const asyncCursors = new Map<string, CommitCursor>();
    for (const projection of asynchronous) {
      asyncCursors.set(projection.name, context === undefined ? COMMIT_ORDER_START : await projectFrom(client, projection, context, COMMIT_ORDER_START, true));
    }
    await client.query('BEGIN');
    await client.query('LOCK TABLE public.streams IN SHARE MODE');
    // Before any table is dropped: a runner's batch locks its checkpoint row and then writes its
    // tables, so a swap that dropped a table first and then updated the checkpoint could deadlock
    // with it (PostgreSQL would end one of them, perhaps the replay). Here a batch under way
    // finishes first and the next one waits, holding nothing, until the swap commits.
    await client.query('LOCK TABLE public.projection_checkpoints IN EXCLUSIVE MODE');
    await readInto(client, rebuild, snapshots, cursor, { committedOnly: false, until: null }, progress);
    await rebuild.finish(client);
    if (context !== undefined) {
      for (const projection of asynchronous) {
        asyncCursors.set(projection.name, await projectFrom(client, projection, context, asyncCursors.get(projection.name) ?? COMMIT_ORDER_START, false));
      }
    }
    for (const table of [...tables, ...asyncTables]) {
      await client.query(`DROP TABLE public.${table}`);
      await client.query(`ALTER TABLE ${schema}.${table} SET SCHEMA public`);
    }
    // A runner in a server finds its checkpoint moved and follows it (see applyBatch).
    for (const [name, at] of asyncCursors) await writeCheckpoint(client, name, at);
    await rewriteSnapshots(client, snapshots);
    await client.query('COMMIT');
    return { events: done, schema, differences: [] };
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    if (broken === undefined) {
      await client.query('RESET search_path').catch((error: Error) => (broken = error));
      if (!keepSchema) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((error: Error) => (broken = error));
    }
    client.release(broken);
  }
};
