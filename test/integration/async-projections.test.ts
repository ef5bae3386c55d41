import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t from 'tap';
import { handleCommand } from '../../src/commands/handler.js';
import { stateStreams } from '../../src/commands/stream-kinds.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { createLogger } from '../../src/logger.js';
import { contentsIndex } from '../../src/projections/async/contents-index.js';
import { sharedBodyReader } from '../../src/projections/async/stored-contents.js';
import { readModelsInline } from '../../src/projections/inline.js';
import { replay } from '../../src/projections/replay.js';
import { blobKeyFor } from '../../src/storage/blobs/blob-store.js';
import { COMMIT_ORDER_START, eventsInCommitOrder, type CommitCursor } from '../../src/storage/event-reads.js';
import { pgStreamStore } from '../../src/storage/pg-event-store.js';
import { CLI_POOL, migrate, openPool } from '../../src/storage/postgres.js';
import { metadata, storedBody } from '../support/commands.js';
import { richState } from '../support/contents-states.js';
import { defaultClient } from '../support/go-client.js';
import { privatePostgres } from '../support/private-services.js';
import { caughtUp, commitOrder, createRecorderTable, dumpTables, recorded, recorder, runner, waitFor } from '../support/projections.js';
import { startServer } from '../support/server.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lock = (ID: string) => ({ type: 'LockState' as const, lock: { ID } });

t.test('never passes an event whose transaction is still open, and applies it in commit order once it commits', async (t) => {
  const server = await startServer(t, { blobs: 'fs' });
  const { pool, url } = server.db;
  await createRecorderTable(pool);
  const run = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await run('early', lock('1'), metadata())()));

  // A transaction that appends and stays open: its event takes a position before the others.
  const late = new pg.Client(url);
  await late.connect();
  t.teardown(() => late.end());
  await late.query('BEGIN');
  const lateStore = pgStreamStore({ query: (...args: unknown[]) => (late.query as (...a: unknown[]) => unknown)(...args) } as unknown as pg.Pool, stateStreams, { inline: [readModelsInline] });
  t.ok(E.isRight(await handleCommand(lateStore)('late', lock('2'), metadata())()));
  t.ok(E.isRight(await run('after-1', lock('3'), metadata())()));
  t.ok(E.isRight(await run('after-2', lock('4'), metadata())()));

  await runner(t, { url, blobs: server.blobs, logger, projections: [recorder] });
  await waitFor('the early event', async () => (await recorded(pool)).length >= 1);
  await sleep(1500); // several backstop polls and the notifications of both commits
  const early = (await pool.query<{ p: number }>("SELECT global_position AS p FROM events WHERE stream_id = 'early'")).rows.map((r) => Number(r.p));
  t.strictSame(await recorded(pool), early, 'nothing after the open transaction is applied, though two later events have committed');
  const { rows } = await pool.query<{ checkpoint: string }>("SELECT position::text AS checkpoint FROM projection_checkpoints WHERE name = 'recorder'");
  t.strictSame(rows.map((r) => Number(r.checkpoint)), early, 'the checkpoint stays at the last event before it');

  await late.query('COMMIT');
  await waitFor('all four events', async () => (await recorded(pool)).length === 4);
  const order = await commitOrder(pool);
  t.strictSame(await recorded(pool), order, 'applied in commit order, each once');
  const streams = await pool.query<{ stream_id: string }>('SELECT stream_id FROM events ORDER BY transaction_id, global_position');
  t.strictSame(streams.rows.map((r) => r.stream_id), ['early', 'late', 'after-1', 'after-2'], 'the late event first: its transaction began before theirs, though it committed after them');
});

t.test('exactly once across two runners: one takes over when the other loses its connection; the index equals a replay', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  await createRecorderTable(pool);
  const projections = [contentsIndex, recorder];
  const a = await runner(t, { url, blobs: server.blobs, logger, projections });
  await waitFor('runner a to run both projections', () => a.running().length === 2);
  const b = await runner(t, { url, blobs: server.blobs, logger, projections });
  await sleep(500);
  t.strictSame(b.running(), [], 'the second runner stands by');

  const pushes = async (from: number, to: number) => {
    for (let serial = from; serial <= to; serial++) {
      for (const state of ['s0', 's1', 's2']) {
        const reply = await defaultClient(server.baseUrl, state).put(richState(serial, { bucket: `${state}-${serial}` }));
        if (reply.status !== 200) throw new Error(`push answered ${reply.status}`);
      }
    }
  };
  await pushes(1, 4);
  await waitFor('some events applied', async () => (await recorded(pool)).length >= 3);
  const killed = await pool.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE application_name LIKE 'state-ledger projection %' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
  );
  t.equal(killed.rowCount, 2, "the holder's two connections are terminated");
  const pushing = pushes(5, 10);
  await waitFor('runner b to take both over', () => b.running().length === 2, 5000);
  await pushing;
  await waitFor('both projections to catch up', () => caughtUp(pool, ['contents', 'recorder']));

  const positions = await recorded(pool);
  t.equal(positions.length, new Set(positions).size, 'no event applied twice');
  t.strictSame(positions, await commitOrder(pool), 'every event applied, in commit order');
  const { rows } = await pool.query<{ name: string; version: number; status: string; instance_count: number }>('SELECT name, version, status, instance_count FROM state_contents ORDER BY name');
  t.strictSame(rows, ['s0', 's1', 's2'].map((name) => ({ name, version: 10, status: 'indexed', instance_count: 6 })));
  const ids = await pool.query<{ instance_id: string }>("SELECT instance_id FROM state_resource_instances WHERE name = 's1' AND type = 'aws_s3_bucket'");
  t.strictSame(ids.rows, [{ instance_id: 's1-10' }], 'the current version is indexed');

  const live = await dumpTables(pool, contentsIndex, 'public');
  await a.stop();
  await b.stop();
  await replay(pool, { kind: 'swap' }, undefined, { asyncProjections: [contentsIndex], context: { bodies: sharedBodyReader(server.blobs) } });
  t.strictSame(await dumpTables(pool, contentsIndex, 'public'), live, 'a replay builds the same contents index');
  const checkpoint = await pool.query<{ tx: string }>("SELECT tx::text AS tx FROM projection_checkpoints WHERE name = 'contents'");
  t.not(checkpoint.rows[0]?.tx, '0', 'the replay left the checkpoint at the end of what it read');
});

t.test('catches up after a restart; a body that cannot be read is recorded as unreadable, not retried', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  const first = await runner(t, { url, blobs: server.blobs, logger, projections: [contentsIndex] });
  const app = defaultClient(server.baseUrl, 'app');
  t.equal((await app.put(richState(1))).status, 200);
  await waitFor('the first push indexed', () => caughtUp(pool, ['contents']));
  await first.stop();

  for (let serial = 2; serial <= 4; serial++) t.equal((await app.put(richState(serial, { bucket: `bucket-${serial}` }))).status, 200);
  // A body whose bytes are not JSON, stored under its own hash, and one whose blob is not there at all.
  const garbage = Buffer.from('{"version": 4, "resources": [trux]}');
  const sha256 = createHash('sha256').update(garbage).digest('hex');
  await server.blobs.upload(blobKeyFor(sha256), { kind: 'memory', bytes: garbage, size: garbage.length, sha256 }).commit();
  const run = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await run('garbage', { type: 'PushState', lockId: null, body: { ...storedBody(1), blobKey: blobKeyFor(sha256), sha256, size: garbage.length } }, metadata())()));
  t.ok(E.isRight(await run('missing', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()));
  t.notOk(await caughtUp(pool, ['contents']), 'behind while no runner runs');

  await runner(t, { url, blobs: server.blobs, logger, projections: [contentsIndex] });
  await waitFor('the new runner to catch up', () => caughtUp(pool, ['contents']));
  const { rows } = await pool.query('SELECT name, version, status, reason, instance_count FROM state_contents ORDER BY name');
  t.strictSame(rows, [
    { name: 'app', version: 4, status: 'indexed', reason: null, instance_count: 6 },
    { name: 'garbage', version: 1, status: 'unreadable', reason: 'not valid JSON at byte 32: expected the literal true', instance_count: null },
    { name: 'missing', version: 1, status: 'unreadable', reason: `its body ${storedBody(1).blobKey} is not in the blob store`, instance_count: null },
  ]);
  const versions = await pool.query("SELECT version, instance_count FROM state_version_instances WHERE name = 'app' ORDER BY version");
  t.strictSame(versions.rows, [1, 2, 3, 4].map((version) => ({ version, instance_count: 6 })), 'every version counted, those pushed while no runner ran too');
});

t.test('PostgreSQL restarted under the runner: it recovers by itself and catches up', async (t) => {
  const postgres = await privatePostgres(t);
  await migrate(postgres.url, () => undefined);
  const pool = openPool(postgres.url, CLI_POOL, () => undefined);
  t.teardown(() => pool.end());
  const server = await startServer(t, { db: { url: postgres.url, pool } });
  await runner(t, { url: postgres.url, blobs: server.blobs, logger, projections: [contentsIndex], settings: { retryMaxMs: 1000 } });
  const app = defaultClient(server.baseUrl, 'app');
  t.equal((await app.put(richState(1))).status, 200);
  await waitFor('the first push indexed', () => caughtUp(pool, ['contents']));

  await postgres.restart('immediate');
  // The pool's connections died with the server: a push may be answered 503 once, then goes through.
  let serial = 2;
  while (serial <= 4) {
    const reply = await app.put(richState(serial, { bucket: `after-restart-${serial}` }));
    if (reply.status === 200) serial++;
    else if (reply.status !== 503) throw new Error(`push answered ${reply.status}`);
  }
  await waitFor('the runner to catch up after the restart', () => caughtUp(pool, ['contents']).catch(() => false), 20_000);
  const { rows } = await pool.query("SELECT version, status FROM state_contents WHERE name = 'app'");
  t.strictSame(rows, [{ version: 4, status: 'indexed' }]);
  const ids = await pool.query("SELECT instance_id FROM state_resource_instances WHERE name = 'app' AND type = 'aws_s3_bucket'");
  t.strictSame(ids.rows, [{ instance_id: 'after-restart-4' }]);
});

t.test('a replay that sets the projections back is followed by an idle runner at once, with no new write to wake it', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  const web = defaultClient(server.baseUrl, 'web');
  for (let serial = 1; serial <= 3; serial++) t.equal((await web.put(richState(serial))).status, 200);
  await runner(t, { url, blobs: server.blobs, logger, projections: [contentsIndex], settings: { backstopMs: 300 } });
  await waitFor('the index', () => caughtUp(pool, ['contents']));
  const live = await dumpTables(pool, contentsIndex, 'public');
  t.equal(live.state_contents?.length, 1);

  // Without a blob store, replay empties the tables and sets the checkpoint back to the start.
  await replay(pool, { kind: 'swap' }, undefined, { asyncProjections: [contentsIndex] });
  t.strictSame((await pool.query('SELECT count(*)::int AS n FROM state_contents')).rows, [{ n: 0 }], 'emptied by the replay');
  await waitFor('the runner to rebuild the index', async () => (await pool.query('SELECT count(*)::int AS n FROM state_contents')).rows[0]?.n === 1);
  await waitFor('the index', () => caughtUp(pool, ['contents']));
  t.strictSame(await dumpTables(pool, contentsIndex, 'public'), live, 'rebuilt as it was, though nothing was written since');
});

t.test("a replay's swap waits for a projection's batch under way, rather than deadlocking with it", async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  const web = defaultClient(server.baseUrl, 'web');
  for (let serial = 1; serial <= 2; serial++) t.equal((await web.put(richState(serial))).status, 200);
  await pool.query("INSERT INTO projection_checkpoints (name, position) VALUES ('contents', 2) ON CONFLICT (name) DO UPDATE SET position = 2");

  // A runner's batch as applyBatch runs it: its checkpoint row locked first, its tables written next.
  const batch = new pg.Client(url);
  await batch.connect();
  t.teardown(() => batch.end());
  await batch.query('BEGIN');
  await batch.query("SELECT 1 FROM projection_checkpoints WHERE name = 'contents' FOR UPDATE");
  const swapped = replay(pool, { kind: 'swap' }, undefined, { asyncProjections: [contentsIndex] });
  swapped.catch(() => undefined); // awaited below
  const batchPid = (await batch.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  await waitFor('the swap to wait on the checkpoints', async () => {
    const { rows } = await pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1 AND query LIKE '%projection_checkpoints%'",
      [batchPid],
    );
    return rows.length === 1;
  });
  // Before the fix the swap had dropped this table by now and waited on the checkpoint row: a deadlock.
  await batch.query('INSERT INTO state_contents SELECT * FROM state_contents WHERE false');
  await batch.query("UPDATE projection_checkpoints SET updated_at = now() WHERE name = 'contents'");
  await batch.query('COMMIT');

  const report = await swapped;
  t.strictSame(report.differences, []);
  const { rows } = await pool.query<{ position: string }>("SELECT position::text FROM projection_checkpoints WHERE name = 'contents'");
  t.strictSame(rows, [{ position: '0' }], 'the swap set the checkpoint back to the start, after the batch committed');
});

t.test('a batch ends with the body that takes its bodies past the limit, so a projection holds one large body at a time', async (t) => {
  const server = await startServer(t);
  const { pool } = server.db;
  const run = handleCommand(ledgerStores(pool).store);
  const MiB = 1024 * 1024;
  // Sizes as the events record them (the bodies are never read here); a lock between each push.
  const sizes = [10, 500, 20, 30, 40, 1].map((n) => n * MiB);
  for (const [i, size] of sizes.entries()) {
    t.ok(E.isRight(await run(`s${i}`, lock(`l${i}`), metadata())()));
    t.ok(E.isRight(await run(`s${i}`, { type: 'PushState', lockId: `l${i}`, body: { ...storedBody(i + 1), size } }, metadata())()));
  }
  const batches: string[][] = [];
  let cursor: CommitCursor = COMMIT_ORDER_START;
  for (;;) {
    const batch = await eventsInCommitOrder(pool, cursor, { committedOnly: true, until: null, limit: 100, maxBodyBytes: 64 * MiB });
    if (batch.events.length === 0) break;
    batches.push(batch.events.map((e) => `${e.event.type === 'StatePushed' ? 'push' : 'lock'} ${e.streamId}`));
    cursor = batch.cursor;
  }
  t.strictSame(batches, [
    ['lock s0', 'push s0', 'lock s1', 'push s1'],
    ['lock s2', 'push s2', 'lock s3', 'push s3', 'lock s4', 'push s4'],
    ['lock s5', 'push s5'],
  ], 'each batch ends with the push that crossed 64 MiB; every event read once, in order');
  const everything = await eventsInCommitOrder(pool, COMMIT_ORDER_START, { committedOnly: true, until: null, limit: 100 });
  t.equal(everything.events.length, 12, 'without the limit, one batch');
});
