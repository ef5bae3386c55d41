import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t, { type Test } from 'tap';
import { handleCommand } from '../../src/commands/handler.js';
import { createApp } from '../../src/http/app.js';
import { metricsApp } from '../../src/http/metrics-routes.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type LedgerMetrics } from '../../src/observability/metrics.js';
import { observedBlobStore } from '../../src/storage/blobs/observed-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import type { SqlExecutor } from '../../src/storage/sql.js';
import { freePort } from '../../src/storage/free-port.js';
import { metadata, storedBody } from '../support/commands.js';
import { md5Base64, newLockInfo, stateDocument } from '../support/go-client.js';
import { basicAuth, bodyLimits, listen, PASSWORD, TRAFFIC, USER } from '../support/server.js';
import { freshDatabase, freshS3Config, tempDir, type TestDatabase } from '../support/services.js';

/** One sample of the exposition text, by name and exact labels; undefined when absent. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const got = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]\w*=")/)
      .filter((pair) => pair !== '')
      .sort()
      .join(',');
    if (got === wanted) return Number(match[3]);
  }
  return undefined;
};

/** The names of every metric family the text declares. */
const families = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('# TYPE '))
    .map((line) => line.split(' ')[2] ?? '');

interface MetricsServer {
  readonly baseUrl: string;
  readonly db: TestDatabase;
  readonly metrics: LedgerMetrics;
  request(path: string, init?: RequestInit, authorization?: string): Promise<Response>;
  /** GET /metrics as alice (an administrator), as text. */
  scrape(): Promise<string>;
}

/** The real app wired as serve.ts wires it: its own registry, the blob store timed, the pool and locks watched. */
const startMetricsServer = async (t: Test): Promise<MetricsServer> => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const metrics = createMetrics({ db: db.pool, pool: db.pool });
  const blobs = observedBlobStore(await s3BlobStore(freshS3Config()), metrics.blobs);
  const app = createApp({
    ...ledgerStores(db.pool),
    db: db.pool,
    blobs,
    users: new Map([[USER, PASSWORD]]),
    limits: bodyLimits(dir),
    logger: createLogger('silent'),
    traffic: TRAFFIC,
    metrics,
  });
  const baseUrl = await listen(t, app);
  const request = (path: string, init: RequestInit = {}, authorization = basicAuth(USER, PASSWORD)) =>
    fetch(`${baseUrl}${path}`, { ...init, headers: { authorization, ...(init.headers as Record<string, string> | undefined) } });
  const scrape = async () => {
    const reply = await request('/metrics');
    if (reply.status !== 200) throw new Error(`GET /metrics: ${reply.status} ${await reply.text()}`);
    return reply.text();
  };
  return { baseUrl, db, metrics, request, scrape };
};

const json = (body: unknown): RequestInit => {
  const bytes = Buffer.from(JSON.stringify(body));
  return { method: 'POST', body: bytes, headers: { 'content-type': 'application/json', 'content-md5': md5Base64(bytes) } };
};

const push = (server: MetricsServer, name: string, doc: Buffer, lockId?: string) =>
  server.request(`/states/${name}${lockId === undefined ? '' : `?ID=${lockId}`}`, {
    method: 'POST',
    body: new Uint8Array(doc),
    headers: { 'content-type': 'application/json', 'content-md5': md5Base64(doc) },
  });

t.test('the metric families are all there, from a registry of the app alone', async (t) => {
  const server = await startMetricsServer(t);
  const reply = await server.request('/metrics');
  t.strictSame([reply.status, reply.headers.get('content-type')], [200, 'text/plain; version=0.0.4; charset=utf-8']);
  const names = families(await reply.text());
  t.strictSame(
    [
      'state_ledger_http_requests_total',
      'state_ledger_http_request_duration_seconds',
      'state_ledger_pushed_bytes_total',
      'state_ledger_served_bytes_total',
      'state_ledger_commands_total',
      'state_ledger_version_conflicts_total',
      'state_ledger_command_retries_total',
      'state_ledger_blob_operation_duration_seconds',
      'state_ledger_blob_operation_errors_total',
      'state_ledger_runs_total',
      'state_ledger_projection_process_exits_total',
      'state_ledger_metrics_collect_errors_total',
      'state_ledger_pg_pool_connections',
      'state_ledger_pg_pool_idle_connections',
      'state_ledger_pg_pool_waiting_clients',
      'state_ledger_pg_pool_max_connections',
      'state_ledger_locks_held',
      'state_ledger_oldest_lock_age_seconds',
    ].filter((name) => !names.includes(name)),
    [],
    'no family missing',
  );
  t.notOk(names.some((name) => name.startsWith('process_') || name.startsWith('nodejs_')), 'process metrics only where asked for (serve.ts asks)');
  const withProcess = await createMetrics({ processMetrics: true }).render();
  t.ok(families(withProcess).includes('nodejs_eventloop_lag_seconds'), 'event-loop lag with processMetrics');
  t.ok(families(withProcess).includes('process_cpu_seconds_total'), 'and the process metrics');
});

t.test('requests, bytes, commands and locks move the metrics', async (t) => {
  const server = await startMetricsServer(t);
  const doc = stateDocument(1);

  const pushed = await push(server, 'net', doc);
  t.strictSame(pushed.status, 200);
  await pushed.arrayBuffer();
  let text = await server.scrape();
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '/states/:name', method: 'POST', status: '200' }), 1, 'the push counted under its route pattern');
  t.strictSame(sample(text, 'state_ledger_http_request_duration_seconds_count', { route: '/states/:name', method: 'POST' }), 1, 'and timed');
  t.strictSame(sample(text, 'state_ledger_pushed_bytes_total'), doc.length, 'bytes pushed: the body');
  t.strictSame(sample(text, 'state_ledger_commands_total', { command: 'PushState', outcome: 'accepted' }), 1);
  t.strictSame(sample(text, 'state_ledger_blob_operation_duration_seconds_count', { operation: 'upload', outcome: 'ok' }), 1, 'the upload timed');
  t.notOk(text.includes('/states/net'), 'never a raw URL or a state name as a label');

  const read = await server.request('/states/net');
  t.strictSame(Buffer.from(await read.arrayBuffer()), doc);
  text = await server.scrape();
  t.strictSame(sample(text, 'state_ledger_served_bytes_total', { route: '/states/:name' }), doc.length, 'bytes served');
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '/states/:name', method: 'GET', status: '200' }), 1);
  t.strictSame(sample(text, 'state_ledger_blob_operation_duration_seconds_count', { operation: 'get', outcome: 'ok' }), 1);

  await (await server.request('/no/such/route/xyz')).arrayBuffer();
  await (await server.request('/states/net', {}, basicAuth(USER, 'wrong password'))).arrayBuffer();
  text = await server.scrape();
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '(unmatched)', method: 'GET', status: '404' }), 1, 'no route: one label value');
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '(unmatched)', method: 'GET', status: '401' }), 1, 'refused before routing: the same');
  t.notOk(text.includes('/no/such/route'), 'the unknown path is not a label');

  t.strictSame([sample(text, 'state_ledger_locks_held'), sample(text, 'state_ledger_oldest_lock_age_seconds')], [0, 0], 'no lock yet');
  const lock = newLockInfo();
  t.strictSame((await server.request('/states/net/lock', json(lock))).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  text = await server.scrape();
  t.strictSame(sample(text, 'state_ledger_locks_held'), 1, 'one lock held');
  const age = sample(text, 'state_ledger_oldest_lock_age_seconds') ?? -1;
  t.ok(age >= 1 && age < 30, `the oldest lock is about a second old (${age})`);

  const held = await server.request('/states/net/lock', json(newLockInfo()));
  t.strictSame(held.status, 423);
  const mismatch = await server.request('/states/net/unlock', json(newLockInfo()));
  t.strictSame(mismatch.status, 409);
  const unlockedPush = await push(server, 'net', stateDocument(2));
  t.strictSame(unlockedPush.status, 423, 'a push without the lock is refused early');
  text = await server.scrape();
  t.strictSame(
    [
      sample(text, 'state_ledger_commands_total', { command: 'LockState', outcome: 'accepted' }),
      sample(text, 'state_ledger_commands_total', { command: 'LockState', outcome: 'lock_held' }),
      sample(text, 'state_ledger_commands_total', { command: 'UnlockState', outcome: 'lock_mismatch' }),
      sample(text, 'state_ledger_commands_total', { command: 'PushState', outcome: 'lock_held' }),
    ],
    [1, 1, 1, 1],
    '423 and 409 count as lock_held and lock_mismatch',
  );
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '/states/:name/lock', method: 'POST', status: '423' }), 1);

  t.strictSame((await server.request('/states/net/unlock', json(lock))).status, 200);
  text = await server.scrape();
  t.strictSame([sample(text, 'state_ledger_locks_held'), sample(text, 'state_ledger_oldest_lock_age_seconds')], [0, 0], 'unlocked: none held');
  t.strictSame(sample(text, 'state_ledger_commands_total', { command: 'UnlockState', outcome: 'accepted' }), 1);

  const pool = [
    sample(text, 'state_ledger_pg_pool_connections'),
    sample(text, 'state_ledger_pg_pool_idle_connections'),
    sample(text, 'state_ledger_pg_pool_waiting_clients'),
  ];
  t.ok((pool[0] ?? 0) >= 1 && (pool[1] ?? -1) >= 0 && pool[2] === 0, `the pool's connections are counted: ${JSON.stringify(pool)}`);
  t.strictSame(sample(text, 'state_ledger_pg_pool_max_connections'), server.db.pool.options.max);
});

t.test('a version conflict and its retry are counted through the handler observer', async (t) => {
  const { pool } = await freshDatabase(t);
  const metrics = createMetrics();
  // Two processes on one database: the first decides from its cache, which the second moved.
  const first = handleCommand(ledgerStores(pool).store, metrics.commands);
  const second = handleCommand(ledgerStores(pool).store);
  t.ok(E.isRight(await first('s', { type: 'PushState', lockId: null, body: storedBody(1) }, metadata())()));
  t.ok(E.isRight(await second('s', { type: 'PushState', lockId: null, body: storedBody(2) }, metadata())()));
  t.ok(E.isRight(await first('s', { type: 'PushState', lockId: null, body: storedBody(3) }, metadata())()), 'the stale writer reloaded and wrote');
  const text = await metrics.render();
  t.strictSame(
    [
      sample(text, 'state_ledger_commands_total', { command: 'PushState', outcome: 'accepted' }),
      sample(text, 'state_ledger_version_conflicts_total', { command: 'PushState' }),
      sample(text, 'state_ledger_command_retries_total', { command: 'PushState', reason: 'version_conflict' }),
    ],
    [2, 1, 1],
    'two accepted (the second process is not watched), one conflict, retried once',
  );

  const observed: unknown[] = [];
  const explicit = handleCommand(ledgerStores(pool).store, { onOutcome: (report) => observed.push(report) });
  await explicit('s', { type: 'LockState', lock: { ID: 'L' } }, metadata())();
  t.strictSame(observed, [{ command: 'LockState', outcome: { kind: 'accepted' }, versionConflicts: 0, staleReloads: 0 }], 'the observer as a parameter');
});

t.test('only administrators read /metrics on the main port', async (t) => {
  const server = await startMetricsServer(t);
  t.strictSame((await server.request('/access/users', json({ name: 'carol', password: 'carol-password-123' }))).status, 201);
  const granted = await server.request('/access/grants', json({ role: 'write', subject: 'user:carol', glob: '*' }));
  t.strictSame(granted.status, 200, await granted.clone().text());
  const carol = await server.request('/metrics', {}, basicAuth('carol', 'carol-password-123'));
  t.strictSame([carol.status, (await carol.json()).error], [403, 'forbidden'], 'a writer on * is not an administrator');
  const anonymous = await fetch(`${server.baseUrl}/metrics`);
  t.strictSame(anonymous.status, 401, 'nobody: 401');
  await anonymous.arrayBuffer();
  const admin = await server.request('/metrics');
  t.strictSame(admin.status, 200, 'admin on *: 200');
  t.ok((await admin.text()).includes('state_ledger_http_requests_total{route="/metrics",method="GET",status="403"} 1'), 'the refusal itself is counted');
});

t.test('METRICS_PORT serves /metrics without authentication, and only that', async (t) => {
  const server = await startMetricsServer(t);
  await (await push(server, 'net', stateDocument(1))).arrayBuffer();
  const base = await listen(t, metricsApp(server.metrics, createLogger('silent')));
  const reply = await fetch(`${base}/metrics`);
  t.strictSame(reply.status, 200);
  const text = await reply.text();
  t.strictSame(sample(text, 'state_ledger_http_requests_total', { route: '/states/:name', method: 'POST', status: '200' }), 1, 'the same registry as the main port');
  const other = await fetch(`${base}/states/net`);
  t.strictSame([other.status, (await other.json()).error], [404, 'not_found'], 'nothing else on that port');
  t.strictSame((await server.request('/metrics')).status, 200, 'the main port still serves administrators');
});

t.test('PostgreSQL down or hung: /metrics still answers, without the lock gauges', async (t) => {
  const logger = createLogger('silent');
  const errors: string[] = [];
  const onSourceError = (source: string) => void errors.push(source);

  // A real pool on a port where nothing listens: every query is refused.
  const port = await freePort();
  const dead = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 1000 });
  dead.on('error', () => undefined);
  t.teardown(() => dead.end());
  const down = createMetrics({ db: dead, pool: dead, onSourceError });
  const base = await listen(t, metricsApp(down, logger));
  for (const attempt of [1, 2]) {
    const reply = await fetch(`${base}/metrics`);
    t.strictSame(reply.status, 200, `scrape ${attempt} answers`);
    const text = await reply.text();
    t.strictSame(sample(text, 'state_ledger_locks_held'), undefined, 'the lock gauges are left out');
    t.strictSame(sample(text, 'state_ledger_metrics_collect_errors_total', { source: 'postgres' }), attempt, 'and the failure counted');
    t.strictSame(sample(text, 'state_ledger_pg_pool_waiting_clients'), 0, 'the pool gauges read no database and stay');
  }
  t.strictSame(errors, ['postgres', 'postgres'], 'each failure reported (serve.ts logs it)');

  let queries = 0;
  const hung: SqlExecutor = { query: () => (queries++, new Promise(() => undefined)) };
  const slow = createMetrics({ db: hung, sourceTimeoutMs: 200 });
  const slowBase = await listen(t, metricsApp(slow, logger));
  const started = Date.now();
  const replies = await Promise.all([fetch(`${slowBase}/metrics`), fetch(`${slowBase}/metrics`)]);
  t.strictSame(replies.map((r) => r.status), [200, 200], 'a hung database: answered after the timeout');
  await Promise.all(replies.map((r) => r.arrayBuffer()));
  t.ok(Date.now() - started < 5000, 'without waiting on the database');
  t.strictSame(queries, 1, 'overlapping scrapes share one query');
  const later = await fetch(`${slowBase}/metrics`);
  t.strictSame([later.status, queries], [200, 1], 'a scrape after the timeout still waits on the same hung query: they never pile up');
  await later.arrayBuffer();

  let healthy = false;
  const flaky: SqlExecutor = {
    query: async <R,>() => {
      if (!healthy) throw new Error('connection refused');
      return { rows: [{ held: 2, oldest: 7.5 }] as R[], rowCount: 1 };
    },
  } as SqlExecutor;
  const recovering = createMetrics({ db: flaky });
  t.strictSame(sample(await recovering.render(), 'state_ledger_locks_held'), undefined, 'down: left out');
  healthy = true;
  const back = await recovering.render();
  t.strictSame([sample(back, 'state_ledger_locks_held'), sample(back, 'state_ledger_oldest_lock_age_seconds')], [2, 7.5], 'back: the gauges return');
});

t.test('open event streams are a gauge read at scrape time', async (t) => {
  let open = 3;
  const metrics = createMetrics({ openStreams: () => open });
  t.strictSame(sample(await metrics.render(), 'state_ledger_event_streams_open'), 3);
  open = 0;
  t.strictSame(sample(await metrics.render(), 'state_ledger_event_streams_open'), 0);
});
