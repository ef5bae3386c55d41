import * as E from 'fp-ts/lib/Either.js';
import type { StateEvent } from '../events/events.js';
import type { Command } from './commands.js';
import type { DomainError } from './errors.js';
import { assertNever, type LedgerState } from './state.js';

export type Decision = E.Either<DomainError, StateEvent[]>;

/**
 * Lock rule shared by every write: the holder may write; nobody else may while it is held;
 * naming a lock that is not held means the caller lost it, and its write would be unsafe.
 */
export const checkWriteLock = (state: LedgerState, lockId: string | null): E.Either<DomainError, void> => {
  if (state.lock !== null && state.lock.ID !== lockId) return E.left({ type: 'LockHeld', holder: state.lock });
  if (state.lock === null && lockId !== null) return E.left({ type: 'LockLost', lockId });
  return E.right(undefined);
};

const none: Decision = E.right([]);

export const decide = (command: Command, state: LedgerState): Decision => {
  switch (command.type) {
    case 'LockState': {
      if (state.lock === null) return E.right([{ type: 'StateLocked', data: { lock: command.lock } }]);
      // The same ID again is a retry whose response was lost: the caller holds it already.
      if (state.lock.ID === command.lock.ID) return none;
      return E.left({ type: 'LockHeld', holder: state.lock });
    }
    case 'UnlockState': {
      if (state.lock === null) return none; // a retried unlock
      if (command.lockId === null) return E.right([{ type: 'LockForceReleased', data: { lock: state.lock } }]);
      if (state.lock.ID === command.lockId) return E.right([{ type: 'StateUnlocked', data: { lock_id: command.lockId } }]);
      return E.left({ type: 'LockMismatch', holder: state.lock });
    }
    case 'PushState': {
      const { body, lockId } = command;
      return E.map((): StateEvent[] => [
        {
          type: 'StatePushed',
          data: {
            version: state.lastVersion + 1,
            blob_key: body.blobKey,
            sha256: body.sha256,
            md5: body.md5,
            size: body.size,
            serial: body.serial,
            lineage: body.lineage,
            terraform_version: body.terraformVersion,
            encrypted: body.encrypted,
            lock_id: lockId,
          },
        },
      ])(checkWriteLock(state, lockId));
    }
    case 'DeleteState':
      return E.map((): StateEvent[] =>
        state.head === null ? [] : [{ type: 'StateDeleted', data: { version: state.head.version } }],
      )(checkWriteLock(state, command.lockId));
    default:
      return assertNever(command);
  }
};
