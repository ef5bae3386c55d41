import * as E from 'fp-ts/lib/Either.js';
import type { StateEvent } from '../events/events.js';
import type { LockInfo } from '../events/lock-info.js';
import type { LockTaker } from '../events/events.js';
import type { Command, RollbackTarget, StoredBody } from './commands.js';
import type { DomainError } from './errors.js';
import { assertNever } from '../assert-never.js';
import type { LedgerState } from './state.js';

export type Decision = E.Either<DomainError, StateEvent[]>;

/**
 * Whether the caller is the identity that took the lock: knowing the lock ID is not enough, since
 * anyone who may read sees it. A lock recorded without its taker, or a caller the decider is not
 * asked to check (the command line), counts as the holder.
 */
const heldBy = (state: LedgerState, caller: LockTaker | undefined): boolean =>
  state.lockTakenBy === null || caller === undefined || (state.lockTakenBy.actor === caller.actor && state.lockTakenBy.subject === caller.subject);

/**
 * Lock rule shared by every write: the holder may write; nobody else may while it is held;
 * naming a lock that is not held means the caller lost it, and its write would be unsafe.
 */
export const checkWriteLock = (state: LedgerState, lockId: string | null, caller: LockTaker | undefined): E.Either<DomainError, void> => {
  if (state.lock !== null && (state.lock.ID !== lockId || !heldBy(state, caller))) return E.left({ type: 'LockHeld', holder: state.lock });
  if (state.lock === null && lockId !== null) return E.left({ type: 'LockLost', lockId });
  return E.right(undefined);
};

/**
 * The serial a restored plain state gets: above every serial the clients have seen, so the next
 * apply does not find the serial gone backwards. Encrypted bodies cannot be rewritten: they keep theirs.
 */
export const rollbackSerial = (state: LedgerState, target: RollbackTarget): E.Either<DomainError, number> => {
  if (target.encrypted) return E.right(target.serial);
  const highest = Math.max(state.lastSerial, target.serial);
  return highest < Number.MAX_SAFE_INTEGER ? E.right(highest + 1) : E.left({ type: 'SerialExhausted', serial: highest });
};

/**
 * A push of exactly the current bytes under the lock they were written under is a retry whose
 * answer was lost (go-retryablehttp retries after a timeout): it is the same version, not a new one.
 */
export const isRetriedPush = (state: LedgerState, lockId: string | null, sha256: string): boolean =>
  state.head !== null && state.head.sha256 === sha256 && state.head.lockId === lockId;

const bodyFields = (body: StoredBody) => ({
  blob_key: body.blobKey,
  sha256: body.sha256,
  md5: body.md5,
  size: body.size,
  serial: body.serial,
  lineage: body.lineage,
  terraform_version: body.terraformVersion,
  encrypted: body.encrypted,
  resource_count: body.resourceCount,
  output_count: body.outputCount,
});

const versionFields = (state: LedgerState, lockId: string | null) => ({
  version: state.lastVersion + 1,
  lock_id: lockId,
  lock_operation: state.lock?.Operation ?? null,
  lock_who: state.lock?.Who ?? null,
});

const decideRollback = (state: LedgerState, command: Extract<Command, { type: 'RollbackState' }>): Decision => {
  const { target, body } = command;
  if (target.version < 1 || target.version > state.lastVersion) return E.left({ type: 'VersionNotFound', version: target.version });
  if (state.head !== null && state.head.lineage !== target.lineage && !command.force) {
    return E.left({ type: 'LineageMismatch', head: state.head.lineage, target: target.lineage });
  }
  return E.flatMap(rollbackSerial(state, target), (expectedSerial): Decision => {
    if (body.serial !== expectedSerial) return E.left({ type: 'RollbackStale', expectedSerial });
    return E.right([
      {
        type: 'StateRolledBack',
        data: {
          ...versionFields(state, command.lockId),
          ...bodyFields(body),
          from_version: state.head?.version ?? null,
          to_version: target.version,
          reason: command.reason,
        },
      },
    ]);
  });
};

const none: Decision = E.right([]);

/**
 * An unlock carries the holder's own LockInfo (both clients send back what they locked with);
 * a force-unlock carries nothing or only the ID, with every other field empty.
 */
const isHoldersOwn = (presented: LockInfo, holder: LockInfo): boolean =>
  (['Operation', 'Info', 'Who', 'Version', 'Created', 'Path'] as const).every((field) => (presented[field] ?? '') === (holder[field] ?? ''));

export const decide = (command: Command, state: LedgerState, caller?: LockTaker): Decision => {
  switch (command.type) {
    case 'LockState': {
      if (state.lock === null) return E.right([{ type: 'StateLocked', data: { lock: command.lock, taken_by: caller ?? null } }]);
      // The same ID again, from the same identity, is a retry whose response was lost: the caller holds it already.
      if (state.lock.ID === command.lock.ID && heldBy(state, caller)) return none;
      return E.left({ type: 'LockHeld', holder: state.lock });
    }
    case 'UnlockState': {
      if (state.lock === null) return none; // a retried unlock
      const { presented } = command;
      if (presented !== null && presented.ID !== state.lock.ID) {
        // A retry of an unlock that already succeeded (its response was lost) while someone else has
        // since taken the lock: refusing it would lead its caller to force-unlock the new holder.
        if (state.released === presented.ID) return none;
        return E.left({ type: 'LockMismatch', holder: state.lock });
      }
      if (presented !== null && heldBy(state, caller) && isHoldersOwn(presented, state.lock)) return E.right([{ type: 'StateUnlocked', data: { lock_id: presented.ID } }]);
      // No body (Terraform's force-unlock) or only the ID (OpenTofu's): releasing someone else's lock.
      if (!command.mayForce) return E.left({ type: 'ForceUnlockForbidden', holder: state.lock });
      return E.right([{ type: 'LockForceReleased', data: { lock: state.lock } }]);
    }
    case 'PushState':
      // Checked before the lock: the retry's first attempt was stored, whatever happened to the lock since.
      if (isRetriedPush(state, command.lockId, command.body.sha256)) return none;
      return E.map((): StateEvent[] => [
        { type: 'StatePushed', data: { ...versionFields(state, command.lockId), ...bodyFields(command.body) } },
      ])(checkWriteLock(state, command.lockId, caller));
    case 'DeleteState':
      return E.map((): StateEvent[] =>
        state.head === null ? [] : [{ type: 'StateDeleted', data: { version: state.head.version, lock_id: command.lockId } }],
      )(checkWriteLock(state, command.lockId, caller));
    case 'RollbackState':
      return E.flatMap(checkWriteLock(state, command.lockId, caller), () => decideRollback(state, command));
    default:
      return assertNever(command);
  }
};
