import t, { type Test } from 'tap';
import { checkAnswer, runHostileCases, type ExpectedAnswer, type HostileRequest, type RawReply } from '../support/hostile.js';
import { basicAuth, PASSWORD, startServer, USER, type TestServer } from '../support/server.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const failed = (status: number, error: string, message: string) => ({ status, type: JSON_TYPE, body: JSON.stringify({ error, message }) });

/** The session cookie a sign-in set, as `name=value`, and its attributes. */
const cookieOf = (reply: Response): { pair: string; attributes: string[] } => {
  const header = reply.headers.get('set-cookie') ?? '';
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
  return { pair, attributes: attributes.map((a) => a.toLowerCase()).sort() };
};

const signIn = (server: TestServer, authorization: string) => fetch(`${server.baseUrl}/ui/session`, { method: 'POST', headers: { authorization } });
const asCookie = (server: TestServer, path: string, cookie: string, init: RequestInit = {}) =>
  fetch(`${server.baseUrl}${path}`, { ...init, headers: { cookie, ...(init.headers as Record<string, string> | undefined) } });

/** An API token with one grant, made by alice (an administrator). */
const tokenWith = async (server: TestServer, name: string, role: string, glob: string): Promise<string> => {
  const made = await server.request('/access/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const secret = String(((await made.json()) as { secret: string }).secret);
  const granted = await server.request('/access/grants', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role, subject: `token:${name}`, glob }) });
  if (granted.status !== 200) throw new Error(`grant: ${granted.status}`);
  return secret;
};

t.test('console sessions: signed in with a password or a token, kept in PostgreSQL, honoured by the API, ended by sign-out or revocation', async (t) => {
  const server = await startServer(t);
  const { pool } = server.db;
  t.equal((await server.request('/states/app', { method: 'POST', body: '{"version":4,"serial":1,"lineage":"l","outputs":{},"resources":[]}' })).status, 200);

  const reply = await signIn(server, basicAuth(USER, PASSWORD));
  t.equal(reply.status, 200);
  const body = (await reply.json()) as Record<string, unknown>;
  t.strictSame({ ...body, expires_at: typeof body.expires_at }, { actor: 'user:alice', grants: [{ role: 'admin', glob: '*' }], expires_at: 'string' });
  t.ok(Math.abs(Date.parse(String(body.expires_at)) - Date.now() - 12 * 3600_000) < 60_000, 'it lasts 12 hours');
  const cookie = cookieOf(reply);
  t.match(cookie.pair, /^state_ledger_session=sls_[A-Za-z0-9_-]{43}$/);
  t.strictSame(cookie.attributes.map((a) => a.replace(/^(expires|max-age)=.*/, '$1=')), ['expires=', 'httponly', 'max-age=', 'path=/', 'samesite=strict'], 'HttpOnly, SameSite=Strict, no Secure over plain HTTP');
  const stored = await pool.query('SELECT subject_kind, subject FROM console_sessions');
  t.strictSame(stored.rows, [{ subject_kind: 'user', subject: 'alice' }], 'kept in PostgreSQL: the subject, never the secret');
  t.notMatch(JSON.stringify((await pool.query('SELECT * FROM console_sessions')).rows), cookie.pair.split('=')[1] ?? 'x', 'the secret itself is not stored');

  const me = await asCookie(server, '/ui/session', cookie.pair);
  t.strictSame([me.status, await me.json()], [200, { actor: 'user:alice', grants: [{ role: 'admin', glob: '*' }] }]);
  const states = await asCookie(server, '/states', cookie.pair);
  t.equal(states.status, 200, 'the JSON API takes the session');
  t.strictSame(((await states.json()) as { states: Array<{ name: string }> }).states.map((s) => s.name), ['app']);
  const lock = await asCookie(server, '/states/app/lock', cookie.pair, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ID":"console-1"}' });
  t.equal(lock.status, 200, 'and acts as the user');
  const [locked] = (await (await server.request('/states/app/events')).json() as { events: Array<{ type: string; actor: string }> }).events.slice(-1);
  t.strictSame([locked?.type, locked?.actor], ['StateLocked', 'user:alice'], 'the event names the user, as a password sign-in would');

  const foreign = await asCookie(server, '/states/app/unlock', cookie.pair, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{"ID":"console-1"}' });
  t.equal(foreign.status, 403, 'a state-changing request from another site is refused, cookie or not');

  const out = await asCookie(server, '/ui/session', cookie.pair, { method: 'DELETE' });
  t.strictSame([out.status, await out.json()], [200, { signed_out: true }]);
  t.match(out.headers.get('set-cookie') ?? '', /^state_ledger_session=; .*Expires=Thu, 01 Jan 1970/, 'the cookie is cleared');
  t.strictSame((await pool.query('SELECT count(*)::int AS n FROM console_sessions')).rows, [{ n: 0 }]);
  const after = await asCookie(server, '/states', cookie.pair);
  t.strictSame([after.status, after.headers.get('www-authenticate'), await after.json()], [
    401,
    null,
    { error: 'unauthorized', message: 'the credentials were refused: the console session expired or was signed out; sign in again' },
  ], 'a signed-out session opens nothing, and asks for no Basic dialog');

  const readerToken = await tokenWith(server, 'reader', 'read', 'app');
  const asToken = await signIn(server, `Bearer ${readerToken}`);
  t.equal(asToken.status, 200);
  const tokenCookie = cookieOf(asToken).pair;
  t.strictSame((await pool.query('SELECT subject_kind FROM console_sessions')).rows, [{ subject_kind: 'token' }]);
  t.strictSame(await (await asCookie(server, '/ui/session', tokenCookie)).json(), { actor: 'token:reader', grants: [{ role: 'read', glob: 'app' }] });
  const refused = await asCookie(server, '/states/app/lock', tokenCookie, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ID":"x"}' });
  t.equal(refused.status, 403, "a reader's session cannot lock: the same roles as the API");
  t.equal((await server.request('/access/tokens/reader', { method: 'DELETE' })).status, 200, 'the token revoked');
  const revoked = await asCookie(server, '/ui/session', tokenCookie);
  t.strictSame([revoked.status, ((await revoked.json()) as { message: string }).message], [401, 'the credentials were refused: the API token of this console session was revoked or expired; sign in again'], 'its sessions end with it');

  await pool.query("UPDATE console_sessions SET expires_at = now() - interval '1 second'");
  const again = await signIn(server, basicAuth(USER, PASSWORD));
  t.equal(again.status, 200);
  t.strictSame((await pool.query('SELECT count(*)::int AS n FROM console_sessions')).rows, [{ n: 1 }], 'a sign-in drops the expired sessions');
  await pool.query("UPDATE console_sessions SET expires_at = now() - interval '1 second'");
  await new Promise((resolve) => setTimeout(resolve, 1100)); // past the second a process trusts what it read
  t.equal((await asCookie(server, '/ui/session', cookieOf(again).pair)).status, 401, 'an expired session opens nothing');
});

t.test('hostile input on /ui/session', async (t) => {
  const server = await startServer(t);
  const live = cookieOf(await signIn(server, basicAuth(USER, PASSWORD))).pair;
  const unsupported = failed(400, 'unsupported_sign_in', 'sign in to the console with a user name and password, or with an API token');
  const ended = (reason: string) => ({ status: 401, type: JSON_TYPE, body: JSON.stringify({ error: 'unauthorized', message: `the credentials were refused: ${reason}; sign in again` }) });
  const req = (extra: Partial<HostileRequest>): HostileRequest => ({ method: 'POST', path: '/ui/session', ...extra });
  const cases: Array<{ kind: string; request: HostileRequest; expect: ExpectedAnswer }> = [
    { kind: 'a wrong password', request: req({ auth: basicAuth(USER, 'wrong') }), expect: failed(401, 'unauthorized', 'the credentials were refused: the user name or password is wrong') },
    { kind: 'no credentials', request: req({ auth: null }), expect: { status: 401 } },
    { kind: 'a session cookie only (already signed in)', request: req({ auth: null, headers: [['Cookie', live]] }), expect: unsupported },
    { kind: 'an unknown token', request: req({ auth: `Bearer slt_${'A'.repeat(43)}` }), expect: failed(401, 'unauthorized', 'the credentials were refused: the token is unknown or was revoked') },
    { kind: 'a JWT-shaped bearer', request: req({ auth: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' }), expect: failed(401, 'unauthorized', 'the credentials were refused: this server accepts no OIDC tokens (no OIDC_ISSUERS configured)') },
    { kind: 'a forged session cookie', request: req({ method: 'GET', auth: null, headers: [['Cookie', `state_ledger_session=sls_${'B'.repeat(43)}`]] }), expect: ended('the console session expired or was signed out') },
    { kind: 'a malformed session cookie', request: req({ method: 'GET', auth: null, headers: [['Cookie', 'state_ledger_session=%00%ff"; x=y']] }), expect: ended('the console session cookie is not one this server makes') },
    { kind: 'a huge cookie header', request: req({ method: 'GET', auth: null, headers: [['Cookie', `a=${'x'.repeat(20_000)}`]] }), expect: { status: 431 } },
    { kind: 'many cookies, none ours', request: req({ method: 'GET', auth: null, headers: [['Cookie', Array.from({ length: 500 }, (_, i) => `c${i}=v`).join('; ')]] }), expect: { status: 401 } },
    { kind: 'a body with the sign-in (ignored, never read)', request: req({ auth: null, body: '{"user":"alice","password":"x"}', headers: [['Content-Type', 'application/json']] }), expect: { status: 401 } },
    { kind: 'from another site', request: req({ headers: [['Origin', 'https://evil.example']] }), expect: { status: 403 } },
    { kind: 'PUT', request: req({ method: 'PUT' }), expect: { status: 404 } },
  ];
  const snapshot = async () => (await server.db.pool.query('SELECT subject_kind, subject FROM console_sessions ORDER BY created_at')).rows;
  await runHostileCases(t, 'the cases', server.baseUrl, cases, {
    snapshot,
    check: (t: Test, reply: RawReply, c: (typeof cases)[number]) => {
      checkAnswer(t, reply, c.expect);
      t.equal(reply.headers['set-cookie'], undefined, 'no cookie set');
    },
    unchanged: 'the sessions',
    stillServing: async (t) => {
      t.equal((await asCookie(server, '/ui/session', live)).status, 200, 'the live session still works');
    },
  });
});

t.test("a password change ends the user's other console sessions, in every process; the session it was made through stays", async (t) => {
  const a = await startServer(t);
  const b = await startServer(t, { db: a.db }); // another process on the same database
  const json = { 'content-type': 'application/json' };
  const carol = (password: string) => basicAuth('carol', password);
  t.equal((await a.request('/access/users', { method: 'POST', headers: json, body: JSON.stringify({ name: 'carol', password: 'first password 1' }) })).status, 201);
  t.equal((await a.request('/access/grants', { method: 'POST', headers: json, body: JSON.stringify({ role: 'admin', subject: 'user:carol', glob: '*' }) })).status, 200);
  const through = cookieOf(await signIn(a, carol('first password 1'))).pair;
  const other = cookieOf(await signIn(a, carol('first password 1'))).pair;
  const onB = cookieOf(await signIn(b, carol('first password 1'))).pair;
  const token = cookieOf(await signIn(a, `Bearer ${await tokenWith(a, 'reader', 'read', '*')}`)).pair;
  const status = async (server: TestServer, cookie: string) => (await asCookie(server, '/ui/session', cookie)).status;
  const changed = { status: 401, message: 'the credentials were refused: the password of user carol was changed; sign in again' };
  const ended = async (server: TestServer, cookie: string) => {
    const reply = await asCookie(server, '/ui/session', cookie);
    return { status: reply.status, message: ((await reply.json()) as { message: string }).message };
  };

  // B reads carol (her old password), and 700 ms later the session she changes it through (carol
  // from memory): once B reads carol again, it still remembers that session on the old password.
  await new Promise((resolve) => setTimeout(resolve, 1100)); // B forgets what its sign-in read
  t.equal(await status(b, onB), 200);
  const carolRead = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(await status(b, through), 200);
  const put = await asCookie(a, '/access/users/carol/password', through, { method: 'PUT', headers: json, body: JSON.stringify({ password: 'second password 2' }) });
  t.strictSame([put.status, await put.json()], [200, { name: 'carol' }]);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, carolRead + 1050 - Date.now()))); // past the second B trusts what it read of carol
  t.strictSame([await status(b, through), await ended(b, onB), await status(b, token)], [200, changed, 200], 'on B: the session it was changed through stays, her other one ends, a token session is untouched');
  t.strictSame([await status(a, through), await ended(a, other), await status(a, token)], [200, changed, 200], 'on A alike');
  t.equal((await signIn(a, carol('first password 1'))).status, 401, 'the old password opens nothing');
  const signedIn = await signIn(b, carol('second password 2'));
  t.equal(signedIn.status, 200, 'the new one opens a session');
  const fresh = cookieOf(signedIn).pair;

  const reset = await a.request('/access/users/carol/password', { method: 'PUT', headers: json, body: JSON.stringify({ password: 'third password 3' }) });
  t.equal(reset.status, 200, 'an administrator sets her password');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  t.strictSame([await ended(a, through), await ended(b, fresh), await status(b, token)], [changed, changed, 200], 'every session of hers ends');
});
