import t from 'tap';
import { defaultClient, newLockInfo, seedStyleClient, stateDocument } from '../support/go-client.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { CLI_POOL, openPool } from '../../src/storage/postgres.js';
import { bodyLimits, listen, PASSWORD, startServer, TRAFFIC, USER } from '../support/server.js';
import { tempDir } from '../support/services.js';

t.test('50 concurrent lockers with distinct IDs: exactly one wins, every loser sees its ID', async (t) => {
  const server = await startServer(t);
  for (const [dialect, client] of [
    ['LOCK', defaultClient],
    ['POST /lock', seedStyleClient],
  ] as const) {
    const name = `contended-${dialect.replace(/\W/g, '')}`;
    const infos = Array.from({ length: 50 }, () => newLockInfo());
    const outcomes = await Promise.all(infos.map((info) => client(server.baseUrl, name).lock(info)));
    const winners = infos.filter((_, i) => outcomes[i]?.locked === true);
    t.equal(winners.length, 1, `${dialect}: one winner`);
    const winner = winners[0]?.ID;
    for (const outcome of outcomes) {
      if (!outcome.locked) {
        t.equal(outcome.status, 423);
        t.equal(outcome.holderId, winner);
      }
    }
    const held = await (await server.request(`/states/${name}/lock`)).json();
    t.equal(held.ID, winner, `${dialect}: the read model agrees`);
    const { rows } = await server.db.pool.query("SELECT count(*)::int AS n FROM events WHERE stream_id = $1 AND type = 'StateLocked'", [name]);
    t.equal(rows[0].n, 1, `${dialect}: one StateLocked event`);
  }
});

t.test('concurrent unlocked pushes each get their own version or a clean 409', async (t) => {
  // Ten uploads from one address at once: above the default per-client cap, which is tested elsewhere.
  const server = await startServer(t, { traffic: { maxUploadsPerClient: 16 } });
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => defaultClient(server.baseUrl, 'racy').put(stateDocument(i))));
  const accepted = replies.filter((r) => r.status === 200);
  t.ok(accepted.length >= 1);
  for (const reply of replies) t.ok(reply.status === 200 || reply.status === 409, `status ${reply.status}`);
  const versions = accepted.map((r) => (JSON.parse(r.body.toString()) as { version: number }).version).sort((a, b) => a - b);
  t.same(versions, Array.from({ length: accepted.length }, (_, i) => i + 1), 'distinct, gapless versions');
});

t.test('two server processes on one PostgreSQL and one bucket: still exactly one lock holder', async (t) => {
  const first = await startServer(t);
  // A second server with its own connection pool and blob client on the same database and bucket.
  const secondPool = openPool(first.db.url, CLI_POOL);
  t.teardown(() => secondPool.end());
  const secondUrl = await listen(
    t,
    createApp({
    ...ledgerStores(secondPool),
      db: secondPool,
      blobs: first.blobs,
      users: new Map([[USER, PASSWORD]]),
      limits: bodyLimits(await tempDir(t), 1 << 20),
      logger: createLogger('silent'),
      traffic: TRAFFIC,
    }),
  );
  const servers = [first.baseUrl, secondUrl];
  const infos = Array.from({ length: 40 }, () => newLockInfo());
  const outcomes = await Promise.all(infos.map((info, i) => seedStyleClient(servers[i % 2] ?? '', 'shared').lock(info)));
  const winners = infos.filter((_, i) => outcomes[i]?.locked === true);
  t.equal(winners.length, 1);
  for (const outcome of outcomes) if (!outcome.locked) t.equal(outcome.holderId, winners[0]?.ID);
  const holder = seedStyleClient(servers[1] ?? '', 'shared');
  await holder.lock(winners[0] ?? newLockInfo());
  t.equal((await holder.put(stateDocument(1))).status, 200, 'the holder writes through the other server');
  t.same((await seedStyleClient(servers[0] ?? '', 'shared').get()).body, stateDocument(1));
});
