import { Validator } from '@seriousme/openapi-schema-validator';
import type { Express } from 'express';
import t, { type Test } from 'tap';
import { createApp } from '../../src/http/app.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, UNMATCHED, type LedgerMetrics } from '../../src/observability/metrics.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { encryptedDocument, md5Base64, newLockInfo, stateDocument } from '../support/go-client.js';
import { basicAuth, bodyLimits, listen, PASSWORD, TRAFFIC, USER } from '../support/server.js';
import { freshDatabase, freshS3Config, tempDir } from '../support/services.js';

/**
 * Issue 9, item 3: the OpenAPI document at /openapi.json describes every route, and keeps doing so.
 *
 * 1. Every route registered in the express app (its router stack walked) is in the document with
 *    its method (LOCK and UNLOCK as the `x-lock` / `x-unlock` path-item extensions), and every
 *    operation of the document is a route of the app. A route added without documentation fails.
 * 2. Every status a route answers is listed for its operation. The server is driven with requests
 *    of every kind (success, bad input, wrong role, no credentials, unknown state, conflicts), and
 *    two records are compared with the document: the HTTP request counter of the metrics (the route
 *    pattern that answered, method, status), and the answers to requests sent to a known operation
 *    (which also covers refusals given before any route matched, counted as `(unmatched)`).
 *    Besides the scenarios written out below, every route of the app, found by walking the router,
 *    is probed with every identity, unknown and invalid names and bodies: a route added later is
 *    driven without this file changing.
 * 3. The document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator), every `$ref` points
 *    somewhere, every path template's parameters are declared, and operationIds are unique.
 */

type Json = Record<string, unknown>;
const doc = openApiDocument() as Json & { paths: Record<string, Record<string, Json>> };

// ---------------------------------------------------------------------------------------------
// The app's routes and the document's operations

interface RouteEntry {
  /** As express has it: /states/:name/versions/:version */
  readonly path: string;
  readonly method: string;
}

interface Layer {
  readonly route?: { readonly path: string | string[]; readonly methods: Record<string, boolean> };
  readonly handle?: { readonly stack?: Layer[] };
  readonly rawPath?: unknown;
}

/** Every route of the app, its router stack walked recursively (express 5: app.router.stack). */
const registeredRoutes = (app: Express): RouteEntry[] => {
  const found: RouteEntry[] = [];
  const walk = (stack: readonly Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route !== undefined) {
        for (const path of [layer.route.path].flat()) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on) found.push({ path: `${prefix}${path}`, method: method === '_all' ? 'ALL' : method.toUpperCase() });
          }
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, `${prefix}${mount}`);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found;
};

/** `/states/:name` as OpenAPI writes it: `/states/{name}`. */
const openApiPath = (expressPath: string): string => expressPath.replace(/:(\w+)/g, '{$1}');

const STANDARD_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** The methods OpenAPI has no field for, and the path-item extension that describes each. */
const EXTENSION_METHODS: Record<string, string> = { LOCK: 'x-lock', UNLOCK: 'x-unlock' };
const operationKey = (method: string): string => EXTENSION_METHODS[method] ?? method.toLowerCase();
const OPERATION_KEYS = [...STANDARD_METHODS, ...Object.values(EXTENSION_METHODS)];

/** The operation that answers `method` on `path`; HEAD is answered by GET (express does so). */
const operationFor = (path: string, method: string): Json | undefined => {
  const item = doc.paths[path];
  if (item === undefined) return undefined;
  return item[operationKey(method)] ?? (method === 'HEAD' ? item.get : undefined);
};

const documentedStatuses = (operation: Json): string[] => Object.keys((operation.responses as Json | undefined) ?? {});
const isDocumented = (operation: Json, status: number): boolean =>
  documentedStatuses(operation).some((key) => key === String(status) || key === `${String(status)[0]}XX` || key === 'default');

// ---------------------------------------------------------------------------------------------
// The server: the real app, with a metrics registry of its own

interface Server {
  readonly app: Express;
  readonly baseUrl: string;
  readonly metrics: LedgerMetrics;
}

const MAX_STATE_BYTES = 256 * 1024;

const startServer = async (t: Test): Promise<Server> => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const metrics = createMetrics({ db: db.pool, pool: db.pool });
  const traffic = { ...TRAFFIC, loginFailuresPerMinute: 1_000_000 };
  const app = createApp({
    ...ledgerStores(db.pool),
    db: db.pool,
    blobs: await s3BlobStore(freshS3Config()),
    users: new Map([[USER, PASSWORD]]),
    limits: bodyLimits(dir, MAX_STATE_BYTES),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    traffic,
    metrics,
  });
  return { app, baseUrl: await listen(t, app, traffic), metrics };
};

/** (route, method, status) → count, from the HTTP request counter. */
const requestCounts = async (metrics: LedgerMetrics): Promise<Array<{ route: string; method: string; status: number; count: number }>> => {
  const found = [];
  for (const line of (await metrics.render()).split('\n')) {
    const match = /^state_ledger_http_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    found.push({ route: labels.route ?? '', method: labels.method ?? '', status: Number(labels.status), count: Number(match[2]) });
  }
  return found;
};

// ---------------------------------------------------------------------------------------------
// Requests, each sent to a known operation and its answer recorded

const ALICE = basicAuth(USER, PASSWORD);

interface Sent {
  /** The operation meant: `METHOD /openapi/path`. */
  readonly operation: string;
  readonly url: string;
  readonly status: number;
}

interface Init {
  readonly auth?: string | null;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
}

const driver = (baseUrl: string) => {
  const sent: Sent[] = [];
  const send = async (operation: string, url: string, init: Init = {}): Promise<{ status: number; text: string; headers: Headers }> => {
    const method = operation.split(' ')[0] ?? 'GET';
    const headers: Record<string, string> = { ...init.headers };
    const auth = init.auth === undefined ? ALICE : init.auth;
    if (auth !== null) headers.authorization = auth;
    if (init.body !== undefined) {
      const bytes = Buffer.from(init.body);
      headers['content-type'] ??= 'application/json';
      headers['content-md5'] ??= md5Base64(bytes);
    }
    const reply = await fetch(`${baseUrl}${url}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: new Uint8Array(Buffer.from(init.body)) }),
    });
    // A stream (GET /events/stream) stays open: its status and headers are the answer.
    const streaming = reply.headers.get('content-type')?.startsWith('text/event-stream') === true;
    if (streaming) await reply.body?.cancel();
    const text = method === 'HEAD' || streaming ? '' : await reply.text();
    sent.push({ operation, url: `${method} ${url}`, status: reply.status });
    return { status: reply.status, text, headers: reply.headers };
  };
  return { sent, send };
};

type Send = ReturnType<typeof driver>['send'];

const json = (value: unknown): string => JSON.stringify(value);

/** Expected answers of the scenarios: checked, so that the scenarios cannot drift into testing nothing. */
const expect = async (t: Test, reply: Promise<{ status: number }>, status: number, what: string) => t.equal((await reply).status, status, what);

// ---------------------------------------------------------------------------------------------

t.test('the document is valid OpenAPI 3.1', async (t) => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  t.ok(result.valid, `valid against the OpenAPI ${validator.version} schema: ${JSON.stringify(result.errors ?? null, null, 1)?.slice(0, 3000)}`);
  t.equal(doc.openapi, '3.1.0');
  t.match(doc.info, { title: 'state-ledger', version: /^\d+\.\d+\.\d+/ });

  // Every $ref resolves.
  const missing: string[] = [];
  const resolve = (pointer: string): unknown =>
    pointer
      .slice(2)
      .split('/')
      .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Json)[part] : undefined), doc);
  const walk = (node: unknown, at: string) => {
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${at}/${i}`));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && (typeof value !== 'string' || !value.startsWith('#/') || resolve(value) === undefined)) missing.push(`${at}: ${String(value)}`);
      else walk(value, `${at}/${key}`);
    }
  };
  walk(doc, '#');
  t.strictSame(missing, [], 'every $ref points somewhere');

  // Path templates and their parameters; operationIds unique; every operation answers something.
  const parameterOf = (p: Json): Json => (typeof p.$ref === 'string' ? (resolve(p.$ref) as Json) : p);
  const problems: string[] = [];
  const ids = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    for (const key of Object.keys(item).filter((k) => OPERATION_KEYS.includes(k))) {
      const op = item[key] as Json;
      const where = `${key} ${path}`;
      const declared = ((op.parameters as Json[] | undefined) ?? []).map(parameterOf).filter((p) => p.in === 'path').map((p) => p.name);
      if (JSON.stringify([...declared].sort()) !== JSON.stringify([...templated].sort())) problems.push(`${where}: path parameters ${json(declared)}, template ${json(templated)}`);
      const id = op.operationId;
      if (typeof id !== 'string') problems.push(`${where}: no operationId`);
      else if (ids.has(id)) problems.push(`${where}: operationId ${id} is also ${ids.get(id)}`);
      else ids.set(id, where);
      if (documentedStatuses(op).length === 0) problems.push(`${where}: no responses`);
      if (key.startsWith('x-') && (typeof op.summary !== 'string' || op.responses === undefined)) problems.push(`${where}: not an operation object`);
    }
  }
  t.strictSame(problems, [], 'path parameters declared, operationIds unique, responses listed');
  t.match((doc.info as Json).description, /x-lock/, 'the description says how LOCK and UNLOCK are described');
  t.match(Object.keys((doc.components as Json).securitySchemes as Json).sort(), ['basic', 'bearer', 'mutualTLS']);
});

t.test('every route of the app is documented, and every documented operation is a route', async (t) => {
  const { app } = await startServer(t);
  const routes = registeredRoutes(app);
  t.ok(routes.length >= 30, `the router walk finds the routes (${routes.length})`);
  t.ok(routes.some((r) => r.method === 'LOCK') && routes.some((r) => r.method === 'UNLOCK'), 'LOCK and UNLOCK routes among them');

  const undocumented = routes.filter((r) => operationFor(openApiPath(r.path), r.method === 'ALL' ? 'GET' : r.method) === undefined || r.method === 'ALL');
  t.strictSame(
    undocumented.map((r) => `${r.method} ${r.path}`),
    [],
    'routes missing from src/http/openapi.ts (LOCK and UNLOCK go under x-lock / x-unlock)',
  );

  const registered = new Set(routes.map((r) => `${operationKey(r.method)} ${openApiPath(r.path)}`));
  const stale = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => OPERATION_KEYS.includes(key))
      .map((key) => `${key} ${path}`)
      .filter((operation) => !registered.has(operation)),
  );
  t.strictSame(stale, [], 'operations in the document that no route of the app serves');
});

t.test('every status a route answers is documented for it', async (t) => {
  const server = await startServer(t);
  const { sent, send } = driver(server.baseUrl);
  const routes = registeredRoutes(server.app);

  // Identities: alice is an administrator of everything (AUTH_USERS); tokens with one role each on *.
  const tokens: Record<string, string> = {};
  for (const role of ['outputs', 'read', 'write'] as const) {
    const made = await send('POST /access/tokens', '/access/tokens', { body: json({ name: `${role}-token` }) });
    t.equal(made.status, 201, `token for ${role}`);
    tokens[role] = `Bearer ${(JSON.parse(made.text) as { secret: string }).secret}`;
    t.equal((await send('POST /access/grants', '/access/grants', { body: json({ role, subject: `token:${role}-token`, glob: '*' }) })).status, 200);
  }
  const [outputs, reader, writer] = [tokens.outputs, tokens.read, tokens.write] as string[];

  await scenarios(t, send, { outputs: outputs!, reader: reader!, writer: writer! });
  await probeEveryRoute(send, routes, [null, basicAuth(USER, 'wrong password'), outputs!, reader!, writer!, ALICE]);

  // Per request sent to a known operation (refusals before routing included).
  const answeredUndocumented = new Map<string, Set<string>>();
  for (const { operation, url, status } of sent) {
    const [method = '', path = ''] = operation.split(' ');
    const op = operationFor(path, method);
    if (op !== undefined && isDocumented(op, status)) continue;
    const key = op === undefined ? `${operation}: no such operation in the document` : `${operation} answered ${status}`;
    answeredUndocumented.set(key, (answeredUndocumented.get(key) ?? new Set()).add(url));
  }
  t.strictSame(
    [...answeredUndocumented].map(([what, urls]) => `${what} (e.g. ${[...urls].slice(0, 2).join(', ')})`),
    [],
    'statuses answered that the document does not list for the operation',
  );

  // Per route pattern that answered, as the metrics count it.
  const counts = await requestCounts(server.metrics);
  const undocumented = counts
    .filter(({ route }) => route !== UNMATCHED)
    .filter(({ route, method, status }) => {
      const op = operationFor(openApiPath(route), method);
      return op === undefined || !isDocumented(op, status);
    })
    .map(({ route, method, status, count }) => {
      const op = operationFor(openApiPath(route), method);
      return op === undefined
        ? `${method} ${route}: not in the document (answered ${status} ${count}x)`
        : `${method} ${route} answered ${status} (${count}x); documented: ${documentedStatuses(op).join(', ')}`;
    });
  t.strictSame(undocumented, [], 'the metrics saw statuses the document does not list for the route');

  const driven = new Set(counts.filter((c) => c.route !== UNMATCHED).map((c) => `${c.method} ${c.route}`));
  t.strictSame(
    routes.map((r) => `${r.method} ${r.path}`).filter((r) => !driven.has(r)),
    [],
    'every route was driven (the metrics counted an answer from it)',
  );
  const unmatched = counts.filter((c) => c.route === UNMATCHED).map((c) => `${c.method} ${c.status}`);
  t.comment(`answered before any route matched: ${[...new Set(unmatched)].sort().join(', ')}`);
  t.comment(`${sent.length} requests sent`);
});

t.test('GET /openapi.json: without credentials, cacheable, revalidated by ETag', async (t) => {
  const { baseUrl } = await startServer(t);
  const reply = await fetch(`${baseUrl}/openapi.json`);
  t.equal(reply.status, 200);
  t.match(reply.headers.get('content-type'), /^application\/json/);
  t.equal(reply.headers.get('cache-control'), 'public, max-age=300');
  t.strictSame(await reply.json(), JSON.parse(JSON.stringify(doc)), 'the document');
  const etag = reply.headers.get('etag') ?? '';
  t.match(etag, /^"[0-9a-f]{64}"$/);
  const again = await fetch(`${baseUrl}/openapi.json`, { headers: { 'if-none-match': etag } });
  t.equal(again.status, 304, 'unchanged: 304');
  const withBadCredentials = await fetch(`${baseUrl}/openapi.json`, { headers: { authorization: basicAuth(USER, 'wrong') } });
  t.equal(withBadCredentials.status, 200, 'credentials are not looked at');
  await withBadCredentials.arrayBuffer();
});

// ---------------------------------------------------------------------------------------------
// The scenarios: each route's answers, written out

const scenarios = async (t: Test, send: Send, who: { outputs: string; reader: string; writer: string }) => {
  const doc1 = stateDocument(1);
  const lineage2 = 'c0ffee00-0000-4000-8000-0000000000ff';

  // Health and the document, without credentials.
  await expect(t, send('GET /livez', '/livez', { auth: null }), 200, 'livez');
  await expect(t, send('GET /readyz', '/readyz', { auth: null }), 200, 'readyz');
  await expect(t, send('GET /healthz', '/healthz', { auth: null }), 200, 'healthz');
  await expect(t, send('GET /openapi.json', '/openapi.json', { auth: null }), 200, 'openapi.json');
  await expect(t, send('HEAD /livez', '/livez', { auth: null }), 200, 'HEAD livez');

  // Pushes.
  for (let serial = 1; serial <= 3; serial++) await expect(t, send('POST /states/{name}', '/states/net', { body: stateDocument(serial) }), 200, `push ${serial}`);
  await expect(t, send('PUT /states/{name}', '/states/net', { body: stateDocument(4) }), 200, 'PUT push');
  await expect(t, send('POST /states/{name}', '/states/team-a/prod/net', { body: doc1 }), 200, 'a nested name');
  await expect(t, send('POST /states/{name}', '/states/enc', { body: encryptedDocument(1) }), 200, 'an encrypted state');
  await expect(t, send('POST /states/{name}', '/states/other', { body: stateDocument(1, lineage2) }), 200, 'another lineage');
  await expect(t, send('POST /states/{name}', '/states/net', { body: '' }), 400, 'empty body');
  await expect(t, send('POST /states/{name}', '/states/net', { body: '{"version": 4', headers: { 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' } }), 400, 'MD5 mismatch');
  await expect(t, send('POST /states/{name}', '/states/net', { body: '[1]' }), 400, 'not a state');
  await expect(t, send('POST /states/{name}', '/states/net', { body: Buffer.alloc(MAX_STATE_BYTES + 1, 32) }), 413, 'too large');
  await expect(t, send('POST /states/{name}', '/states/net?ID=', { body: doc1 }), 400, 'empty lock ID');
  await expect(t, send('POST /states/{name}', '/states/net', { body: doc1, auth: who.reader }), 403, 'a reader pushes');
  await expect(t, send('POST /states/{name}', '/states/net', { body: doc1, headers: { origin: 'https://evil.example' } }), 403, 'a foreign origin');
  await expect(t, send('POST /states/{name}', '/states/net', { body: doc1, headers: { 'content-encoding': 'gzip' } }), 415, 'compressed');
  await expect(t, send('POST /states/{name}', '/states/net', { body: doc1, auth: null }), 401, 'no credentials');
  await expect(t, send('POST /states/{name}', '/states/-bad', { body: doc1 }), 400, 'bad name');

  // Reads of the state.
  const current = await send('GET /states/{name}', '/states/net');
  t.equal(current.status, 200, 'read');
  await expect(t, send('GET /states/{name}', '/states/net', { headers: { 'if-none-match': current.headers.get('etag') ?? '' } }), 304, 'If-None-Match');
  await expect(t, send('GET /states/{name}', '/states/nope'), 404, 'missing');
  await expect(t, send('GET /states/{name}', '/states/net?at=yesterday'), 400, 'bad at');
  await expect(t, send('GET /states/{name}', '/states/net?at=2000-01-01T00:00:00Z'), 404, 'before it existed');
  await expect(t, send('GET /states/{name}', `/states/net?at=${encodeURIComponent(new Date().toISOString())}`), 200, 'at now');
  await expect(t, send('GET /states/{name}', '/states/net', { auth: who.outputs }), 200, 'outputs only');
  await expect(t, send('GET /states/{name}', '/states/net?at=2000-01-01T00:00:00Z', { auth: who.outputs }), 403, 'outputs only, at');
  await expect(t, send('GET /states/{name}', '/states/enc', { auth: who.outputs }), 403, 'outputs only, encrypted');
  await expect(t, send('GET /states/{name}', '/states/net?x=%FF'), 400, 'query not UTF-8');
  await expect(t, send('GET /states/{name}', '/states/team-a%2Fprod%2Fnet'), 200, 'a nested name, encoded');
  await expect(t, send('HEAD /states/{name}', '/states/net'), 200, 'HEAD');
  await expect(t, send('GET /states/{name}/outputs', '/states/net/outputs'), 200, 'outputs');
  await expect(t, send('GET /states/{name}/outputs', '/states/nope/outputs'), 404, 'outputs of nothing');
  await expect(t, send('GET /states/{name}/outputs', '/states/enc/outputs'), 422, 'outputs of an encrypted state');
  await expect(t, send('GET /states/{name}/outputs', '/states/enc/outputs', { auth: who.outputs }), 403, 'outputs only, encrypted');
  await expect(t, send('GET /states', '/states'), 200, 'list');
  await expect(t, send('GET /states', '/states?prefix=team-a/'), 200, 'list a subtree');
  await expect(t, send('GET /states', '/states?prefix=%3Cx%3E'), 400, 'bad prefix');

  // Locks.
  const lock = newLockInfo();
  await expect(t, send('POST /states/{name}/lock', '/states/net/lock', { body: json(lock) }), 200, 'lock');
  await expect(t, send('POST /states/{name}/lock', '/states/net/lock', { body: json(lock) }), 200, 'lock again: a retry');
  await expect(t, send('LOCK /states/{name}', '/states/net', { body: json(newLockInfo()) }), 423, 'LOCK: held');
  await expect(t, send('LOCK /states/{name}/lock', '/states/net/lock', { body: json(newLockInfo()) }), 423, 'LOCK /lock: held');
  await expect(t, send('POST /states/{name}/lock', '/states/net/lock', { body: '{}' }), 400, 'no ID');
  await expect(t, send('POST /states/{name}/lock', '/states/net/lock', { body: 'x'.repeat(70 * 1024) }), 413, 'a lock info too large');
  await expect(t, send('POST /states/{name}', '/states/net', { body: stateDocument(5) }), 423, 'push without the lock');
  await expect(t, send('POST /states/{name}', `/states/net?ID=${lock.ID}`, { body: stateDocument(5) }), 200, 'push under the lock');
  await expect(t, send('DELETE /states/{name}', '/states/net'), 423, 'delete without the lock');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback', { body: json({ version: 1, reason: 'r' }) }), 423, 'rollback without the lock');
  await expect(t, send('GET /states/{name}/lock', '/states/net/lock'), 200, 'who holds it');
  await expect(t, send('GET /states/{name}/lock', '/states/net/lock', { auth: who.outputs }), 403, 'outputs only: the lock');
  await expect(t, send('GET /states/{name}/lock', '/states/net/lock?at=2000-01-01T00:00:00Z'), 404, 'not locked then');
  await expect(t, send('GET /states/{name}/lock', '/states/other/lock'), 404, 'not locked');
  await expect(t, send('GET /locks', '/locks'), 200, 'locks');
  await expect(t, send('GET /locks', '/locks', { headers: { accept: 'text/plain' } }), 200, 'locks as a table');
  await expect(t, send('GET /locks', '/locks?format=xml'), 400, 'bad format');
  await expect(t, send('POST /states/{name}/unlock', '/states/net/unlock', { body: json(newLockInfo()) }), 409, 'unlock with another ID');
  await expect(t, send('UNLOCK /states/{name}/unlock', '/states/net/unlock', { auth: who.writer }), 403, 'a writer force-unlocks');
  await expect(t, send('DELETE /states/{name}/lock', '/states/net/lock', { body: json({ reason: 'stuck', ID: 'someone-else' }) }), 409, 'release another ID');
  await expect(t, send('DELETE /states/{name}/lock', '/states/net/lock', { body: json({ ID: lock.ID }) }), 400, 'release without a reason');
  await expect(t, send('DELETE /states/{name}/lock', '/states/net/lock', { body: json({ reason: 'stuck' }), auth: who.writer }), 403, 'a writer releases');
  await expect(t, send('DELETE /states/{name}/lock', '/states/net/lock', { body: json({ reason: 'stuck', ID: lock.ID }) }), 200, 'release');
  await expect(t, send('POST /states/{name}', `/states/net?ID=${lock.ID}`, { body: stateDocument(6) }), 409, 'push under a released lock: lock_lost');
  await expect(t, send('UNLOCK /states/{name}', '/states/net', { body: json(lock) }), 200, 'UNLOCK: a retry of the release');
  const second = newLockInfo();
  await expect(t, send('LOCK /states/{name}', '/states/net', { body: json(second) }), 200, 'LOCK');
  await expect(t, send('UNLOCK /states/{name}', '/states/net', { body: json(second) }), 200, 'UNLOCK');
  await expect(t, send('LOCK /states/{name}/lock', '/states/net/lock', { body: json(second) }), 200, 'LOCK /lock');
  await expect(t, send('UNLOCK /states/{name}/unlock', '/states/net/unlock', { body: json(second) }), 200, 'UNLOCK /unlock');

  // History.
  await expect(t, send('GET /states/{name}/versions', '/states/net/versions'), 200, 'versions');
  await expect(t, send('GET /states/{name}/versions', '/states/net/versions?format=table'), 200, 'versions as a table');
  await expect(t, send('GET /states/{name}/versions', '/states/net/versions?limit=zero'), 400, 'bad limit');
  await expect(t, send('GET /states/{name}/versions', '/states/nope/versions'), 404, 'versions of nothing');
  await expect(t, send('GET /states/{name}/versions', '/states/net/versions', { auth: who.outputs }), 403, 'outputs only: versions');
  const v1 = await send('GET /states/{name}/versions/{version}', '/states/net/versions/1');
  t.equal(v1.status, 200, 'version 1');
  await expect(t, send('GET /states/{name}/versions/{version}', '/states/net/versions/1', { headers: { 'if-none-match': v1.headers.get('etag') ?? '' } }), 304, 'version 1 unchanged');
  await expect(t, send('GET /states/{name}/versions/{version}', '/states/net/versions/999'), 404, 'no version 999');
  await expect(t, send('GET /states/{name}/versions/{version}', '/states/net/versions/abc'), 400, 'bad version');
  await expect(t, send('GET /states/{name}/diff', '/states/net/diff'), 200, 'diff');
  await expect(t, send('GET /states/{name}/diff', '/states/net/diff?from=1&to=3', { headers: { accept: 'text/plain' } }), 200, 'diff as text');
  await expect(t, send('GET /states/{name}/diff', '/states/net/diff?from=999'), 404, 'diff from nothing');
  await expect(t, send('GET /states/{name}/diff', '/states/nope/diff'), 404, 'diff of nothing');
  await expect(t, send('GET /states/{name}/diff', '/states/enc/diff'), 422, 'diff of an encrypted state');
  await expect(t, send('GET /states/{name}/diff', '/states/net/diff?to=x'), 400, 'bad to');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback', { body: json({ version: 1, reason: 'back' }) }), 200, 'rollback');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback', { body: json({ version: 999, reason: 'back' }) }), 404, 'rollback to nothing');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback', { body: json({ version: '1' }) }), 400, 'bad rollback');
  await expect(t, send('POST /states/{name}/rollback', '/states/other/rollback', { body: json({ version: 1, reason: 'r' }) }), 200, 'rollback on its own lineage');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback?ID=nobody-holds-it', { body: json({ version: 1, reason: 'r' }) }), 409, 'rollback with a lost lock');
  await expect(t, send('POST /states/{name}/rollback', '/states/net/rollback', { body: json({ version: 1, reason: 'r' }), auth: who.writer }), 403, 'a writer rolls back');

  // Pins, where the app has them (added while this test was written).
  if (doc.paths['/states/{name}/versions/{version}/pin'] !== undefined) {
    await expect(t, send('POST /states/{name}/versions/{version}/pin', '/states/net/versions/1/pin', { body: json({ reason: 'the last good one' }) }), 200, 'pin');
    await expect(t, send('POST /states/{name}/versions/{version}/pin', '/states/net/versions/999/pin', { body: json({ reason: 'r' }) }), 404, 'pin nothing');
    await expect(t, send('POST /states/{name}/versions/{version}/pin', '/states/net/versions/1/pin', { body: json({ reason: ' ' }) }), 400, 'pin without a reason');
    await expect(t, send('DELETE /states/{name}/versions/{version}/pin', '/states/net/versions/1/pin'), 200, 'unpin');
  }

  // Audit.
  await expect(t, send('GET /states/{name}/events', '/states/net/events'), 200, 'events');
  await expect(t, send('GET /states/{name}/events', '/states/net/events', { headers: { accept: 'text/plain' } }), 200, 'events as a table');
  await expect(t, send('GET /states/{name}/events', '/states/net/events?after=-1'), 400, 'bad after');
  await expect(t, send('GET /states/{name}/events', '/states/nope/events'), 404, 'events of nothing');
  await expect(t, send('GET /events', '/events'), 200, 'feed');
  await send('GET /events', '/events?after=999999&limit=1'); // a cursor beyond the head (404 or 409, or an empty page)
  await expect(t, send('GET /events', '/events?after=now&wait=0'), 200, 'the feed from now on');
  await expect(t, send('GET /events', '/events?after=later'), 400, 'a cursor that is neither a position nor now');
  await expect(t, send('GET /events', '/events?wait=61'), 400, 'wait too long');
  await expect(t, send('GET /events', '/events?after=0&limit=1&format=table'), 200, 'feed as a table');

  // Deletion.
  await expect(t, send('DELETE /states/{name}', '/states/other', { auth: who.writer }), 403, 'a writer deletes');
  await expect(t, send('DELETE /states/{name}', '/states/other?ID=gone'), 409, 'delete with a lost lock');
  await expect(t, send('DELETE /states/{name}', '/states/other'), 200, 'delete');

  // Access.
  await expect(t, send('GET /access/users', '/access/users'), 200, 'users');
  await expect(t, send('GET /access/users', '/access/users', { headers: { accept: 'text/plain' } }), 200, 'users as a table');
  await expect(t, send('GET /access/users', '/access/users', { auth: who.writer }), 403, 'a writer lists users');
  await expect(t, send('POST /access/users', '/access/users', { body: json({ name: 'carol' }) }), 201, 'add a user');
  await expect(t, send('POST /access/users', '/access/users', { body: json({ name: 'carol' }) }), 409, 'add her again');
  await expect(t, send('POST /access/users', '/access/users', { body: json({ name: 'token' }) }), 400, 'a reserved name');
  await expect(t, send('PUT /access/users/{user}/password', '/access/users/carol/password', { body: json({ password: 'carol-password-123' }) }), 200, 'password');
  await expect(t, send('PUT /access/users/{user}/password', '/access/users/nobody/password', { body: json({ password: 'carol-password-123' }) }), 404, 'password of nobody');
  await expect(t, send('PUT /access/users/{user}/password', '/access/users/carol/password', { body: json({ password: 'short' }) }), 400, 'short password');
  await expect(t, send('GET /access/tokens', '/access/tokens'), 200, 'tokens');
  await expect(t, send('POST /access/tokens', '/access/tokens', { body: json({ name: 'ci', expires: '30d' }) }), 201, 'a token');
  await expect(t, send('POST /access/tokens', '/access/tokens', { body: json({ name: 'ci' }) }), 409, 'the token again');
  await expect(t, send('POST /access/tokens', '/access/tokens', { body: json({ name: 'ci2', expires: 'someday' }) }), 400, 'bad expiry');
  await expect(t, send('GET /access/grants', '/access/grants'), 200, 'grants');
  await expect(t, send('POST /access/grants', '/access/grants', { body: json({ role: 'read', subject: 'user:carol', glob: 'net' }) }), 200, 'grant');
  await expect(t, send('POST /access/grants', '/access/grants', { body: json({ role: 'read', subject: 'user:ghost', glob: 'net' }) }), 422, 'grant to nobody');
  await expect(t, send('POST /access/grants', '/access/grants', { body: json({ role: 'king', subject: 'user:carol', glob: 'net' }) }), 400, 'bad role');
  await expect(t, send('DELETE /access/grants', '/access/grants', { body: json({ role: 'read', subject: 'user:carol', glob: 'net' }) }), 200, 'revoke');
  await expect(t, send('DELETE /access/grants', '/access/grants', { body: json({ role: 'read', subject: 'user:carol', glob: 'net' }) }), 404, 'revoke again');
  await expect(t, send('DELETE /access/tokens/{token}', '/access/tokens/ci'), 200, 'revoke the token');
  await expect(t, send('DELETE /access/tokens/{token}', '/access/tokens/ci'), 404, 'revoke it again');
  await expect(t, send('POST /access/grants', '/access/grants', { body: json({ role: 'admin', subject: 'user:carol', glob: '*' }) }), 200, 'carol administers everything');
  await expect(t, send('DELETE /access/users/{user}', '/access/users/carol'), 409, 'the last administrator in the database');
  await expect(t, send('DELETE /access/grants', '/access/grants', { body: json({ role: 'admin', subject: 'user:carol', glob: '*' }) }), 409, 'her grant is the last too');
  await expect(t, send('POST /access/apply', '/access/apply?dry_run=true', { body: json({ users: ['carol'] }) }), 409, 'apply without an administrator');
  await expect(t, send('POST /access/apply', '/access/apply?dry_run=maybe', { body: '{}' }), 400, 'bad dry_run');
  await expect(t, send('POST /access/apply', '/access/apply?dry_run=true', { body: json({ users: ['carol'], grants: [{ role: 'admin', subject: 'user:carol', glob: '*' }] }) }), 200, 'a dry run');
  await expect(t, send('POST /access/apply', '/access/apply', { body: json({ users: ['carol'], grants: [{ role: 'read', subject: 'user:dave', glob: '*' }] }) }), 422, 'apply a grant to nobody');
  await expect(t, send('POST /access/users', '/access/users', { body: json({ name: 'dave' }) }), 201, 'dave');
  await expect(t, send('DELETE /access/users/{user}', '/access/users/dave'), 200, 'remove dave');
  await expect(t, send('DELETE /access/users/{user}', '/access/users/dave'), 404, 'remove dave again');

  // Metrics.
  await expect(t, send('GET /metrics', '/metrics'), 200, 'metrics');
  await expect(t, send('GET /metrics', '/metrics', { auth: who.reader }), 403, 'a reader reads metrics');
  await expect(t, send('GET /metrics', '/metrics', { auth: null }), 401, 'nobody reads metrics');
};

// ---------------------------------------------------------------------------------------------
// Every route of the app, found by walking the router: a route added later is probed as well

/** Values for a path parameter: one that exists (where it can), one that does not, one that is invalid. */
const PARAMETER_VALUES: Record<string, readonly string[]> = {
  name: ['probe', 'nope', '-bad'],
  version: ['1', '999', 'abc'],
  user: ['nobody', '-bad'],
  token: ['nobody', '-bad'],
};

const fill = (path: string, values: Record<string, string>): string => path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name] ?? 'x'));

/** Every combination of the values of the path's parameters (the first value of each, then each value in turn). */
const urlsOf = (path: string): string[] => {
  const names = [...path.matchAll(/:(\w+)/g)].map((m) => m[1] ?? '');
  const base = Object.fromEntries(names.map((name) => [name, PARAMETER_VALUES[name]?.[0] ?? 'x']));
  const urls = new Set([fill(path, base)]);
  for (const name of names) for (const value of PARAMETER_VALUES[name] ?? ['x']) urls.add(fill(path, { ...base, [name]: value }));
  return [...urls];
};

const probeEveryRoute = async (send: Send, routes: readonly RouteEntry[], identities: ReadonlyArray<string | null>) => {
  for (let serial = 1; serial <= 2; serial++) await send('POST /states/{name}', '/states/probe', { body: stateDocument(serial) });
  // Administrators last: their probes may delete the probe state or change access.
  for (const [i, auth] of identities.entries()) {
    for (const route of routes) {
      if (route.method === 'ALL') continue;
      const operation = `${route.method} ${openApiPath(route.path)}`;
      const anonymous = i < 2;
      const urls = anonymous ? urlsOf(route.path).slice(0, 1) : urlsOf(route.path);
      const bodies: ReadonlyArray<string | undefined> = ['GET', 'HEAD'].includes(route.method) || anonymous ? [undefined] : [undefined, '{}', 'not json'];
      for (const url of urls) {
        for (const body of bodies) await send(operation, url, { auth, ...(body === undefined ? {} : { body }) });
      }
      if (route.method === 'GET' && !anonymous) await send(`HEAD ${openApiPath(route.path)}`, urls[0] ?? route.path, { auth });
    }
  }
};
