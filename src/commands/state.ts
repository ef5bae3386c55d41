import * as t from 'io-ts';
import { assertNever } from '../assert-never.js';
import { LockInfoCodec } from '../events/lock-info.js';
import { LockTakerCodec, type StateEvent } from '../events/events.js';

/** What the decider needs to know about one state's stream. Plain JSON, so it can be snapshotted. */
export const LedgerStateCodec = t.type({
  lock: t.union([LockInfoCodec, t.null]),
  /** Who took the lock (null: unknown, a lock recorded before identities). */
  lockTakenBy: t.union([LockTakerCodec, t.null]),
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
});
export type LedgerState = t.TypeOf<typeof LedgerStateCodec>;

/** Bump when LedgerState changes shape: stored snapshots of an older shape are then ignored and the stream refolded. */
export const LEDGER_STATE_SCHEMA = 5;

export const initialState: LedgerState = { lock: null, lockTakenBy: null, released: null, lastVersion: 0, lastSerial: 0, head: null };

export const evolve = (state: LedgerState, event: StateEvent): LedgerState => {
  switch (event.type) {
    case 'StateLocked':
      return { ...state, lock: event.data.lock, lockTakenBy: event.data.taken_by };
    case 'StateUnlocked':
    case 'LockForceReleased':
      return { ...state, lock: null, lockTakenBy: null, released: state.lock?.ID ?? null };
    case 'StatePushed':
    case 'StateRolledBack': {
      const { version, serial, lineage, sha256, lock_id: lockId } = event.data;
      return { ...state, lastVersion: version, lastSerial: serial, head: { version, serial, lineage, sha256, lockId } };
    }
    case 'StateDeleted':
      return { ...state, head: null };
    default:
      return assertNever(event);
  }
};

export const fold = (events: readonly StateEvent[], from: LedgerState = initialState): LedgerState =>
  events.reduce(evolve, from);
