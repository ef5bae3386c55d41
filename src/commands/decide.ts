import * as E from 'fp-ts/lib/Either.js';
import type { Lease, LockTaker, StateEvent } from '../events/events.js';
import type { LockInfo } from '../events/lock-info.js';
import type { Command, DecisionContext, RollbackTarget, StoredBody } from './commands.js';
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

const leaseEndingIn = (seconds: number, now: Date): Lease => ({ seconds, until: new Date(now.getTime() + seconds * 1000).toISOString() });

/** Whether the held lock's lease ended before `now`: it may then be taken over. */
export const leaseExpired = (state: LedgerState, now: Date): boolean => state.lease !== null && Date.parse(state.lease.until) < now.getTime();

/** A write under the held lock renews its lease (Terraform persists state every 20 s while it applies). */
const versionFields = (state: LedgerState, lockId: string | null, now: Date) => ({
  version: state.lastVersion + 1,
  lock_id: lockId,
  lock_operation: state.lock?.Operation ?? null,
  lock_who: state.lock?.Who ?? null,
  lease_until: state.lease !== null && lockId !== null ? leaseEndingIn(state.lease.seconds, now).until : null,
});

const decideRollback = (state: LedgerState, command: Extract<Command, { type: 'RollbackState' }>, now: Date): Decision => {
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
          ...versionFields(state, command.lockId, now),
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

const decideLock = (state: LedgerState, command: Extract<Command, { type: 'LockState' }>, { caller, now }: DecisionContext): Decision => {
  const lease = command.leaseSeconds === undefined ? null : leaseEndingIn(command.leaseSeconds, now);
  const locked: StateEvent = { type: 'StateLocked', data: { lock: command.lock, taken_by: caller ?? null, lease } };
  if (state.lock === null) return E.right([locked]);
  // The same ID again, from the same identity, is a retry whose response was lost: the caller holds it already.
  if (state.lock.ID === command.lock.ID && heldBy(state, caller)) return none;
  if (state.lease !== null && leaseExpired(state, now)) {
    return E.right([{ type: 'LockExpired', data: { lock: state.lock, taken_by: state.lockTakenBy, lease_until: state.lease.until } }, locked]);
  }
  return E.left({ type: 'LockHeld', holder: state.lock });
};

/** The facts a retention command carries were read before another prune: the edge reads them again. */
const staleFacts = (state: LedgerState, prunedSeen: number, name: string): DomainError | undefined =>
  prunedSeen === state.pruned ? undefined : { type: 'PruneStale', name };

const decidePin = (state: LedgerState, command: Extract<Command, { type: 'PinVersion' }>): Decision => {
  const { version, target } = command;
  if (version < 1 || version > state.lastVersion || target === null || target.version !== version) return E.left({ type: 'VersionNotFound', version });
  const stale = staleFacts(state, command.prunedSeen, command.name);
  if (stale !== undefined) return E.left(stale);
  if (target.pruned !== null) return E.left({ type: 'VersionPruned', name: command.name, version, prunedAt: target.pruned.at, policy: target.pruned.policy });
  if (state.pinned.includes(version)) return none; // pinned already (a retried pin): the first reason stands
  return E.right([{ type: 'VersionPinned', data: { version, reason: command.reason } }]);
};

/**
 * Prunes the candidates the edge found under a policy, except what is always kept: the current
 * version and the pinned ones. Each version is pruned once: the facts were read after exactly
 * `prunedSeen` prunes, so a second run from the same (now stale) facts is refused, not repeated.
 */
const decidePrune = (state: LedgerState, command: Extract<Command, { type: 'PruneVersions' }>): Decision => {
  const stale = staleFacts(state, command.prunedSeen, command.name);
  if (stale !== undefined) return E.left(stale);
  const seen = new Set<number>();
  const events: StateEvent[] = [];
  for (const { version, blobKey } of command.candidates) {
    if (version < 1 || version > state.lastVersion || version === state.head?.version || state.pinned.includes(version) || seen.has(version)) continue;
    seen.add(version);
    events.push({ type: 'VersionPruned', data: { version, blob_key: blobKey, policy: command.policy } });
  }
  return E.right(events);
};

export const decide = (command: Command, state: LedgerState, context: DecisionContext): Decision => {
  const { caller, now } = context;
  switch (command.type) {
    case 'LockState':
      return decideLock(state, command, context);
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
      return E.right([{ type: 'LockForceReleased', data: { lock: state.lock, reason: null } }]);
    }
    case 'ReleaseLock':
      if (state.lock === null) return none;
      if (command.expectedId !== null && command.expectedId !== state.lock.ID) return E.left({ type: 'LockMismatch', holder: state.lock });
      return E.right([{ type: 'LockForceReleased', data: { lock: state.lock, reason: command.reason } }]);
    case 'PushState':
      // Checked before the lock: the retry's first attempt was stored, whatever happened to the lock since.
      if (isRetriedPush(state, command.lockId, command.body.sha256)) return none;
      return E.map((): StateEvent[] => [
        { type: 'StatePushed', data: { ...versionFields(state, command.lockId, now), ...bodyFields(command.body) } },
      ])(checkWriteLock(state, command.lockId, caller));
    case 'DeleteState':
      return E.map((): StateEvent[] =>
        state.head === null ? [] : [{ type: 'StateDeleted', data: { version: state.head.version, lock_id: command.lockId } }],
      )(checkWriteLock(state, command.lockId, caller));
    case 'RollbackState':
      return E.flatMap(checkWriteLock(state, command.lockId, caller), () => decideRollback(state, command, now));
    // Pins and prunes change no body and no lock: they are not writes under the lock.
    case 'PinVersion':
      return decidePin(state, command);
    case 'UnpinVersion':
      if (command.version < 1 || command.version > state.lastVersion) return E.left({ type: 'VersionNotFound', version: command.version });
      return state.pinned.includes(command.version) ? E.right([{ type: 'VersionUnpinned', data: { version: command.version } }]) : none;
    case 'PruneVersions':
      return decidePrune(state, command);
    default:
      return assertNever(command);
  }
};
