import pg from 'pg';
import type { Logger } from '../../logger.js';
import { eventsInCommitOrder, type CommitCursor } from '../../storage/event-reads.js';
import type { EventWakeups } from '../../storage/event-wakeups.js';
import { BATCH_BODY_BYTES, type AsyncProjection, type BatchWrite, type ProjectionContext } from './async-projection.js';
import { projectionLag, readCheckpoint, sameCursor } from './checkpoints.js';

export interface RunnerSettings {
  /** Events per batch (one transaction each). */
  readonly batchSize: number;
  /** Read again after this long without a wake-up (a NOTIFY lost, or events written by another tool). */
  readonly backstopMs: number;
  /** How often a process not running a projection tries to take it over. */
  readonly takeoverMs: number;
  /** Warn in the log while a projection is further behind than this (at most once a minute). */
  readonly lagWarnSeconds: number;
  /** Longest wait between two attempts after a failure (PostgreSQL or the blob store down). */
  readonly retryMaxMs: number;
  /**
   * Least time between two reads of the ledger: wake-ups within it are gathered into one batch,
   * so a busy ledger costs a few reads a second rather than a read and a transaction per event.
   */
  readonly coalesceMs: number;
}

export const DEFAULT_RUNNER_SETTINGS: RunnerSettings = { batchSize: 100, backstopMs: 5000, takeoverMs: 2000, lagWarnSeconds: 60, retryMaxMs: 10_000, coalesceMs: 100 };

export interface RunnerDeps {
  /** The database URL: each projection holds a connection of its own, which holds its lock. */
  readonly url: string;
  readonly wakeups: EventWakeups;
  readonly logger: Logger;
  readonly context: ProjectionContext;
  readonly projections: readonly AsyncProjection[];
  readonly settings?: Partial<RunnerSettings>;
  /** Told after each batch applied here (tests, metrics). */
  readonly onApplied?: (projection: string, events: number) => void;
}

export interface ProjectionRunner {
  /** The projections this process runs now (holds the lock of). */
  running(): readonly string[];
  /** Stops every loop; resolves once a batch being applied has ended and the connections are closed. */
  stop(): Promise<void>;
}

/** Two int4 keys: the ledger's projections apart from retention's jobs (src/retention/exclusive.ts). */
const LOCK = "hashtext('state-ledger projection'), hashtext($1)";

class Stopped extends Error {}

/** After a wake-up that found nothing final: a few reads this far apart before waiting again. */
const QUICK_READS = 4;
const QUICK_READ_MS = 250;

/**
 * Runs asynchronous projections in this process, each in a loop of its own:
 *
 * - **One runner per projection across processes.** A loop opens a connection of its own and
 *   tries `pg_try_advisory_lock` on it every takeoverMs until it gets it; the lock goes with the
 *   session, so when the holder dies (or its connection does) another process takes over within
 *   takeoverMs.
 * - **Never passes an event committed late.** It reads events in (transaction id, position) order
 *   after its checkpoint, only those of transactions older than every one still running
 *   (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`): every transaction below xmin
 *   has ended, so whatever commits later has a larger transaction id than the checkpoint.
 * - **Exactly once.** A batch is written, on the connection that holds the lock, in one
 *   transaction that locks the checkpoint row, checks that it is still where the batch was read
 *   from, writes the rows and moves the checkpoint. A runner that lost its lock without noticing
 *   finds its connection gone, or the checkpoint moved, and writes nothing.
 * - **Woken by NOTIFY** (EventWakeups), with a read every backstopMs anyway; reads at most one
 *   per coalesceMs, so the events of a busy moment go in one batch.
 * - **Never ends the process.** Any failure closes the connection and the loop starts again
 *   after a backoff (up to retryMaxMs), from the checkpoint in the database.
 */
export const startProjectionRunner = (deps: RunnerDeps): ProjectionRunner => {
  const settings = { ...DEFAULT_RUNNER_SETTINGS, ...deps.settings };
  const { logger } = deps;
  let stopped = false;
  /** What wakes every wait at once when the runner stops (each wait removes itself when it ends). */
  const wakers = new Set<() => void>();
  const running = new Set<string>();
  const clients = new Set<pg.Client>();

  /** Resolves when `work` settles or the runner stops, whichever is first. */
  const interruptible = (work: Promise<unknown>): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = () => {
        wakers.delete(done);
        resolve();
      };
      wakers.add(done);
      if (stopped) done();
      void work.then(done, done);
    });

  const sleep = (ms: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    return interruptible(new Promise((resolve) => (timer = setTimeout(resolve, ms)))).finally(() => clearTimeout(timer));
  };

  const check = () => {
    if (stopped) throw new Stopped();
  };

  const loop = async (projection: AsyncProjection): Promise<void> => {
    const { name } = projection;
    let failures = 0;
    while (!stopped) {
      const client = new pg.Client({
        connectionString: deps.url,
        keepAlive: true,
        connectionTimeoutMillis: 5000,
        query_timeout: 300_000,
        application_name: `state-ledger projection ${name}`,
      });
      // A terminated backend must not end the process: its queries reject instead.
      client.on('error', (error) => logger.warn({ projection: name, err: error }, 'projection connection failed'));
      clients.add(client);
      let failure: unknown;
      try {
        await client.connect();
        for (;;) {
          check();
          const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS locked`, [name]);
          if (rows[0]?.locked === true) break;
          failures = 0;
          await sleep(settings.takeoverMs);
        }
        running.add(name);
        logger.info({ projection: name }, 'running projection here');
        await follow(client, projection, () => (failures = 0));
      } catch (error) {
        failure = error;
      } finally {
        running.delete(name);
        clients.delete(client);
        await client.end().catch(() => undefined);
      }
      if (stopped || failure instanceof Stopped) break;
      const wait = Math.min(500 * 2 ** failures, settings.retryMaxMs);
      failures++;
      logger.warn({ projection: name, err: failure, retryInMs: wait }, 'projection stopped by a failure; trying again');
      await sleep(wait);
    }
  };

  /** Applies batches until stopped; throws on any failure. */
  const follow = async (client: pg.Client, projection: AsyncProjection, onProgress: () => void): Promise<void> => {
    const { name } = projection;
    await client.query('INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
    let cursor = await readCheckpoint(client, name);
    let lagCheckedAt = 0;
    let warnedAt = 0;
    const watchLag = async () => {
      const now = Date.now();
      if (now - lagCheckedAt < 10_000) return;
      lagCheckedAt = now;
      const [lag] = await projectionLag(client, [name]);
      if (lag !== undefined && lag.seconds > settings.lagWarnSeconds && now - warnedAt >= 60_000) {
        warnedAt = now;
        logger.warn({ projection: name, lagEvents: lag.events, lagSeconds: Math.round(lag.seconds) }, 'projection is behind the ledger');
      }
    };
    /** Woken by a notification, and reads left at a short interval if its events are not final yet. */
    let notified = false;
    let quickReads = 0;
    let readAt = 0;
    for (;;) {
      check();
      const sinceRead = Date.now() - readAt;
      if (sinceRead < settings.coalesceMs) await sleep(settings.coalesceMs - sinceRead);
      check();
      readAt = Date.now();
      const batch = await eventsInCommitOrder(client, cursor, { committedOnly: true, until: null, limit: settings.batchSize, maxBodyBytes: BATCH_BODY_BYTES });
      onProgress();
      if (batch.events.length === 0) {
        // A replay may have set the checkpoint back (and emptied the tables) while nothing new was
        // written: follow it now, not at the next append.
        const stored = await readCheckpoint(client, name);
        if (!sameCursor(stored, cursor)) {
          logger.info({ projection: name, expected: cursor, found: stored }, 'projection checkpoint moved elsewhere (a replay); following it');
          cursor = stored;
          continue;
        }
        // A commit announced while an older transaction still runs is not final yet: look again soon.
        if (notified) quickReads = QUICK_READS;
        notified = false;
        if (quickReads > 0) {
          quickReads--;
          await sleep(QUICK_READ_MS);
          continue;
        }
        await watchLag();
        const waitedFrom = Date.now();
        await interruptible(deps.wakeups.next(settings.backstopMs));
        notified = Date.now() - waitedFrom < settings.backstopMs - 10;
        continue;
      }
      notified = false;
      quickReads = 0;
      const write = await projection.prepare(batch.events, deps.context, client);
      check();
      const moved = await applyBatch(client, name, cursor, batch.cursor, write);
      if (moved !== undefined) {
        logger.info({ projection: name, expected: cursor, found: moved }, 'projection checkpoint moved elsewhere (another runner or a replay); following it');
        cursor = moved;
        continue;
      }
      cursor = batch.cursor;
      deps.onApplied?.(name, batch.events.length);
      // A full batch means more are waiting: read on at once.
      if (batch.events.length === settings.batchSize) readAt = 0;
      await watchLag();
    }
  };

  const loops = deps.projections.map((projection) => loop(projection));

  return {
    running: () => [...running],
    stop: async () => {
      stopped = true;
      for (const wake of [...wakers]) wake();
      // A loop waiting on a query ends with its connection.
      await Promise.all([...clients].map((client) => client.end().catch(() => undefined)));
      await Promise.all(loops);
    },
  };
};

/**
 * Writes one batch and moves the checkpoint from `from` to `to`, in one transaction, if the
 * checkpoint is still at `from`; otherwise writes nothing and answers where it is.
 */
export const applyBatch = async (
  client: pg.ClientBase,
  name: string,
  from: CommitCursor,
  to: CommitCursor,
  write: BatchWrite,
): Promise<CommitCursor | undefined> => {
  await client.query('BEGIN');
  try {
    const current = await readCheckpoint(client, name, true);
    if (!sameCursor(current, from)) {
      await client.query('ROLLBACK');
      return current;
    }
    await write(client);
    await client.query('UPDATE projection_checkpoints SET tx = $2::xid8, position = $3, updated_at = now() WHERE name = $1', [name, to.tx, to.position]);
    await client.query('COMMIT');
    return undefined;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
};
