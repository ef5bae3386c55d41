import { ACCESS_STREAM } from '../events/access-events.js';
import type { RecordedEvent } from '../events/events.js';
import type { Logger } from '../logger.js';
import { decodeEventRow, eventColumns, type EventRow } from './event-rows.js';
import type { EventWakeups } from './event-wakeups.js';
import type { SqlExecutor } from './sql.js';
import { concurrencyLimit } from '../concurrency-limit.js';

/**
 * One reader of the global feed per process, fanning every new final event out to the live
 * streams that follow it (GET /events/stream), so that a thousand open streams cost one query per
 * wake-up, not a thousand.
 *
 * Everything is ordered as the global feed orders it: by (transaction id, position), reading only
 * transactions older than every running one (globalFeed in event-reads.ts). An event can then never
 * appear behind a place already passed, which is what makes the hand-over below exact.
 *
 * A follower starts at a place of its own (the present, or where the client left off) and first
 * catches up on its own, with queries narrowed to what it may see, up to the place the shared
 * reader has reached; it joins the reader, synchronously and in the same tick as it checks that it
 * is not behind it, once it has read up to there. From then on the reader hands it every event
 * after the follower's own place. Nothing is skipped (the reader reads every event after its
 * place, the follower's catch-up everything up to it) and nothing is sent twice (each follower
 * keeps its place, and takes only events after it).
 */

/** A place in commit order: the (transaction id, position) of an event, or the origin. */
export interface FeedPlace {
  readonly tx: bigint;
  readonly position: number;
}

export const FEED_ORIGIN: FeedPlace = { tx: 0n, position: 0 };

const compare = (a: FeedPlace, b: FeedPlace): number => (a.tx < b.tx ? -1 : a.tx > b.tx ? 1 : a.position - b.position);

/** What a follower may see, as a database filter for its catch-up reads: a superset of what `wants` takes is enough. */
export interface FeedNarrowing {
  /** PostgreSQL regular expressions of the states it may read (visiblePatterns). */
  readonly states: readonly string[];
  /** Whether it sees the access stream's events. */
  readonly access: boolean;
  /** Only this state's events. */
  readonly state?: string | undefined;
  /** Only events of states whose names start with this (the access stream's never, unless empty). */
  readonly prefix?: string | undefined;
}

/** Where a follower starts, from `start`. */
export interface FeedStart {
  /** The position a client names this start by (to resume from it later). */
  readonly position: number;
  readonly place: FeedPlace;
  /**
   * A position no event holds: until the follower is sent its first event, only events at a higher
   * position are sent, as GET /events does with such a cursor.
   */
  readonly above: number | null;
  /** The event at `position` belongs to a transaction older ones are still running beside: wait until it is final. */
  readonly pending: boolean;
}

/** A subscriber: an open stream. Its methods are called by the reader, never concurrently. */
export interface FeedFollower {
  narrowing(): FeedNarrowing;
  /** Whether to send it this event (its grants, re-checked while it is open, and its state or prefix). */
  wants(event: RecordedEvent): boolean;
  /** Sends events, in commit order; answers the bytes that wait unsent (buffered in memory). */
  send(events: readonly RecordedEvent[]): number;
  /** Resolves once nothing waits unsent, or the follower is gone. */
  drained(): Promise<void>;
  /** The reader gave up on it: `slow` (more than maxBacklogBytes waiting unsent), `failed` (its catch-up could not be read). */
  dropped(reason: 'slow' | 'failed', error?: unknown): void;
}

export interface LiveFeedOptions {
  readonly sql: SqlExecutor;
  readonly wakeups: EventWakeups;
  readonly logger: Logger;
  /** Events read at most per query by the shared reader. */
  readonly batch?: number;
  /** Events read at most per query of a catch-up. */
  readonly page?: number;
  /** How often the reader reads without a notification: a commit becomes final when an older transaction ends, which notifies nothing. */
  readonly backstopMs?: number;
  /** A follower with more than this waiting unsent is dropped rather than buffered without bound. */
  readonly maxBacklogBytes?: number;
  /** Catch-up queries running at once: a thousand clients reconnecting together must not take the pool. */
  readonly catchUpConcurrency?: number;
  /** Every batch the reader read, whoever follows it (to see access changes). */
  readonly onBatch?: (events: readonly RecordedEvent[]) => void;
}

export interface LiveFeed {
  /** Where to start after a position (0: the beginning), or at the present. */
  start(after: number | 'now'): Promise<FeedStart>;
  /** Follows the feed from `start` until the returned function is called (or the follower is dropped). */
  follow(start: FeedStart, follower: FeedFollower): () => void;
  /** Followers, catching up or live. */
  size(): number;
}

interface Entry {
  readonly event: RecordedEvent;
  readonly place: FeedPlace;
}

interface Following {
  readonly follower: FeedFollower;
  place: FeedPlace;
  above: number | null;
  live: boolean;
  stopped: boolean;
}

type Row = EventRow & { tx: string } & Record<string, unknown>;

const entryOf = (row: Row): Entry => ({ event: decodeEventRow(row), place: { tx: BigInt(row.tx), position: row.global_position } });

const FINAL = 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())';

/** The place of the last final event (the origin on an empty ledger): the present, as presentPosition tells it. */
const presentPlace = async (sql: SqlExecutor): Promise<FeedPlace> => {
  const { rows } = await sql.query<{ tx: string; position: number }>(
    `SELECT transaction_id::text AS tx, global_position AS position FROM events WHERE ${FINAL}
     ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
  );
  const row = rows[0];
  return row === undefined ? FEED_ORIGIN : { tx: BigInt(row.tx), position: Number(row.position) };
};

/** The event at a position: its place and whether it is final; undefined when no event holds it. */
const placeOf = async (sql: SqlExecutor, position: number): Promise<{ place: FeedPlace; final: boolean } | undefined> => {
  const { rows } = await sql.query<{ tx: string; final: boolean }>(
    `SELECT transaction_id::text AS tx, ${FINAL} AS final FROM events WHERE global_position = $1`,
    [position],
  );
  const row = rows[0];
  return row === undefined ? undefined : { place: { tx: BigInt(row.tx), position }, final: row.final };
};

/** Every final event after a place, whatever its stream: what the shared reader reads. */
const readAfter = async (sql: SqlExecutor, after: FeedPlace, limit: number): Promise<Entry[]> => {
  const { rows } = await sql.query<Row>(
    `SELECT ${eventColumns}, transaction_id::text AS tx FROM events
     WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint) AND ${FINAL}
     ORDER BY transaction_id, global_position LIMIT $3`,
    [after.tx.toString(), after.position, limit],
  );
  return rows.map(entryOf);
};

/** A follower's catch-up: the final events after its place and up to `upTo`, narrowed to what it may see. */
const readRange = async (sql: SqlExecutor, after: FeedPlace, upTo: FeedPlace, above: number | null, narrowing: FeedNarrowing, limit: number): Promise<Entry[]> => {
  const { rows } = await sql.query<Row>(
    `SELECT ${eventColumns}, transaction_id::text AS tx FROM events
     WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
       AND (transaction_id, global_position) <= ($3::xid8, $4::bigint)
       AND ($5::bigint IS NULL OR global_position > $5)
       AND ${FINAL}
       AND ((stream_id <> $6 AND stream_id ~ ANY($7::text[])) OR ($8 AND stream_id = $6))
       AND ($9::text IS NULL OR stream_id = $9)
       AND starts_with(stream_id, $10)
     ORDER BY transaction_id, global_position LIMIT $11`,
    [
      after.tx.toString(),
      after.position,
      upTo.tx.toString(),
      upTo.position,
      above,
      ACCESS_STREAM,
      narrowing.states,
      narrowing.access,
      narrowing.state ?? null,
      narrowing.prefix ?? '',
      limit,
    ],
  );
  return rows.map(entryOf);
};


const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export const liveFeed = (options: LiveFeedOptions): LiveFeed => {
  const { sql, wakeups, logger } = options;
  const batch = options.batch ?? 500;
  const page = options.page ?? 200;
  const backstopMs = options.backstopMs ?? 1000;
  const maxBacklog = options.maxBacklogBytes ?? 1024 * 1024;
  const gate = concurrencyLimit(options.catchUpConcurrency ?? 4);

  const followings = new Set<Following>();
  /** Where the shared reader is: every final event up to here has been handed to the live followers. Undefined while it is not running. */
  let reached: FeedPlace | undefined;
  let running = false;
  /** Followers waiting for the reader to learn where it starts. */
  let whenReached: Array<() => void> = [];

  const stop = (f: Following) => {
    f.stopped = true;
    followings.delete(f);
  };

  const drop = (f: Following, reason: 'slow' | 'failed', error?: unknown) => {
    if (f.stopped) return;
    stop(f);
    try {
      f.follower.dropped(reason, error);
    } catch (failure) {
      logger.warn({ err: failure }, 'closing a dropped event stream failed');
    }
  };

  /** Sends a follower what it wants of these events (all after its place, in commit order); false if it was dropped. */
  const hand = (f: Following, events: readonly RecordedEvent[]): boolean => {
    if (events.length === 0) return true;
    let backlog: number;
    try {
      backlog = f.follower.send(events);
    } catch (error) {
      drop(f, 'failed', error);
      return false;
    }
    if (backlog > maxBacklog) {
      drop(f, 'slow');
      return false;
    }
    return true;
  };

  const fanOut = (entries: readonly Entry[]) => {
    for (const f of followings) {
      if (!f.live) continue;
      const wanted: RecordedEvent[] = [];
      for (const { event, place } of entries) {
        if (compare(place, f.place) <= 0) continue;
        f.place = place;
        if (f.above !== null && event.position <= f.above) continue;
        if (!f.follower.wants(event)) continue;
        f.above = null;
        wanted.push(event);
      }
      hand(f, wanted);
    }
  };

  const tellBatch = (entries: readonly Entry[]) => {
    if (options.onBatch === undefined) return;
    try {
      options.onBatch(entries.map((entry) => entry.event));
    } catch (error) {
      logger.warn({ err: error }, 'a listener of the event stream reader failed');
    }
  };

  const run = async () => {
    running = true;
    let failures = 0;
    try {
      while (followings.size > 0) {
        try {
          if (reached === undefined) {
            reached = await presentPlace(sql);
            for (const wake of whenReached.splice(0)) wake();
            continue;
          }
          const entries = await readAfter(sql, reached, batch);
          failures = 0;
          const last = entries[entries.length - 1];
          if (last !== undefined) {
            // Handed out and passed in one tick: a follower joining sees either both or neither.
            fanOut(entries);
            reached = last.place;
            tellBatch(entries);
            continue; // there may be more: read again before waiting
          }
        } catch (error) {
          failures++;
          // The streams stay open (with their heartbeats) and receive what was missed once it reads again.
          logger.warn({ err: error, failures }, 'the event stream reader could not read the ledger; retrying');
          await sleep(Math.min(backstopMs * 2 ** Math.min(failures, 5), 10_000));
          continue;
        }
        await wakeups.next(backstopMs);
      }
    } finally {
      running = false;
      // Not reading any more: the next follower starts it again from the present.
      reached = undefined;
    }
  };

  const ensureRunning = () => {
    if (!running) void run();
  };

  /** Waits until the reader knows where it is; false if the follower stopped meanwhile. */
  const readerPlace = async (f: Following): Promise<FeedPlace | undefined> => {
    while (!f.stopped) {
      ensureRunning();
      if (reached !== undefined) return reached;
      await new Promise<void>((resolve) => {
        whenReached.push(resolve);
        // The reader may be failing: look again now and then.
        setTimeout(resolve, backstopMs).unref();
      });
    }
    return undefined;
  };

  /** Reads up to the shared reader's place with queries of its own, then joins it. */
  const catchUp = async (f: Following, start: FeedStart) => {
    if (start.pending) {
      // The client named an event of a transaction older ones are still running beside.
      for (;;) {
        await wakeups.next(backstopMs);
        if (f.stopped) return;
        const found = await gate.run(() => placeOf(sql, start.position));
        if (found?.final === true) break;
      }
    }
    for (;;) {
      const upTo = await readerPlace(f);
      if (upTo === undefined || f.stopped) return;
      // The reader may have moved during the await: look at where it is now, and join in this tick.
      if (reached !== undefined && compare(f.place, reached) >= 0) {
        f.live = true;
        return;
      }
      const entries = await gate.run(() => readRange(sql, f.place, upTo, f.above, f.follower.narrowing(), page));
      if (f.stopped) return;
      const wanted: RecordedEvent[] = [];
      let cut = false;
      for (const { event, place } of entries) {
        f.place = place;
        if (!f.follower.wants(event)) continue;
        wanted.push(event);
        if (f.above !== null) {
          // The first event sent ends the "above a position" rule: what follows it is read again without it.
          f.above = null;
          cut = true;
          break;
        }
      }
      if (!hand(f, wanted)) return;
      // Everything up to the reader's place was read (a short page): the follower is there.
      if (!cut && entries.length < page && compare(f.place, upTo) < 0) f.place = upTo;
      if (wanted.length > 0) await f.follower.drained();
    }
  };

  return {
    start: async (after) => {
      if (after === 'now') {
        const place = await presentPlace(sql);
        return { position: place.position, place, above: null, pending: false };
      }
      if (after === 0) return { position: 0, place: FEED_ORIGIN, above: null, pending: false };
      const found = await placeOf(sql, after);
      if (found === undefined) return { position: after, place: FEED_ORIGIN, above: after, pending: false };
      return { position: after, place: found.place, above: null, pending: !found.final };
    },
    follow: (start, follower) => {
      const f: Following = { follower, place: start.place, above: start.above, live: false, stopped: false };
      followings.add(f);
      ensureRunning();
      catchUp(f, start).catch((error: unknown) => drop(f, 'failed', error));
      return () => stop(f);
    },
    size: () => followings.size,
  };
};
