import * as Minio from 'minio';
import t from 'tap';
import { runCli, startCliServer } from '../support/cli.js';
import { defaultClient } from '../support/go-client.js';
import { freshDatabase, freshS3Config, s3Environment, tempDir } from '../support/services.js';
import { terraformState } from '../support/states.js';

t.test('verify, replay and rollback from the command line, on PostgreSQL and S3', async (t) => {
  const db = await freshDatabase(t);
  const s3 = freshS3Config();
  const env = {
    DATABASE_URL: db.url,
    ...s3Environment(s3),
    AUTH_USERS: 'ops:pw',
    DATA_DIR: await tempDir(t),
  };
  const server = await startCliServer(env);
  t.teardown(() => void server.process.kill('SIGTERM'));
  const client = defaultClient(server.baseUrl, 'infra', { username: 'ops', password: 'pw' });
  for (const serial of [1, 2, 3]) await client.put(terraformState(serial));

  t.test('verify passes on an intact ledger', async (t) => {
    const result = await runCli(['verify'], env);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, 'ledger intact: 3 events in 1 streams, 3 blobs');
  });

  t.test('verify names a tampered event', async (t) => {
    const { rows } = await db.pool.query("SELECT global_position, data FROM events WHERE stream_version = 2 AND stream_id = 'infra'");
    const original = rows[0];
    const tamper = async (data: unknown) => {
      await db.pool.query('ALTER TABLE events DISABLE TRIGGER events_refuse_change');
      await db.pool.query('UPDATE events SET data = $1 WHERE global_position = $2', [data, original.global_position]);
      await db.pool.query('ALTER TABLE events ENABLE TRIGGER events_refuse_change');
    };
    await tamper({ ...original.data, created_by: 'mallory', serial: 99 });
    const result = await runCli(['verify'], env);
    t.equal(result.code, 1);
    t.match(result.stdout, `ledger NOT intact: event at position ${original.global_position} (state infra, stream version 2) its content does not match its hash`);
    await tamper(original.data);
    t.equal((await runCli(['verify'], env)).code, 0, 'intact again once restored');
  });

  t.test('verify notices events cut off the end of a stream', async (t) => {
    await client.put(terraformState(4));
    const { rows } = await db.pool.query("SELECT * FROM events WHERE stream_id = 'infra' ORDER BY stream_version DESC LIMIT 1");
    const last = rows[0];
    await db.pool.query('ALTER TABLE events DISABLE TRIGGER events_refuse_change');
    await db.pool.query('DELETE FROM events WHERE global_position = $1', [last.global_position]);
    await db.pool.query('ALTER TABLE events ENABLE TRIGGER events_refuse_change');
    const result = await runCli(['verify'], env);
    t.equal(result.code, 1);
    t.match(result.stdout, `ledger NOT intact: state infra is at version ${last.stream_version} but its events end at ${last.stream_version - 1}`);
    await db.pool.query(
      'INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [last.stream_id, last.stream_version, last.type, last.data, last.metadata, last.recorded_at, last.hash, last.schema_version],
    );
    t.equal((await runCli(['verify'], env)).code, 0, 'intact once the event is back');
  });

  t.test('verify names a corrupt blob', async (t) => {
    const { rows } = await db.pool.query("SELECT data->>'blob_key' AS key FROM events WHERE stream_version = 1 AND stream_id = 'infra'");
    const key = rows[0].key as string;
    const minio = new Minio.Client({ endPoint: s3.endPoint, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true });
    const original = Buffer.from(terraformState(1));
    await minio.putObject(s3.bucket, key, Buffer.from(original.toString().replace('"serial": 1', '"serial": 7')));
    const result = await runCli(['verify'], env);
    t.equal(result.code, 1);
    t.match(result.stdout, `ledger NOT intact: blob ${key} is corrupt`);
    await minio.putObject(s3.bucket, key, original);
    t.equal((await runCli(['verify'], env)).code, 0);
  });

  t.test('replay --verify finds drift, replay repairs it, while the server serves', async (t) => {
    t.equal((await runCli(['replay', '--verify'], env)).code, 0);
    await db.pool.query("UPDATE state_heads SET size = 1 WHERE name = 'infra'");
    const drifted = await runCli(['replay', '--verify'], env);
    t.equal(drifted.code, 1);
    t.match(drifted.stdout, 'state_heads: 1 rows only live, 1 only rebuilt');
    const replayed = await runCli(['replay'], env);
    t.equal(replayed.code, 0, replayed.stderr);
    t.match(replayed.stdout, /replayed 4 events in [\d.]+ s \(\d+ events\/s\)/);
    t.equal((await runCli(['replay', '--verify'], env)).code, 0);
    t.same((await client.get()).body, terraformState(4), 'the server kept serving');
  });

  t.test('replay --until keeps a rebuild as of that time', async (t) => {
    const { rows } = await db.pool.query("SELECT recorded_at FROM events WHERE stream_version = 1 AND stream_id = 'infra'");
    const result = await runCli(['replay', '--until', (rows[0].recorded_at as Date).toISOString()], env);
    t.equal(result.code, 0, result.stderr);
    const schema = /in schema (\S+)/.exec(result.stdout)?.[1];
    t.ok(schema);
    const versions = await db.pool.query(`SELECT version FROM ${schema}.state_versions`);
    t.same(versions.rows, [{ version: 1 }]);
    t.equal((await runCli(['replay', '--until', 'last tuesday'], env)).code === 0, false);
  });

  t.test('rollback from a terminal', async (t) => {
    const result = await runCli(['rollback', 'infra', '1', '--reason', 'bad apply'], env);
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout, 'restored version 1 of infra as version 5 (serial 5)');
    t.equal(JSON.parse((await client.get()).body.toString()).serial, 5);
    const { rows } = await db.pool.query("SELECT metadata->>'actor' AS actor, data->>'reason' AS reason FROM events WHERE type = 'StateRolledBack'");
    t.match(rows, [{ actor: /^cli:/, reason: 'bad apply' }]);
    const missing = await runCli(['rollback', 'infra', '42', '--reason', 'x'], env);
    t.equal(missing.code, 1);
    t.match(missing.stderr, 'version 42 does not exist');
    t.not((await runCli(['rollback', 'infra', '1'], env)).code, 0, '--reason is required');
  });
});
