import t from 'tap';
import { oidcVerifier } from '../../src/identity/oidc.js';
import { capturedLogger } from '../support/log-capture.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { startOidcIssuer, TEST_AUDIENCE } from '../support/oidc-issuer.js';
import { basicAuth, startServer, type TestServer } from '../support/server.js';

/** The edges a hostile review found: each answer exact, and what it must leave unchanged. */

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

const tokenFor = async (server: TestServer, name: string, role: string, glob: string): Promise<string> => {
  const created = await server.request('/access/tokens', json({ name }));
  const { secret } = (await created.json()) as { secret: string };
  t.equal((await server.request('/access/grants', json({ role, subject: `token:${name}`, glob }))).status, 200);
  return secret;
};

t.test('password guesses sent in parallel are counted as they start: no more than the limit are ever checked', async (t) => {
  const server = await startServer(t);
  t.equal((await server.request('/access/users', json({ name: 'carol', password: 'carol-password-1' }))).status, 201);
  const guesses = await Promise.all(
    Array.from({ length: 30 }, (_, i) => fetch(`${server.baseUrl}/states`, { headers: { authorization: basicAuth('carol', `guess-${i}`) } })),
  );
  const statuses = guesses.map((reply) => reply.status).sort();
  t.strictSame(statuses.filter((s) => s === 401).length, 10, 'ten were checked');
  t.strictSame(statuses.filter((s) => s === 429).length, 20, 'the rest refused before any check');
  t.equal((await fetch(`${server.baseUrl}/states`, { headers: { authorization: basicAuth('bob', 'hunter2') } })).status, 200, 'another user signs in from the same address');
});

t.test('valid credentials in parallel are never throttled: only failures count', async (t) => {
  const server = await startServer(t);
  const secret = await tokenFor(server, 'busy', 'read', '*');
  t.equal((await server.request('/access/users', json({ name: 'dora', password: 'dora-password-12' }))).status, 201);
  t.equal((await server.request('/access/grants', json({ role: 'read', subject: 'user:dora', glob: '*' }))).status, 200);
  const burst = (authorization: string) => Promise.all(Array.from({ length: 40 }, () => fetch(`${server.baseUrl}/states`, { headers: { authorization } })));
  t.strictSame([...new Set((await burst(`Bearer ${secret}`)).map((r) => r.status))], [200], '40 token requests at once');
  t.strictSame([...new Set((await burst(basicAuth('dora', 'dora-password-12'))).map((r) => r.status))], [200], '40 password requests at once (checked once, then remembered)');
});

t.test('a lock is held by the identity that took it: knowing its ID lets no other writer push, lock or unlock under it', async (t) => {
  const server = await startServer(t);
  const first = await tokenFor(server, 'first', 'write', 'team-*');
  const second = await tokenFor(server, 'second', 'write', 'team-*');
  const holder = defaultClient(server.baseUrl, 'team-net', { username: 'token', password: first });
  const lock = newLockInfo({ Who: 'first@ci' });
  t.strictSame(await holder.lock(lock), { locked: true });
  const intruder = { authorization: `Bearer ${second}` };
  const pushed = await fetch(`${server.baseUrl}/states/team-net?ID=${lock.ID}`, { method: 'POST', body: stateDocument(1).toString(), headers: intruder });
  t.strictSame([pushed.status, await pushed.json()], [423, lock], 'a push under its ID: 423 with the holder');
  const relocked = await fetch(`${server.baseUrl}/states/team-net/lock`, { method: 'POST', body: JSON.stringify(lock), headers: intruder });
  t.strictSame([relocked.status, await relocked.json()], [423, lock], 'a "retry" of its lock: 423');
  const unlocked = await fetch(`${server.baseUrl}/states/team-net/unlock`, { method: 'POST', body: JSON.stringify(lock), headers: intruder });
  t.strictSame(unlocked.status, 403, 'its full LockInfo from another identity is a force-unlock, refused to a writer');
  t.strictSame((await holder.put(stateDocument(1))).status, 200, 'the holder pushes');
  t.strictSame((await holder.unlock()).status, 200, 'and unlocks');
  const versions = (await (await server.request('/states/team-net/versions')).json()) as { versions: Array<{ created_by: string }> };
  t.strictSame(versions.versions.map((v) => v.created_by), ['token:first'], 'only the holder wrote');
});

t.test('the last access administrator cannot be removed', async (t) => {
  const server = await startServer(t);
  t.equal((await server.request('/access/users', json({ name: 'root', password: 'a-long-password-1' }))).status, 201);
  t.equal((await server.request('/access/grants', json({ role: 'admin', subject: 'user:root', glob: '*' }))).status, 200);
  const root = (path: string, init: RequestInit = {}) =>
    fetch(`${server.baseUrl}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: basicAuth('root', 'a-long-password-1') } });
  const lastAdmin = { error: 'last_administrator', message: 'this would leave nobody with admin on * (who may manage access); grant it to someone else first' };
  const revoked = await root('/access/grants', { method: 'DELETE', body: JSON.stringify({ role: 'admin', subject: 'user:root', glob: '*' }) });
  t.strictSame([revoked.status, await revoked.json()], [409, lastAdmin], 'revoking it');
  const removed = await root('/access/users/root', { method: 'DELETE' });
  t.strictSame([removed.status, await removed.json()], [409, lastAdmin], 'removing the user');
  const emptied = await root('/access/apply', { method: 'POST', body: '{}' });
  t.strictSame([emptied.status, await emptied.json()], [409, lastAdmin], 'applying an empty file');
  t.equal((await root('/access/grants')).status, 200, 'root still manages access');
  t.equal((await server.request('/access/users', json({ name: 'deputy', password: 'another-password-2' }))).status, 201);
  t.equal((await server.request('/access/grants', json({ role: 'admin', subject: 'user:deputy', glob: '*' }))).status, 200);
  t.equal((await root('/access/users/root', { method: 'DELETE' })).status, 200, 'with a second administrator, the first may go');
});

t.test('expiries past the year 9999 are refused as a client mistake, not a server failure', async (t) => {
  const server = await startServer(t);
  const forms = 'a duration such as 30d, 12h, 90m or 2w, or a future RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000';
  for (const expires of ['999999w', '9999-12-31T23:59:59-23:59']) {
    const reply = await server.request('/access/tokens', json({ name: 'far', expires }));
    t.strictSame([reply.status, await reply.json()], [400, { error: 'invalid_token', message: `expires must be ${forms}` }], expires);
  }
  const applied = await server.request('/access/apply', json({ tokens: [{ name: 'far', expires: '9999-12-31T23:59:59-23:59' }] }));
  t.strictSame(applied.status, 400);
  t.strictSame(((await (await server.request('/access/tokens')).json()) as { tokens: unknown[] }).tokens, [], 'no token was made');
});

t.test("a token given as the user name (swapped with 'token') is not written to the log", async (t) => {
  const log = capturedLogger();
  const server = await startServer(t, { logger: log.logger });
  const secret = await tokenFor(server, 'ci', 'read', '*');
  t.equal((await fetch(`${server.baseUrl}/states`, { headers: { authorization: basicAuth(secret, 'token') } })).status, 401);
  const failed = log.lines().filter((line) => line.msg === 'failed login');
  t.strictSame(failed.map((line) => line.user), ['(a token or JWT given as the user name: not logged)']);
  t.notOk(JSON.stringify(log.lines()).includes(secret), 'the secret appears nowhere in the log');
});

t.test('OIDC claim conditions match only claims the token carries, never inherited names', async (t) => {
  const issuer = await startOidcIssuer(t);
  const server = await startServer(t, { oidc: oidcVerifier([{ issuer: issuer.issuer, audience: [TEST_AUDIENCE], name: 'ci' }]) });
  t.equal((await server.request('/states/secret-prod', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  for (const claim of ['toString=', 'constructor=*', '__proto__=*', 'hasOwnProperty=*']) {
    t.equal((await server.request('/access/grants', json({ role: 'read', subject: `oidc:ci:${claim}`, glob: 'secret-prod' }))).status, 200);
  }
  const jwt = await issuer.sign({ sub: 'project:evil', project_path: 'evil/proj' });
  const read = await fetch(`${server.baseUrl}/states/secret-prod`, { headers: { authorization: `Bearer ${jwt}` } });
  t.strictSame(read.status, 404, 'no grant matched: the state is not even visible');
});

t.test('GET /states/NAME/outputs keeps every digit of the outputs', async (t) => {
  const server = await startServer(t);
  const outputs = '{"big":{"value":123456789012345678901,"type":"number"},"tiny":{"value":0.1000000000000000055511151231257827,"type":"number"}}';
  const body = `{"version":4,"terraform_version":"1.9.8","serial":3,"lineage":"l-1","outputs":${outputs},"resources":[]}`;
  t.equal((await server.request('/states/numbers', { method: 'POST', body })).status, 200);
  const reply = await server.request('/states/numbers/outputs');
  t.strictSame(reply.status, 200);
  t.strictSame(await reply.text(), `{"name":"numbers","version":1,"serial":3,"lineage":"l-1","outputs":${outputs}}`);
});

t.test('the global feed shows a reader only what it may look at, whatever cursor it gives', async (t) => {
  const server = await startServer(t);
  const reader = await tokenFor(server, 'reader', 'read', 'mine-*');
  t.equal((await server.request('/states/other', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  t.equal((await server.request('/states/mine-1', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  t.equal((await server.request('/states/other', { method: 'POST', body: stateDocument(2).toString() })).status, 200);
  const all = (await (await server.request('/events')).json()) as { events: Array<{ position: number; state: string }> };
  const hidden = all.events.find((e) => e.state === 'other');
  const mine = all.events.find((e) => e.state === 'mine-1');
  const as = async (after: number | string) => {
    const reply = await fetch(`${server.baseUrl}/events?after=${after}`, { headers: { authorization: `Bearer ${reader}` } });
    const body = (await reply.json()) as { events: Array<{ state: string }>; next: number };
    return [reply.status, body.events.map((e) => e.state), body.next];
  };
  // A position of another state is a place in the feed like any other, and shows nothing of that state.
  t.strictSame(await as(hidden?.position ?? 0), [200, ['mine-1'], mine?.position], "another state's position: only the reader's events after it");
  t.strictSame(await as(mine?.position ?? -1), [200, [], mine?.position], 'its own positions are cursors');
  const last = all.events[all.events.length - 1]?.position;
  t.strictSame(await as('now'), [200, [], last], "now: the ledger's last position, whoever's it is (no event of it shown)");
});
