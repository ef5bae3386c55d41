import t, { type Test } from 'tap';
import { STATE_NAME_RULE } from '../../src/events/state-name.js';
import { createLogger } from '../../src/logger.js';
import { runsProjection } from '../../src/projections/async/runs.js';
import { defaultClient, encryptedDocument, newLockInfo } from '../support/go-client.js';
import { checkAnswer, runHostileCases, sendRaw, type ExpectedAnswer, type HostileRequest, type RawReply } from '../support/hostile.js';
import { caughtUp, dumpTables, rebuilt, runner, waitFor } from '../support/projections.js';
import { basicAuth, PASSWORD, startServer, USER, type TestServer } from '../support/server.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const del = (body: unknown): RequestInit => ({ method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A state whose `terraform_data.item` has one instance per key, with the given input. */
const stateWith = (serial: number, items: Record<string, string>): Buffer =>
  Buffer.from(
    JSON.stringify({
      version: 4,
      terraform_version: '1.9.8',
      serial,
      lineage: 'c0ffee00-0000-4000-8000-0000000000aa',
      outputs: {},
      resources: [
        {
          mode: 'managed',
          type: 'terraform_data',
          name: 'item',
          provider: 'provider["terraform.io/builtin/terraform"]',
          instances: Object.entries(items).map(([key, input]) => ({ index_key: key, schema_version: 0, attributes: { id: `id-${key}`, input }, sensitive_attributes: [] })),
        },
      ],
    }),
  );

type Run = Record<string, unknown>;
const runsOf = async (server: TestServer, name: string, query = ''): Promise<{ name: string; runs: Run[]; next: number | null }> => {
  const reply = await server.request(`/states/${name}/runs${query}`);
  if (reply.status !== 200) throw new Error(`runs of ${name}: ${reply.status} ${await reply.text()}`);
  return (await reply.json()) as { name: string; runs: Run[]; next: number | null };
};
/** A run without its times (checked apart). */
const untimed = ({ started_at: _s, ended_at: _e, ...rest }: Run): Run => rest;
const settled = (server: TestServer) => waitFor('the runs projection', () => caughtUp(server.db.pool, ['runs']));

t.test('runs: versions grouped by lock, how each ended, resources added, changed and removed; equal to a rebuild', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  await runner(t, { url, blobs: server.blobs, logger, projections: [runsProjection], settings: { coalesceMs: 10 } });
  const app = defaultClient(server.baseUrl, 'app');

  t.equal((await app.put(stateWith(1, { a: '1', b: '1', c: '1' }))).status, 200, 'a push without a lock');
  const apply = newLockInfo({ ID: 'apply-1', Operation: 'OperationTypeApply', Who: 'ci@runner-1' });
  t.ok((await app.lock(apply)).locked);
  const acquiredAt = ((await (await server.request('/states/app/lock')).json()) as { acquired_at: string }).acquired_at;
  await settled(server);
  t.strictSame((await runsOf(server, 'app')).runs.length, 1, 'a lock with no version yet is no run in the list');
  t.equal((await app.put(stateWith(2, { a: '2', b: '1', c: '1' }))).status, 200, 'its first version, in a later batch than the lock');
  t.equal((await app.put(stateWith(3, { a: '2', b: '1', d: '1' }))).status, 200);
  t.equal((await app.unlock()).status, 200);
  const plan = newLockInfo({ ID: 'plan-1', Operation: 'OperationTypePlan' });
  t.ok((await app.lock(plan)).locked, 'a plan: a lock with no version');
  t.equal((await app.unlock()).status, 200);
  await settled(server);

  const unlocked = { lock_id: 'apply-1', operation: 'OperationTypeApply', who: 'ci@runner-1', started_by: 'user:alice', ended: 'unlocked' };
  const notLocked = { lock_id: null, operation: null, who: null, started_by: 'user:alice', ended: 'not-locked' };
  t.strictSame((await runsOf(server, 'app')).runs.map(untimed), [
    { first_version: 2, last_version: 3, versions: 2, base_version: 1, ...unlocked, resources: { added: 1, changed: 1, removed: 1 }, resources_unknown: null },
    { first_version: 1, last_version: 1, versions: 1, base_version: null, ...notLocked, resources: { added: 3, changed: 0, removed: 0 }, resources_unknown: null },
  ], 'newest first; the plan, which wrote nothing, is no run');
  t.equal((await runsOf(server, 'app')).runs[0]?.started_at, acquiredAt, 'a run starts when its lock was taken');
  t.strictSame((await pool.query('SELECT count(*)::int AS n FROM state_runs WHERE first_version IS NULL')).rows, [{ n: 0 }], 'no row left of the plan');

  const held = newLockInfo({ ID: 'apply-2', Operation: 'OperationTypeApply', Who: 'ci@runner-2' });
  t.ok((await app.lock(held)).locked);
  t.equal((await app.put(stateWith(4, { a: '3', b: '1', d: '1' }))).status, 200);
  await settled(server);
  const [open] = (await runsOf(server, 'app')).runs;
  t.strictSame(open, { ...open, first_version: 4, last_version: 4, versions: 1, base_version: 3, lock_id: 'apply-2', ended: null, ended_at: null, resources: { added: 0, changed: 1, removed: 0 } }, 'a run whose lock is held: not ended');
  t.equal((await app.put(stateWith(5, { a: '3', b: '2', d: '1', e: '1' }))).status, 200);
  const released = await server.request('/states/app/lock', del({ reason: 'runner-2 was cancelled' }));
  t.equal(released.status, 200, await released.text());
  await settled(server);
  const [forced] = (await runsOf(server, 'app')).runs;
  t.strictSame(untimed(forced ?? {}), {
    first_version: 4, last_version: 5, versions: 2, base_version: 3, lock_id: 'apply-2', operation: 'OperationTypeApply', who: 'ci@runner-2', started_by: 'user:alice',
    ended: 'force-unlocked', resources: { added: 1, changed: 2, removed: 0 }, resources_unknown: null,
  }, 'released by an administrator: force-unlocked, counted from the version before the run to its last');
  t.ok(Date.parse(String(forced?.started_at)) <= Date.parse(String(forced?.ended_at)), 'it ended after it started');

  const later = defaultClient(server.baseUrl, 'app');
  t.equal((await later.delete()).status, 200, 'the state deleted');
  t.equal((await later.put(stateWith(1, { z: '1' }))).status, 200, 'and pushed anew');
  await settled(server);
  t.strictSame(untimed((await runsOf(server, 'app')).runs[0] ?? {}), {
    first_version: 6, last_version: 6, versions: 1, base_version: null, ...notLocked, resources: { added: 1, changed: 0, removed: 0 }, resources_unknown: null,
  }, 'after a deletion there is nothing before the run');

  const secret = defaultClient(server.baseUrl, 'secret');
  t.equal((await secret.put(stateWith(1, { a: '1' }))).status, 200);
  t.equal((await secret.put(encryptedDocument(2))).status, 200);
  t.equal((await secret.put(stateWith(3, { a: '1' }))).status, 200);
  await settled(server);
  t.strictSame((await runsOf(server, 'secret')).runs.map((r) => [r.first_version, r.resources, r.resources_unknown]), [
    [3, null, 'version 2 is encrypted'],
    [2, null, 'version 2 is encrypted'],
    [1, { added: 1, changed: 0, removed: 0 }, null],
  ], 'an encrypted version: its changes, and the next run\'s, are unknown, with the reason');

  const page = await runsOf(server, 'app', '?limit=2');
  t.strictSame([page.runs.map((r) => r.first_version), page.next], [[6, 4], 4]);
  const rest = await runsOf(server, 'app', `?limit=2&before=${page.next}`);
  t.strictSame([rest.runs.map((r) => r.first_version), rest.next], [[2, 1], null], 'no next page after the run that began with version 1');
  t.strictSame(await runsOf(server, 'app', '?before=2'), { name: 'app', runs: [(await runsOf(server, 'app')).runs[3]], next: null }, 'the last page');

  const table = await (await server.request('/states/app/runs', { headers: { accept: 'text/plain' } })).text();
  const lines = table.trimEnd().split('\n');
  t.match(lines[0], /^VERSIONS +STARTED +ENDED +HOW +OPERATION +WHO +BY +LOCK ID +ADDED +CHANGED +REMOVED$/);
  t.match(lines[2], /^4-5 +\S+ +\S+ +force-unlocked +OperationTypeApply +ci@runner-2 +user:alice +apply-2 +1 +2 +0$/);
  t.equal(lines.length, 5, 'a header and four runs');

  t.strictSame(await dumpTables(pool, runsProjection, 'public'), await rebuilt(pool, runsProjection, server.blobs), 'the runs tables equal what a replay of the events builds');
});

t.test('one batch of many states: runs ended and begun in it, a lock with no version dropped, equal to a rebuild', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  const names = Array.from({ length: 12 }, (_, i) => `many/s${i}`);
  // Terraform's clients: each remembers the lock it took.
  const clients = new Map(names.map((name) => [name, { run: defaultClient(server.baseUrl, name), plan: defaultClient(server.baseUrl, `${name}/plan`) }]));
  const first = await runner(t, { url, blobs: server.blobs, logger, projections: [runsProjection], settings: { coalesceMs: 10 } });
  for (const [name, { run, plan }] of clients) {
    t.ok((await run.lock(newLockInfo({ ID: `a-${name}` }))).locked);
    t.equal((await run.put(stateWith(1, { a: '1' }))).status, 200);
    t.ok((await plan.lock(newLockInfo({ ID: `p-${name}` }))).locked);
  }
  await settled(server);
  t.equal((await pool.query('SELECT count(*)::int AS n FROM state_runs WHERE ended_at IS NULL')).rows[0].n, 24, 'every lock has its open run stored');
  await first.stop();

  for (const [name, { run, plan }] of clients) {
    t.equal((await run.put(stateWith(2, { a: '2' }))).status, 200);
    t.equal((await run.unlock()).status, 200);
    t.ok((await run.lock(newLockInfo({ ID: `b-${name}` }))).locked);
    t.equal((await run.put(stateWith(3, { a: '2', b: '1' }))).status, 200);
    t.equal((await plan.unlock()).status, 200);
  }
  const lastBatches: number[] = [];
  await runner(t, { url, blobs: server.blobs, logger, projections: [runsProjection], settings: { coalesceMs: 10, batchSize: 1000 }, onApplied: (_, count) => lastBatches.push(count) });
  await settled(server);
  t.strictSame(lastBatches, [names.length * 5], 'all of it in one batch');
  for (const name of names) {
    t.strictSame((await runsOf(server, name)).runs.map((r) => [r.first_version, r.last_version, r.lock_id, r.ended, r.resources]), [
      [3, 3, `b-${name}`, null, { added: 1, changed: 0, removed: 0 }],
      [1, 2, `a-${name}`, 'unlocked', { added: 1, changed: 0, removed: 0 }],
    ], `${name}: the run ended in the batch, and the one begun after it`);
    t.strictSame((await runsOf(server, `${name}/plan`)).runs, [], `${name}/plan: the lock that wrote nothing left no run`);
  }
  t.strictSame(await dumpTables(pool, runsProjection, 'public'), await rebuilt(pool, runsProjection, server.blobs), 'the runs tables equal what a replay of the events builds');
});

t.test('a lock taken over after its lease ran out ends its run as lease-expired', async (t) => {
  const server = await startServer(t, { leases: { rules: [{ glob: 'short/**', value: 1 }], fallback: null } });
  await runner(t, { url: server.db.url, blobs: server.blobs, logger, projections: [runsProjection], settings: { coalesceMs: 10 } });
  t.equal((await server.request('/states/short/app/lock', post(newLockInfo({ ID: 'first' })))).status, 200);
  t.equal((await server.request('/states/short/app?ID=first', { method: 'POST', body: stateWith(1, { a: '1' }).toString() })).status, 200);
  await sleep(1200);
  t.equal((await server.request('/states/short/app/lock', post(newLockInfo({ ID: 'second' })))).status, 200, 'taken over');
  t.equal((await server.request('/states/short/app?ID=second', { method: 'POST', body: stateWith(2, { a: '2' }).toString() })).status, 200);
  await settled(server);
  t.strictSame((await runsOf(server, 'short/app')).runs.map((r) => [r.first_version, r.lock_id, r.ended, r.resources]), [
    [2, 'second', null, { added: 0, changed: 1, removed: 0 }],
    [1, 'first', 'lease-expired', { added: 1, changed: 0, removed: 0 }],
  ]);
});

t.test('hostile input on GET /states/NAME/runs', async (t) => {
  const server = await startServer(t);
  await runner(t, { url: server.db.url, blobs: server.blobs, logger, projections: [runsProjection], settings: { coalesceMs: 10 } });
  t.equal((await defaultClient(server.baseUrl, 'app').put(stateWith(1, { a: '1' }))).status, 200);
  await settled(server);
  const call = async (method: string, path: string, body: unknown) => {
    const reply = await server.request(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (reply.status >= 300) throw new Error(`fixture: ${method} ${path}: ${reply.status} ${await reply.text()}`);
    return (await reply.json()) as Record<string, unknown>;
  };
  const token = async (name: string, role: string, glob: string) => {
    const secret = String((await call('POST', '/access/tokens', { name })).secret);
    await call('POST', '/access/grants', { role, subject: `token:${name}`, glob });
    return `Bearer ${secret}`;
  };
  const outputsOnly = await token('outputs-only', 'outputs', 'app');
  const stranger = await token('stranger', 'read', 'other-*');

  const JSON_TYPE = 'application/json; charset=utf-8';
  const failed = (status: number, error: string, message: string) => ({ status, type: JSON_TYPE, body: JSON.stringify({ error, message }) });
  const query = (message: string) => failed(400, 'invalid_query', message);
  const PAGE = 'limit must be a positive integer (a page holds at most 1000)';
  const VERSION = 'before must be a version number (1, 2, 3, ...)';
  const hidden = failed(404, 'not_found', 'state app does not exist, or this identity has no role on it');
  const subResource = failed(400, 'invalid_name', '"runs" names a sub-resource and cannot be a segment of a state name');
  const req = (path: string, extra: Partial<HostileRequest> = {}): HostileRequest => ({ method: 'GET', path, ...extra });
  const cases: Array<{ kind: string; request: HostileRequest; expect: ExpectedAnswer }> = [
    { kind: 'limit=0', request: req('/states/app/runs?limit=0'), expect: query(`${PAGE}; got "0"`) },
    { kind: 'a negative limit', request: req('/states/app/runs?limit=-1'), expect: query(`${PAGE}; got "-1"`) },
    { kind: 'a limit that is no number', request: req('/states/app/runs?limit=ten'), expect: query(`${PAGE}; got "ten"`) },
    { kind: 'a limit of 400 digits', request: req(`/states/app/runs?limit=${'9'.repeat(400)}`), expect: query(`${PAGE}; got "${'9'.repeat(64)}..."`) },
    { kind: 'a limit given twice', request: req('/states/app/runs?limit=1&limit=2'), expect: query(`${PAGE}; it was given more than once`) },
    { kind: 'a nested limit', request: req('/states/app/runs?limit[a][b]=1'), expect: { status: 200 } },
    { kind: 'before=0', request: req('/states/app/runs?before=0'), expect: query(`${VERSION}; got "0"`) },
    { kind: 'before past the largest version', request: req('/states/app/runs?before=2147483648'), expect: query(`${VERSION}; got "2147483648"`) },
    { kind: 'before as a float', request: req('/states/app/runs?before=1.5'), expect: query(`${VERSION}; got "1.5"`) },
    { kind: 'an unknown format', request: req('/states/app/runs?format=xml'), expect: query('format must be json or table; got "xml"') },
    { kind: 'a state that does not exist', request: req('/states/nope/runs'), expect: failed(404, 'not_found', 'state nope does not exist') },
    { kind: 'an invalid state name', request: req('/states/.app/runs'), expect: failed(400, 'invalid_name', `name must be ${STATE_NAME_RULE}; got ".app"`) },
    { kind: 'no credentials', request: req('/states/app/runs', { auth: null }), expect: { status: 401 } },
    { kind: 'no role (read elsewhere)', request: req('/states/app/runs', { auth: stranger }), expect: hidden },
    { kind: 'no role and a bad query', request: req('/states/app/runs?limit=x', { auth: stranger }), expect: hidden },
    { kind: 'the outputs role only', request: req('/states/app/runs', { auth: outputsOnly }), expect: { status: 403 } },
    { kind: 'POST', request: req('/states/app/runs', { method: 'POST', body: '{}' }), expect: subResource },
    { kind: 'DELETE', request: req('/states/app/runs', { method: 'DELETE' }), expect: subResource },
    { kind: 'a push to a nested name ending in runs', request: req('/states/team/runs', { method: 'POST', body: stateWith(1, {}).toString() }), expect: subResource },
  ];
  const snapshot = async () => {
    const { rows } = await server.db.pool.query<{ events: string; runs: string }>('SELECT (SELECT count(*) FROM events)::text AS events, (SELECT count(*) FROM state_runs)::text AS runs');
    return { ...rows[0], listing: await runsOf(server, 'app') };
  };
  const check = (t: Test, reply: RawReply, c: (typeof cases)[number]) => checkAnswer(t, reply, c.expect);
  await runHostileCases(t, 'the cases', server.baseUrl, cases, {
    snapshot,
    check,
    unchanged: 'the event count, the runs and the listing',
    stillServing: async (t) => {
      t.equal((await runsOf(server, 'app')).runs.length, 1, 'still serving');
    },
  });

  t.test('the checks can fail: a push shows in the snapshot', async (t) => {
    const before = await snapshot();
    const reply = await sendRaw(server.baseUrl, { method: 'POST', path: '/states/app', body: stateWith(2, { a: '2' }), auth: basicAuth(USER, PASSWORD) });
    t.equal(reply.status, 200, reply.body.toString());
    await settled(server);
    t.notSame(await snapshot(), before, 'the snapshot moved');
  });
});
