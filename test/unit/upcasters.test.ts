import t from 'tap';
import { currentSchemaVersion, upcast } from '../../src/events/upcasters.js';

const lock = { ID: 'L' };
const takenBy = { actor: 'user:alice', subject: null };

t.test('StateLocked of shape 1 gains taken_by', async (t) => {
  t.strictSame(currentSchemaVersion('StateLocked'), 2);
  t.strictSame(upcast('StateLocked', 1, { lock }), { data: { lock, taken_by: null } }, 'a lock from before identities: nobody in particular');
  t.strictSame(upcast('StateLocked', 1, { lock, taken_by: takenBy }), { data: { lock, taken_by: takenBy } }, 'shape 1 rows written with identities keep theirs');
  t.strictSame(upcast('StateLocked', 2, { lock, taken_by: takenBy }), { data: { lock, taken_by: takenBy } }, 'the current shape is left as it is');
});

t.test('types that never changed are read as they are', async (t) => {
  t.strictSame(currentSchemaVersion('StateUnlocked'), 1);
  t.strictSame(upcast('StateUnlocked', 1, { lock_id: 'L' }), { data: { lock_id: 'L' } });
});

t.test('what cannot be upcast says why', async (t) => {
  t.strictSame(upcast('StateLocked', 3, { lock }), { problem: 'was written in schema 3 of StateLocked, newer than this server knows (2): upgrade state-ledger' });
  t.strictSame(upcast('StateLocked', 1, ['not', 'an', 'object']), { problem: 'data is not an object' });
  t.strictSame(upcast('StateLocked', 1, null), { problem: 'data is not an object' });
});
