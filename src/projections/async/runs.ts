import { isStateEvent, type RecordedEvent } from '../../events/events.js';
import type { SqlExecutor } from '../../storage/sql.js';
import type { AsyncProjection, BatchWrite } from './async-projection.js';
import { compareDigests, digestsOf, NO_INSTANCES, type Changes, type Digests } from './run-changes.js';
import { bodyReadings } from './stored-contents.js';

export type RunEnd = 'unlocked' | 'force-unlocked' | 'lease-expired' | 'not-locked';

/** A run as the projection holds it between its rows and the events of a batch. */
interface Run {
  readonly startedPosition: number;
  readonly lockId: string | null;
  readonly operation: string | null;
  readonly who: string | null;
  readonly actor: string;
  readonly startedAt: Date;
  endedAt: Date | null;
  ended: RunEnd | null;
  baseVersion: number | null;
  /** The base's digests: set with the run's first version. */
  base: Digests | undefined;
  /** Whether the base was set in this batch (else its row has it already). */
  baseIsNew: boolean;
  firstVersion: number | null;
  lastVersion: number | null;
  versionCount: number;
  changes: Changes | null;
  /** Whether a row holds it already (a lock released with no version must then be deleted). */
  stored: boolean;
}

/** What the projection knows of one state while it goes through a batch; loaded only as needed. */
interface StateRuns {
  /** The current version and its digests (undefined: not loaded, as no version was written in the batch). */
  head: { version: number | null; digests: Digests } | undefined;
  headChanged: boolean;
  /** The run whose lock is held (null: none). */
  open: Run | null;
  /** Runs to write, by started position; and runs to delete. */
  readonly written: Map<number, Run>;
  readonly deleted: Run[];
}

interface RunRow extends Record<string, unknown> {
  started_position: string;
  lock_id: string | null;
  operation: string | null;
  who: string | null;
  actor: string;
  started_at: Date;
  base_version: number | null;
  first_version: number | null;
  last_version: number | null;
  version_count: number;
  added: number | null;
  changed: number | null;
  removed: number | null;
  changes_unknown: string | null;
  base_digests: Record<string, string | null> | null;
}

const fromJson = (digests: Record<string, string | null>): Digests => ({ known: true, byAddress: new Map(Object.entries(digests)) });

/** A run begun by event `e` (its lock, or its only version); `ended` is not-locked for the latter. */
const newRun = (e: RecordedEvent, lock: { id: string | null; operation: string | null; who: string | null }, ended: RunEnd | null): Run => ({
  startedPosition: e.position,
  lockId: lock.id,
  operation: lock.operation,
  who: lock.who,
  actor: e.metadata.actor,
  startedAt: e.recordedAt,
  endedAt: ended === null ? null : e.recordedAt,
  ended,
  baseVersion: null,
  base: undefined,
  baseIsNew: false,
  firstVersion: null,
  lastVersion: null,
  versionCount: 0,
  changes: null,
  stored: false,
});

const openRunOf = (row: RunRow): Run => {
  const changes: Changes | null =
    row.changes_unknown !== null ? { unknown: row.changes_unknown } : row.added === null ? null : { added: row.added, changed: row.changed ?? 0, removed: row.removed ?? 0 };
  return {
    startedPosition: Number(row.started_position),
    lockId: row.lock_id,
    operation: row.operation,
    who: row.who,
    actor: row.actor,
    startedAt: row.started_at,
    endedAt: null,
    ended: null,
    baseVersion: row.base_version,
    // A base that could not be read is stored as no digests, its reason as the run's.
    base: row.version_count === 0 ? undefined : row.base_digests !== null ? fromJson(row.base_digests) : { known: false, reason: row.changes_unknown ?? 'unknown' },
    baseIsNew: false,
    firstVersion: row.first_version,
    lastVersion: row.last_version,
    versionCount: row.version_count,
    changes,
    stored: true,
  };
};

type Head = NonNullable<StateRuns['head']>;

/** The open run of each of these states that has one: one query for a whole batch. */
const loadOpenRuns = async (tables: SqlExecutor, names: readonly string[]): Promise<Map<string, Run>> => {
  if (names.length === 0) return new Map();
  const { rows } = await tables.query<RunRow & { name: string }>(
    `SELECT name, started_position, lock_id, operation, who, actor, started_at, base_version, first_version, last_version, version_count,
            added, changed, removed, changes_unknown, base_digests
     FROM state_runs WHERE name = ANY($1::text[]) AND ended_at IS NULL`,
    [names],
  );
  return new Map(rows.map((row) => [row.name, openRunOf(row)]));
};

/** The current version and digests of each of these states (none stored: no version, no instances). */
const loadHeads = async (tables: SqlExecutor, names: readonly string[]): Promise<Map<string, Head>> => {
  if (names.length === 0) return new Map();
  const { rows } = await tables.query<{ name: string; version: number | null; digests: Record<string, string | null> | null; reason: string | null }>(
    'SELECT name, version, digests, reason FROM state_run_heads WHERE name = ANY($1::text[])',
    [names],
  );
  const heads = new Map(
    rows.map((row): [string, Head] => [row.name, { version: row.version, digests: row.digests !== null ? fromJson(row.digests) : { known: false, reason: row.reason ?? 'unknown' } }]),
  );
  return new Map(names.map((name) => [name, heads.get(name) ?? { version: null, digests: NO_INSTANCES }]));
};

/** A run as one element of writeRuns' JSON: the columns of its row. */
const runRow = (name: string, run: Run) => {
  const changes = run.changes;
  const counted = changes !== null && !('unknown' in changes) ? changes : undefined;
  return {
    name,
    started_position: run.startedPosition,
    lock_id: run.lockId,
    operation: run.operation,
    who: run.who,
    actor: run.actor,
    started_at: run.startedAt,
    ended_at: run.endedAt,
    ended: run.ended,
    base_version: run.baseVersion,
    first_version: run.firstVersion,
    last_version: run.lastVersion,
    version_count: run.versionCount,
    added: counted?.added ?? null,
    changed: counted?.changed ?? null,
    removed: counted?.removed ?? null,
    changes_unknown: changes !== null && 'unknown' in changes ? changes.unknown : null,
    // Only an open run needs its base again; written once, with its first version.
    base_digests: run.ended === null && run.baseIsNew && run.base?.known === true ? Object.fromEntries(run.base.byAddress) : null,
  };
};

/**
 * Writes runs in one statement, in the order given: per state, a run that ended before the one
 * opened after it (at most one open run per state, state_runs_open).
 */
const writeRuns = async (sql: SqlExecutor, rows: ReadonlyArray<ReturnType<typeof runRow>>): Promise<void> => {
  if (rows.length === 0) return;
  await sql.query(
    `INSERT INTO state_runs (name, started_position, lock_id, operation, who, actor, started_at, ended_at, ended, base_version,
       first_version, last_version, version_count, added, changed, removed, changes_unknown, base_digests)
     SELECT name, started_position, lock_id, operation, who, actor, started_at, ended_at, ended, base_version,
       first_version, last_version, version_count, added, changed, removed, changes_unknown, base_digests
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(run, n), jsonb_populate_record(NULL::state_runs, e.run) AS r
     ORDER BY e.n
     ON CONFLICT (name, started_position) DO UPDATE SET ended_at = EXCLUDED.ended_at, ended = EXCLUDED.ended,
       base_version = EXCLUDED.base_version, first_version = EXCLUDED.first_version, last_version = EXCLUDED.last_version,
       version_count = EXCLUDED.version_count, added = EXCLUDED.added, changed = EXCLUDED.changed, removed = EXCLUDED.removed,
       changes_unknown = EXCLUDED.changes_unknown,
       base_digests = CASE WHEN EXCLUDED.ended_at IS NULL THEN COALESCE(EXCLUDED.base_digests, state_runs.base_digests) END`,
    [JSON.stringify(rows)],
  );
};

const deleteRuns = async (sql: SqlExecutor, runs: ReadonlyArray<{ readonly name: string; readonly startedPosition: number }>): Promise<void> => {
  if (runs.length === 0) return;
  await sql.query('DELETE FROM state_runs WHERE (name, started_position) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))', [
    runs.map((run) => run.name),
    runs.map((run) => run.startedPosition),
  ]);
};

const writeHeads = async (sql: SqlExecutor, heads: ReadonlyArray<readonly [string, Head]>): Promise<void> => {
  if (heads.length === 0) return;
  await sql.query(
    `INSERT INTO state_run_heads (name, version, digests, reason)
     SELECT r.name, r.version, r.digests, r.reason FROM jsonb_array_elements($1::jsonb) AS e(head), jsonb_populate_record(NULL::state_run_heads, e.head) AS r
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, digests = EXCLUDED.digests, reason = EXCLUDED.reason`,
    [
      JSON.stringify(
        heads.map(([name, head]) => ({
          name,
          version: head.version,
          digests: head.digests.known ? Object.fromEntries(head.digests.byAddress) : null,
          reason: head.digests.known ? null : head.digests.reason,
        })),
      ),
    ],
  );
};

/**
 * Runs: the versions written under one lock (its ID, Operation and Who, who took it, when it was
 * taken and how it ended), or one version pushed without a lock, with the resource instances added,
 * changed and removed between the version before the run and its last one. A view over the
 * versions: nothing is collapsed. Each version's body is read once (for its instances' attribute
 * digests); per state, the projection keeps the current version's digests (state_run_heads) and,
 * while a run is open, its base's (state_runs.base_digests).
 */
export const runsProjection: AsyncProjection = {
  name: 'runs',
  tables: ['state_runs', 'state_run_heads'],
  prepare: async (events: readonly RecordedEvent[], { bodies }, tables): Promise<BatchWrite> => {
    // What the batch needs of the rows, read in two queries: every state's open run, and the head of each state pushed to.
    const names = new Set<string>();
    const pushedTo = new Set<string>();
    for (const { streamId, event } of events) {
      if (!isStateEvent(event)) continue;
      names.add(streamId);
      if (event.type === 'StatePushed' || event.type === 'StateRolledBack') pushedTo.add(streamId);
    }
    const openRuns = await loadOpenRuns(tables, [...names]);
    const heads = await loadHeads(tables, [...pushedTo]);
    const states = new Map(
      [...names].map((name): [string, StateRuns] => [name, { head: heads.get(name), headChanged: false, open: openRuns.get(name) ?? null, written: new Map(), deleted: [] }]),
    );
    const stateOf = (name: string): StateRuns => {
      const state = states.get(name);
      if (state === undefined) throw new Error(`runs: state ${name} was not loaded for its batch`);
      return state;
    };
    const headOf = (state: StateRuns): Head => {
      if (state.head === undefined) throw new Error('runs: a head was not loaded for its batch');
      return state.head;
    };
    const end = (name: string, lockId: string, at: Date, how: RunEnd): void => {
      const state = stateOf(name);
      const run = state.open;
      if (run === null || run.lockId !== lockId) return;
      run.endedAt = at;
      run.ended = how;
      state.open = null;
      if (run.versionCount > 0) state.written.set(run.startedPosition, run);
      else {
        state.written.delete(run.startedPosition);
        if (run.stored) state.deleted.push(run);
      }
    };

    const nextReading = bodyReadings(events, bodies);
    for (const e of events) {
      const event = e.event;
      if (!isStateEvent(event)) continue;
      const name = e.streamId;
      switch (event.type) {
        case 'StateLocked': {
          const state = stateOf(name);
          // A lock taken while the projection thinks another is held (its end unseen) ends that one.
          const previous = state.open;
          if (previous !== null) end(name, previous.lockId ?? '', e.recordedAt, 'lease-expired');
          const lock = event.data.lock;
          state.open = newRun(e, { id: lock.ID, operation: lock.Operation ?? null, who: lock.Who ?? null }, null);
          // Written even before it has a version: its lock's time and taker are the run's start.
          state.written.set(e.position, state.open);
          break;
        }
        case 'StateUnlocked':
          end(name, event.data.lock_id, e.recordedAt, 'unlocked');
          break;
        case 'LockForceReleased':
          end(name, event.data.lock.ID, e.recordedAt, 'force-unlocked');
          break;
        case 'LockExpired':
          end(name, event.data.lock.ID, e.recordedAt, 'lease-expired');
          break;
        case 'StateDeleted': {
          const state = stateOf(name);
          state.head = { version: null, digests: NO_INSTANCES };
          state.headChanged = true;
          break;
        }
        case 'StatePushed':
        case 'StateRolledBack': {
          const d = event.data;
          const state = stateOf(name);
          const head = headOf(state);
          const open = state.open;
          const digests = digestsOf(d.version, await nextReading());
          let run: Run;
          if (open !== null && d.lock_id !== null && open.lockId === d.lock_id) run = open;
          else {
            run = newRun(e, { id: d.lock_id, operation: d.lock_operation, who: d.lock_who }, d.lock_id === null ? 'not-locked' : null);
            // A version under a lock the projection never saw taken (its history predates locks) opens a run of its own.
            if (d.lock_id !== null) {
              if (open !== null) end(name, open.lockId ?? '', e.recordedAt, 'lease-expired');
              state.open = run;
            }
          }
          if (run.versionCount === 0) {
            run.baseVersion = head.version;
            run.base = head.digests;
            run.baseIsNew = true;
            run.firstVersion = d.version;
          }
          run.lastVersion = d.version;
          run.versionCount++;
          run.changes = compareDigests(run.base ?? NO_INSTANCES, digests);
          state.written.set(run.startedPosition, run);
          state.head = { version: d.version, digests };
          state.headChanged = true;
          break;
        }
        default:
          break;
      }
    }

    return async (sql) => {
      const all = [...states];
      await deleteRuns(sql, all.flatMap(([name, state]) => state.deleted.map((run) => ({ name, startedPosition: run.startedPosition }))));
      // In the order they began: a run that ended is written before the one opened after it.
      await writeRuns(sql, all.flatMap(([name, state]) => [...state.written.values()].sort((a, b) => a.startedPosition - b.startedPosition).map((run) => runRow(name, run))));
      await writeHeads(sql, all.flatMap(([name, state]) => (state.headChanged && state.head !== undefined ? [[name, state.head] as const] : [])));
    };
  },
};
