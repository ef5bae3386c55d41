import pg from 'pg';
import t from 'tap';
import { migrate } from '../../src/storage/postgres.js';

t.test('several processes migrating one fresh database at once apply each migration once', async (t) => {
  const adminUrl = process.env.TEST_DATABASE_URL ?? '';
  const name = `t_migrate_${Date.now()}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  t.teardown(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;

  const applied = await Promise.all([1, 2, 3, 4].map(() => migrate(url.toString(), () => undefined)));
  const files = ['0001_event_store', '0002_read_models', '0003_access', '0004_append_in_one_statement', '0005_lock_leases', '0006_retention', '0007_async_projections', '0008_runs', '0009_console_sessions', '0010_search_by_type_in_order', '0011_console_session_passwords'];
  t.strictSame(applied.flat().sort(), files, 'each file applied by exactly one of them');

  const db = new pg.Client(url.toString());
  await db.connect();
  t.teardown(() => db.end());
  const { rows } = await db.query('SELECT name FROM schema_migrations ORDER BY run_on, id');
  t.strictSame(rows.map((r) => r.name), files, 'recorded once each, in order');
  t.strictSame(await migrate(url.toString(), () => undefined), [], 'a later start has nothing to do');
});
