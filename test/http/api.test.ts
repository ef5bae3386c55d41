import t from 'tap';
import { defaultClient, md5Base64, newLockInfo, stateDocument } from '../support/go-client.js';
import { startServer, USER } from '../support/server.js';

t.test('JSON API', async (t) => {
  const server = await startServer(t);
  const net = defaultClient(server.baseUrl, 'net');
  const lock = newLockInfo({ Who: 'ci@runner', Operation: 'OperationTypeApply' });
  await net.lock(lock);
  for (let serial = 1; serial <= 5; serial++) await net.put(stateDocument(serial));
  await defaultClient(server.baseUrl, 'dns').put(stateDocument(1, 'dns-lineage'));
  const asBob = { username: 'bob', password: 'hunter2' };
  await defaultClient(server.baseUrl, 'dns', asBob).put(stateDocument(2, 'dns-lineage'));
  const bobsLock = newLockInfo({ Who: 'bob@laptop', Operation: 'OperationTypePlan' });
  await defaultClient(server.baseUrl, 'held', asBob).lock(bobsLock);
  await defaultClient(server.baseUrl, 'gone').put(stateDocument(1));
  await defaultClient(server.baseUrl, 'gone').delete();

  t.test('GET /states lists states with version, size, time, who wrote the current version and lock summary', async (t) => {
    const body = (await (await server.request('/states')).json()) as { states: Array<Record<string, unknown> & { updated_at: string | null; lock: { acquired_at: string } | null }> };
    const time = (text: string | null) => (text === null ? null : Number.isFinite(Date.parse(text)) ? 'a time' : text);
    const listed = body.states.map((s) => ({ ...s, updated_at: time(s.updated_at), lock: s.lock === null ? null : { ...s.lock, acquired_at: time(s.lock.acquired_at) } }));
    t.strictSame(listed, [
      { name: 'dns', version: 2, size: stateDocument(2, 'dns-lineage').length, updated_at: 'a time', updated_by: 'user:bob', who: null, lock: null },
      {
        name: 'held',
        version: null,
        size: null,
        updated_at: null,
        updated_by: null,
        who: null,
        lock: { id: bobsLock.ID, who: 'bob@laptop', operation: 'OperationTypePlan', acquired_at: 'a time', acquired_by: 'user:bob' },
      },
      {
        name: 'net',
        version: 5,
        size: stateDocument(5).length,
        updated_at: 'a time',
        updated_by: `user:${USER}`,
        who: 'ci@runner',
        lock: { id: lock.ID, who: 'ci@runner', operation: 'OperationTypeApply', acquired_at: 'a time', acquired_by: `user:${USER}` },
      },
    ], 'deleted states are not listed; dns was last written by bob, without a lock; held has a lock and no body');
  });

  t.test('GET /states/NAME/lock shows the LockInfo plus when and by whom', async (t) => {
    const held = await (await server.request('/states/net/lock')).json();
    t.match(held, { ...lock, acquired_by: USER, acquired_at: String });
    const none = await server.request('/states/dns/lock');
    t.equal(none.status, 404);
    t.match(await none.json(), { error: 'not_found' });
  });

  t.test('GET /states/NAME/versions: newest first, our own sequence, full entries', async (t) => {
    const body = await (await server.request('/states/net/versions')).json();
    t.same(
      body.versions.map((v: { version: number; serial: number }) => [v.version, v.serial]),
      [5, 4, 3, 2, 1].map((n) => [n, n]),
    );
    const doc = stateDocument(5);
    t.match(body.versions[0], {
      version: 5,
      serial: 5,
      lineage: 'c0ffee00-0000-4000-8000-000000000001',
      terraform_version: '1.9.8',
      size: doc.length,
      sha256: /^[0-9a-f]{64}$/,
      md5: md5Base64(doc),
      created_at: String,
      created_by: USER,
      lock_id: lock.ID,
    });
    t.equal(body.next, null);
  });

  t.test('versions page with limit and before', async (t) => {
    const first = await (await server.request('/states/net/versions?limit=2')).json();
    t.same(first.versions.map((v: { version: number }) => v.version), [5, 4]);
    t.equal(first.next, 4);
    const second = await (await server.request(`/states/net/versions?limit=2&before=${first.next}`)).json();
    t.same(second.versions.map((v: { version: number }) => v.version), [3, 2]);
    const bad = await server.request('/states/net/versions?limit=zero');
    t.equal(bad.status, 400);
    t.match(await bad.json(), { error: 'invalid_query' });
  });

  t.test('GET /states/NAME/versions/V returns exactly that version', async (t) => {
    for (const v of [1, 3, 5]) {
      const reply = await server.request(`/states/net/versions/${v}`);
      t.equal(reply.status, 200);
      t.same(Buffer.from(await reply.arrayBuffer()), stateDocument(v));
      t.equal(reply.headers.get('content-md5'), md5Base64(stateDocument(v)));
    }
    t.equal((await server.request('/states/net/versions/6')).status, 404);
    t.equal((await server.request('/states/net/versions/0')).status, 400);
    t.equal((await server.request('/states/nothing/versions')).status, 404);
  });

  t.test('If-None-Match with the ETag answers 304', async (t) => {
    const first = await server.request('/states/net');
    const etag = first.headers.get('etag') ?? '';
    const again = await server.request('/states/net', { headers: { 'if-none-match': etag } });
    t.equal(again.status, 304);
  });

  t.test('unknown routes are JSON 404s', async (t) => {
    const reply = await server.request('/nope');
    t.equal(reply.status, 404);
    t.match(await reply.json(), { error: 'not_found' });
  });

  t.test('events carry the actor, address, user agent and request id', async (t) => {
    await server.request('/states/dns', {
      method: 'DELETE',
      headers: { 'x-request-id': 'trace-123', 'user-agent': 'curl/8' },
    });
    const { rows } = await server.db.pool.query("SELECT metadata FROM events WHERE type = 'StateDeleted' AND stream_id = 'dns'");
    t.strictSame(rows[0].metadata, { actor: `user:${USER}`, remote_address: '127.0.0.1', user_agent: 'curl/8', request_id: 'trace-123' });
  });
});

t.test('behind a trusted proxy the audit trail records the client, not the proxy', async (t) => {
  const server = await startServer(t, { trustProxy: 'loopback' });
  await server.request('/states/proxied/lock', { method: 'POST', body: JSON.stringify({ ID: 'L' }), headers: { 'x-forwarded-for': '203.0.113.7' } });
  const { rows } = await server.db.pool.query("SELECT metadata->>'remote_address' AS address FROM events WHERE stream_id = 'proxied'");
  t.same(rows, [{ address: '203.0.113.7' }]);
  const direct = await startServer(t);
  await direct.request('/states/direct/lock', { method: 'POST', body: JSON.stringify({ ID: 'L' }), headers: { 'x-forwarded-for': '203.0.113.7' } });
  const untrusted = await direct.db.pool.query("SELECT metadata->>'remote_address' AS address FROM events WHERE stream_id = 'direct'");
  t.same(untrusted.rows, [{ address: '127.0.0.1' }], 'without TRUST_PROXY the header is ignored');
});
