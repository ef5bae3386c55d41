import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t from 'tap';
import { ledgerStores } from '../../src/ledger-stores.js';
import { exclusively } from '../../src/retention/exclusive.js';
import { parseRetention } from '../../src/retention/policy.js';
import { startRetentionSchedule } from '../../src/retention/schedule.js';
import type { BlobStore } from '../../src/storage/blobs/blob-store.js';
import { stateDocument } from '../support/go-client.js';
import { capturedLogger } from '../support/log-capture.js';
import { startServer } from '../support/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('one process at a time runs a retention job; the others skip their turn', async (t) => {
  const server = await startServer(t);
  const other = new pg.Pool({ connectionString: server.db.url, max: 2 }); // another process on the same database
  t.teardown(() => other.end());
  let release: () => void = () => undefined;
  const holding = exclusively(server.db.pool, 'prune', () => new Promise<string>((resolve) => (release = () => resolve('first'))));
  await sleep(100);
  t.strictSame(await exclusively(other, 'prune', async () => 'second'), undefined, 'prune is held: skipped');
  t.strictSame(await exclusively(other, 'gc', async () => 'gc'), 'gc', 'another job is not held up');
  release();
  t.strictSame(await holding, 'first');
  t.strictSame(await exclusively(other, 'prune', async () => 'second'), 'second', 'released: the next turn runs');
});

t.test('the server prunes on its schedule, survives a failing turn, and stops cleanly', async (t) => {
  const server = await startServer(t);
  for (const serial of [1, 2, 3]) t.equal((await server.request('/states/app', { method: 'POST', body: stateDocument(serial).toString() })).status, 200);
  const retention = parseRetention('1');
  if (E.isLeft(retention)) return t.fail(retention.left);
  let failures = 1;
  // The first deletion fails as an S3 outage would; the turn after deletes.
  const flaky: BlobStore = {
    ...server.blobs,
    delete: async (key) => {
      if (failures-- > 0) throw new Error('S3 is down');
      return server.blobs.delete(key);
    },
  };
  const { logger, lines } = capturedLogger();
  const schedule = startRetentionSchedule(
    { pool: server.db.pool, store: ledgerStores(server.db.pool).store, blobs: flaky },
    { retention: retention.right, pruneIntervalMs: 50, gcIntervalMs: 0, graceSeconds: 86400, logger },
  );
  const pruned = async () =>
    (await server.db.pool.query<{ version: number }>("SELECT version FROM state_versions WHERE name = 'app' AND pruned_at IS NOT NULL ORDER BY version")).rows.map((r) => r.version);
  for (let i = 0; i < 100 && (await pruned()).length < 2; i++) await sleep(50);
  await sleep(300); // a turn after the failure deletes what it left
  await schedule.stop();
  t.strictSame(await pruned(), [1, 2], 'versions 1 and 2 pruned by the schedule');
  t.ok(lines().some((line) => line.msg === 'retention prune failed; it runs again at its next turn'), 'the failing turn was logged');
  t.ok(lines().some((line) => line.msg === 'retention prune done'), 'and a later turn succeeded');
  t.strictSame((await server.request('/states/app/versions/1')).status, 410, 'the pruned body is gone for readers');
  t.strictSame((await server.request('/states/app')).status, 200, 'the current version is kept');
  const turns = lines().length;
  await sleep(200);
  t.strictSame(lines().length, turns, 'stopped: no more turns');
});
