import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import type { AppendRequest, EventStore, LoadedStream, StreamVersionConflict } from '../commands/ports.js';
import type { StreamKind } from '../commands/stream-kinds.js';
import type { LedgerEvent, RecordedEvent } from '../events/events.js';
import { chainedSchemaVersion, chainHash, GENESIS, type ChainHead } from '../events/hash-chain.js';
import { currentSchemaVersion } from '../events/upcasters.js';
import { readStreamEvents } from './event-reads.js';
import type { InlineProjection } from './inline-projection.js';
import { SnapshotCache } from './snapshot-cache.js';

export interface StreamStoreOptions {
  /** Read models applied in the appending statement. */
  readonly inline: readonly InlineProjection[];
  /** Told the newest global position after each append has committed (to wake readers). */
  readonly onCommit?: (position: number) => void;
  /** Streams whose last snapshot this process keeps (0: none). */
  readonly cacheSize?: number;
}

const DEFAULT_CACHE_SIZE = 10_000;
const UNIQUE_VIOLATION = '23505';

const LOAD: pg.QueryConfig = {
  name: 'ledger_load_stream',
  text: `SELECT s.version, s.snapshot, s.snapshot_schema, e.hash, e.recorded_at
         FROM streams s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.stream_version = s.version
         WHERE s.stream_id = $1`,
};

const APPEND: pg.QueryConfig = { name: 'ledger_append', text: 'SELECT ledger_append($1, $2, $3, $4, $5, $6, $7, $8, $9) AS positions' };

interface StreamRow {
  version: number;
  snapshot: unknown;
  snapshot_schema: number;
  hash: string | null;
  recorded_at: Date | null;
}

interface Cached<S> {
  readonly state: S;
  readonly version: number;
  readonly chain: ChainHead;
}

const isUniqueViolation = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;

/**
 * The streams of one kind (states, or access) in PostgreSQL, two round trips per command: the
 * snapshot and chain head are read outside any transaction (or taken from the cache), and one
 * autocommit statement compare-and-sets the version, inserts the events and applies the inline
 * projections (ledger_append, migrations/0004).
 */
export const pgStreamStore = <S, Ev extends LedgerEvent>(pool: pg.Pool, kind: StreamKind<S, Ev>, options: StreamStoreOptions): EventStore<S, Ev> => {
  const cache = new SnapshotCache<Cached<S>>(options.cacheSize ?? DEFAULT_CACHE_SIZE);

  const loadFresh = async (streamId: string): Promise<LoadedStream<S>> => {
    const row = (await pool.query<StreamRow>({ ...LOAD, values: [streamId] })).rows[0];
    if (row === undefined) return { streamId, state: kind.initial, version: 0, fresh: true, chain: GENESIS };
    if (row.hash === null || row.recorded_at === null) throw new Error(`stream ${streamId} is at version ${row.version} but has no such event`);
    const chain = { hash: row.hash, recordedAt: row.recorded_at };
    const snapshot = row.snapshot_schema === kind.snapshotSchema ? kind.snapshot.decode(row.snapshot) : undefined;
    if (snapshot !== undefined && E.isRight(snapshot)) return { streamId, state: snapshot.right, version: row.version, fresh: true, chain };
    // A snapshot of an older shape: fold the stream again (the next append writes a current one).
    // Version and chain head come from the events read, which may go past the row read above.
    const recorded = await readStreamEvents(pool, streamId);
    const last = recorded[recorded.length - 1];
    if (last === undefined) throw new Error(`stream ${streamId} is at version ${row.version} but has no events`);
    const foreign = recorded.find((e) => !kind.owns(e.event));
    if (foreign !== undefined) throw new Error(`stream ${streamId} holds a ${foreign.event.type} event, which does not belong there`);
    const state = recorded.map((e) => e.event as Ev).reduce(kind.evolve, kind.initial);
    return { streamId, state, version: last.streamVersion, fresh: true, chain: { hash: last.hash, recordedAt: last.recordedAt } };
  };

  const load = async (streamId: string, loadOptions?: { readonly fresh?: boolean }): Promise<LoadedStream<S>> => {
    const cached = loadOptions?.fresh === true ? undefined : cache.get(streamId);
    if (cached !== undefined) return { streamId, ...cached, fresh: false };
    const loaded = await loadFresh(streamId);
    cache.set(streamId, { state: loaded.state, version: loaded.version, chain: loaded.chain });
    return loaded;
  };

  const append = async (loaded: LoadedStream<S>, request: AppendRequest<S, Ev>): Promise<E.Either<StreamVersionConflict, Array<RecordedEvent<Ev>>>> => {
    const { streamId, version: expected, chain } = loaded;
    const { events, metadata, stateAfter } = request;
    // Times never go backwards within a stream (clocks of several servers may disagree slightly),
    // so "the last event at or before T" is also the latest by stream version.
    const recordedAt = request.recordedAt < chain.recordedAt ? chain.recordedAt : request.recordedAt;
    let hash = chain.hash;
    const links = events.map((event, i) => {
      const streamVersion = expected + i + 1;
      const schemaVersion = currentSchemaVersion(event.type);
      hash = chainHash(hash, {
        stream_id: streamId,
        stream_version: streamVersion,
        type: event.type,
        data: event.data,
        metadata,
        recorded_at: recordedAt,
        schema_version: chainedSchemaVersion(schemaVersion),
      });
      return { event, streamVersion, schemaVersion, hash };
    });
    const stored = links.map((link) => ({ type: link.event.type, data: link.event.data, schema_version: link.schemaVersion, hash: link.hash }));
    const projectable = events.map((event) => ({ streamId, event, metadata, recordedAt }));
    const changes = options.inline.flatMap((projection) =>
      projection.changes(projectable).map((change) => ({ ...change, key_columns: projection.tables[change.table] })),
    );
    const conflict = () => {
      cache.delete(streamId);
      return E.left<StreamVersionConflict>({ type: 'StreamVersionConflict', streamId });
    };
    let positions: unknown[] | null;
    try {
      const { rows } = await pool.query<{ positions: unknown[] | null }>({
        ...APPEND,
        values: [streamId, expected, chain.hash, JSON.stringify(stateAfter), kind.snapshotSchema, JSON.stringify(stored), JSON.stringify(metadata), recordedAt, JSON.stringify(changes)],
      });
      positions = rows[0]?.positions ?? null;
    } catch (error) {
      // Whether it committed is unknown (the connection may have dropped after COMMIT): forget the stream.
      cache.delete(streamId);
      if (isUniqueViolation(error)) return conflict();
      throw error;
    }
    if (positions === null) return conflict();
    const recorded = links.map((link, i) => ({
      position: Number(positions[i]),
      streamId,
      streamVersion: link.streamVersion,
      event: link.event,
      metadata,
      recordedAt,
      hash: link.hash,
    }));
    cache.set(streamId, { state: stateAfter, version: expected + events.length, chain: { hash, recordedAt } });
    options.onCommit?.(Number(positions[positions.length - 1]));
    return E.right(recorded);
  };

  return { load, append };
};
