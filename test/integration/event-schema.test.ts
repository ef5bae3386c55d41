import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import { handleCommand } from '../../src/commands/handler.js';
import { chainHash, GENESIS_HASH } from '../../src/events/hash-chain.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { replay } from '../../src/projections/replay.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { globalFeed, streamEvents } from '../../src/storage/event-reads.js';
import { verifyLedger } from '../../src/storage/verify/verify-ledger.js';
import { metadata } from '../support/commands.js';
import { freshDatabase, tempDir } from '../support/services.js';

const lock = { ID: 'old', Who: 'old@host', Operation: 'OperationTypeApply' };
const written = new Date('2025-06-01T12:00:00.000Z');
const writer = { actor: 'user:admin', remote_address: '10.0.0.1', user_agent: 'Terraform/1.5.7', request_id: 'r-old' };

/**
 * A StateLocked event as a server from before schema versions wrote it: shape 1, no taken_by, its
 * hash over exactly those fields; with its read-model row and a snapshot of a shape no longer read.
 */
const writeOldShapeLock = async (sql: { query: (text: string, values?: unknown[]) => Promise<unknown> }, stream: string, schemaVersion = 1) => {
  const data = { lock };
  const hash = chainHash(GENESIS_HASH, { stream_id: stream, stream_version: 1, type: 'StateLocked', data, metadata: writer, recorded_at: written });
  await sql.query("INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) VALUES ($1, 1, '{}', 0)", [stream]);
  await sql.query(
    'INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version) VALUES ($1, 1, $2, $3, $4, $5, $6, $7)',
    [stream, 'StateLocked', JSON.stringify(data), JSON.stringify(writer), written, hash, schemaVersion],
  );
  await sql.query('INSERT INTO state_locks (name, lock_id, info, acquired_at, acquired_by) VALUES ($1, $2, $3, $4, $5)', [stream, lock.ID, JSON.stringify(lock), written, writer.actor]);
};

t.test('an event stored in an older shape reads back in the current one on every path', async (t) => {
  const { pool } = await freshDatabase(t);
  await writeOldShapeLock(pool, 'legacy');
  const current = { type: 'StateLocked', data: { lock, taken_by: null, lease: null } };

  const loaded = await ledgerStores(pool).store.load('legacy');
  t.strictSame([loaded.version, loaded.state.lock, loaded.state.lockTakenBy], [1, lock, null], 'stream load: folded from the upcast event');
  t.strictSame((await streamEvents(pool, 'legacy', { after: 0, limit: 10 })).map((e) => e.event), [current], "the state's event feed");
  const feed = await globalFeed(pool, { after: 0, limit: 10, visible: { states: ['^.*$'], access: false } });
  t.strictSame(Array.isArray(feed) ? feed.map((e) => e.event) : feed, [current], 'the global feed');

  const unlocked = await handleCommand(ledgerStores(pool).store)('legacy', { type: 'UnlockState', presented: lock, mayForce: false }, metadata('user:admin'))();
  t.strictSame(E.isRight(unlocked) ? unlocked.right.events.map((e) => [e.streamVersion, e.event.type]) : unlocked, [[2, 'StateUnlocked']], 'decided from it: anyone with the ID releases a lock taken before identities');

  const verified = await verifyLedger(pool, await fsBlobStore(path.join(await tempDir(t), 'blobs')));
  t.strictSame([verified.events, verified.problems], [2, []], 'verify: the old row keeps its hash, and the new event chains from it');
  t.strictSame((await replay(pool, { kind: 'verify' })).differences, [], 'replay rebuilds the same read models');
  await replay(pool, { kind: 'swap' });
  t.strictSame((await pool.query('SELECT name FROM state_locks')).rows, [], 'and a swap leaves the lock released');
  const { rows } = await pool.query<{ schema_version: number }>("SELECT schema_version FROM events WHERE stream_id = 'legacy' ORDER BY stream_version");
  t.strictSame(rows, [{ schema_version: 1 }, { schema_version: 1 }], 'stored rows are never rewritten (StateUnlocked is still in shape 1)');
});

t.test('an event in a shape newer than this server knows is refused by name, not misread', async (t) => {
  const { pool } = await freshDatabase(t);
  await writeOldShapeLock(pool, 'future', 4);
  await t.rejects(ledgerStores(pool).store.load('future'), {
    message: 'event at position 1 (future v1) was written in schema 4 of StateLocked, newer than this server knows (3): upgrade state-ledger',
  });
});
