import t from 'tap';
import { currentSchemaVersion, upcast } from '../../src/events/upcasters.js';

const lock = { ID: 'L' };
const takenBy = { actor: 'user:alice', subject: null };

t.test('StateLocked of shape 1 gains taken_by, of shape 2 an absent lease', async (t) => {
  t.strictSame(currentSchemaVersion('StateLocked'), 3);
  t.strictSame(upcast('StateLocked', 1, { lock }), { data: { lock, taken_by: null, lease: null } }, 'a lock from before identities: nobody in particular');
  t.strictSame(upcast('StateLocked', 1, { lock, taken_by: takenBy }), { data: { lock, taken_by: takenBy, lease: null } }, 'shape 1 rows written with identities keep theirs');
  t.strictSame(upcast('StateLocked', 2, { lock, taken_by: takenBy }), { data: { lock, taken_by: takenBy, lease: null } }, 'a lock from before leases has none');
  const lease = { seconds: 60, until: '2026-12-07T10:00:00.000Z' };
  t.strictSame(upcast('StateLocked', 3, { lock, taken_by: takenBy, lease }), { data: { lock, taken_by: takenBy, lease } }, 'the current shape is left as it is');
});

t.test('writes from before leases renewed none; force-releases from before reasons have none', async (t) => {
  for (const type of ['StatePushed', 'StateRolledBack']) {
    t.strictSame(currentSchemaVersion(type), 2);
    t.strictSame(upcast(type, 1, { version: 1 }), { data: { version: 1, lease_until: null } }, type);
  }
  t.strictSame(upcast('LockForceReleased', 1, { lock }), { data: { lock, reason: null } });
});

t.test('types that never changed are read as they are', async (t) => {
  t.strictSame(currentSchemaVersion('StateUnlocked'), 1);
  t.strictSame(upcast('StateUnlocked', 1, { lock_id: 'L' }), { data: { lock_id: 'L' } });
});

t.test('what cannot be upcast says why', async (t) => {
  t.strictSame(upcast('StateLocked', 4, { lock }), { problem: 'was written in schema 4 of StateLocked, newer than this server knows (3): upgrade state-ledger' });
  t.strictSame(upcast('StateLocked', 1, ['not', 'an', 'object']), { problem: 'data is not an object' });
  t.strictSame(upcast('StateLocked', 1, null), { problem: 'data is not an object' });
});
