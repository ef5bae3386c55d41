import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import { manageAccess } from '../../src/application/manage-access.js';
import { listUsers, listGrants } from '../../src/projections/access-queries.js';
import { openPool, CLI_POOL } from '../../src/storage/postgres.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { metadata } from '../support/commands.js';
import { freshDatabase } from '../support/services.js';

t.test('servers starting at once on one database make exactly one first administrator', async (t) => {
  const db = await freshDatabase(t);
  // One pool per "process": the access stream's compare-and-set decides, not memory.
  const pools = [0, 1, 2, 3].map(() => openPool(db.url, CLI_POOL));
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())));
  const passwords = await Promise.all(pools.map((pool) => manageAccess(ledgerStores(pool).accessStore).bootstrap('admin', metadata('system'))));
  t.strictSame(passwords.filter((p) => p !== undefined).length, 1, 'one of them created it and got its password');
  t.strictSame((await listUsers(db.pool)).map((u) => u.name), ['admin']);
  t.strictSame((await listGrants(db.pool)).map((g) => [g.role, g.subject, g.glob]), [['admin', 'user:admin', '*']]);
  const again = await manageAccess(ledgerStores(db.pool).accessStore).bootstrap('admin', metadata('system'));
  t.strictSame(again, undefined, 'a later start creates nothing');
});

t.test('two administrators creating the same token at once: one gets it, the other a clear refusal', async (t) => {
  const db = await freshDatabase(t);
  const pools = [0, 1].map(() => openPool(db.url, CLI_POOL));
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())));
  const outcomes = await Promise.all(pools.map((pool) => manageAccess(ledgerStores(pool).accessStore).createToken('ci', null, metadata('user:alice'))));
  t.strictSame(outcomes.filter(E.isRight).length, 1);
  t.strictSame(outcomes.filter(E.isLeft).map((o) => o.left), [{ type: 'TokenExists', name: 'ci' }]);
});
