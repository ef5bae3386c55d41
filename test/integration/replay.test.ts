import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import type { Command } from '../../src/commands/commands.js';
import { handleCommand } from '../../src/commands/handler.js';
import { readModelTables } from '../../src/projections/read-model.js';
import { replay } from '../../src/projections/replay.js';
import type { SqlExecutor } from '../../src/storage/sql.js';
import { verifyLedger } from '../../src/storage/verify/verify-ledger.js';
import { manageAccess } from '../../src/application/manage-access.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { metadata, storedBody } from '../support/commands.js';
import { freshDatabase, tempDir } from '../support/services.js';

const names = ['net', 'dns', 'app'];
const lockIds = ['L1', 'L2'];

const command: fc.Arbitrary<[string, Command]> = fc.tuple(
  fc.constantFrom(...names),
  fc.oneof(
    fc.constantFrom(...lockIds).map((ID): Command => ({ type: 'LockState', lock: { ID, Who: `${ID}@host` } })),
    fc.option(fc.constantFrom(...lockIds)).map((ID): Command => ({ type: 'UnlockState', presented: ID === null ? null : { ID, Who: `${ID}@host` }, mayForce: true })),
    fc
      .tuple(fc.option(fc.constantFrom(...lockIds)), fc.nat(50), fc.constantFrom('a', 'b'))
      .map(([lockId, serial, lineage]): Command => ({ type: 'PushState', lockId, body: storedBody(serial, lineage) })),
    fc.option(fc.constantFrom(...lockIds)).map((lockId): Command => ({ type: 'DeleteState', lockId })),
  ),
);

/** Every read-model row, in a stable order. */
const snapshotTables = async (sql: SqlExecutor, schema = 'public') => {
  const tables: Record<string, unknown[]> = {};
  for (const table of Object.keys(readModelTables)) tables[table] = (await sql.query(`SELECT * FROM ${schema}.${table} ORDER BY 1, 2`)).rows;
  return tables;
};

t.test('replay rebuilds read models identical to the live ones after a long random mix', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  const commands = fc.sample(fc.array(command, { minLength: 2000, maxLength: 2000 }), { numRuns: 1, seed: 20261125 })[0] ?? [];
  for (const [name, cmd] of commands) await run(name, cmd, metadata('ci'))();

  const live = await snapshotTables(pool);
  const { rows } = await pool.query('SELECT count(DISTINCT type)::int AS types, count(*)::int AS n FROM events');
  t.equal(rows[0].types, 5, 'the mix produced every event type');
  t.ok(rows[0].n > 300, `the mix produced ${rows[0].n} events`);

  const verified = await replay(pool, { kind: 'verify' });
  t.equal(verified.events, rows[0].n);
  t.same(verified.differences, [], 'verify finds the live read models equal to a rebuild');
  const swapped = await replay(pool, { kind: 'swap' });
  t.equal(swapped.events, rows[0].n);
  t.same(await snapshotTables(pool), live, 'the swapped-in tables equal the live ones');
  const { rows: schemas } = await pool.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'replay_%'");
  t.same(schemas, [], 'no rebuild schema is left behind');
});

t.test('replay repairs a read model that drifted', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  await run('net', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())();
  await run('net', { type: 'LockState', lock: { ID: 'L1' } }, metadata())();
  const live = await snapshotTables(pool);
  const snapshot = (await pool.query("SELECT snapshot FROM streams WHERE stream_id = 'net'")).rows[0].snapshot;
  await pool.query('DELETE FROM state_locks');
  await pool.query("UPDATE state_heads SET size = 0, updated_by = 'nobody'");
  await pool.query("UPDATE streams SET snapshot = jsonb_set(snapshot, '{lock}', 'null') WHERE stream_id = 'net'");
  const verified = await replay(pool, { kind: 'verify' });
  t.same(
    verified.differences.map((d) => [d.table, d.onlyLive, d.onlyRebuilt]),
    [
      ['state_heads', 1, 1],
      ['state_locks', 0, 1],
    ],
    'verify names the drifted tables',
  );
  await replay(pool, { kind: 'swap' });
  t.same(await snapshotTables(pool), live);
  t.same((await pool.query("SELECT snapshot FROM streams WHERE stream_id = 'net'")).rows[0].snapshot, snapshot, 'the decider snapshot is repaired too');
  t.same((await replay(pool, { kind: 'verify' })).differences, []);
});

t.test('replay --until rebuilds aside as of a time and leaves the live tables alone', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  const first = metadata();
  await run('net', { type: 'PushState', lockId: null, body: storedBody(1) }, first)();
  await run('net', { type: 'LockState', lock: { ID: 'L1' } }, metadata())();
  await run('net', { type: 'PushState', lockId: 'L1', body: storedBody(2) }, metadata())();
  const live = await snapshotTables(pool);
  const report = await replay(pool, { kind: 'until', until: first.now });
  t.equal(report.events, 1);
  const aside = await snapshotTables(pool, report.schema);
  t.same((aside.state_versions as { version: number }[]).map((v) => v.version), [1]);
  t.same(aside.state_locks, []);
  t.same(await snapshotTables(pool), live);
  await pool.query(`DROP SCHEMA ${report.schema} CASCADE`);
});

t.test('writes during a replay are not lost', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  for (let i = 1; i <= 300; i++) await run(`s${i % 7}`, { type: 'PushState', lockId: null, body: storedBody(i) }, metadata())();
  const writes = (async () => {
    for (let i = 0; i < 60; i++) await run(`w${i % 3}`, { type: 'PushState', lockId: null, body: storedBody(i) }, metadata())();
  })();
  await replay(pool, { kind: 'swap' });
  await writes;
  t.same((await replay(pool, { kind: 'verify' })).differences, [], 'live and rebuilt agree after concurrent writes');
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM state_versions WHERE name LIKE 'w%'");
  t.equal(rows[0].n, 60);
});

t.test('replay rebuilds the access read models, and verify checks the access stream', async (t) => {
  const { pool } = await freshDatabase(t);
  const access = manageAccess(ledgerStores(pool).accessStore);
  const run = handleCommand(ledgerStores(pool).store);
  const blobs = await fsBlobStore(await tempDir(t));
  const ok = <A>(outcome: E.Either<unknown, A>): A => {
    if (E.isLeft(outcome)) throw new Error(JSON.stringify(outcome.left));
    return outcome.right;
  };
  ok(await access.addUser('alice', 'a-long-password-1', metadata('cli:root')));
  ok(await access.addUser('bob', undefined, metadata('user:alice')));
  ok(await access.createToken('ci', new Date('2099-01-01T00:00:00Z'), metadata('user:alice')));
  ok(await access.createToken('old', null, metadata('user:alice')));
  ok(await access.grant({ role: 'write', subject: 'token:ci', glob: 'prod-*' }, metadata('user:alice')));
  ok(await access.grant({ role: 'read', subject: 'user:bob', glob: '*' }, metadata('user:alice')));
  ok(await access.grant({ role: 'read', subject: 'token:old', glob: '*' }, metadata('user:alice')));
  ok(await access.revokeToken('old', metadata('user:alice')));
  ok(await access.changePassword('bob', 'another-password-2', metadata('user:bob')));
  ok(await access.apply({ users: ['alice', 'bob'], tokens: [{ name: 'ci', expiresAt: '2098-01-01T00:00:00.000Z' }], grants: [{ role: 'write', subject: 'token:ci', glob: 'prod-*' }, { role: 'read', subject: 'user:bob', glob: '*' }] }, false, metadata('user:alice')));
  await run('prod-net', { type: 'LockState', lock: { ID: 'L1' } }, metadata('token:ci'))();

  const live = await snapshotTables(pool);
  t.strictSame(
    (live.access_tokens as Array<{ name: string; expires_at: Date }>).map((k) => [k.name, k.expires_at.toISOString()]),
    [['ci', '2098-01-01T00:00:00.000Z']],
    'the expiry changed by apply is live',
  );
  t.strictSame((live.access_grants as Array<{ subject: string }>).map((g) => g.subject).sort(), ['token:ci', 'user:bob'], 'revoked grants are gone');
  t.strictSame((await replay(pool, { kind: 'verify' })).differences, [], 'the live access tables equal a rebuild');
  await replay(pool, { kind: 'swap' });
  t.strictSame(await snapshotTables(pool), live, 'and a swap leaves them as they were');
  const report = await verifyLedger(pool, blobs);
  t.strictSame(report.problems, [], 'the access stream verifies');
  t.strictSame(report.streams, 2);
});
