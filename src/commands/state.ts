import * as t from 'io-ts';
import { assertNever } from '../assert-never.js';
import { LockInfoCodec } from '../events/lock-info.js';
import { LeaseCodec, LockTakerCodec, type StateEvent } from '../events/events.js';

/** What the decider needs to know about one state's stream. Plain JSON, so it can be snapshotted. */
export const LedgerStateCodec = t.type({
  lock: t.union([LockInfoCodec, t.null]),
  /** Who took the lock (null: unknown, a lock recorded before identities). */
  lockTakenBy: t.union([LockTakerCodec, t.null]),
  /** The held lock's lease, null when it has none. */
  lease: t.union([LeaseCodec, t.null]),
  /** The ID of the lock released last: a retried unlock of it must not fail once someone else holds the lock. */
  released: t.union([t.string, t.null]),
  /** Highest version number ever written; versions keep counting across deletes. */
  lastVersion: t.number,
  /** Serial of that version, kept across a delete so a restore never lowers it. */
  lastSerial: t.number,
  /**
   * The current body, or null when the state was never pushed or is deleted; with its content hash
   * and the lock it was written under, so that a retried push of it is recognised.
   */
  head: t.union([
    t.type({ version: t.number, serial: t.number, lineage: t.string, sha256: t.string, lockId: t.union([t.string, t.null]) }),
    t.null,
  ]),
  /** Versions an administrator pinned (few): retention never prunes them. */
  pinned: t.array(t.number),
  /**
   * How many VersionPruned events the stream holds: never the set itself (a state may have 100,000
   * pruned versions). Commands decided from facts read in the read model carry the count they saw,
   * so facts read before another prune are refused as stale instead of pruning a version twice.
   */
  pruned: t.number,
});
export type LedgerState = t.TypeOf<typeof LedgerStateCodec>;

/** Bump when LedgerState changes shape: stored snapshots of an older shape are then ignored and the stream refolded. */
export const LEDGER_STATE_SCHEMA = 7;

export const initialState: LedgerState = { lock: null, lockTakenBy: null, lease: null, released: null, lastVersion: 0, lastSerial: 0, head: null, pinned: [], pruned: 0 };

export const evolve = (state: LedgerState, event: StateEvent): LedgerState => {
  switch (event.type) {
    case 'StateLocked':
      return { ...state, lock: event.data.lock, lockTakenBy: event.data.taken_by, lease: event.data.lease };
    case 'StateUnlocked':
    case 'LockForceReleased':
      return { ...state, lock: null, lockTakenBy: null, lease: null, released: state.lock?.ID ?? null };
    case 'LockExpired':
      // Its holder's later unlock must hear that the lock was taken over, not be told it succeeded.
      return { ...state, lock: null, lockTakenBy: null, lease: null, released: null };
    case 'StatePushed':
    case 'StateRolledBack': {
      const { version, serial, lineage, sha256, lock_id: lockId, lease_until: renewed } = event.data;
      const lease = state.lease !== null && renewed !== null ? { ...state.lease, until: renewed } : state.lease;
      return { ...state, lease, lastVersion: version, lastSerial: serial, head: { version, serial, lineage, sha256, lockId } };
    }
    case 'StateDeleted':
      return { ...state, head: null };
    case 'VersionPinned':
      return state.pinned.includes(event.data.version) ? state : { ...state, pinned: [...state.pinned, event.data.version].sort((a, b) => a - b) };
    case 'VersionUnpinned':
      return { ...state, pinned: state.pinned.filter((version) => version !== event.data.version) };
    case 'VersionPruned':
      return { ...state, pruned: state.pruned + 1 };
    default:
      return assertNever(event);
  }
};

export const fold = (events: readonly StateEvent[], from: LedgerState = initialState): LedgerState =>
  events.reduce(evolve, from);
