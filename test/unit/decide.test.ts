import t from 'tap';
import type { StoredBody } from '../../src/commands/commands.js';
import type { StateEvent } from '../../src/events/events.js';
import { given } from '../support/given.js';

const lockA = { ID: 'lock-a', Operation: 'OperationTypeApply', Who: 'a@host' };
const lockB = { ID: 'lock-b', Who: 'b@host' };
const body: StoredBody = {
  blobKey: 'sha256/ab/ab12',
  sha256: 'ab12',
  md5: 'md5==',
  size: 10,
  serial: 3,
  lineage: 'lin',
  terraformVersion: '1.9.8',
  encrypted: false,
};
const pushed = (version: number, lockId: string | null): StateEvent => ({
  type: 'StatePushed',
  data: {
    version,
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
});
const locked = (lock: typeof lockA | typeof lockB): StateEvent => ({ type: 'StateLocked', data: { lock } });

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
  given(t, [locked(lockA)]).when({ type: 'UnlockState', lockId: 'lock-a' }).then([
    { type: 'StateUnlocked', data: { lock_id: 'lock-a' } },
  ]);
  given(t, []).when({ type: 'UnlockState', lockId: 'lock-a' }).then([]);
  given(t, [locked(lockA)]).when({ type: 'UnlockState', lockId: 'lock-b' }).thenFails({ type: 'LockMismatch', holder: lockA });
  given(t, [locked(lockA)]).when({ type: 'UnlockState', lockId: null }).then([
    { type: 'LockForceReleased', data: { lock: lockA } },
  ]);
  given(t, []).when({ type: 'UnlockState', lockId: null }).then([]);
});

t.test('push', async (t) => {
  given(t, []).when({ type: 'PushState', lockId: null, body }).then([pushed(1, null)]);
  given(t, [pushed(1, null)]).when({ type: 'PushState', lockId: null, body }).then([pushed(2, null)]);
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: 'lock-a', body }).then([pushed(1, 'lock-a')]);
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: null, body }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [locked(lockA)]).when({ type: 'PushState', lockId: 'lock-b', body }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, []).when({ type: 'PushState', lockId: 'lock-a', body }).thenFails({ type: 'LockLost', lockId: 'lock-a' });
  given(t, [locked(lockA), { type: 'LockForceReleased', data: { lock: lockA } }])
    .when({ type: 'PushState', lockId: 'lock-a', body })
    .thenFails({ type: 'LockLost', lockId: 'lock-a' });
  // Version numbers are the server's own sequence and keep counting across a delete.
  given(t, [pushed(1, null), pushed(2, null), { type: 'StateDeleted', data: { version: 2 } }])
    .when({ type: 'PushState', lockId: null, body })
    .then([pushed(3, null)]);
});

t.test('delete', async (t) => {
  given(t, [pushed(1, null)]).when({ type: 'DeleteState', lockId: null }).then([{ type: 'StateDeleted', data: { version: 1 } }]);
  given(t, []).when({ type: 'DeleteState', lockId: null }).then([]);
  given(t, [pushed(1, null), { type: 'StateDeleted', data: { version: 1 } }]).when({ type: 'DeleteState', lockId: null }).then([]);
  given(t, [pushed(1, null), locked(lockA)]).when({ type: 'DeleteState', lockId: null }).thenFails({ type: 'LockHeld', holder: lockA });
  given(t, [pushed(1, null), locked(lockA)]).when({ type: 'DeleteState', lockId: 'lock-a' }).then([
    { type: 'StateDeleted', data: { version: 1 } },
  ]);
});
