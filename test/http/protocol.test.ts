import t from 'tap';
import { defaultClient, encryptedDocument, md5Base64, newLockInfo, seedStyleClient, stateDocument, type GoHttpClient } from '../support/go-client.js';
import { startServer, type TestServer } from '../support/server.js';

const json = (body: Buffer): unknown => JSON.parse(body.toString('utf8'));

/** Every protocol case runs in both client configurations: the defaults (LOCK/UNLOCK) and the seed's (POST .../lock). */
const dialects: Array<[string, (baseUrl: string, name: string) => GoHttpClient]> = [
  ['LOCK/UNLOCK on the state address', defaultClient],
  ['POST on /lock and /unlock', seedStyleClient],
];

t.test('protocol', async (t) => {
  const server: TestServer = await startServer(t);
  let n = 0;
  const fresh = () => `state-${++n}`;

  for (const [dialect, client] of dialects) {
    t.test(dialect, async (t) => {
      t.test('an unknown state reads as 404 with an empty body', async (t) => {
        const reply = await client(server.baseUrl, fresh()).get();
        t.equal(reply.status, 404);
        t.equal(reply.body.length, 0);
      });

      t.test('push then get returns exactly the bytes with Content-MD5 and ETag', async (t) => {
        const c = client(server.baseUrl, fresh());
        const doc = stateDocument(1);
        t.equal((await c.put(doc)).status, 200);
        const reply = await c.get();
        t.equal(reply.status, 200);
        t.same(reply.body, doc);
        t.equal(reply.headers.get('content-type'), 'application/json');
        t.equal(reply.headers.get('content-md5'), md5Base64(doc));
        t.match(reply.headers.get('etag'), /^"[0-9a-f]{64}"$/);
      });

      t.test('PUT as update_method works too', async (t) => {
        const name = fresh();
        const c = new (client(server.baseUrl, name).constructor as typeof GoHttpClient)({ ...client(server.baseUrl, name).options, updateMethod: 'PUT' });
        t.equal((await c.put(stateDocument(1))).status, 200);
        t.same((await c.get()).body, stateDocument(1));
      });

      t.test('lock, push with the lock, unlock', async (t) => {
        const c = client(server.baseUrl, fresh());
        t.same(await c.lock(newLockInfo()), { locked: true });
        t.equal((await c.put(stateDocument(2))).status, 200);
        t.equal((await c.unlock()).status, 200);
        t.same((await c.get()).body, stateDocument(2));
      });

      t.test('a push retried after its answer was lost is the same version, not a duplicate', async (t) => {
        const name = fresh();
        const c = client(server.baseUrl, name);
        t.strictSame(await c.lock(newLockInfo()), { locked: true });
        const first = await c.put(stateDocument(1));
        const retry = await c.put(stateDocument(1)); // go-retryablehttp re-sends the same bytes under the same lock
        t.equal(retry.status, 200);
        t.strictSame(JSON.parse(retry.body.toString()), JSON.parse(first.body.toString()), 'answered with the version already stored');
        const versions = await (await server.request(`/states/${name}/versions`)).json();
        t.strictSame(versions.versions.map((v: { version: number }) => v.version), [1], 'one version');
        const { rows } = await server.db.pool.query("SELECT count(*)::int AS n FROM events WHERE stream_id = $1 AND type = 'StatePushed'", [name]);
        t.equal(rows[0].n, 1, 'one event');
        t.equal(JSON.parse((await c.put(stateDocument(2))).body.toString()).version, 2, 'other bytes are a new version');
        t.equal(JSON.parse((await c.put(stateDocument(1))).body.toString()).version, 3, 'earlier bytes again are a new version too');
      });

      t.test('a lock retried with the same ID succeeds again', async (t) => {
        const c = client(server.baseUrl, fresh());
        const info = newLockInfo();
        t.same(await c.lock(info), { locked: true });
        t.same(await c.lock(info), { locked: true });
        t.equal((await c.put(stateDocument(1))).status, 200);
      });

      t.test('another locker gets 423 and parses the holder ID from the body', async (t) => {
        const name = fresh();
        const holder = newLockInfo({ Who: 'holder@host', Operation: 'OperationTypePlan' });
        t.same(await client(server.baseUrl, name).lock(holder), { locked: true });
        const other = await client(server.baseUrl, name).lock(newLockInfo());
        t.match(other, { locked: false, status: 423, holderId: holder.ID });
        if (!other.locked) t.same(json(other.reply.body), holder);
      });

      t.test('push while someone else holds the lock: 423 with the holder, nothing stored', async (t) => {
        const name = fresh();
        const holder = newLockInfo();
        await client(server.baseUrl, name).lock(holder);
        const reply = await client(server.baseUrl, name).put(stateDocument(1));
        t.equal(reply.status, 423);
        t.equal((json(reply.body) as { ID: string }).ID, holder.ID);
        t.equal((await client(server.baseUrl, name).get()).status, 404);
      });

      t.test('push with a wrong lock ID is refused with 423', async (t) => {
        const name = fresh();
        await client(server.baseUrl, name).lock(newLockInfo());
        const reply = await server.request(`/states/${name}?ID=not-the-holder`, { method: 'POST', body: stateDocument(1).toString() });
        t.equal(reply.status, 423);
      });

      t.test('push with an ID after the lock was force-released: 409, nothing stored', async (t) => {
        const name = fresh();
        const c = client(server.baseUrl, name);
        t.same(await c.lock(newLockInfo()), { locked: true });
        t.equal((await client(server.baseUrl, name).unlock()).status, 200, 'force-unlock from a fresh client (empty body)');
        const reply = await c.put(stateDocument(5));
        t.equal(reply.status, 409);
        t.match(json(reply.body), { error: 'lock_lost', message: String });
        t.equal((await c.get()).status, 404);
      });

      t.test('unlock: retried is 200, another ID is 409 with the holder', async (t) => {
        const name = fresh();
        const c = client(server.baseUrl, name);
        const holder = newLockInfo();
        await c.lock(holder);
        const intruder = client(server.baseUrl, name);
        await intruder.lock(newLockInfo()); // fails, but leaves the intruder with no lock info
        const wrong = await intruder.forceUnlockOpenTofu('some-other-id');
        t.equal(wrong.status, 409);
        t.equal((json(wrong.body) as { ID: string }).ID, holder.ID);
        t.equal((await c.unlock()).status, 200);
        t.equal((await c.unlock()).status, 200, 'a retried unlock');
      });

      t.test('OpenTofu force-unlock with only the ID releases the lock', async (t) => {
        const name = fresh();
        const holder = newLockInfo();
        await client(server.baseUrl, name).lock(holder);
        t.equal((await client(server.baseUrl, name).forceUnlockOpenTofu(holder.ID)).status, 200);
        t.same(await client(server.baseUrl, name).lock(newLockInfo()), { locked: true });
      });

      t.test('delete: 200, then the state is absent but its history stays', async (t) => {
        const name = fresh();
        const c = client(server.baseUrl, name);
        await c.put(stateDocument(1));
        await c.put(stateDocument(2));
        t.equal((await c.delete()).status, 200);
        t.equal((await c.get()).status, 404);
        const versions = await (await server.request(`/states/${name}/versions`)).json();
        t.same(versions.versions.map((v: { version: number }) => v.version), [2, 1]);
        t.same(Buffer.from(await (await server.request(`/states/${name}/versions/1`)).arrayBuffer()), stateDocument(1));
        t.equal((await c.put(stateDocument(3))).status, 200, 'pushing again revives it');
        t.equal((await (await server.request(`/states/${name}/versions`)).json()).versions[0].version, 3);
      });

      t.test('delete while someone else holds the lock: 423; with the holder ID: 200', async (t) => {
        const name = fresh();
        const c = client(server.baseUrl, name);
        await c.put(stateDocument(1));
        const holder = newLockInfo();
        await c.lock(holder);
        t.equal((await client(server.baseUrl, name).delete()).status, 423);
        t.equal((await c.get()).status, 200);
        t.equal((await server.request(`/states/${name}?ID=${holder.ID}`, { method: 'DELETE' })).status, 200);
        t.equal((await c.get()).status, 404);
      });
    });
  }

  t.test('an OpenTofu-encrypted state is stored and returned byte for byte', async (t) => {
    const c = defaultClient(server.baseUrl, fresh());
    const doc = encryptedDocument(3);
    t.equal((await c.put(doc)).status, 200);
    t.same((await c.get()).body, doc);
  });

  t.test('Content-MD5 that does not match the body: 400, nothing stored', async (t) => {
    const name = fresh();
    const reply = await server.request(`/states/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-md5': md5Base64(Buffer.from('other')) },
      body: stateDocument(1).toString(),
    });
    t.equal(reply.status, 400);
    t.match(await reply.json(), { error: 'content_md5_mismatch', message: String });
    t.equal((await server.request(`/states/${name}`)).status, 404);
    const lock = await server.request(`/states/${name}/lock`, {
      method: 'POST',
      headers: { 'content-md5': md5Base64(Buffer.from('other')) },
      body: JSON.stringify(newLockInfo()),
    });
    t.equal(lock.status, 400, 'lock bodies are checked too');
  });

  t.test('bad bodies are 400 with a JSON error and store nothing', async (t) => {
    const name = fresh();
    const bodies: Array<[string, string]> = [
      ['', 'empty_body'],
      ['not json', 'invalid_state'],
      ['[1,2,3]', 'invalid_state'],
      ['{"version":4,"serial":1,"lineage":"x"', 'invalid_state'],
      ['{"hello":"world"}', 'invalid_state'],
    ];
    for (const [body, code] of bodies) {
      const reply = await server.request(`/states/${name}`, { method: 'POST', body });
      t.equal(reply.status, 400, JSON.stringify(body));
      t.match(await reply.json(), { error: code, message: String });
    }
    t.equal((await server.request(`/states/${name}/versions`)).status, 404);
  });

  t.test('bad lock bodies are 400', async (t) => {
    const name = fresh();
    for (const body of ['', '{}', '{"ID":""}', '{"ID":7}', 'nope', '[]']) {
      const reply = await server.request(`/states/${name}/lock`, { method: 'POST', body });
      t.equal(reply.status, 400, JSON.stringify(body));
      t.match(await reply.json(), { error: String, message: String });
    }
    t.equal((await server.request(`/states/${name}/lock`)).status, 404);
  });

  t.test('text PostgreSQL cannot store (NUL, unpaired surrogates) is refused with 400, not a retried 5xx', async (t) => {
    const name = fresh();
    for (const body of ['{"ID":"a\\u0000b"}', '{"ID":"x","Who":"\\ud800"}']) {
      const reply = await server.request(`/states/${name}/lock`, { method: 'POST', body });
      t.equal(reply.status, 400, body);
    }
    const state = '{"version":4,"serial":1,"lineage":"a\\u0000","terraform_version":"1.9.8"}';
    const pushed = await server.request(`/states/${name}`, { method: 'POST', body: state });
    t.equal(pushed.status, 400);
    t.match(await pushed.json(), { error: 'invalid_state', message: /NUL/ });
  });

  t.test('version numbers beyond PostgreSQL integers are 400', async (t) => {
    const name = fresh();
    await server.request(`/states/${name}`, { method: 'POST', body: stateDocument(1).toString() });
    for (const path of [`/states/${name}/versions/3000000000`, `/states/${name}/versions?before=3000000000`, `/states/${name}/diff?to=3000000000`]) {
      t.equal((await server.request(path)).status, 400, path);
    }
  });

  t.test('bad names are 400', async (t) => {
    for (const name of ['-leading-dash', '.hidden', 'a'.repeat(129), 'sp%20ace', 'semi%3Bcolon']) {
      const reply = await server.request(`/states/${name}`);
      t.equal(reply.status, 400, name);
      t.match(await reply.json(), { error: 'invalid_name' });
    }
    t.equal((await server.request(`/states/${'a'.repeat(128)}`)).status, 404, '128 characters is allowed');
  });

  t.test('an empty ?ID= is refused', async (t) => {
    const reply = await server.request(`/states/${fresh()}?ID=`, { method: 'POST', body: stateDocument(1).toString() });
    t.equal(reply.status, 400);
    t.match(await reply.json(), { error: 'invalid_lock_id' });
  });

  t.test('without credentials or with wrong ones: 401 with a Basic challenge', async (t) => {
    for (const authorization of [undefined, `Basic ${Buffer.from('alice:wrong').toString('base64')}`, 'Bearer x']) {
      const reply = await fetch(`${server.baseUrl}/states`, { headers: authorization === undefined ? {} : { authorization } });
      t.equal(reply.status, 401);
      t.equal(reply.headers.get('www-authenticate'), 'Basic realm="state-ledger", charset="UTF-8"');
    }
    const health = await fetch(`${server.baseUrl}/healthz`);
    t.equal(health.status, 200, '/healthz needs no credentials');
    t.same(await health.json(), { status: 'ok', postgres: 'ok', blobs: 'ok' });
  });
});

t.test('bodies over MAX_STATE_BYTES are refused with 413 and store nothing', async (t) => {
  const server = await startServer(t, { maxStateBytes: 1000 });
  const big = stateDocument(1, 'lin', { padding: 'x'.repeat(2000) });
  const reply = await server.request('/states/big', { method: 'POST', body: big.toString() });
  t.equal(reply.status, 413);
  t.match(await reply.json(), { error: 'too_large' });
  t.equal((await server.request('/states/big')).status, 404);
  t.equal((await server.request('/states/big', { method: 'POST', body: stateDocument(1).toString() })).status, 200, 'a small one fits');
});
