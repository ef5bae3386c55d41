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
  /** The current version and its digests (undefined: not loaded yet). */
  head: { version: number | null; digests: Digests } | undefined;
  headChanged: boolean;
  /** The run whose lock is held (null: none; undefined: not loaded yet). */
  open: Run | null | undefined;
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
const toJson = (digests: Digests | undefined): string | null => (digests?.known === true ? JSON.stringify(Object.fromEntries(digests.byAddress)) : null);

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

const loadOpen = async (tables: SqlExecutor, name: string): Promise<Run | null> => {
  const { rows } = await tables.query<RunRow>(
    `SELECT started_position, lock_id, operation, who, actor, started_at, base_version, first_version, last_version, version_count,
            added, changed, removed, changes_unknown, base_digests
     FROM state_runs WHERE name = $1 AND ended_at IS NULL`,
    [name],
  );
  return rows[0] === undefined ? null : openRunOf(rows[0]);
};

const loadHead = async (tables: SqlExecutor, name: string): Promise<NonNullable<StateRuns['head']>> => {
  const { rows } = await tables.query<{ version: number | null; digests: Record<string, string | null> | null; reason: string | null }>(
    'SELECT version, digests, reason FROM state_run_heads WHERE name = $1',
    [name],
  );
  const row = rows[0];
  if (row === undefined) return { version: null, digests: NO_INSTANCES };
  return { version: row.version, digests: row.digests !== null ? fromJson(row.digests) : { known: false, reason: row.reason ?? 'unknown' } };
};

const writeRun = async (sql: SqlExecutor, name: string, run: Run): Promise<void> => {
  const changes = run.changes;
  const counted = changes !== null && !('unknown' in changes) ? changes : undefined;
  await sql.query(
    `INSERT INTO state_runs (name, started_position, lock_id, operation, who, actor, started_at, ended_at, ended, base_version,
       first_version, last_version, version_count, added, changed, removed, changes_unknown, base_digests)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::jsonb)
     ON CONFLICT (name, started_position) DO UPDATE SET ended_at = EXCLUDED.ended_at, ended = EXCLUDED.ended,
       base_version = EXCLUDED.base_version, first_version = EXCLUDED.first_version, last_version = EXCLUDED.last_version,
       version_count = EXCLUDED.version_count, added = EXCLUDED.added, changed = EXCLUDED.changed, removed = EXCLUDED.removed,
       changes_unknown = EXCLUDED.changes_unknown,
       base_digests = CASE WHEN EXCLUDED.ended_at IS NULL THEN COALESCE(EXCLUDED.base_digests, state_runs.base_digests) END`,
    [
      name,
      run.startedPosition,
      run.lockId,
      run.operation,
      run.who,
      run.actor,
      run.startedAt,
      run.endedAt,
      run.ended,
      run.baseVersion,
      run.firstVersion,
      run.lastVersion,
      run.versionCount,
      counted?.added ?? null,
      counted?.changed ?? null,
      counted?.removed ?? null,
      changes !== null && 'unknown' in changes ? changes.unknown : null,
      // Only an open run needs its base again; written once, with its first version.
      run.ended === null && run.baseIsNew ? toJson(run.base) : null,
    ],
  );
};

const writeHead = async (sql: SqlExecutor, name: string, head: NonNullable<StateRuns['head']>): Promise<void> => {
  await sql.query(
    `INSERT INTO state_run_heads (name, version, digests, reason) VALUES ($1, $2, $3::jsonb, $4)
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, digests = EXCLUDED.digests, reason = EXCLUDED.reason`,
    [name, head.version, toJson(head.digests), head.digests.known ? null : head.digests.reason],
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
    const states = new Map<string, StateRuns>();
    const stateOf = (name: string): StateRuns => {
      let state = states.get(name);
      if (state === undefined) states.set(name, (state = { head: undefined, headChanged: false, open: undefined, written: new Map(), deleted: [] }));
      return state;
    };
    // null is "loaded: none", not "not loaded": ??= would load a run this batch has ended already.
    const openOf = async (name: string, state: StateRuns): Promise<Run | null> => (state.open === undefined ? (state.open = await loadOpen(tables, name)) : state.open);
    const headOf = async (name: string, state: StateRuns) => (state.head ??= await loadHead(tables, name));
    const end = async (name: string, lockId: string, at: Date, how: RunEnd): Promise<void> => {
      const state = stateOf(name);
      const run = await openOf(name, state);
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
          const previous = await openOf(name, state);
          if (previous !== null) await end(name, previous.lockId ?? '', e.recordedAt, 'lease-expired');
          const lock = event.data.lock;
          state.open = newRun(e, { id: lock.ID, operation: lock.Operation ?? null, who: lock.Who ?? null }, null);
          // Written even before it has a version: its lock's time and taker are the run's start.
          state.written.set(e.position, state.open);
          break;
        }
        case 'StateUnlocked':
          await end(name, event.data.lock_id, e.recordedAt, 'unlocked');
          break;
        case 'LockForceReleased':
          await end(name, event.data.lock.ID, e.recordedAt, 'force-unlocked');
          break;
        case 'LockExpired':
          await end(name, event.data.lock.ID, e.recordedAt, 'lease-expired');
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
          const head = await headOf(name, state);
          const open = await openOf(name, state);
          const digests = digestsOf(d.version, await nextReading());
          let run: Run;
          if (open !== null && d.lock_id !== null && open.lockId === d.lock_id) run = open;
          else {
            run = newRun(e, { id: d.lock_id, operation: d.lock_operation, who: d.lock_who }, d.lock_id === null ? 'not-locked' : null);
            // A version under a lock the projection never saw taken (its history predates locks) opens a run of its own.
            if (d.lock_id !== null) {
              if (open !== null) await end(name, open.lockId ?? '', e.recordedAt, 'lease-expired');
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
      for (const [name, state] of states) {
        for (const run of state.deleted) await sql.query('DELETE FROM state_runs WHERE name = $1 AND started_position = $2', [name, run.startedPosition]);
        // In the order they began: a run that ended is written before the one opened after it.
        for (const run of [...state.written.values()].sort((a, b) => a.startedPosition - b.startedPosition)) await writeRun(sql, name, run);
        if (state.headChanged && state.head !== undefined) await writeHead(sql, name, state.head);
      }
    };
  },
};
