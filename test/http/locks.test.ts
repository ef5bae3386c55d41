import t, { type Test } from 'tap';
import { newLockInfo, stateDocument } from '../support/go-client.js';
import { basicAuth, startServer, type TestServer } from '../support/server.js';

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const del = (body: unknown): RequestInit => ({ method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type EventEntry = { type: string; actor: string; data: Record<string, unknown> };
const eventsOf = async (server: TestServer, name: string): Promise<EventEntry[]> =>
  ((await (await server.request(`/states/${name}/events`)).json()) as { events: EventEntry[] }).events;

const tokenFor = async (t: Test, server: TestServer, name: string, role: string, glob: string) => {
  const created = await server.request('/access/tokens', post({ name }));
  const { secret } = (await created.json()) as { secret: string };
  t.equal((await server.request('/access/grants', post({ role, subject: `token:${name}`, glob }))).status, 200, `grant ${role} on ${glob}`);
  return (path: string, init: RequestInit = {}) =>
    fetch(`${server.baseUrl}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: basicAuth('token', secret) } });
};

t.test('lock leases: breakable after the lease, renewed by the holder, taken over with a record of it', async (t) => {
  const server = await startServer(t, { leases: { rules: [{ glob: 'short/**', value: 1 }], fallback: null } });
  const holder = newLockInfo({ ID: 'apply-1', Who: 'ci@runner-1', Operation: 'OperationTypeApply' });
  const next = newLockInfo({ ID: 'apply-2', Who: 'ci@runner-2', Operation: 'OperationTypeApply' });
  t.equal((await server.request('/states/short/app/lock', post(holder))).status, 200, 'locked, with a 1 s lease');
  const lock = (await (await server.request('/states/short/app/lock')).json()) as Record<string, unknown>;
  t.equal(lock.ID, 'apply-1');
  t.equal(lock.expired, false, 'not expired yet');
  t.ok(typeof lock.lease_until === 'string' && Date.parse(lock.lease_until) - Date.parse(String(lock.acquired_at)) === 1000, 'the lease ends 1 s after it was taken');
  t.equal((await server.request('/states/short/app/lock', post(next))).status, 423, 'nobody else takes it before the lease ends');

  await sleep(1200);
  t.equal(((await (await server.request('/states/short/app/lock')).json()) as { expired: boolean }).expired, true, 'past its lease: shown as expired');
  // Expired but not revoked: the holder still pushes (renewing the lease), until someone else asks.
  t.equal((await server.request('/states/short/app?ID=apply-1', { method: 'POST', body: stateDocument(1).toString() })).status, 200, 'the holder pushes after expiry');
  const renewed = (await (await server.request('/states/short/app/lock')).json()) as { expired: boolean; lease_until: string };
  t.equal(renewed.expired, false, 'its push renewed the lease');
  t.equal((await server.request('/states/short/app/lock', post(next))).status, 423, 'so another lock still waits');

  await sleep(1200);
  t.equal((await server.request('/states/short/app/lock', post(next))).status, 200, 'after the renewed lease ends, another lock takes over');
  t.equal((await server.request('/states/short/app?ID=apply-1', { method: 'POST', body: stateDocument(2).toString() })).status, 423, "the old holder's push is refused");
  const unlock = await server.request('/states/short/app/unlock', post(holder));
  t.equal(unlock.status, 409, "the old holder's unlock is told someone else holds it");
  t.strictSame(((await unlock.json()) as { ID: string }).ID, 'apply-2');

  const events = await eventsOf(server, 'short/app');
  t.strictSame(
    events.map((e) => e.type),
    ['StateLocked', 'StatePushed', 'LockExpired', 'StateLocked'],
  );
  t.strictSame(events[2]?.data.lock, holder, 'LockExpired names the old holder');
  t.equal(events[2]?.data.lease_until, renewed.lease_until, 'and the lease that had ended');
  t.strictSame(events[1]?.data.lease_until, renewed.lease_until, 'the push recorded the renewal');

  // States no lease policy matches keep their locks until released.
  t.equal((await server.request('/states/long/app/lock', post(holder))).status, 200);
  await sleep(1100);
  t.strictSame(((await (await server.request('/states/long/app/lock')).json()) as { lease_until: unknown }).lease_until, null, 'no lease');
  t.equal((await server.request('/states/long/app/lock', post(next))).status, 423, 'never taken over');
});

t.test('GET /locks lists every held lock the caller may read, as JSON and as a table', async (t) => {
  const server = await startServer(t);
  t.strictSame(await (await server.request('/locks')).json(), { locks: [] }, 'none yet');
  t.equal((await server.request('/states/team-a/prod/network/lock', post(newLockInfo({ ID: 'l-1', Who: 'alice@laptop', Operation: 'OperationTypePlan' })))).status, 200);
  await sleep(20);
  t.equal((await server.request('/states/team-b/app', { method: 'LOCK', headers: { 'content-type': 'application/json' }, body: JSON.stringify(newLockInfo({ ID: 'l-2', Who: 'bob@ci' })) })).status, 200);
  const { locks } = (await (await server.request('/locks')).json()) as { locks: Array<Record<string, unknown>> };
  t.strictSame(
    locks.map((l) => [l.state, l.ID, l.Who, l.Operation, l.acquired_by, l.lease_until, l.expired, typeof l.age_seconds]),
    [
      ['team-a/prod/network', 'l-1', 'alice@laptop', 'OperationTypePlan', 'user:alice', null, false, 'number'],
      ['team-b/app', 'l-2', 'bob@ci', 'OperationTypeApply', 'user:alice', null, false, 'number'],
    ],
    'oldest first',
  );
  const table = await server.request('/locks?format=table');
  t.match(table.headers.get('content-type'), /^text\/plain/);
  const lines = (await table.text()).trimEnd().split('\n');
  t.match(lines[0], /^STATE\s+ID\s+WHO\s+OPERATION\s+ACQUIRED_AT\s+AGE\s+LEASE_UNTIL\s+EXPIRED$/);
  t.match(lines[1], /^team-a\/prod\/network\s+l-1\s+alice@laptop\s+OperationTypePlan\s+\S+\s+\d+s\s+-\s+no$/);
  t.equal(lines.length, 3);

  const teamB = await tokenFor(t, server, 'team-b-reader', 'read', 'team-b/**');
  t.strictSame(((await (await teamB('/locks')).json()) as { locks: Array<{ state: string }> }).locks.map((l) => l.state), ['team-b/app'], 'a reader sees only its states');
  const outputsOnly = await tokenFor(t, server, 'outputs-only', 'outputs', '**');
  t.strictSame(await (await outputsOnly('/locks')).json(), { locks: [] }, 'outputs-only callers see no locks');
});

t.test('administrators release a lock with a reason, recorded with the actor', async (t) => {
  const server = await startServer(t);
  const info = newLockInfo({ ID: 'stuck-1', Who: 'cancelled@ci' });
  t.equal((await server.request('/states/team-a/app/lock', post(info))).status, 200);
  const writer = await tokenFor(t, server, 'writer', 'write', 'team-a/**');
  const stranger = await tokenFor(t, server, 'stranger', 'write', 'team-z/**');
  const refusedWriter = await writer('/states/team-a/app/lock', del({ reason: 'mine now' }));
  t.strictSame([refusedWriter.status, ((await refusedWriter.json()) as { error: string }).error], [403, 'forbidden'], 'a writer may not');
  t.equal((await stranger('/states/team-a/app/lock', del({ reason: 'x' }))).status, 404, 'a caller without a role does not learn the state exists');
  t.equal((await server.request('/states/team-a/app/lock')).status, 200, 'still locked after the refusals');

  const released = await server.request('/states/team-a/app/lock', del({ reason: 'CI job 4711 was cancelled', ID: 'stuck-1' }));
  t.strictSame([released.status, await released.json()], [200, { released: true, lock: info, reason: 'CI job 4711 was cancelled' }]);
  const last = (await eventsOf(server, 'team-a/app')).at(-1);
  t.strictSame([last?.type, last?.actor, last?.data], ['LockForceReleased', 'user:alice', { lock: info, reason: 'CI job 4711 was cancelled' }]);
  t.equal((await server.request('/states/team-a/app/lock')).status, 404, 'released');
  const again = await server.request('/states/team-a/app/lock', del({ reason: 'retry' }));
  t.strictSame([again.status, await again.json()], [200, { released: false, lock: null, reason: 'retry' }], 'a retry finds nothing to release');
});

t.test('nested state names through both lock dialects, in grants and in lists', async (t) => {
  const server = await startServer(t);
  const name = 'team-a/prod/network';
  // The POST dialect (lock_address .../lock, unlock_address .../unlock).
  const lock = newLockInfo({ ID: 'nested-1' });
  t.equal((await server.request(`/states/${name}/lock`, post(lock))).status, 200);
  t.equal((await server.request(`/states/${name}?ID=nested-1`, { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  t.equal((await server.request(`/states/${name}/unlock`, post(lock))).status, 200);
  // The WebDAV dialect (LOCK/UNLOCK on the state's own address).
  const dav = newLockInfo({ ID: 'nested-2' });
  const lockJson = { headers: { 'content-type': 'application/json' }, body: JSON.stringify(dav) };
  t.equal((await server.request(`/states/${name}`, { method: 'LOCK', ...lockJson })).status, 200);
  t.equal((await server.request(`/states/${name}?ID=nested-2`, { method: 'PUT', body: stateDocument(2).toString() })).status, 200);
  t.equal((await server.request(`/states/${name}`, { method: 'UNLOCK', ...lockJson })).status, 200);

  const state = await server.request(`/states/${name}`);
  t.strictSame([state.status, JSON.parse(await state.text()).serial], [200, 2]);
  t.strictSame(((await (await server.request(`/states/${name}/versions`)).json()) as { versions: Array<{ version: number }> }).versions.map((v) => v.version), [2, 1]);
  t.equal((await server.request(`/states/${encodeURIComponent(name)}`)).status, 200, 'the encoded form names the same state');
  t.strictSame((await eventsOf(server, name)).map((e) => e.type), ['StateLocked', 'StatePushed', 'StateUnlocked', 'StateLocked', 'StatePushed', 'StateUnlocked']);

  for (const other of ['team-a/dev', 'team-a/dev/db', 'team-b/app', 'team-a']) {
    t.equal((await server.request(`/states/${other}`, { method: 'POST', body: stateDocument(1).toString() })).status, 200, `push ${other}`);
  }
  const names = async (query: string) => ((await (await server.request(`/states${query}`)).json()) as { states: Array<{ name: string }> }).states.map((s) => s.name);
  t.strictSame(await names('?prefix=team-a/'), ['team-a/dev', 'team-a/dev/db', 'team-a/prod/network'], 'one subtree');
  t.strictSame(await names('?prefix=team-a/prod/'), ['team-a/prod/network']);
  t.strictSame(await names('?prefix=nobody/'), []);

  // `*` stays within a segment, `**` spans segments.
  const oneLevel = await tokenFor(t, server, 'one-level', 'write', 'team-a/*');
  const anyDepth = await tokenFor(t, server, 'any-depth', 'read', 'team-a/**');
  const list = async (as: typeof oneLevel) => ((await (await as('/states')).json()) as { states: Array<{ name: string }> }).states.map((s) => s.name);
  t.strictSame(await list(oneLevel), ['team-a/dev']);
  t.strictSame(await list(anyDepth), ['team-a', 'team-a/dev', 'team-a/dev/db', 'team-a/prod/network']);
  t.equal((await oneLevel('/states/team-a/dev', { method: 'POST', body: stateDocument(2).toString() })).status, 200, 'team-a/* writes team-a/dev');
  t.equal((await oneLevel('/states/team-a/dev/db', { method: 'POST', body: stateDocument(2).toString() })).status, 404, 'but not team-a/dev/db');
  t.equal((await anyDepth(`/states/${name}`)).status, 200, 'team-a/** reads three levels down');
  t.equal((await anyDepth(`/states/${name}`, { method: 'POST', body: stateDocument(3).toString() })).status, 403, 'reading is not writing');

  // What worked before names could nest still does: a trailing slash, sub-resource words in any
  // case (express matches routes so), and flat names that are sub-resource words.
  t.equal((await server.request('/states/flat/', { method: 'POST', body: stateDocument(1).toString() })).status, 200, 'a trailing slash');
  t.equal((await server.request('/states/team-a/dev/', { method: 'POST', body: stateDocument(3).toString() })).status, 200, 'a trailing slash on a nested name');
  t.strictSame(((await (await server.request('/states/team-a/dev/versions')).json()) as { versions: unknown[] }).versions.length, 3, 'its third version');
  t.equal((await server.request('/states/team-a/dev/LOCK', post(newLockInfo({ ID: 'upper' })))).status, 200, 'LOCK in capitals locks team-a/dev');
  t.strictSame(((await (await server.request('/states/team-a/dev/lock')).json()) as { ID: string }).ID, 'upper');
  t.equal((await server.request('/states/events', { method: 'POST', body: stateDocument(1).toString() })).status, 200, 'a flat state named events');
  t.strictSame(((await (await server.request('/states/events/versions')).json()) as { versions: unknown[] }).versions.length, 1, "and its versions");

  // Sub-resource words cannot be segments: refused at the first push or lock, with a sentence.
  for (const [method, path] of [
    ['POST', '/states/team-a/versions/app'],
    ['POST', '/states/team-a/lock/app/lock'],
    ['LOCK', '/states/team-a%2Foutputs'],
    ['LOCK', '/states/team-a%2FVersions'],
  ] as const) {
    const reply = await server.request(path, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' && !path.endsWith('/lock') ? stateDocument(1).toString() : JSON.stringify(newLockInfo()) });
    const body = (await reply.json()) as { error: string; message: string };
    t.strictSame([reply.status, body.error], [400, 'invalid_name'], `${method} ${path}`);
    t.match(body.message, /"(versions|lock|outputs|Versions)" names a sub-resource and cannot be a segment of a state name/);
  }
});

t.test('the global feed from now: a fresh install tails without 404, a cursor ahead of the feed waits', async (t) => {
  const server = await startServer(t);
  const now = await server.request('/events?after=now');
  t.strictSame([now.status, await now.json()], [200, { events: [], next: 0 }], 'a fresh ledger: the present is position 0');
  const ahead = await server.request('/events?after=1234&wait=1');
  t.strictSame([ahead.status, await ahead.json()], [200, { events: [], next: 1234 }], "the README's example: an empty page, not a 404");

  t.equal((await server.request('/states/before', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  const present = (await (await server.request('/events?after=now')).json()) as { events: unknown[]; next: number };
  t.strictSame(present.events, [], 'now shows nothing of the past');
  t.ok(present.next > 0, 'and says where the present is');
  const waiting = server.request(`/events?after=now&wait=30`);
  await sleep(300);
  t.equal((await server.request('/states/after', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  const tail = (await (await waiting).json()) as { events: Array<{ state: string; type: string }>; next: number };
  t.strictSame(tail.events.map((e) => [e.state, e.type]), [['after', 'StatePushed']], 'a long poll from now answers with what happens next');
  t.strictSame(((await (await server.request(`/events?after=${present.next}`)).json()) as { events: Array<{ state: string }> }).events.map((e) => e.state), ['after'], 'the position now gave is a cursor');

  const bad = await server.request('/events?after=later');
  t.strictSame([bad.status, ((await bad.json()) as { error: string }).error], [400, 'invalid_query']);
  t.equal((await server.request('/states/after/events?after=now')).status, 400, "a state's own events take stream versions, not now");
});
