import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t from 'tap';
import { handleCommand } from '../../src/commands/handler.js';
import { initialState } from '../../src/commands/state.js';
import { chainHash, GENESIS_HASH } from '../../src/events/hash-chain.js';
import { createLogger } from '../../src/logger.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import { EVENTS_CHANNEL, pgEventStore } from '../../src/storage/pg-event-store.js';
import { metadata, storedBody } from '../support/commands.js';
import { freshDatabase } from '../support/services.js';

t.test('appends, loads and snapshots a stream', async (t) => {
  const { pool } = await freshDatabase(t);
  const store = pgEventStore(pool);
  const run = handleCommand(store);
  t.same(await store.load('s'), { state: initialState, version: 0 });
  t.ok(E.isRight(await run('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()));
  t.ok(E.isRight(await run('s', { type: 'LockState', lock: { ID: 'L' } }, metadata())()));
  const loaded = await store.load('s');
  t.equal(loaded.version, 2);
  t.strictSame(loaded.state, { lock: { ID: 'L' }, lockTakenBy: { actor: 'tester', subject: null }, released: null, lastVersion: 1, lastSerial: 1, head: { version: 1, serial: 1, lineage: 'lineage-1', sha256: storedBody(1).sha256, lockId: null } });

  // A snapshot from another code shape is ignored: the stream is folded from its events instead.
  await pool.query("UPDATE streams SET snapshot_schema = 0, snapshot = '{}' WHERE stream_id = 's'");
  t.same(await store.load('s'), loaded);

  const { rows } = await pool.query('SELECT stream_version, type, metadata FROM events ORDER BY global_position');
  t.same(
    rows.map((r) => [r.stream_version, r.type]),
    [
      [1, 'StatePushed'],
      [2, 'StateLocked'],
    ],
  );
  t.match(rows[0].metadata, { actor: 'tester', remote_address: '127.0.0.1', user_agent: 'test' });
});

t.test('each event chains its hash from the previous one in its stream', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(pgEventStore(pool));
  await run('a', { type: 'LockState', lock: { ID: 'L' } }, metadata())();
  await run('b', { type: 'LockState', lock: { ID: 'M' } }, metadata())();
  await run('a', { type: 'UnlockState', presented: { ID: 'L' }, mayForce: false }, metadata())();
  const { rows } = await pool.query('SELECT stream_id, stream_version, type, data, metadata, recorded_at, hash FROM events ORDER BY stream_id, stream_version');
  const previous = new Map<string, string>();
  for (const row of rows) {
    const { hash, ...fields } = row;
    t.equal(hash, chainHash(previous.get(row.stream_id) ?? GENESIS_HASH, fields), `${row.stream_id} v${row.stream_version}`);
    previous.set(row.stream_id, hash);
  }
  t.not(rows[0].hash, rows[2].hash);
});

t.test('a stale expected version is a conflict and writes nothing', async (t) => {
  const { pool } = await freshDatabase(t);
  const store = pgEventStore(pool);
  await handleCommand(store)('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())();
  const meta = { actor: 'x', remote_address: null, user_agent: null, request_id: 'r' };
  for (const expectedVersion of [0, 5]) {
    const outcome = await store.transaction(async (tx) => {
      await tx.load('s');
      return tx.append({
        streamId: 's',
        expectedVersion,
        events: [{ type: 'StateLocked', data: { lock: { ID: 'late' } } }],
        metadata: meta,
        recordedAt: new Date(),
        stateAfter: initialState,
      });
    });
    t.same(outcome, E.left({ type: 'StreamVersionConflict', streamId: 's' }), `expected version ${expectedVersion}`);
  }
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM events');
  t.equal(rows[0].n, 1);
});

t.test('concurrent writers on one stream get distinct, gapless versions', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(pgEventStore(pool));
  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, i) => run('busy', { type: 'PushState', lockId: null, body: storedBody(i) }, metadata())()),
  );
  const succeeded = outcomes.filter(E.isRight).length;
  t.ok(succeeded >= 1);
  for (const outcome of outcomes) if (E.isLeft(outcome)) t.match(outcome.left, { type: 'ConcurrencyConflict' });
  const { rows } = await pool.query("SELECT stream_version, data->>'version' AS v FROM events WHERE stream_id = 'busy' ORDER BY 1");
  t.same(
    rows.map((r) => [r.stream_version, Number(r.v)]),
    Array.from({ length: succeeded }, (_, i) => [i + 1, i + 1]),
  );
});

t.test('the database refuses to change or remove events', async (t) => {
  const { pool } = await freshDatabase(t);
  await handleCommand(pgEventStore(pool))('s', { type: 'LockState', lock: { ID: 'L' } }, metadata())();
  await t.rejects(pool.query("UPDATE events SET type = 'StateUnlocked'"), /append-only/);
  await t.rejects(pool.query('DELETE FROM events'), /append-only/);
  await t.rejects(pool.query('TRUNCATE events CASCADE'), /append-only/);
  const { rows } = await pool.query('SELECT type FROM events');
  t.same(rows, [{ type: 'StateLocked' }]);
});

t.test('a commit notifies listeners with the newest position', async (t) => {
  const { url, pool } = await freshDatabase(t);
  const listener = new pg.Client(url);
  await listener.connect();
  t.teardown(() => listener.end());
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  const received = new Promise<string | undefined>((resolve) => listener.once('notification', (n) => resolve(n.payload)));
  const outcome = await handleCommand(pgEventStore(pool))('s', { type: 'LockState', lock: { ID: 'L' } }, metadata())();
  const position = E.isRight(outcome) ? outcome.right.events[0]?.position : undefined;
  t.equal(await received, String(position));
});

t.test('event listeners are woken by a commit, not by their timer', async (t) => {
  const { url, pool } = await freshDatabase(t);
  const wakeups = await listenForEvents(url, createLogger('silent'));
  t.teardown(() => wakeups.close());
  const woken = wakeups.next(60_000).then(() => 'woken');
  await handleCommand(pgEventStore(pool))('s', { type: 'LockState', lock: { ID: 'L' } }, metadata())();
  const outcome = await Promise.race([woken, new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000))]);
  t.equal(outcome, 'woken');
});
