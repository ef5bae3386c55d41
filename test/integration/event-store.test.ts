import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t from 'tap';
import { handleCommand, precheckWrite } from '../../src/commands/handler.js';
import { initialState } from '../../src/commands/state.js';
import { chainHash, GENESIS, GENESIS_HASH } from '../../src/events/hash-chain.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { createLogger } from '../../src/logger.js';
import { EVENTS_CHANNEL } from '../../src/storage/commit-notifier.js';
import { chainedFieldsOf, eventColumns, type EventRow } from '../../src/storage/event-rows.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import { metadata, storedBody } from '../support/commands.js';
import { freshDatabase } from '../support/services.js';

const lockL = { ID: 'L' };
const lockM = { ID: 'M' };

const eventsOf = async (pool: pg.Pool, stream: string) =>
  (await pool.query<{ v: number; type: string; data: Record<string, unknown> }>('SELECT stream_version AS v, type, data FROM events WHERE stream_id = $1 ORDER BY 1', [stream])).rows;

t.test('appends, loads and snapshots a stream', async (t) => {
  const { pool } = await freshDatabase(t);
  const { store } = ledgerStores(pool);
  const run = handleCommand(store);
  t.strictSame(await store.load('s'), { streamId: 's', state: initialState, version: 0, fresh: true, chain: GENESIS });
  t.ok(E.isRight(await run('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()));
  t.ok(E.isRight(await run('s', { type: 'LockState', lock: lockL }, metadata())()));
  const expected = { lock: lockL, lockTakenBy: { actor: 'tester', subject: null }, lease: null, released: null, lastVersion: 1, lastSerial: 1, head: { version: 1, serial: 1, lineage: 'lineage-1', sha256: storedBody(1).sha256, lockId: null }, pinned: [], pruned: 0 };
  const cached = await store.load('s');
  t.strictSame([cached.version, cached.fresh, cached.state], [2, false, expected], 'this process answers from its cache');
  const fromDatabase = await ledgerStores(pool).store.load('s');
  t.strictSame([fromDatabase.version, fromDatabase.fresh, fromDatabase.state, fromDatabase.chain], [2, true, expected, cached.chain], 'another process reads the snapshot');

  // A snapshot from another code shape is ignored: the stream is folded from its events instead.
  await pool.query("UPDATE streams SET snapshot_schema = 0, snapshot = '{}' WHERE stream_id = 's'");
  t.strictSame(await store.load('s', { fresh: true }), fromDatabase);

  t.strictSame((await eventsOf(pool, 's')).map((e) => [e.v, e.type]), [[1, 'StatePushed'], [2, 'StateLocked']]);
  const { rows } = await pool.query("SELECT metadata - 'request_id' AS m FROM events ORDER BY global_position LIMIT 1");
  t.strictSame(rows, [{ m: { actor: 'tester', remote_address: '127.0.0.1', user_agent: 'test' } }]);
});

t.test('what an append answers is what a reader of the table gets', async (t) => {
  const { pool } = await freshDatabase(t);
  const outcome = await handleCommand(ledgerStores(pool).store)('s', { type: 'LockState', lock: lockL }, metadata())();
  if (E.isLeft(outcome)) return t.fail('the lock was refused');
  const [event] = outcome.right.events;
  const { rows } = await pool.query<{ global_position: number; hash: string; recorded_at: Date }>('SELECT global_position, hash, recorded_at FROM events');
  t.strictSame([event?.position, event?.hash, event?.recordedAt.getTime()], [rows[0]?.global_position, rows[0]?.hash, rows[0]?.recorded_at.getTime()]);
});

t.test('each event chains its hash from the previous one in its stream', async (t) => {
  const { pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  await run('a', { type: 'LockState', lock: lockL }, metadata())();
  await run('b', { type: 'LockState', lock: lockM }, metadata())();
  await run('a', { type: 'UnlockState', presented: lockL, mayForce: false }, metadata())();
  const { rows } = await pool.query<EventRow>(`SELECT ${eventColumns} FROM events ORDER BY stream_id, stream_version`);
  const previous = new Map<string, string>();
  for (const row of rows) {
    t.equal(row.hash, chainHash(previous.get(row.stream_id) ?? GENESIS_HASH, chainedFieldsOf(row)), `${row.stream_id} v${row.stream_version}`);
    previous.set(row.stream_id, row.hash);
  }
  t.strictSame(rows.map((r) => [r.stream_id, r.type, r.schema_version]), [['a', 'StateLocked', 3], ['a', 'StateUnlocked', 1], ['b', 'StateLocked', 3]]);
  t.not(rows[0]?.hash, rows[2]?.hash);
});

t.test('an append at a version the stream is no longer at is a conflict and writes nothing', async (t) => {
  const { pool } = await freshDatabase(t);
  const { store } = ledgerStores(pool);
  await handleCommand(store)('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())();
  const meta = { actor: 'x', remote_address: null, user_agent: null, request_id: 'r' };
  const loaded = await store.load('s', { fresh: true });
  const stale = [
    ['at version 0', { ...loaded, version: 0 }],
    ['at version 5', { ...loaded, version: 5 }],
    ['at its version, but after another history (a failover lost the event cached)', { ...loaded, chain: { ...loaded.chain, hash: 'f'.repeat(64) } }],
  ] as const;
  for (const [what, stream] of stale) {
    const outcome = await store.append(
      stream,
      { events: [{ type: 'StateLocked', data: { lock: { ID: 'late' }, taken_by: null, lease: null } }], metadata: meta, recordedAt: new Date(), stateAfter: initialState },
    );
    t.strictSame(outcome, E.left({ type: 'StreamVersionConflict', streamId: 's' }), what);
  }
  t.strictSame((await eventsOf(pool, 's')).map((e) => e.type), ['StatePushed']);
  t.strictSame((await pool.query('SELECT name FROM state_locks')).rows, [], 'no projection applied either');
});

t.test('a writer whose stream moved reloads it and decides again', async (t) => {
  const { pool } = await freshDatabase(t);
  // Two processes: each its own store and cache.
  const first = handleCommand(ledgerStores(pool).store);
  const second = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await first('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()), 'the first caches the stream at v1');

  t.ok(E.isRight(await second('s', { type: 'PushState', lockId: null, body: storedBody(2) }, metadata())()));
  const pushed = await first('s', { type: 'PushState', lockId: null, body: storedBody(3) }, metadata())();
  t.strictSame(E.isRight(pushed) ? pushed.right.events.map((e) => [e.streamVersion, (e.event.data as { version: number }).version]) : pushed, [[3, 3]], 'the stale writer lost the race, reloaded, and wrote version 3');

  t.ok(E.isRight(await second('s', { type: 'LockState', lock: lockL }, metadata())()));
  const refused = await first('s', { type: 'LockState', lock: lockM }, metadata())();
  t.strictSame(E.isLeft(refused) ? refused.left.type : refused, 'LockHeld', 'decided again from the reloaded stream: the lock is taken');
  t.strictSame((await eventsOf(pool, 's')).map((e) => [e.v, e.type]), [[1, 'StatePushed'], [2, 'StatePushed'], [3, 'StatePushed'], [4, 'StateLocked']]);
});

t.test('an early refusal of a write is never taken from a stale cache', async (t) => {
  const { pool } = await freshDatabase(t);
  const first = ledgerStores(pool).store;
  const second = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await handleCommand(first)('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()), 'the first process caches the stream unlocked');
  t.ok(E.isRight(await second('s', { type: 'LockState', lock: lockL }, metadata())()), 'another process locks it with L');
  const caller = { actor: 'tester', subject: null };
  t.strictSame(await precheckWrite(first)('s', 'L', caller)(), E.right(undefined), 'a push under L is let through: the database says L holds the lock');
  const refused = await precheckWrite(first)('s', null, caller)();
  t.strictSame(E.isLeft(refused) ? refused.left.type : refused, 'LockHeld', 'and one without the lock is refused');
});

t.test('a refusal decided from a stale cache is checked against the database first', async (t) => {
  const { pool } = await freshDatabase(t);
  const first = handleCommand(ledgerStores(pool).store);
  const second = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await first('s', { type: 'LockState', lock: lockL }, metadata())()), 'the first process caches the stream locked by L');
  t.ok(E.isRight(await second('s', { type: 'UnlockState', presented: lockL, mayForce: false }, metadata())()));
  const taken = await first('s', { type: 'LockState', lock: lockM }, metadata())();
  t.strictSame(E.isRight(taken) ? taken.right.state.lock : taken, lockM, 'the lock is free in the database, so M gets it');
  const retried = await second('s', { type: 'UnlockState', presented: lockL, mayForce: false }, metadata())();
  t.strictSame(E.isRight(retried) ? retried.right.events : retried, [], 'a retried unlock from a cached state is still a no-op');
  t.strictSame((await eventsOf(pool, 's')).map((e) => e.type), ['StateLocked', 'StateUnlocked', 'StateLocked']);
});

t.test('concurrent writers on one stream get distinct, gapless versions', async (t) => {
  const { pool } = await freshDatabase(t);
  const runs = [handleCommand(ledgerStores(pool).store), handleCommand(ledgerStores(pool).store)];
  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, i) => runs[i % 2]!('busy', { type: 'PushState', lockId: null, body: storedBody(i) }, metadata())()),
  );
  const succeeded = outcomes.filter(E.isRight).length;
  t.ok(succeeded >= 1);
  for (const outcome of outcomes) if (E.isLeft(outcome)) t.strictSame(outcome.left.type, 'ConcurrencyConflict');
  t.strictSame(
    (await eventsOf(pool, 'busy')).map((e) => [e.v, e.data.version]),
    Array.from({ length: succeeded }, (_, i) => [i + 1, i + 1]),
  );
  const { rows } = await pool.query<{ version: number }>("SELECT version FROM state_heads WHERE name = 'busy'");
  t.strictSame(rows, [{ version: succeeded }], 'the read model followed the last append');
});

t.test('the database refuses to change or remove events', async (t) => {
  const { pool } = await freshDatabase(t);
  await handleCommand(ledgerStores(pool).store)('s', { type: 'LockState', lock: lockL }, metadata())();
  await t.rejects(pool.query("UPDATE events SET type = 'StateUnlocked'"), /append-only/);
  await t.rejects(pool.query('DELETE FROM events'), /append-only/);
  await t.rejects(pool.query('TRUNCATE events CASCADE'), /append-only/);
  const { rows } = await pool.query('SELECT type FROM events');
  t.strictSame(rows, [{ type: 'StateLocked' }]);
});

t.test('listeners hear of a commit after it, with the newest position', async (t) => {
  const { url, pool } = await freshDatabase(t);
  const listener = new pg.Client(url);
  await listener.connect();
  t.teardown(() => listener.end());
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  const received = new Promise<string | undefined>((resolve) => listener.once('notification', (n) => resolve(n.payload)));
  const outcome = await handleCommand(ledgerStores(pool).store)('s', { type: 'LockState', lock: lockL }, metadata())();
  const position = E.isRight(outcome) ? outcome.right.events[0]?.position : undefined;
  t.strictSame(await received, String(position));
});

t.test('event listeners are woken by a commit, not by their timer', async (t) => {
  const { url, pool } = await freshDatabase(t);
  const wakeups = await listenForEvents(url, createLogger('silent'));
  t.teardown(() => wakeups.close());
  const woken = wakeups.next(60_000).then(() => 'woken');
  await handleCommand(ledgerStores(pool).store)('s', { type: 'LockState', lock: lockL }, metadata())();
  const outcome = await Promise.race([woken, new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000))]);
  t.strictSame(outcome, 'woken');
});
