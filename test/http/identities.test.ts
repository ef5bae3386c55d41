import { createHash } from 'node:crypto';
import https from 'node:https';
import { decodeJwt, type JWTPayload } from 'jose';
import t, { type Test } from 'tap';
import { loadTls } from '../../src/http/tls.js';
import { oidcVerifier } from '../../src/identity/oidc.js';
import { ACCESS_CACHE_MS } from '../../src/identity/authenticate.js';
import { makeCertificates, type CertificatePair } from '../support/certificates.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { capturedLogger } from '../support/log-capture.js';
import { startOidcIssuer, TEST_AUDIENCE } from '../support/oidc-issuer.js';
import { basicAuth, PASSWORD, startServer, USER, type ServerOptions, type TestServer } from '../support/server.js';
import { freshS3Config } from '../support/services.js';

/**
 * Identities and grants through the real app, on a real PostgreSQL and S3: OIDC tokens, API
 * tokens, database users, client certificates and `access apply`, including changes made on one
 * server process taking effect on another that shares the database once its access cache lapses.
 */

/** Many failed logins on purpose: keep them from tripping the per-address limit. */
const TRAFFIC = { loginFailuresPerMinute: 10_000 };

const ALICE = basicAuth(USER, PASSWORD);
const bearer = (secret: string): string => `Bearer ${secret}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the answer is JSON, else the text. */
  readonly body: unknown;
  readonly raw: Buffer;
}

/** One request with the Authorization header given (none when undefined); a Buffer body is sent as is, anything else as JSON. */
const call = async (baseUrl: string, method: string, path: string, auth?: string, body?: unknown): Promise<Reply> => {
  const headers: Record<string, string> = {};
  if (auth !== undefined) headers.authorization = auth;
  let payload: Buffer | undefined;
  if (body !== undefined) {
    payload = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(payload === undefined ? {} : { body: new Uint8Array(payload) }) });
  const raw = Buffer.from(await response.arrayBuffer());
  const json = (response.headers.get('content-type') ?? '').includes('json') && raw.length > 0;
  return { status: response.status, headers: response.headers, body: json ? (JSON.parse(raw.toString('utf8')) as unknown) : raw.toString('utf8'), raw };
};

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const pushed = (version: number, data: Buffer) => ({ version, sha256: sha256(data), size: data.length });

const HIDDEN = (name: string) => ({ error: 'not_found', message: `state ${name} does not exist, or this identity has no role on it` });
const FORBIDDEN = (needed: string, name: string, actor: string, has: string) => ({
  error: 'forbidden',
  message: `this needs the ${needed} role on state ${name}; ${actor} has ${has}`,
});
const REFUSED = (reason: string) => ({ error: 'unauthorized', message: `the credentials were refused: ${reason}` });
const WRONG_PASSWORD = REFUSED('the user name or password is wrong');

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Checks that `value` is an ISO time and answers it, so a whole body can then be compared with strictSame. */
const isoTime = (t: Test, value: unknown, what: string): string => {
  t.strictSame(typeof value === 'string' && ISO.test(value), true, `${what} is an ISO time (${String(value)})`);
  return String(value);
};

/** What a server read of users, tokens and grants it trusts for ACCESS_CACHE_MS: a change made through another is seen after that. */
const accessCacheLapse = () => sleep(ACCESS_CACHE_MS + 100);

/** Two server processes on one database and one bucket: what one changes, the other sees. */
const serverPair = async (t: Test, options: ServerOptions = {}): Promise<[TestServer, TestServer]> => {
  const s3 = freshS3Config();
  const first = await startServer(t, { ...options, s3, traffic: TRAFFIC });
  const second = await startServer(t, { ...options, s3, traffic: TRAFFIC, db: first.db });
  return [first, second];
};

interface EventJson {
  readonly type: string;
  readonly actor: string;
  readonly claims?: unknown;
}

const stateEvents = async (baseUrl: string, name: string, auth: string): Promise<EventJson[]> => {
  const reply = await call(baseUrl, 'GET', `/states/${name}/events`, auth);
  return (reply.body as { events: EventJson[] }).events;
};

t.test('OIDC tokens through the HTTP server', async (t) => {
  const issuer = await startOidcIssuer(t);
  const { logger, lines } = capturedLogger();
  const server = await startServer(t, {
    oidc: oidcVerifier([{ issuer: issuer.issuer, audience: [TEST_AUDIENCE], name: 'ci' }]),
    traffic: TRAFFIC,
    logger,
  });
  const base = server.baseUrl;
  const actor = `oidc:${issuer.issuer}`;

  const writeGrant = { role: 'write', subject: 'oidc:ci:project_path=platform/network,ref_protected=true', glob: 'prod-*' };
  const readGrant = { role: 'read', subject: 'oidc:ci:namespace_path=platform', glob: '*' };
  t.strictSame((await call(base, 'POST', '/access/grants', ALICE, writeGrant)).body, { ...writeGrant, changed: true }, 'the write grant is made');
  t.strictSame((await call(base, 'POST', '/access/grants', ALICE, readGrant)).body, { ...readGrant, changed: true }, 'the read grant is made');
  const again = await call(base, 'POST', '/access/grants', ALICE, readGrant);
  t.strictSame([again.status, again.body], [200, { ...readGrant, changed: false }], 'granting it again changes nothing');

  /** A GitLab CI job token of a protected branch of platform/network. */
  const pipeline = {
    sub: 'project_path:platform/network:ref_type:branch:ref:main',
    project_path: 'platform/network',
    namespace_path: 'platform',
    ref: 'main',
    ref_type: 'branch',
    ref_protected: 'true',
    pipeline_id: '4242',
    job_id: '977',
    user_email: 'someone@example.com',
  };
  const identifying = {
    sub: pipeline.sub,
    project_path: 'platform/network',
    namespace_path: 'platform',
    ref: 'main',
    ref_protected: 'true',
    ref_type: 'branch',
    pipeline_id: '4242',
    job_id: '977',
  };
  const jwt = await issuer.sign(pipeline);

  t.test('a token whose claims match the write grant locks and pushes (Bearer)', async (t) => {
    const lock = newLockInfo({ Who: 'gitlab-runner@ci' });
    const locked = await call(base, 'LOCK', '/states/prod-x', bearer(jwt), Buffer.from(JSON.stringify(lock)));
    t.strictSame([locked.status, locked.body], [200, lock], 'locked');
    const one = stateDocument(1);
    const push = await call(base, 'POST', `/states/prod-x?ID=${lock.ID}`, bearer(jwt), one);
    t.strictSame([push.status, push.body], [200, pushed(1, one)], 'pushed');
    const unlock = await call(base, 'UNLOCK', '/states/prod-x', bearer(jwt), Buffer.from(JSON.stringify(lock)));
    t.strictSame([unlock.status, unlock.body], [200, { released: true, forced: false }], 'unlocked');
    const read = await call(base, 'GET', '/states/prod-x', bearer(jwt));
    t.strictSame([read.status, read.raw.equals(one)], [200, true], 'reads it back');
  });

  t.test('the same token as the password of Basic user oidc, as Terraform sends it', async (t) => {
    const client = defaultClient(base, 'prod-x', { username: 'oidc', password: jwt });
    t.strictSame(await client.lock(newLockInfo()), { locked: true }, 'locked');
    const two = stateDocument(2);
    const put = await client.put(two);
    t.strictSame([put.status, JSON.parse(put.body.toString('utf8'))], [200, pushed(2, two)], 'pushed');
    t.strictSame((await client.unlock()).status, 200, 'unlocked');
    const get = await client.get();
    t.strictSame([get.status, get.body.equals(two)], [200, true], 'reads the new version');
  });

  t.test('the events name the issuer as actor and keep the identifying claims', async (t) => {
    const events = await stateEvents(base, 'prod-x', ALICE);
    t.strictSame(
      events.map((e) => [e.type, e.actor, e.claims]),
      [
        ['StateLocked', actor, identifying],
        ['StatePushed', actor, identifying],
        ['StateUnlocked', actor, identifying],
        ['StateLocked', actor, identifying],
        ['StatePushed', actor, identifying],
        ['StateUnlocked', actor, identifying],
      ],
      'every event: actor oidc:<issuer URL>, claims sub/project_path/ref/pipeline_id/... and nothing else',
    );
    const asOidc = await stateEvents(base, 'prod-x', bearer(jwt));
    t.strictSame(asOidc.length, 6, 'the token may read the events too');
  });

  t.test('claims that miss the write grant leave only the read grant', async (t) => {
    const unprotected = await issuer.sign({ ...pipeline, ref: 'feature', ref_protected: 'false' });
    const read = await call(base, 'GET', '/states/prod-x', bearer(unprotected));
    t.strictSame([read.status, read.raw.equals(stateDocument(2))], [200, true], 'reads prod-x through the namespace grant');
    const push = await call(base, 'POST', '/states/prod-x', bearer(unprotected), stateDocument(3));
    t.strictSame([push.status, push.body], [403, FORBIDDEN('write', 'prod-x', actor, 'read')], 'push: 403');
    const client = defaultClient(base, 'prod-x', { username: 'oidc', password: unprotected });
    const lock = await client.lock(newLockInfo());
    t.strictSame(
      lock.locked ? 'locked' : [lock.status, JSON.parse(lock.reply.body.toString('utf8'))],
      [403, FORBIDDEN('write', 'prod-x', actor, 'read')],
      'lock (Basic oidc): 403',
    );
    const denied = lines().filter((line) => line.msg === 'access denied' && line.state === 'prod-x');
    t.strictSame(
      denied.map((line) => [line.actor, line.needed, line.has, line.method]),
      [
        [actor, 'write', 'read', 'POST'],
        [actor, 'write', 'read', 'LOCK'],
      ],
      'each denial is logged with actor, needed and held role',
    );
  });

  t.test('bad tokens: 401 with a JSON error that says why', async (t) => {
    const refused = async (token: string, reason: string, what: string) => {
      for (const auth of [bearer(token), basicAuth('oidc', token)]) {
        const reply = await call(base, 'GET', '/states/prod-x', auth);
        t.strictSame([reply.status, reply.body], [401, REFUSED(reason)], `${what} (${auth.split(' ')[0]})`);
        t.strictSame(reply.headers.get('www-authenticate'), 'Basic realm="state-ledger", charset="UTF-8"', `${what}: WWW-Authenticate`);
      }
    };
    const expired = await issuer.sign(pipeline, { expiresIn: '-2m' });
    const exp = new Date(((decodeJwt(expired) as JWTPayload).exp ?? 0) * 1000).toISOString();
    await refused(expired, `the token expired at ${exp}; request a fresh one`, 'expired');
    await refused(
      await issuer.sign(pipeline, { audience: 'another-service' }),
      `the token's audience "another-service" is not one this server accepts ("${TEST_AUDIENCE}")`,
      'wrong audience',
    );
    await refused(await issuer.signWithForeignKey(pipeline), `the token's signature does not verify with the keys of OIDC issuer "ci"`, 'wrong signature');
    const early = await issuer.sign(pipeline, { notBefore: '10m' });
    const nbf = new Date(((decodeJwt(early) as JWTPayload).nbf ?? 0) * 1000).toISOString();
    await refused(early, `the token is not valid before ${nbf}; check the clocks`, 'not yet valid');
    await refused(await issuer.sign(pipeline, { expiresIn: null }), 'the token has no "exp" claim', 'no expiry');
    await refused(
      await issuer.sign(pipeline, { issuer: 'https://gitlab.elsewhere.example' }),
      `the token's issuer "https://gitlab.elsewhere.example" is not an OIDC issuer this server accepts`,
      'unknown issuer',
    );
  });

  t.test('a valid token with no grant at all sees no state', async (t) => {
    const stranger = await issuer.sign({ ...pipeline, project_path: 'marketing/site', namespace_path: 'marketing' });
    for (const name of ['prod-x', 'prod-never-made']) {
      const reply = await call(base, 'GET', `/states/${name}`, bearer(stranger));
      t.strictSame([reply.status, reply.body], [404, HIDDEN(name)], `${name}: 404, whether or not it exists`);
    }
    const push = await call(base, 'POST', '/states/prod-x', bearer(stranger), stateDocument(3));
    t.strictSame([push.status, push.body], [404, HIDDEN('prod-x')], 'a push: 404 too');
    t.strictSame((await call(base, 'GET', '/states', bearer(stranger))).body, { states: [] }, 'it lists no state');
    const manage = await call(base, 'GET', '/access/grants', bearer(jwt));
    t.strictSame(manage.status, 403, 'a writer may not manage access');
  });

  t.test('claim values in a grant may hold *, and boolean claims compare as text', async (t) => {
    const wild = { role: 'write', subject: 'oidc:ci:project_path=platform/*,ref_protected=true', glob: 'wild-*' };
    t.strictSame((await call(base, 'POST', '/access/grants', ALICE, wild)).body, { ...wild, changed: true }, 'granted');
    const storage = await issuer.sign({ ...pipeline, project_path: 'platform/storage', ref_protected: true });
    const one = stateDocument(1, 'eeeeeeee-0000-4000-8000-000000000001');
    const push = await call(base, 'POST', '/states/wild-1', bearer(storage), one);
    t.strictSame([push.status, push.body], [200, pushed(1, one)], 'platform/storage with ref_protected: true (a JSON boolean) pushes wild-1');
    const other = await issuer.sign({ ...pipeline, project_path: 'platformer/storage', ref_protected: true });
    const denied = await call(base, 'POST', '/states/wild-1', bearer(other), stateDocument(2, 'eeeeeeee-0000-4000-8000-000000000001'));
    t.strictSame([denied.status, denied.body], [403, FORBIDDEN('write', 'wild-1', actor, 'read')], 'platformer/storage does not match platform/*');
    const exact = { role: 'write', subject: `oidc:ci:sub=${pipeline.sub}`, glob: 'wild-*' };
    t.strictSame((await call(base, 'POST', '/access/grants', ALICE, exact)).body, { ...exact, changed: true }, 'a grant on a sub claim that holds colons');
    const bySub = await call(base, 'POST', '/states/wild-1', bearer(jwt), stateDocument(2, 'eeeeeeee-0000-4000-8000-000000000001'));
    t.strictSame(bySub.status, 200, 'the token with that sub pushes wild-1');
  });

  t.test('the global feed shows a reader the state events, and only a manager the access stream', async (t) => {
    const reader = await issuer.sign({ ...pipeline, ref_protected: 'false' });
    const feed = (await call(base, 'GET', '/events?limit=1000', bearer(reader))).body as { events: Array<{ state: string; type: string }> };
    t.strictSame(
      [...new Set(feed.events.map((e) => e.state))].sort(),
      ['prod-x', 'wild-1'],
      'a reader of * sees every state (dns-1 is not there yet), and no $access event',
    );
    const all = (await call(base, 'GET', '/events?limit=1000', ALICE)).body as { events: Array<{ state: string; type: string; actor: string; data: unknown }> };
    t.strictSame(
      all.events.filter((e) => e.state === '$access').map((e) => [e.type, e.actor, e.data]),
      [
        ['GrantAdded', 'user:alice', writeGrant],
        ['GrantAdded', 'user:alice', readGrant],
        ['GrantAdded', 'user:alice', { role: 'write', subject: 'oidc:ci:project_path=platform/*,ref_protected=true', glob: 'wild-*' }],
        ['GrantAdded', 'user:alice', { role: 'write', subject: `oidc:ci:sub=${pipeline.sub}`, glob: 'wild-*' }],
      ],
      'the manager sees the access events (granting twice made one)',
    );
  });

  t.test('a grant may name the issuer by its URL instead of its name', async (t) => {
    const byUrl = { role: 'write', subject: `oidc:${issuer.issuer}:project_path=platform/dns`, glob: 'dns-*' };
    t.strictSame((await call(base, 'POST', '/access/grants', ALICE, byUrl)).body, { ...byUrl, changed: true }, 'granted');
    const dns = await issuer.sign({ ...pipeline, project_path: 'platform/dns', ref_protected: 'false' });
    const one = stateDocument(1, 'dddddddd-0000-4000-8000-000000000001');
    const push = await call(base, 'POST', '/states/dns-1', bearer(dns), one);
    t.strictSame([push.status, push.body], [200, pushed(1, one)], 'pushes dns-1');
    const prod = await call(base, 'POST', '/states/prod-x', bearer(dns), stateDocument(3));
    t.strictSame([prod.status, prod.body], [403, FORBIDDEN('write', 'prod-x', actor, 'read')], 'but only reads prod-x');
    const events = await stateEvents(base, 'dns-1', ALICE);
    t.strictSame(
      events.map((e) => [e.type, e.actor, e.claims]),
      [['StatePushed', actor, { ...identifying, sub: pipeline.sub, project_path: 'platform/dns', ref_protected: 'false' }]],
      'the event names the issuer URL and the claims of the run',
    );
  });
});

t.test('API tokens: Bearer and Basic, last use, expiry and revocation across two servers', async (t) => {
  const [a, b] = await serverPair(t);
  const one = stateDocument(1);

  const created = await call(a.baseUrl, 'POST', '/access/tokens', ALICE, { name: 'deploy' });
  const secret = (created.body as { secret?: unknown }).secret;
  t.strictSame(typeof secret === 'string' && /^slt_[A-Za-z0-9_-]{43}$/.test(secret), true, 'the secret has the slt_ form');
  t.strictSame([created.status, created.body], [201, { name: 'deploy', secret, expires_at: null }], 'created on server A');
  const deploy = String(secret);
  const grant = { role: 'write', subject: 'token:deploy', glob: 'app-*' };
  t.strictSame((await call(a.baseUrl, 'POST', '/access/grants', ALICE, grant)).body, { ...grant, changed: true }, 'granted write on app-*');

  const listed = (await call(a.baseUrl, 'GET', '/access/tokens', ALICE)).body as { tokens: Array<Record<string, unknown>> };
  const createdAt = isoTime(t, listed.tokens[0]?.created_at, 'created_at');
  t.strictSame(
    listed,
    { tokens: [{ name: 'deploy', created_at: createdAt, created_by: 'user:alice', expires_at: null, last_used_at: null }] },
    'listed, never used, no secret',
  );

  const push = await call(b.baseUrl, 'POST', '/states/app-1', bearer(deploy), one);
  t.strictSame([push.status, push.body], [200, pushed(1, one)], 'pushes through server B as Bearer');
  const read = await call(b.baseUrl, 'GET', '/states/app-1', basicAuth('token', deploy));
  t.strictSame([read.status, read.raw.equals(one)], [200, true], 'reads through server B as Basic token:<secret>');
  const events = await stateEvents(a.baseUrl, 'app-1', ALICE);
  t.strictSame(events.map((e) => [e.type, e.actor, e.claims]), [['StatePushed', 'token:deploy', undefined]], 'the actor is token:deploy');

  let used: Record<string, unknown> | undefined;
  for (let i = 0; i < 40; i++) {
    used = ((await call(a.baseUrl, 'GET', '/access/tokens', ALICE)).body as { tokens: Array<Record<string, unknown>> }).tokens[0];
    if (used?.last_used_at !== null) break;
    await sleep(50);
  }
  const lastUsed = isoTime(t, used?.last_used_at, 'last_used_at');
  t.strictSame(used, { name: 'deploy', created_at: createdAt, created_by: 'user:alice', expires_at: null, last_used_at: lastUsed }, 'last_used_at is set after use');
  t.strictSame(Date.parse(lastUsed) >= Date.parse(createdAt), true, 'and is after the creation');

  const manage = await call(b.baseUrl, 'GET', '/access/tokens', bearer(deploy));
  t.strictSame(
    [manage.status, manage.body],
    [403, { error: 'forbidden', message: 'managing access needs the admin role on every state (a grant of admin on *); token:deploy has none' }],
    'a write token may not manage access',
  );
  const forged = `slt_${'A'.repeat(43)}`;
  const unknown = await call(b.baseUrl, 'GET', '/states/app-1', bearer(forged));
  t.strictSame([unknown.status, unknown.body], [401, REFUSED('the token is unknown or was revoked')], 'an unknown secret: 401');

  t.test('revoked on server A: refused by A on the next request, by B once its access cache lapses', async (t) => {
    const revoked = await call(a.baseUrl, 'DELETE', '/access/tokens/deploy', ALICE);
    t.strictSame([revoked.status, revoked.body], [200, { revoked: 'deploy', grants_revoked: 1 }], 'revoked with its grant');
    const atOnce = await call(a.baseUrl, 'GET', '/states/app-1', bearer(deploy));
    t.strictSame([atOnce.status, atOnce.body], [401, REFUSED('the token is unknown or was revoked')], 'A, at once');
    await accessCacheLapse();
    for (const [server, auth, what] of [
      [b, bearer(deploy), 'B, Bearer'],
      [b, basicAuth('token', deploy), 'B, Basic'],
      [a, bearer(deploy), 'A, Bearer'],
    ] as const) {
      const reply = await call(server.baseUrl, 'GET', '/states/app-1', auth);
      t.strictSame([reply.status, reply.body], [401, REFUSED('the token is unknown or was revoked')], what);
    }
    t.strictSame((await call(b.baseUrl, 'GET', '/access/tokens', ALICE)).body, { tokens: [] }, 'no longer listed');
    t.strictSame((await call(b.baseUrl, 'GET', '/access/grants', ALICE)).body, { grants: [] }, 'its grant is gone');
    const recreated = await call(a.baseUrl, 'POST', '/access/tokens', ALICE, { name: 'deploy' });
    const fresh = String((recreated.body as { secret?: unknown }).secret);
    t.strictSame([recreated.status, fresh === deploy], [201, false], 'the name can be used again, with a new secret');
    t.strictSame((await call(b.baseUrl, 'GET', '/states/app-1', bearer(deploy))).status, 401, 'the old secret stays dead');
    const noGrant = await call(b.baseUrl, 'GET', '/states/app-1', bearer(fresh));
    t.strictSame([noGrant.status, noGrant.body], [404, HIDDEN('app-1')], 'and the new token has no grant of the old one');
  });

  t.test('a token expires on time, on both servers', async (t) => {
    const expires = new Date(Date.now() + 3000).toISOString();
    const short = await call(a.baseUrl, 'POST', '/access/tokens', ALICE, { name: 'short', expires });
    const shortSecret = String((short.body as { secret?: unknown }).secret);
    t.strictSame([short.status, short.body], [201, { name: 'short', secret: shortSecret, expires_at: expires }], 'created, expiring in 3 s');
    await call(a.baseUrl, 'POST', '/access/grants', ALICE, { role: 'read', subject: 'token:short', glob: 'app-*' });
    const before = await call(b.baseUrl, 'GET', '/states/app-1', bearer(shortSecret));
    t.strictSame([before.status, before.raw.equals(one)], [200, true], 'works before it expires');
    await sleep(Math.max(0, Date.parse(expires) - Date.now()) + 100);
    for (const [server, auth, what] of [
      [b, bearer(shortSecret), 'B, Bearer'],
      [a, basicAuth('token', shortSecret), 'A, Basic'],
    ] as const) {
      const reply = await call(server.baseUrl, 'GET', '/states/app-1', auth);
      t.strictSame([reply.status, reply.body], [401, REFUSED(`the token expired at ${expires}`)], `${what}: refused once expired`);
    }
    const pastExpiry = await call(a.baseUrl, 'POST', '/access/tokens', ALICE, { name: 'past', expires: '2001-01-01T00:00:00Z' });
    t.strictSame(pastExpiry.status, 400, 'a token cannot be made already expired');
  });
});

t.test('users and grants changed while the servers run', async (t) => {
  const [a, b] = await serverPair(t);
  const state = stateDocument(1, 'aaaaaaaa-0000-4000-8000-000000000001');
  t.strictSame((await call(a.baseUrl, 'POST', '/states/a-1', ALICE, state)).status, 200, 'alice pushes a-1');
  const first = 'dave-first-password';
  const second = 'dave-second-password';
  const grant = { role: 'read', subject: 'user:dave', glob: 'a-*' };

  const added = await call(a.baseUrl, 'POST', '/access/users', ALICE, { name: 'dave', password: first });
  t.strictSame([added.status, added.body], [201, { name: 'dave' }], 'dave is added on A (no password answered: he chose one)');
  const noRole = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', first));
  t.strictSame([noRole.status, noRole.body], [404, HIDDEN('a-1')], 'logs in on B but has no role yet');

  t.strictSame((await call(a.baseUrl, 'POST', '/access/grants', ALICE, grant)).body, { ...grant, changed: true }, 'read on a-* granted on A');
  const grants = (await call(b.baseUrl, 'GET', '/access/grants', ALICE)).body as { grants: Array<Record<string, unknown>> };
  const grantedAt = isoTime(t, grants.grants[0]?.granted_at, 'granted_at');
  t.strictSame(grants, { grants: [{ ...grant, granted_at: grantedAt, granted_by: 'user:alice' }] }, 'B lists the grant');
  await accessCacheLapse();
  const reads = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', first));
  t.strictSame([reads.status, reads.raw.equals(state)], [200, true], 'dave reads a-1 on B once its access cache lapsed');
  const push = await call(b.baseUrl, 'POST', '/states/a-1', basicAuth('dave', first), stateDocument(2, 'aaaaaaaa-0000-4000-8000-000000000001'));
  t.strictSame([push.status, push.body], [403, FORBIDDEN('write', 'a-1', 'user:dave', 'read')], 'but may not push');
  t.strictSame(
    (await call(b.baseUrl, 'GET', '/states/b-1', basicAuth('dave', first))).body,
    HIDDEN('b-1'),
    'nor see states outside a-*',
  );

  const revoked = await call(a.baseUrl, 'DELETE', '/access/grants', ALICE, grant);
  t.strictSame([revoked.status, revoked.body], [200, { ...grant, revoked: true }], 'the grant is revoked on A');
  await accessCacheLapse();
  const hidden = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', first));
  t.strictSame([hidden.status, hidden.body], [404, HIDDEN('a-1')], 'the next request on B once its access cache lapsed: 404');
  const twice = await call(a.baseUrl, 'DELETE', '/access/grants', ALICE, grant);
  t.strictSame([twice.status, twice.body], [404, { error: 'not_found', message: 'user:dave has no read grant on a-*' }], 'revoking it again: 404');

  await call(a.baseUrl, 'POST', '/access/grants', ALICE, grant);
  const changed = await call(a.baseUrl, 'PUT', '/access/users/dave/password', ALICE, { password: second });
  t.strictSame([changed.status, changed.body], [200, { name: 'dave' }], 'the password is changed on A');
  await accessCacheLapse();
  const old = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', first));
  t.strictSame([old.status, old.body], [401, WRONG_PASSWORD], 'the old password: 401 on B, though B had just accepted it');
  const renewed = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', second));
  t.strictSame([renewed.status, renewed.raw.equals(state)], [200, true], 'the new one works on B');

  const removed = await call(a.baseUrl, 'DELETE', '/access/users/dave', ALICE);
  t.strictSame([removed.status, removed.body], [200, { removed: 'dave', grants_revoked: 1 }], 'dave is removed on A, with his grant');
  await accessCacheLapse();
  const gone = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', second));
  t.strictSame([gone.status, gone.body], [401, WRONG_PASSWORD], 'his password is refused on B');
  t.strictSame((await call(b.baseUrl, 'GET', '/access/grants', ALICE)).body, { grants: [] }, 'no grant is left');

  const readded = await call(a.baseUrl, 'POST', '/access/users', ALICE, { name: 'dave', password: second });
  t.strictSame([readded.status, readded.body], [201, { name: 'dave' }], 'dave is added again');
  await accessCacheLapse();
  const fresh = await call(b.baseUrl, 'GET', '/states/a-1', basicAuth('dave', second));
  t.strictSame([fresh.status, fresh.body], [404, HIDDEN('a-1')], 'his old grant did not come back');
  t.strictSame((await call(b.baseUrl, 'GET', '/access/grants', ALICE)).body, { grants: [] }, 'none is listed');

  const generated = await call(a.baseUrl, 'POST', '/access/users', ALICE, { name: 'frank' });
  const password = (generated.body as { password?: unknown }).password;
  t.strictSame([generated.status, generated.body], [201, { name: 'frank', password }], 'without a password, one is generated and answered');
  t.strictSame(typeof password === 'string' && password.length >= 12, true, 'a long one');
  t.strictSame((await call(b.baseUrl, 'GET', '/states', basicAuth('frank', String(password)))).body, { states: [] }, 'it works on B');

  const users = (await call(b.baseUrl, 'GET', '/access/users', ALICE)).body as { users: Array<Record<string, unknown>> };
  t.strictSame(
    users.users.map((u) => [u.name, u.has_password, u.updated_by]),
    [
      ['dave', true, 'user:alice'],
      ['frank', true, 'user:alice'],
    ],
    'GET /access/users lists them, without any hash',
  );
  const short = await call(a.baseUrl, 'POST', '/access/users', ALICE, { name: 'gina', password: 'short' });
  t.strictSame(
    [short.status, short.body],
    [400, { error: 'invalid_user', message: 'password must be text of 12 to 1024 characters' }],
    'a short password is refused',
  );
});

interface HttpsReply {
  readonly status?: number;
  readonly body?: Buffer;
  /** Why no answer came: the connection was refused or dropped. */
  readonly error?: string;
}

/** One HTTPS request on a connection of its own (fetch cannot present a client certificate). */
const httpsCall = (
  baseUrl: string,
  ca: string,
  client: CertificatePair | undefined,
  method: string,
  path: string,
  options: { readonly auth?: string; readonly body?: Buffer } = {},
): Promise<HttpsReply> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(baseUrl);
    const headers: Record<string, string> = {};
    if (options.auth !== undefined) headers.authorization = options.auth;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(options.body.length);
    }
    const req = https.request(
      { host: hostname, port: Number(port), method, path, ca, agent: false, headers, ...(client === undefined ? {} : { cert: client.cert, key: client.key }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.end(options.body);
  });

const jsonOf = (reply: HttpsReply): unknown => (reply.body === undefined || reply.body.length === 0 ? undefined : JSON.parse(reply.body.toString('utf8')));

t.test('client certificates through the real app', async (t) => {
  const certs = await makeCertificates(t);
  const tls = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile });
  const server = await startServer(t, { tls, traffic: TRAFFIC });
  const base = server.baseUrl;
  const ca = certs.ca.cert;
  const alice = certs.client;
  const [carol, mallory] = await Promise.all([certs.issueClient('/O=acme/CN=carol'), certs.issueClient('/CN=mallory')]);
  const send = (client: CertificatePair | undefined, method: string, path: string, options?: { auth?: string; body?: Buffer | object }) =>
    httpsCall(base, ca, client, method, path, {
      ...(options?.auth === undefined ? {} : { auth: options.auth }),
      ...(options?.body === undefined ? {} : { body: Buffer.isBuffer(options.body) ? options.body : Buffer.from(JSON.stringify(options.body)) }),
    });

  const seeded = await send(alice, 'POST', '/states/c-1', { body: stateDocument(1, 'cccccccc-0000-4000-8000-000000000001') });
  t.strictSame(seeded.status, 200, 'alice (a dev user, by certificate) pushes c-1');
  const added = await send(alice, 'POST', '/access/users', { body: { name: 'carol', password: 'carol-password-1' } });
  t.strictSame([added.status, jsonOf(added)], [201, { name: 'carol' }], 'alice, by certificate, adds carol');
  const hidden = await send(carol, 'GET', '/states/c-1');
  t.strictSame([hidden.status, jsonOf(hidden)], [404, HIDDEN('c-1')], 'carol is known but has no role yet');

  const readGrant = { role: 'read', subject: 'user:carol', glob: 'c-*' };
  t.strictSame(jsonOf(await send(alice, 'POST', '/access/grants', { body: readGrant })), { ...readGrant, changed: true }, 'read on c-* granted');
  const read = await send(carol, 'GET', '/states/c-1');
  t.strictSame([read.status, read.body?.equals(stateDocument(1, 'cccccccc-0000-4000-8000-000000000001'))], [200, true], 'carol reads c-1 with her certificate');
  const two = stateDocument(2, 'cccccccc-0000-4000-8000-000000000001');
  const denied = await send(carol, 'POST', '/states/c-1', { body: two });
  t.strictSame([denied.status, jsonOf(denied)], [403, FORBIDDEN('write', 'c-1', 'cert:carol', 'read')], 'but may not push');

  const writeGrant = { role: 'write', subject: 'user:carol', glob: 'c-*' };
  t.strictSame(jsonOf(await send(alice, 'POST', '/access/grants', { body: writeGrant })), { ...writeGrant, changed: true }, 'write on c-* granted');
  const push = await send(carol, 'POST', '/states/c-1', { body: two });
  t.strictSame([push.status, jsonOf(push)], [200, pushed(2, two)], 'now she pushes');
  const events = jsonOf(await send(carol, 'GET', '/states/c-1/events')) as { events: EventJson[] };
  t.strictSame(
    events.events.map((e) => [e.type, e.actor]),
    [
      ['StatePushed', 'cert:alice'],
      ['StatePushed', 'cert:carol'],
    ],
    'the actors are cert:CN',
  );

  const viaHeader = await send(carol, 'GET', '/states', { auth: ALICE });
  t.strictSame(viaHeader.status, 200, 'an Authorization header is accepted over a certificate');
  const wrongHeader = await send(alice, 'GET', '/states/c-1', { auth: basicAuth('carol', 'not-her-password') });
  t.strictSame([wrongHeader.status, jsonOf(wrongHeader)], [401, WRONG_PASSWORD], 'and wins over it: a wrong password is not rescued by an admin certificate');

  const stranger = await send(mallory, 'GET', '/states/c-1');
  t.strictSame(
    [stranger.status, jsonOf(stranger)],
    [401, REFUSED('the client certificate names mallory, who is not a user here')],
    'a trusted certificate whose CN is not a user: 401',
  );
  const none = await send(undefined, 'GET', '/states');
  t.strictSame([none.status, typeof none.error], [undefined, 'string'], `no certificate: refused at TLS (${none.error})`);
  const untrusted = await send(certs.untrustedClient, 'GET', '/states');
  t.strictSame([untrusted.status, typeof untrusted.error], [undefined, 'string'], `a certificate of another CA: refused at TLS (${untrusted.error})`);

  const removed = await send(alice, 'DELETE', '/access/users/carol');
  t.strictSame([removed.status, jsonOf(removed)], [200, { removed: 'carol', grants_revoked: 2 }], 'carol is removed');
  const after = await send(carol, 'GET', '/states/c-1');
  t.strictSame([after.status, jsonOf(after)], [401, REFUSED('the client certificate names carol, who is not a user here')], 'her certificate no longer gets in');

  const erin = await certs.issueClient('/CN=erin');
  const applied = await send(alice, 'POST', '/access/apply', { body: { users: ['erin'], grants: [{ role: 'read', subject: 'user:erin', glob: 'c-*' }] } });
  t.strictSame(
    [applied.status, jsonOf(applied)],
    [200, { dry_run: false, changes: ['add user erin', 'grant read to user:erin on c-*'], secrets: [] }],
    'access apply adds erin, a user without a password',
  );
  const erinReads = await send(erin, 'GET', '/states/c-1');
  t.strictSame([erinReads.status, erinReads.body?.equals(two)], [200, true], 'erin signs in with her certificate alone');
  const erinPassword = await send(alice, 'GET', '/states/c-1', { auth: basicAuth('erin', '') });
  t.strictSame([erinPassword.status, jsonOf(erinPassword)], [401, WRONG_PASSWORD], 'but no password signs her in');
});

t.test('POST /access/apply', async (t) => {
  // Grants may name only issuers the server trusts (it never asks this one for keys here).
  const [a, b] = await serverPair(t, { oidc: oidcVerifier([{ issuer: 'https://ci.example.com', audience: [TEST_AUDIENCE], name: 'ci' }]) });
  const document = {
    users: ['erin'],
    tokens: ['ci-read', { name: 'ci-write', expires: '2099-01-01T00:00:00Z' }],
    grants: [
      { role: 'read', subject: 'token:ci-read', glob: 'ap-*' },
      { role: 'write', subject: 'token:ci-write', glob: 'ap-*' },
      { role: 'read', subject: 'user:erin', glob: 'ap-*' },
      { role: 'read', subject: 'oidc:ci:namespace_path=platform', glob: '*' },
    ],
  };
  const changes = [
    'add user erin',
    'create token ci-read',
    'create token ci-write (expires 2099-01-01T00:00:00.000Z)',
    'grant read to token:ci-read on ap-*',
    'grant write to token:ci-write on ap-*',
    'grant read to user:erin on ap-*',
    'grant read to oidc:ci:namespace_path=platform on *',
  ];

  const dry = await call(a.baseUrl, 'POST', '/access/apply?dry_run=true', ALICE, document);
  t.strictSame([dry.status, dry.body], [200, { dry_run: true, changes, secrets: [] }], 'a dry run lists the changes');
  t.strictSame((await call(b.baseUrl, 'GET', '/access/users', ALICE)).body, { users: [] }, 'and adds no user');
  t.strictSame((await call(b.baseUrl, 'GET', '/access/tokens', ALICE)).body, { tokens: [] }, 'no token');
  t.strictSame((await call(b.baseUrl, 'GET', '/access/grants', ALICE)).body, { grants: [] }, 'no grant');

  const applied = await call(a.baseUrl, 'POST', '/access/apply', ALICE, document);
  const secrets = (applied.body as { secrets?: Array<{ name: string; secret: string }> }).secrets ?? [];
  t.strictSame(
    [applied.status, applied.body],
    [
      200,
      {
        dry_run: false,
        changes,
        secrets: [
          { name: 'ci-read', secret: secrets[0]?.secret },
          { name: 'ci-write', secret: secrets[1]?.secret },
        ],
      },
    ],
    'applied: the same changes, and the secrets of the tokens created',
  );
  t.strictSame(
    secrets.map((s) => /^slt_[A-Za-z0-9_-]{43}$/.test(s.secret)),
    [true, true],
    'the secrets have the slt_ form',
  );
  t.strictSame(secrets[0]?.secret === secrets[1]?.secret, false, 'and differ');
  const [reader, writer] = secrets.map((s) => s.secret) as [string, string];

  const feed = (await call(b.baseUrl, 'GET', '/events?limit=1000', ALICE)).body as { events: Array<{ state: string; type: string; actor: string; data: unknown }> };
  t.strictSame(
    feed.events.map((e) => [e.state, e.type, e.actor, e.data]),
    [
      ['$access', 'UserAdded', 'user:alice', { name: 'erin', password: 'none' }],
      ['$access', 'TokenCreated', 'user:alice', { name: 'ci-read', expires_at: null }],
      ['$access', 'TokenCreated', 'user:alice', { name: 'ci-write', expires_at: '2099-01-01T00:00:00.000Z' }],
      ...document.grants.map((g) => ['$access', 'GrantAdded', 'user:alice', g]),
    ],
    'each change is an event on $access, without any secret hash',
  );
  t.strictSame(
    ((await call(b.baseUrl, 'GET', '/events?limit=1000', bearer(reader))).body as { events: unknown[] }).events,
    [],
    'a token that is no access manager sees none of them',
  );

  const again = await call(a.baseUrl, 'POST', '/access/apply', ALICE, document);
  t.strictSame([again.status, again.body], [200, { dry_run: false, changes: [], secrets: [] }], 'the same document again: no changes, no secrets');
  const againDry = await call(b.baseUrl, 'POST', '/access/apply?dry_run=true', ALICE, document);
  t.strictSame(againDry.body, { dry_run: true, changes: [], secrets: [] }, 'nor any to preview, on the other server');

  const one = stateDocument(1, 'apapapap-0000-4000-8000-000000000001');
  const push = await call(b.baseUrl, 'POST', '/states/ap-1', bearer(writer), one);
  t.strictSame([push.status, push.body], [200, pushed(1, one)], 'the write token pushes (Bearer, server B)');
  const read = await call(b.baseUrl, 'GET', '/states/ap-1', basicAuth('token', reader));
  t.strictSame([read.status, read.raw.equals(one)], [200, true], 'the read token reads (Basic token:<secret>)');
  const readerPush = await call(a.baseUrl, 'POST', '/states/ap-1', bearer(reader), stateDocument(2, 'apapapap-0000-4000-8000-000000000001'));
  t.strictSame([readerPush.status, readerPush.body], [403, FORBIDDEN('write', 'ap-1', 'token:ci-read', 'read')], 'but may not push');

  const tokens = ((await call(a.baseUrl, 'GET', '/access/tokens', ALICE)).body as { tokens: Array<Record<string, unknown>> }).tokens;
  t.strictSame(
    tokens.map((k) => [k.name, k.created_by, k.expires_at]),
    [
      ['ci-read', 'user:alice', null],
      ['ci-write', 'user:alice', '2099-01-01T00:00:00.000Z'],
    ],
    'the tokens are listed with their expiry',
  );
  const users = ((await call(a.baseUrl, 'GET', '/access/users', ALICE)).body as { users: Array<Record<string, unknown>> }).users;
  t.strictSame(users.map((u) => [u.name, u.has_password]), [['erin', false]], 'erin exists without a password');

  // An expiry changed in the file changes the token's (its secret stays).
  const later = { ...document, tokens: ['ci-read', { name: 'ci-write', expires: '2098-01-01T00:00:00Z' }] };
  const extended = await call(a.baseUrl, 'POST', '/access/apply', ALICE, later);
  t.strictSame([extended.status, extended.body], [200, { dry_run: false, changes: ['make token ci-write expire 2098-01-01T00:00:00.000Z'], secrets: [] }], 'a new expiry is applied');
  const expiries = ((await call(b.baseUrl, 'GET', '/access/tokens', ALICE)).body as { tokens: Array<Record<string, unknown>> }).tokens.map((k) => [k.name, k.expires_at]);
  t.strictSame(expiries, [['ci-read', null], ['ci-write', '2098-01-01T00:00:00.000Z']], 'and listed');

  const smaller = { ...later, users: [], tokens: [{ name: 'ci-write', expires: '2098-01-01T00:00:00Z' }], grants: document.grants.filter((g) => g.subject === 'token:ci-write') };
  const shrinkChanges = [
    'revoke read from token:ci-read on ap-*',
    'revoke read from user:erin on ap-*',
    'revoke read from oidc:ci:namespace_path=platform on *',
    'revoke token ci-read',
    'remove user erin',
  ];
  const preview = await call(a.baseUrl, 'POST', '/access/apply?dry_run=true', ALICE, smaller);
  t.strictSame([preview.status, preview.body], [200, { dry_run: true, changes: shrinkChanges, secrets: [] }], 'a dry run of a smaller document lists the revocations');
  const stillReads = await call(b.baseUrl, 'GET', '/states/ap-1', bearer(reader));
  t.strictSame(stillReads.status, 200, 'without applying them');
  const shrunk = await call(a.baseUrl, 'POST', '/access/apply', ALICE, smaller);
  t.strictSame([shrunk.status, shrunk.body], [200, { dry_run: false, changes: shrinkChanges, secrets: [] }], 'applied');
  const atOnce = await call(a.baseUrl, 'GET', '/states/ap-1', bearer(reader));
  t.strictSame([atOnce.status, atOnce.body], [401, REFUSED('the token is unknown or was revoked')], 'the dropped token is refused on A at once');
  await accessCacheLapse();
  const revoked = await call(b.baseUrl, 'GET', '/states/ap-1', bearer(reader));
  t.strictSame([revoked.status, revoked.body], [401, REFUSED('the token is unknown or was revoked')], 'and on B once its access cache lapsed');
  const kept = await call(b.baseUrl, 'GET', '/states/ap-1', bearer(writer));
  t.strictSame([kept.status, kept.raw.equals(one)], [200, true], 'the kept token still works: its secret did not change');

  const unknownSubject = await call(a.baseUrl, 'POST', '/access/apply', ALICE, { grants: [{ role: 'read', subject: 'user:nobody', glob: '*' }] });
  t.strictSame(
    [unknownSubject.status, unknownSubject.body],
    [422, { error: 'unknown_subject', message: 'user:nobody does not exist; add the user or create the token before granting it a role' }],
    'a grant to a user the document does not hold: 422',
  );
  t.strictSame(
    ((await call(a.baseUrl, 'GET', '/access/tokens', ALICE)).body as { tokens: unknown[] }).tokens.length,
    1,
    'and nothing was applied',
  );
  const notAdmin = await call(a.baseUrl, 'POST', '/access/apply', bearer(writer), document);
  t.strictSame(notAdmin.status, 403, 'a token without admin on * may not apply');
});
