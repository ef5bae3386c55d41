import fc from 'fast-check';
import t from 'tap';
import type { Command } from '../../src/commands/commands.js';
import { handleCommand } from '../../src/commands/handler.js';
import { readModelTables } from '../../src/projections/inline.js';
import { replay } from '../../src/projections/replay.js';
import type { SqlExecutor } from '../../src/projections/sql.js';
import { pgEventStore } from '../../src/storage/pg-event-store.js';
import { metadata, storedBody } from '../support/commands.js';
import { freshDatabase } from '../support/services.js';

const names = ['net', 'dns', 'app'];
const lockIds = ['L1', 'L2'];

const command: fc.Arbitrary<[string, Command]> = fc.tuple(
  fc.constantFrom(...names),
  fc.oneof(
    fc.constantFrom(...lockIds).map((ID): Command => ({ type: 'LockState', lock: { ID, Who: `${ID}@host` } })),
    fc.option(fc.constantFrom(...lockIds)).map((lockId): Command => ({ type: 'UnlockState', lockId })),
    fc
      .tuple(fc.option(fc.constantFrom(...lockIds)), fc.nat(50), fc.constantFrom('a', 'b'))
      .map(([lockId, serial, lineage]): Command => ({ type: 'PushState', lockId, body: storedBody(serial, lineage) })),
    fc.option(fc.constantFrom(...lockIds)).map((lockId): Command => ({ type: 'DeleteState', lockId })),
  ),
);

/** Every read-model row plus every stream snapshot, in a stable order. */
const snapshotTables = async (sql: SqlExecutor) => {
  const tables: Record<string, unknown[]> = {};
  for (const table of [...readModelTables, 'streams']) {
    const columns = table === 'streams' ? 'stream_id, version, snapshot, snapshot_schema' : '*';
    tables[table] = (await sql.query(`SELECT ${columns} FROM ${table} ORDER BY 1, 2`)).rows;
  }
  return tables;
};

t.test('replay rebuilds read models identical to the live ones after a long random mix', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(pgEventStore(pool));
  const commands = fc.sample(fc.array(command, { minLength: 2000, maxLength: 2000 }), { numRuns: 1, seed: 20261125 })[0] ?? [];
  for (const [name, cmd] of commands) await run(name, cmd, metadata(cmd.type === 'UnlockState' ? 'ops' : 'ci'))();

  const live = await snapshotTables(pool);
  const { rows } = await pool.query('SELECT count(DISTINCT type)::int AS types, count(*)::int AS n FROM events');
  t.equal(rows[0].types, 5, 'the mix produced every event type');
  t.ok(rows[0].n > 300, `the mix produced ${rows[0].n} events`);

  const result = await replay(pool);
  t.equal(result.events, rows[0].n);
  t.same(await snapshotTables(pool), live);
});

t.test('replay repairs a read model that drifted', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(pgEventStore(pool));
  await run('net', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())();
  await run('net', { type: 'LockState', lock: { ID: 'L1' } }, metadata())();
  const live = await snapshotTables(pool);
  await pool.query('DELETE FROM state_locks');
  await pool.query("UPDATE state_heads SET size = 0, updated_by = 'nobody'");
  await replay(pool);
  t.same(await snapshotTables(pool), live);
});
