import t from 'tap';
import type { Command, RollbackTarget, StoredBody } from '../../src/commands/commands.js';
import type { StateEvent } from '../../src/events/events.js';
import type { LockInfo } from '../../src/events/lock-info.js';
import { storedBody } from '../support/commands.js';
import { given } from '../support/given.js';

const lockA = { ID: 'lock-a', Operation: 'OperationTypeApply', Who: 'a@host' };
const lockB = { ID: 'lock-b', Who: 'b@host' };
const body = storedBody(3);

const bodyData = (b: StoredBody) => ({
  blob_key: b.blobKey,
  sha256: b.sha256,
  md5: b.md5,
  size: b.size,
  serial: b.serial,
  lineage: b.lineage,
  terraform_version: b.terraformVersion,
  encrypted: b.encrypted,
  resource_count: b.resourceCount,
  output_count: b.outputCount,
});
const pushed = (version: number, lock: LockInfo | null = null, b: StoredBody = body): StateEvent => ({
  type: 'StatePushed',
  data: { version, lock_id: lock?.ID ?? null, lock_operation: lock?.Operation ?? null, lock_who: lock?.Who ?? null, lease_until: null, ...bodyData(b) },
});
const locked = (lock: LockInfo): StateEvent => ({ type: 'StateLocked', data: { lock, taken_by: null, lease: null } });
const deleted = (version: number): StateEvent => ({ type: 'StateDeleted', data: { version, lock_id: null } });

const unlock = (presented: LockInfo | null, mayForce = false) => ({ type: 'UnlockState' as const, presented, mayForce });

t.test('lock', async (t) => {
  given(t, []).when({ type: 'LockState', lock: lockA }).then([locked(lockA)]);
  // go-retryablehttp re-sends a LOCK whose response was lost: the holder must not lock itself out.
  given(t, [locked(lockA)]).when({ type: 'LockState', lock: lockA }).then([]);
  given(t, [locked(lockA)]).when({ type: 'LockState', lock: lockB }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [locked(lockA), { type: 'StateUnlocked', data: { lock_id: 'lock-a' } }])
    .when({ type: 'LockState', lock: lockB })
    .then([locked(lockB)]);
});

t.test('unlock', async (t) => {
  given(t, [locked(lockA)]).when(unlock(lockA)).then([{ type: 'StateUnlocked', data: { lock_id: 'lock-a' } }]);
  given(t, []).when(unlock(lockA)).then([]);
  given(t, [locked(lockA)]).when(unlock(lockB)).thenFails({ type: 'LockMismatch', holder: lockA });
  given(t, [locked(lockA)]).when(unlock({ ID: 'lock-b' }, true)).thenFails({ type: 'LockMismatch', holder: lockA });
  // Force-unlock: no body (Terraform) or only the holder's ID (OpenTofu), by a caller who may force.
  given(t, [locked(lockA)]).when(unlock(null, true)).then([{ type: 'LockForceReleased', data: { lock: lockA, reason: null } }]);
  given(t, [locked(lockA)]).when(unlock({ ID: 'lock-a', Created: '0001-01-01T00:00:00Z' }, true)).then([{ type: 'LockForceReleased', data: { lock: lockA, reason: null } }]);
  given(t, [locked(lockA)]).when(unlock(null)).thenFails({ type: 'ForceUnlockForbidden', holder: lockA });
  given(t, [locked(lockA)]).when(unlock({ ID: 'lock-a' })).thenFails({ type: 'ForceUnlockForbidden', holder: lockA });
  // The holder's own unlock needs no force, whoever may force.
  given(t, [locked(lockA)]).when(unlock(lockA, true)).then([{ type: 'StateUnlocked', data: { lock_id: 'lock-a' } }]);
  // Anyone who may read sees the whole LockInfo: sent by another identity, it is still a force-unlock.
  const alice = { actor: 'user:alice', subject: null };
  const mallory = { actor: 'token:mallory', subject: null };
  const takenByAlice: StateEvent = { type: 'StateLocked', data: { lock: lockA, taken_by: alice, lease: null } };
  given(t, [takenByAlice]).when(unlock(lockA), alice).then([{ type: 'StateUnlocked', data: { lock_id: 'lock-a' } }]);
  given(t, [takenByAlice]).when(unlock(lockA), mallory).thenFails({ type: 'ForceUnlockForbidden', holder: lockA });
  given(t, [takenByAlice]).when(unlock(lockA, true), mallory).then([{ type: 'LockForceReleased', data: { lock: lockA, reason: null } }]);
  given(t, []).when(unlock(null)).then([]);
  // An unlock retried after its first attempt succeeded and someone else locked meanwhile:
  // 200, and the new holder keeps the lock.
  given(t, [locked(lockA), { type: 'StateUnlocked', data: { lock_id: 'lock-a' } }, locked(lockB)])
    .when(unlock(lockA))
    .then([]);
  given(t, [locked(lockA), { type: 'StateUnlocked', data: { lock_id: 'lock-a' } }, locked(lockB)])
    .when(unlock({ ID: 'lock-c' }))
    .thenFails({ type: 'LockMismatch', holder: lockB });
});

t.test('a lock is held by the identity that took it, not by whoever knows its ID', async (t) => {
  const alice = { actor: 'user:alice', subject: null };
  const ci = (sub: string) => ({ actor: 'oidc:https://gitlab.example.com', subject: sub });
  given(t, []).when({ type: 'LockState', lock: lockA }, alice).then([{ type: 'StateLocked', data: { lock: lockA, taken_by: alice, lease: null } }]);
  const takenByAlice: StateEvent = { type: 'StateLocked', data: { lock: lockA, taken_by: alice, lease: null } };
  given(t, [takenByAlice]).when({ type: 'LockState', lock: lockA }, alice).then([]);
  given(t, [takenByAlice]).when({ type: 'LockState', lock: lockA }, ci('x')).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [takenByAlice]).when({ type: 'PushState', lockId: 'lock-a', body }, alice).then([pushed(1, lockA)]);
  given(t, [takenByAlice]).when({ type: 'PushState', lockId: 'lock-a', body }, ci('x')).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [takenByAlice]).when({ type: 'DeleteState', lockId: 'lock-a' }, { actor: 'user:alice', subject: 'other' }).thenFails({ type: 'LockHeld', holder: lockA });
  // Two pipelines of one issuer differ by subject.
  const takenByCi: StateEvent = { type: 'StateLocked', data: { lock: lockA, taken_by: ci('project:a'), lease: null } };
  given(t, [takenByCi]).when({ type: 'PushState', lockId: 'lock-a', body }, ci('project:a')).then([pushed(1, lockA)]);
  given(t, [takenByCi]).when({ type: 'PushState', lockId: 'lock-a', body }, ci('project:b')).thenFails({ type: 'LockHeld', holder: lockA });
  // A lock recorded before identities, and the command line, go by the ID alone.
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: 'lock-a', body }, ci('x')).then([pushed(1, lockA)]);
  given(t, [takenByAlice]).when({ type: 'PushState', lockId: 'lock-a', body }).then([pushed(1, lockA)]);
});

t.test('push', async (t) => {
  given(t, []).when({ type: 'PushState', lockId: null, body }).then([pushed(1)]);
  const other = storedBody(4);
  given(t, [pushed(1)]).when({ type: 'PushState', lockId: null, body: other }).then([pushed(2, null, other)]);
  // The version records the Operation and Who of the lock it was written under.
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: 'lock-a', body }).then([pushed(1, lockA)]);
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: null, body }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: 'lock-b', body }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, []).when({ type: 'PushState', lockId: 'lock-a', body }).thenFails({ type: 'LockLost', lockId: 'lock-a' });
  given(t, [locked(lockA), { type: 'LockForceReleased', data: { lock: lockA, reason: null } }])
    .when({ type: 'PushState', lockId: 'lock-a', body })
    .thenFails({ type: 'LockLost', lockId: 'lock-a' });
  // Version numbers are the server's own sequence and keep counting across a delete.
  given(t, [pushed(1), pushed(2), deleted(2)]).when({ type: 'PushState', lockId: null, body }).then([pushed(3)]);
});

t.test('a retried push (same bytes, same lock as the current version) is not a new version', async (t) => {
  given(t, [pushed(1)]).when({ type: 'PushState', lockId: null, body }).then([]);
  given(t, [locked(lockA), pushed(1, lockA)]).when({ type: 'PushState', lockId: 'lock-a', body }).then([]);
  // Its first attempt was stored even if the lock was force-released before the retry arrived.
  given(t, [locked(lockA), pushed(1, lockA), { type: 'LockForceReleased', data: { lock: lockA, reason: null } }])
    .when({ type: 'PushState', lockId: 'lock-a', body })
    .then([]);
  // Anything else is a new version: other bytes, another lock, or a state deleted since.
  given(t, [pushed(1), locked(lockA)]).when({ type: 'PushState', lockId: 'lock-a', body }).then([pushed(2, lockA)]);
  given(t, [pushed(1), deleted(1)]).when({ type: 'PushState', lockId: null, body }).then([pushed(2)]);
  given(t, [pushed(1, null, storedBody(2))]).when({ type: 'PushState', lockId: null, body }).then([pushed(2)]);
});

t.test('delete', async (t) => {
  given(t, [pushed(1)]).when({ type: 'DeleteState', lockId: null }).then([deleted(1)]);
  given(t, []).when({ type: 'DeleteState', lockId: null }).then([]);
  given(t, [pushed(1), deleted(1)]).when({ type: 'DeleteState', lockId: null }).then([]);
  given(t, [pushed(1), locked(lockA)]).when({ type: 'DeleteState', lockId: null }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [pushed(1), locked(lockA)]).when({ type: 'DeleteState', lockId: 'lock-a' }).then([
    { type: 'StateDeleted', data: { version: 1, lock_id: 'lock-a' } },
  ]);
});

t.test('rollback', async (t) => {
  const v1 = storedBody(1);
  const v2 = storedBody(2);
  const target: RollbackTarget = { version: 1, serial: 1, lineage: v1.lineage, encrypted: false };
  const history = [pushed(1, null, v1), pushed(2, null, v2)];
  const restored = { ...v1, serial: 3, sha256: 'rewritten', blobKey: 'sha256/re/rewritten' };
  const rolledBack = (data: Partial<Extract<StateEvent, { type: 'StateRolledBack' }>['data']> = {}): StateEvent => ({
    type: 'StateRolledBack',
    data: {
      version: 3,
      lock_id: null,
      lock_operation: null,
      lock_who: null,
      lease_until: null,
      ...bodyData(restored),
      from_version: 2,
      to_version: 1,
      reason: 'bad apply',
      ...data,
    },
  });
  type Rollback = Extract<Command, { type: 'RollbackState' }>;
  const rollback = (overrides: Partial<Rollback> = {}): Rollback => ({
    type: 'RollbackState',
    lockId: null,
    target,
    body: restored,
    reason: 'bad apply',
    force: false,
    ...overrides,
  });

  // A new version with the old content and a serial above every serial seen: history is never rewritten.
  given(t, history).when(rollback()).then([rolledBack()]);
  // The body must carry exactly that serial; one prepared against an older head is stale.
  given(t, [...history, pushed(3, null, storedBody(7))]).when(rollback()).thenFails({ type: 'RollbackStale', expectedSerial: 8 });
  given(t, history).when(rollback({ target: { ...target, version: 9 } })).thenFails({ type: 'VersionNotFound', version: 9 });
  // Another lineage is refused unless forced.
  const foreign = { ...target, lineage: 'other' };
  given(t, history).when(rollback({ target: foreign })).thenFails({ type: 'LineageMismatch', head: v1.lineage, target: 'other' });
  given(t, history).when(rollback({ target: foreign, force: true })).then([rolledBack()]);
  // Same lock rules as a push.
  given(t, [...history, locked(lockA)]).when(rollback()).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [...history, locked(lockA)]).when(rollback({ lockId: 'lock-a' })).then([
    rolledBack({ version: 3, lock_id: 'lock-a', lock_operation: lockA.Operation, lock_who: lockA.Who }),
  ]);
  // A serial that cannot rise any further is a conflict, not a malformed request.
  const maxed = storedBody(Number.MAX_SAFE_INTEGER);
  given(t, [pushed(1, null, v1), pushed(2, null, maxed)])
    .when(rollback())
    .thenFails({ type: 'SerialExhausted', serial: Number.MAX_SAFE_INTEGER });
  // A deleted state can be restored; the serial still rises above the last one written.
  given(t, [...history, deleted(2)]).when(rollback()).then([rolledBack({ from_version: null })]);
  // An encrypted body keeps its serial: it is restored byte for byte.
  const sealed = { ...storedBody(1), encrypted: true, resourceCount: null, outputCount: null };
  given(t, [pushed(1, null, sealed), pushed(2, null, v2)])
    .when(rollback({ target: { ...target, encrypted: true }, body: sealed }))
    .then([
      {
        type: 'StateRolledBack',
        data: { version: 3, lock_id: null, lock_operation: null, lock_who: null, lease_until: null, ...bodyData(sealed), from_version: 2, to_version: 1, reason: 'bad apply' },
      },
    ]);
});

t.test('lock leases: an expired lease makes the lock breakable, not revoked', async (t) => {
  const at = (iso: string) => new Date(iso);
  const lease = { seconds: 600, until: '2026-12-07T10:10:00.000Z' };
  const leased = (lock: LockInfo, until = lease.until): StateEvent => ({ type: 'StateLocked', data: { lock, taken_by: null, lease: { seconds: 600, until } } });
  // A lock taken with a lease ends it `seconds` after the decision.
  given(t, []).when({ type: 'LockState', lock: lockA, leaseSeconds: 600 }).then([leased(lockA)]);
  // Before the lease ends nobody else may take it; after, another lock takes over, naming the old holder.
  given(t, [leased(lockA)]).when({ type: 'LockState', lock: lockB }, undefined, at('2026-12-07T10:09:59.000Z')).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [leased(lockA)])
    .when({ type: 'LockState', lock: lockB, leaseSeconds: 600 }, undefined, at('2026-12-07T10:10:01.000Z'))
    .then([
      { type: 'LockExpired', data: { lock: lockA, taken_by: null, lease_until: lease.until } },
      { type: 'StateLocked', data: { lock: lockB, taken_by: null, lease: { seconds: 600, until: '2026-12-07T10:20:01.000Z' } } },
    ]);
  // Until someone asks, the holder of an expired lease still writes, renewing it, and unlocks.
  const late = at('2026-12-07T11:00:00.000Z');
  given(t, [leased(lockA)])
    .when({ type: 'PushState', lockId: 'lock-a', body }, undefined, late)
    .then([{ ...pushed(1, lockA), data: { ...(pushed(1, lockA).data as object), lease_until: '2026-12-07T11:10:00.000Z' } } as StateEvent]);
  given(t, [leased(lockA)]).when(unlock(lockA), undefined, late).then([{ type: 'StateUnlocked', data: { lock_id: 'lock-a' } }]);
  // A renewal moves the end: a takeover before the renewed end is refused.
  const renewed: StateEvent = { ...pushed(1, lockA), data: { ...(pushed(1, lockA).data as object), lease_until: '2026-12-07T11:10:00.000Z' } } as StateEvent;
  given(t, [leased(lockA), renewed]).when({ type: 'LockState', lock: lockB }, undefined, at('2026-12-07T11:05:00.000Z')).thenFails({ type: 'LockHeld', holder: lockA });
  // The retried LOCK of the holder is still a no-op, lease or not.
  given(t, [leased(lockA)]).when({ type: 'LockState', lock: lockA }, undefined, late).then([]);
  // After a takeover the old holder's writes and unlock are refused: its lock is gone.
  const takenOver = [leased(lockA), { type: 'LockExpired', data: { lock: lockA, taken_by: null, lease_until: lease.until } } as StateEvent, leased(lockB, '2026-12-07T11:10:00.000Z')];
  given(t, takenOver).when({ type: 'PushState', lockId: 'lock-a', body }, undefined, late).thenFails({ type: 'LockHeld', holder: lockB });
  given(t, takenOver).when(unlock(lockA), undefined, late).thenFails({ type: 'LockMismatch', holder: lockB });
  // A lock without a lease never expires, and a write under no lock renews nothing.
  given(t, [locked(lockA)]).when({ type: 'LockState', lock: lockB }, undefined, at('2099-01-01T00:00:00.000Z')).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, []).when({ type: 'PushState', lockId: null, body }, undefined, late).then([pushed(1)]);
});

t.test('an administrator releases a lock with a reason', async (t) => {
  given(t, [locked(lockA)]).when({ type: 'ReleaseLock', reason: 'CI job cancelled', expectedId: null }).then([
    { type: 'LockForceReleased', data: { lock: lockA, reason: 'CI job cancelled' } },
  ]);
  given(t, [locked(lockA)]).when({ type: 'ReleaseLock', reason: 'stale', expectedId: 'lock-a' }).then([{ type: 'LockForceReleased', data: { lock: lockA, reason: 'stale' } }]);
  // Naming the lock guards against releasing one taken since the administrator looked.
  given(t, [locked(lockA)]).when({ type: 'ReleaseLock', reason: 'stale', expectedId: 'lock-b' }).thenFails({ type: 'LockMismatch', holder: lockA });
  given(t, []).when({ type: 'ReleaseLock', reason: 'stale', expectedId: null }).then([]);
});
