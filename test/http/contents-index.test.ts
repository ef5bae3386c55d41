import t from 'tap';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { projectionLag } from '../../src/projections/async/checkpoints.js';
import { contentsIndex } from '../../src/projections/async/contents-index.js';
import { richInstances, richOutputs, richState } from '../support/contents-states.js';
import { defaultClient, encryptedDocument } from '../support/go-client.js';
import { caughtUp, runner, waitFor } from '../support/projections.js';
import { startServer } from '../support/server.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const json = async (res: Response) => (await res.json()) as Record<string, unknown> & { versions: Array<Record<string, unknown>> };

t.test('the contents index of each state, its lag in /readyz?verbose and in the metrics, and instance counts in the versions list', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  const web = defaultClient(server.baseUrl, 'web');
  t.equal((await web.put(richState(1))).status, 200);
  t.equal((await defaultClient(server.baseUrl, 'secret').put(encryptedDocument(1))).status, 200);
  const metrics = createMetrics({ projectionLag: () => projectionLag(pool, ['contents']) });
  const lagLines = async () => (await metrics.render()).split('\n').filter((line) => line.startsWith('state_ledger_projection_lag_'));

  const before = await json(await fetch(`${server.baseUrl}/readyz?verbose`));
  const [lag] = before.projections as Array<Record<string, unknown>>;
  t.strictSame({ ...lag, lag_seconds: typeof lag?.lag_seconds }, { name: 'contents', lag_events: 2, lag_seconds: 'number', checkpoint_at: null }, 'behind by both pushes before any runner ran');
  t.ok((lag?.lag_seconds as number) > 0);
  t.strictSame(Object.keys(await json(await fetch(`${server.baseUrl}/readyz`))), ['status', 'postgres', 'blobs'], 'no projections without ?verbose');
  const behind = await lagLines();
  t.strictSame(behind[0], 'state_ledger_projection_lag_events{projection="contents"} 2');
  t.match(behind[1], /^state_ledger_projection_lag_seconds\{projection="contents"\} [0-9.e-]+$/);
  t.strictSame((await json(await server.request('/states/web/versions'))).versions[0]?.instances, null, 'not counted before the index read it');

  await runner(t, { url, blobs: server.blobs, logger, projections: [contentsIndex] });
  await waitFor('the index', () => caughtUp(pool, ['contents']));

  const after = await json(await fetch(`${server.baseUrl}/readyz?verbose`));
  const [caught] = after.projections as Array<Record<string, unknown>>;
  t.strictSame({ ...caught, checkpoint_at: typeof caught?.checkpoint_at }, { name: 'contents', lag_events: 0, lag_seconds: 0, checkpoint_at: 'string' });
  t.strictSame(await lagLines(), ['state_ledger_projection_lag_events{projection="contents"} 0', 'state_ledger_projection_lag_seconds{projection="contents"} 0']);

  const instances = await pool.query(
    `SELECT address, resource_address AS "resourceAddress", mode, type, resource_name AS name, module, provider, index_key AS "indexKey", instance_id AS id
     FROM state_resource_instances WHERE name = 'web' ORDER BY ordinal`,
  );
  t.strictSame(instances.rows, richInstances());
  const outputs = await pool.query("SELECT output AS name, type, sensitive FROM state_output_index WHERE name = 'web'");
  t.strictSame(new Set(outputs.rows.map((o) => JSON.stringify(o))), new Set(richOutputs.map((o) => JSON.stringify(o))));
  const contents = await pool.query('SELECT name, version, status, reason, resource_count, instance_count, output_count FROM state_contents ORDER BY name');
  t.strictSame(contents.rows, [
    { name: 'secret', version: 1, status: 'encrypted', reason: null, resource_count: null, instance_count: null, output_count: null },
    { name: 'web', version: 1, status: 'indexed', reason: null, resource_count: 5, instance_count: 6, output_count: 3 },
  ]);
  t.strictSame((await pool.query("SELECT count(*)::int AS n FROM state_resource_instances WHERE name = 'secret'")).rows, [{ n: 0 }], 'an encrypted state has no contents');

  t.equal((await web.put(richState(2, { bucket: 'renamed' }))).status, 200);
  await waitFor('the second version', () => caughtUp(pool, ['contents']));
  const bucket = await pool.query("SELECT instance_id FROM state_resource_instances WHERE name = 'web' AND type = 'aws_s3_bucket'");
  t.strictSame(bucket.rows, [{ instance_id: 'renamed' }], 'the current version replaces the last');
  const listed = await json(await server.request('/states/web/versions'));
  t.strictSame(listed.versions.map((v) => [v.version, v.resources, v.instances]), [[2, 5, 6], [1, 5, 6]], 'resource blocks and instances side by side');
  t.strictSame((await json(await server.request('/states/secret/versions'))).versions.map((v) => v.instances), [null], 'none for an encrypted state');
  const table = await (await server.request('/states/web/versions', { headers: { accept: 'text/plain' } })).text();
  const [header, row] = table.split('\n');
  t.match(header, /PRUNED +INSTANCES$/, 'instances in the last column');
  t.match(row, / 6$/);

  t.equal((await web.delete()).status, 200);
  await waitFor('the deletion', () => caughtUp(pool, ['contents']));
  t.strictSame((await pool.query("SELECT count(*)::int AS n FROM state_resource_instances WHERE name = 'web'")).rows, [{ n: 0 }]);
  t.strictSame((await pool.query("SELECT name FROM state_contents ORDER BY name")).rows, [{ name: 'secret' }], 'a deleted state has no current version to index');
});
