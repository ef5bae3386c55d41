import t from 'tap';
import { defaultClient, encryptedDocument, md5Base64, newLockInfo } from '../support/go-client.js';
import { startServer, USER } from '../support/server.js';
import { terraformState } from '../support/states.js';

const json = async (response: Response) => (await response.json()) as Record<string, unknown> & { versions: Array<Record<string, unknown>> };
const bytes = async (response: Response) => Buffer.from(await response.arrayBuffer());

t.test('history', async (t) => {
  const server = await startServer(t);
  const post = (path: string, body: unknown) =>
    server.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const v1 = terraformState(1, { resources: { 'null_resource.a': { id: '1', triggers: { x: 'a' } } }, outputs: { greeting: { value: 'hello' } } });
  const v2 = terraformState(2, {
    resources: { 'null_resource.a': { id: '1', triggers: { x: 'b' } }, 'null_resource.b': { id: '2', secret: 'hunter2' } },
    outputs: { greeting: { value: 'bonjour' }, token: { value: 's3cr3t-token', sensitive: true } },
  });
  const v3 = terraformState(3, { resources: { 'null_resource.b': { id: '2', secret: 'hunter2' } }, outputs: {} });
  const app = defaultClient(server.baseUrl, 'app');
  const lock = newLockInfo({ Operation: 'OperationTypeApply', Who: 'ci@runner' });
  await app.lock(lock);
  for (const doc of [v1, v2, v3]) t.equal((await app.put(doc)).status, 200);
  await app.unlock();

  t.test('versions carry operation, who, counts, encryption and restored_from', async (t) => {
    const { versions } = await json(await server.request('/states/app/versions'));
    t.match(versions[0], { version: 3, serial: 3, resources: 1, outputs: 0, operation: 'OperationTypeApply', who: 'ci@runner', restored_from: null, encrypted: false, lock_id: lock.ID });
    t.match(versions[1], { version: 2, resources: 2, outputs: 2 });
  });

  t.test('versions as an aligned table for terminals', async (t) => {
    for (const request of [server.request('/states/app/versions', { headers: { accept: 'text/plain' } }), server.request('/states/app/versions?format=table')]) {
      const response = await request;
      t.match(response.headers.get('content-type'), /^text\/plain/);
      const lines = (await response.text()).trimEnd().split('\n');
      t.match(lines[0], /^VERSION\s+SERIAL\s+SIZE\s+RESOURCES\s+OUTPUTS\s+CREATED\s+BY\s+OPERATION\s+WHO/);
      t.equal(lines.length, 4);
      t.equal(lines[1]?.indexOf(`user:${USER}`), lines[0]?.indexOf('BY'), 'columns are aligned');
    }
  });

  t.test('diff: resources and outputs by address and name, no secret values', async (t) => {
    const diff = await json(await server.request('/states/app/diff?from=1&to=2'));
    t.match(diff, {
      from: 1,
      to: 2,
      resources: { added: ['null_resource.b'], removed: [], changed: [{ address: 'null_resource.a', attributes: ['triggers'] }] },
      outputs: { added: [{ name: 'token', sensitive: true }], removed: [], changed: [{ name: 'greeting', before: 'hello', after: 'bonjour' }] },
    });
    const text = JSON.stringify(diff);
    t.notMatch(text, 's3cr3t-token', 'a sensitive output value is never shown');
    t.notMatch(text, 'hunter2', 'resource attribute values are never shown');
    const head = await json(await server.request('/states/app/diff'));
    t.match(head, { from: 2, to: 3, resources: { removed: ['null_resource.a'] }, outputs: { removed: [{ name: 'greeting' }, { name: 'token' }] } });
    const listing = await (await server.request('/states/app/diff?from=1&to=2', { headers: { accept: 'text/plain' } })).text();
    t.match(listing, '+ null_resource.b');
    t.match(listing, '~ null_resource.a: triggers');
    t.match(listing, '+ output.token = (sensitive)');
    t.notMatch(listing, 's3cr3t-token');
    t.equal((await server.request('/states/app/diff?from=1&to=9')).status, 404);
    t.equal((await server.request('/states/app/diff?from=x')).status, 400);
  });

  t.test('diff of an encrypted version is 422', async (t) => {
    const sealed = defaultClient(server.baseUrl, 'sealed');
    await sealed.put(encryptedDocument(1));
    await sealed.put(encryptedDocument(2));
    const response = await server.request('/states/sealed/diff');
    t.equal(response.status, 422);
    t.match(await response.json(), { error: 'encrypted_state', message: /encrypted/ });
  });

  t.test('rollback appends a new version with the old content and a higher serial', async (t) => {
    const response = await post('/states/app/rollback', { version: 1, reason: 'bad apply' });
    t.equal(response.status, 200);
    t.same(await response.json(), { version: 4, restored_from: 1, serial: 4 });
    const current = JSON.parse((await bytes(await server.request('/states/app'))).toString());
    const original = JSON.parse(v1.toString());
    t.same({ ...current, serial: 1 }, original, 'the content is version 1 except the serial');
    t.equal(current.serial, 4, 'the serial never goes backwards');
    t.equal((await bytes(await server.request('/states/app'))).toString(), v1.toString().replace('"serial": 1,', '"serial": 4,'), 'only the serial bytes changed');
    const { versions } = await json(await server.request('/states/app/versions?limit=1'));
    t.match(versions[0], { version: 4, serial: 4, restored_from: 1, created_by: USER });
    t.same(await bytes(await server.request('/states/app/versions/1')), v1, 'history is never rewritten');
    const events = await json(await server.request('/states/app/events'));
    const last = (events.events as Array<{ type: string; data: Record<string, unknown> }>).at(-1);
    t.match(last, { type: 'StateRolledBack', data: { from_version: 3, to_version: 1, version: 4, reason: 'bad apply' } });
  });

  t.test('rollback follows the lock rules of a push', async (t) => {
    const holder = newLockInfo();
    await defaultClient(server.baseUrl, 'app').lock(holder);
    const refused = await post('/states/app/rollback', { version: 2, reason: 'x' });
    t.equal(refused.status, 423);
    t.equal((await refused.json()).ID, holder.ID);
    const accepted = await post(`/states/app/rollback?ID=${holder.ID}`, { version: 2, reason: 'under the lock' });
    t.equal(accepted.status, 200);
    t.match(await accepted.json(), { version: 5, restored_from: 2, serial: 5 });
    await server.request('/states/app/unlock', { method: 'POST', body: JSON.stringify({ ID: holder.ID }) });
    t.equal((await post('/states/app/rollback?ID=gone', { version: 2, reason: 'x' })).status, 409, 'a lost lock is refused');
  });

  t.test('rollback to another lineage needs force', async (t) => {
    const c = defaultClient(server.baseUrl, 'mixed');
    await c.put(terraformState(1, { lineage: 'first' }));
    await c.put(terraformState(1, { lineage: 'second' }));
    const refused = await post('/states/mixed/rollback', { version: 1, reason: 'x' });
    t.equal(refused.status, 409);
    t.match(await refused.json(), { error: 'lineage_mismatch' });
    const forced = await post('/states/mixed/rollback', { version: 1, reason: 'x', force: true });
    t.equal(forced.status, 200);
    t.equal(JSON.parse((await bytes(await server.request('/states/mixed'))).toString()).lineage, 'first');
  });

  t.test('an encrypted state is restored byte for byte', async (t) => {
    const response = await post('/states/sealed/rollback', { version: 1, reason: 'x' });
    t.equal(response.status, 200);
    const restored = await server.request('/states/sealed');
    t.same(await bytes(restored), encryptedDocument(1));
    t.equal(restored.headers.get('content-md5'), md5Base64(encryptedDocument(1)));
  });

  t.test('rollback restores a deleted state', async (t) => {
    const c = defaultClient(server.baseUrl, 'gone');
    await c.put(terraformState(7));
    const currentOf = async () => (await json(await server.request('/states/gone/versions'))).current;
    t.equal(await currentOf(), 1, 'the versions page names the current version');
    await c.delete();
    t.equal((await c.get()).status, 404);
    t.equal(await currentOf(), null, 'and says when the state is deleted, its versions kept');
    const response = await post('/states/gone/rollback', { version: 1, reason: 'deleted by mistake' });
    t.equal(response.status, 200);
    t.match(await response.json(), { version: 2, serial: 8 });
    t.equal(JSON.parse((await c.get()).body.toString()).serial, 8);
    t.equal(await currentOf(), 2);
  });

  t.test('a rollback that would need a serial above 2^53-1 is a 409 saying so', async (t) => {
    const maxed = defaultClient(server.baseUrl, 'maxed');
    t.equal((await maxed.put(terraformState(1))).status, 200);
    t.equal((await maxed.put(terraformState(Number.MAX_SAFE_INTEGER))).status, 200);
    const response = await post('/states/maxed/rollback', { version: 1, reason: 'undo' });
    t.equal(response.status, 409);
    t.strictSame(await response.json(), {
      error: 'serial_exhausted',
      message: `the state's serial is already ${Number.MAX_SAFE_INTEGER}, the largest Terraform can count to, so a rollback cannot give the restored version a higher one`,
    });
    t.equal((await json(await server.request('/states/maxed/versions'))).versions.length, 2, 'nothing was added');
  });

  t.test('diff of values nested just under the push limit works; the server keeps answering', async (t) => {
    const deep = (levels: number, leaf: string): unknown => {
      let value: unknown = leaf;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    // The root (1), resources (2), a resource (3), instances (4), an instance (5), attributes (6): 994 more reach 1000, the limit.
    const nested = defaultClient(server.baseUrl, 'nested');
    t.equal((await nested.put(terraformState(1, { resources: { 'null_resource.n': { id: '1', tree: deep(994, 'a') } } }))).status, 200);
    t.equal((await nested.put(terraformState(2, { resources: { 'null_resource.n': { id: '1', tree: deep(994, 'b') } } }))).status, 200);
    const diff = await server.request('/states/nested/diff');
    t.equal(diff.status, 200);
    t.strictSame((await diff.json()).resources, { added: [], removed: [], changed: [{ address: 'null_resource.n', attributes: ['tree'] }] });
    const tooDeep = await nested.put(terraformState(3, { resources: { 'null_resource.n': { id: '1', tree: deep(995, 'c') } } }));
    t.equal(tooDeep.status, 400, 'one level more is refused at the push');
    t.match(JSON.parse(tooDeep.body.toString()).message, /nested more than 1000 levels deep/);
  });

  t.test('bad rollback requests', async (t) => {
    for (const body of [{}, { version: 1 }, { version: 0, reason: 'x' }, { version: 1, reason: '' }, { version: '1', reason: 'x' }, { version: 1, reason: 'x', force: 'yes' }]) {
      const response = await post('/states/app/rollback', body);
      t.equal(response.status, 400, JSON.stringify(body));
      t.match(await response.json(), { error: 'invalid_rollback' });
    }
    t.equal((await post('/states/app/rollback', { version: 99, reason: 'x' })).status, 404);
    const notJson = await server.request('/states/app/rollback', { method: 'POST', body: 'version=1' });
    t.equal(notJson.status, 400);
  });

  t.test('audit trail of a state: every event with who, where, how', async (t) => {
    const events = await json(await server.request('/states/app/events?limit=2'));
    const list = events.events as Array<Record<string, unknown>>;
    t.same(list.map((e) => e.type), ['StateLocked', 'StatePushed']);
    t.match(list[0], { stream_version: 1, actor: USER, remote_address: '127.0.0.1', user_agent: 'Go-http-client/1.1', request_id: String, lock_id: lock.ID, hash: /^[0-9a-f]{64}$/ });
    t.equal(events.next, 2);
    const rest = await json(await server.request(`/states/app/events?after=${events.next}`));
    t.equal((rest.events as unknown[]).length, 7);
    const all = (rest.events as Array<{ stream_version: number }>).map((e) => e.stream_version);
    const newest = await json(await server.request('/states/app/events?order=newest&limit=4'));
    t.strictSame((newest.events as Array<{ stream_version: number }>).map((e) => e.stream_version), [9, 8, 7, 6], 'newest first');
    t.equal(newest.next, 6);
    const older = await json(await server.request(`/states/app/events?before=${newest.next}&limit=4`));
    t.strictSame((older.events as Array<{ stream_version: number }>).map((e) => e.stream_version), [5, 4, 3, 2]);
    const oldest = await json(await server.request(`/states/app/events?before=${older.next}&limit=1`));
    t.strictSame([(oldest.events as Array<{ stream_version: number }>).map((e) => e.stream_version), oldest.next], [[1], null], 'the first event ends the newest-first pages');
    t.strictSame(all, [3, 4, 5, 6, 7, 8, 9]);
    const table = await (await server.request('/states/app/events', { headers: { accept: 'text/plain' } })).text();
    t.match(table.split('\n')[0], /^POSITION\s+STATE\s+VERSION\s+TYPE\s+TIME\s+ACTOR\s+ADDRESS\s+USER AGENT\s+REQUEST ID\s+LOCK ID/);
    t.equal((await server.request('/states/nothing/events')).status, 404);
  });

  t.test('the global feed pages through every event in commit order', async (t) => {
    const seen: number[] = [];
    let after = 0;
    for (let page = 0; page < 100; page++) {
      const body = await json(await server.request(`/events?after=${after}&limit=7`));
      const events = body.events as Array<{ position: number }>;
      if (events.length === 0) break;
      seen.push(...events.map((e) => e.position));
      after = body.next as number;
    }
    const { rows } = await server.db.pool.query('SELECT global_position FROM events ORDER BY global_position');
    t.same([...seen].sort((a, b) => a - b), rows.map((r) => r.global_position), 'every event exactly once');
    t.strictSame(await json(await server.request('/events?after=999999')), { events: [], next: 999999 }, 'a position not written yet: an empty page');
  });

  t.test('a long poll on the feed answers when the next event commits', async (t) => {
    const { next } = await json(await server.request('/events?after=0&limit=1000'));
    const started = Date.now();
    const waiting = server.request(`/events?after=${next}&wait=30`);
    await new Promise((r) => setTimeout(r, 300));
    await defaultClient(server.baseUrl, 'tail').put(terraformState(1));
    const body = await json(await waiting);
    t.match(body.events, [{ state: 'tail', type: 'StatePushed' }]);
    t.ok(Date.now() - started < 30_000, 'well before its deadline');
    const quiet = await json(await server.request(`/events?after=${body.next}&wait=1`));
    t.same(quiet.events, [], 'nothing new: an empty page once the wait is over');
    t.equal((await server.request('/events?wait=61')).status, 400);
  });

  t.test('a cursor the feed has not reached yet waits until it is final', async (t) => {
    const blocker = await server.db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()'); // an older transaction, still running
      await defaultClient(server.baseUrl, 'late').put(terraformState(1));
      const events = await json(await server.request('/states/late/events'));
      const position = (events.events as Array<{ position: number }>)[0]?.position;
      const early = await server.request(`/events?after=${position}`);
      t.strictSame([early.status, await early.json()], [200, { events: [], next: position }], 'an empty page that keeps the cursor');
      const feed = await json(await server.request('/events?after=0&limit=1000'));
      t.notOk((feed.events as Array<{ position: number }>).some((e) => e.position === position), 'the feed holds it back too');
      const waiting = server.request(`/events?after=${position}&wait=30`);
      await new Promise((r) => setTimeout(r, 300));
      await blocker.query('COMMIT');
      await defaultClient(server.baseUrl, 'after-late').put(terraformState(1));
      const answer = await json(await waiting);
      t.match(answer.events, [{ state: 'after-late', type: 'StatePushed' }], 'the long poll answers once the cursor is final and something follows it');
    } finally {
      blocker.release();
    }
  });
});

t.test('point in time', async (t) => {
  const server = await startServer(t);
  const c = defaultClient(server.baseUrl, 'pit');
  const instant = async () => {
    await new Promise((r) => setTimeout(r, 15));
    const at = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 15));
    return at;
  };
  const before = await instant();
  await c.put(terraformState(1));
  const afterFirst = await instant();
  const lock = newLockInfo();
  await c.lock(lock);
  await c.put(terraformState(2));
  const whileLocked = await instant();
  await c.unlock();
  await c.delete();
  const afterDelete = await instant();

  t.equal((await server.request(`/states/pit?at=${before}`)).status, 404, 'did not exist yet');
  t.same(await bytes(await server.request(`/states/pit?at=${afterFirst}`)), terraformState(1));
  t.same(await bytes(await server.request(`/states/pit?at=${whileLocked}`)), terraformState(2));
  t.equal((await server.request(`/states/pit?at=${afterDelete}`)).status, 404, 'deleted then');

  t.equal((await server.request(`/states/pit/lock?at=${afterFirst}`)).status, 404);
  t.match(await (await server.request(`/states/pit/lock?at=${whileLocked}`)).json(), { ID: lock.ID, acquired_by: USER });
  t.equal((await server.request(`/states/pit/lock?at=${afterDelete}`)).status, 404);

  const versionsThen = await json(await server.request(`/states/pit/versions?at=${afterFirst}`));
  t.same(versionsThen.versions.map((v) => v.version), [1]);
  t.equal((await server.request('/states/pit?at=yesterday')).status, 400);
  t.equal((await server.request('/states/pit?at=2026-11-25T08:00:00')).status, 400, 'an offset is required');
});
