import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import { ledgerStores } from '../../src/ledger-stores.js';
import { replay } from '../../src/projections/replay.js';
import { collectGarbage } from '../../src/retention/gc.js';
import { parseRetention, type Retention } from '../../src/retention/policy.js';
import { pruneLedger } from '../../src/retention/prune.js';
import { humanBytes } from '../../src/retention/report.js';
import { blobKeyFor, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { deleteUnreferencedBlob } from '../../src/storage/blobs/blob-guards.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { verifyLedger } from '../../src/storage/verify/verify-ledger.js';
import { runCli } from '../support/cli.js';
import { metadata } from '../support/commands.js';
import { stateDocument } from '../support/go-client.js';
import { DUMP, runHostileCases, type HostileRequest, type RawReply } from '../support/hostile.js';
import { startServer } from '../support/server.js';
import { freshS3Config, s3Environment, tempDir } from '../support/services.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const DAY = 86400_000;

const policy = (text: string): Retention => {
  const parsed = parseRetention(text);
  if (E.isLeft(parsed)) throw new Error(parsed.left);
  return parsed.right;
};

t.test('retention and garbage collection', async (t) => {
  const s3 = freshS3Config();
  const server = await startServer(t, { s3 });
  const { pool } = server.db;
  const deps = { pool, store: ledgerStores(pool).store, blobs: server.blobs };
  const prune = (text: string, options: { now?: Date; dryRun?: boolean } = {}) =>
    pruneLedger(deps, policy(text), { now: options.now ?? new Date(), dryRun: options.dryRun ?? false, metadata: metadata('cli:tester') });
  const push = async (name: string, body: Buffer) => {
    const reply = await server.request(`/states/${name}`, { method: 'POST', body: new Uint8Array(body) });
    t.strictSame(reply.status, 200, `push to ${name}`);
    return ((await reply.json()) as { version: number }).version;
  };
  const doc = (serial: number, lineage = 'c0ffee00-0000-4000-8000-00000000000a') => stateDocument(serial, lineage);
  const post = (p: string, body: unknown, method = 'POST') =>
    server.request(p, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const versions = async (name: string) =>
    ((await (await server.request(`/states/${name}/versions`)).json()) as { versions: Array<{ version: number; pinned: unknown; pruned: { policy: string } | null }> }).versions.map((v) => ({
      version: v.version,
      pinned: v.pinned !== null,
      pruned: v.pruned?.policy ?? null,
    }));
  const eventCount = async () => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]?.n;

  // count: five versions, version 2 pinned. age: three versions, version 1 pinned.
  const countDocs = [1, 2, 3, 4, 5].map((serial) => doc(serial, 'c0ffee00-0000-4000-8000-0000000000c1'));
  for (const body of countDocs) await push('count', body);
  t.strictSame((await post('/states/count/versions/2/pin', { reason: 'the audit of 2026' })).status, 200);
  const ageDocs = [1, 2, 3].map((serial) => doc(serial, 'c0ffee00-0000-4000-8000-0000000000a9'));
  for (const body of ageDocs) await push('age', body);
  t.strictSame((await post('/states/age/versions/1/pin', { reason: 'keep the first' })).status, 200);

  t.test('--dry-run prints what prune would remove and the bytes, and changes nothing', async (t) => {
    const env = { DATABASE_URL: server.db.url, ...s3Environment(s3), DATA_DIR: await tempDir(t), RETENTION: 'count=2,age=off' };
    const before = await eventCount();
    const text = await runCli(['prune', '--dry-run'], env);
    t.strictSame(text.code, 0, text.stderr);
    const saved = countDocs[0]!.length + countDocs[2]!.length;
    t.strictSame(text.stdout.split('\n')[0], `would prune 2 versions of 1 states; would delete 2 bodies, saving ${humanBytes(saved)} (${saved} bytes)`);
    t.strictSame(text.stdout.split('\n').filter((line) => line.startsWith('version ')).length, 2, 'one line per version');
    const json = await runCli(['prune', '--dry-run', '--json'], env);
    t.strictSame(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { dry_run: boolean; versions: Array<{ state: string; version: number }>; bytes_saved: number };
    t.strictSame([report.dry_run, report.versions.map((v) => `${v.state}@${v.version}`), report.bytes_saved], [true, ['count@1', 'count@3'], saved]);
    t.strictSame(await eventCount(), before, 'no event appended');
    t.strictSame(await server.blobs.exists(blobKeyFor(sha(countDocs[0]!))), true, 'no body deleted');
    const gc = await runCli(['gc', '--dry-run', '--json'], env);
    t.strictSame([gc.code, (JSON.parse(gc.stdout) as { removed: unknown[] }).removed], [0, []], 'nothing unreferenced past the grace period');
  });

  t.test('prune by count keeps the last N, the pinned and the current version', async (t) => {
    const report = await prune('count=2,age=off');
    t.strictSame(report.versions.map((v) => [v.state, v.version, v.policy]), [['count', 1, 'count=2'], ['count', 3, 'count=2']]);
    t.strictSame(report.blobs.map((b) => b.outcome), ['deleted', 'deleted']);
    t.strictSame(await versions('count'), [
      { version: 5, pinned: false, pruned: null },
      { version: 4, pinned: false, pruned: null },
      { version: 3, pinned: false, pruned: 'count=2' },
      { version: 2, pinned: true, pruned: null },
      { version: 1, pinned: false, pruned: 'count=2' },
    ]);
    t.strictSame(await server.blobs.exists(blobKeyFor(sha(countDocs[0]!))), false, 'the body of version 1 is gone');
    for (const v of [2, 4, 5]) t.strictSame(Buffer.from(await (await server.request(`/states/count/versions/${v}`)).arrayBuffer()), countDocs[v - 1], `version ${v} reads back`);
    const again = await prune('count=2,age=off');
    t.strictSame([again.versions, again.blobs], [[], []], 'a repeated prune is harmless');
  });

  t.test('prune by age keeps the young, the pinned and the current version', async (t) => {
    t.strictSame((await prune('age=30d,count=off')).versions, [], 'nothing is 30 days old yet');
    const report = await prune('age=30d,count=off', { now: new Date(Date.now() + 31 * DAY) });
    t.strictSame(report.versions.map((v) => [v.state, v.version]), [['age', 2]]);
    t.strictSame(await versions('age'), [
      { version: 3, pinned: false, pruned: null },
      { version: 2, pinned: false, pruned: 'age=30d' },
      { version: 1, pinned: true, pruned: null },
    ]);
  });

  t.test('a pruned version answers 410 with a sentence; its metadata stays', async (t) => {
    const { rows } = await pool.query<{ pruned_at: Date }>("SELECT pruned_at FROM state_versions WHERE name = 'count' AND version = 1");
    const sentence = `version 1 of state count was pruned on ${rows[0]!.pruned_at.toISOString()} by the retention policy count=2; its metadata remains in GET /states/count/versions`;
    const expect410 = async (response: Response, what: string) =>
      t.strictSame([response.status, await response.json()], [410, { error: 'version_pruned', message: sentence }], what);
    await expect410(await server.request('/states/count/versions/1'), 'GET the version');
    await expect410(await server.request('/states/count/diff?from=1&to=2'), 'diff');
    await expect410(await post('/states/count/rollback', { version: 1, reason: 'undo' }), 'rollback');
    await expect410(await post('/states/count/versions/1/pin', { reason: 'too late' }), 'pin');
    const { rows: at } = await pool.query<{ recorded_at: Date }>("SELECT recorded_at FROM events WHERE stream_id = 'count' AND type = 'StatePushed' AND (data->>'version')::int = 1");
    await expect410(await server.request(`/states/count?at=${encodeURIComponent(at[0]!.recorded_at.toISOString())}`), '?at= read');
    t.strictSame((await post('/states/count/rollback', { version: 2, reason: 'the pinned one' })).status, 200, 'a pinned version restores');
  });

  t.test('a blob two states share stays while a kept version of the other needs it', async (t) => {
    const shared = doc(7, 'c0ffee00-0000-4000-8000-0000000000b0');
    await push('share-a', shared);
    await push('share-a', doc(8, 'c0ffee00-0000-4000-8000-0000000000b0'));
    await push('share-b', shared);
    const report = await prune('share-a=1,count=off,age=off');
    t.strictSame(report.versions.map((v) => [v.state, v.version]), [['share-a', 1]]);
    t.strictSame(report.blobs.map((b) => [b.key, b.outcome]), [[blobKeyFor(sha(shared)), 'referenced']]);
    t.strictSame(Buffer.from(await (await server.request('/states/share-b/versions/1')).arrayBuffer()), shared);
    t.strictSame((await server.request('/states/share-a/versions/1')).status, 410);
  });

  t.test('gc removes unreferenced bodies older than the grace period and keeps fresh and referenced ones (S3)', async (t) => {
    const orphan = Buffer.from('{"left":"by a refused push"}');
    const key = blobKeyFor(sha(orphan));
    await server.blobs.upload(key, { kind: 'memory', bytes: orphan, size: orphan.length, sha256: sha(orphan) }).commit();
    const fresh = await collectGarbage(deps, { now: new Date(), graceSeconds: 86400, dryRun: false });
    t.strictSame([fresh.removed, await server.blobs.exists(key)], [[], true], 'fresh: kept');
    const dry = await collectGarbage(deps, { now: new Date(Date.now() + 2 * DAY), graceSeconds: 86400, dryRun: true });
    t.strictSame([dry.removed.map((r) => r.key), dry.bytesSaved, await server.blobs.exists(key)], [[key], orphan.length, true], 'dry run: reported, kept');
    const old = await collectGarbage(deps, { now: new Date(Date.now() + 2 * DAY), graceSeconds: 86400, dryRun: false });
    t.strictSame([old.removed.map((r) => r.key), await server.blobs.exists(key)], [[key], false]);
    for (const v of [2, 4, 5]) t.strictSame((await server.request(`/states/count/versions/${v}`)).status, 200, `kept version ${v} still reads`);
  });

  t.test('gc on the file system judges age by the last-modified time', async (t) => {
    const root = path.join(await tempDir(t), 'blobs');
    const blobs: BlobStore = await fsBlobStore(root);
    const put = async (bytes: Buffer, ageDays: number) => {
      const key = blobKeyFor(sha(bytes));
      await blobs.upload(key, { kind: 'memory', bytes, size: bytes.length, sha256: sha(bytes) }).commit();
      const when = new Date(Date.now() - ageDays * DAY);
      await fs.utimes(path.join(root, ...key.split('/')), when, when);
      return key;
    };
    const oldOrphan = await put(Buffer.from('old orphan'), 3);
    const youngOrphan = await put(Buffer.from('young orphan'), 0);
    const keptOld = await put(countDocs[4]!, 3);
    const listed: string[] = [];
    for await (const object of blobs.list('sha256/')) listed.push(object.key);
    t.strictSame(listed.sort(), [oldOrphan, youngOrphan, keptOld].sort(), 'list streams every body');
    const report = await collectGarbage({ pool, blobs }, { now: new Date(), graceSeconds: 86400, dryRun: false });
    t.strictSame([report.removed.map((r) => r.key), report.fresh, report.examined], [[oldOrphan], 1, 3]);
    t.strictSame([await blobs.exists(oldOrphan), await blobs.exists(youngOrphan), await blobs.exists(keptOld)], [false, true, true], 'a body a kept version refers to stays, however old');
  });

  t.test('pushes of the very bytes being deleted are never lost', async (t) => {
    const x = doc(40, 'c0ffee00-0000-4000-8000-0000000000e0');
    const y = doc(41, 'c0ffee00-0000-4000-8000-0000000000e0');
    const keys = [blobKeyFor(sha(x)), blobKeyFor(sha(y))];
    let pushing = true;
    const acknowledged: Array<{ version: number; bytes: Buffer }> = [];
    const pusher = (async () => {
      try {
        for (let i = 0; i < 25; i++) {
          for (const bytes of [x, y]) acknowledged.push({ version: await push('race', bytes), bytes });
        }
      } finally {
        pushing = false;
      }
    })();
    let deletions = 0;
    const deleter = (async () => {
      while (pushing) {
        await prune('race=1,count=off,age=off');
        for (const key of keys) if ((await deleteUnreferencedBlob(pool, server.blobs, key)) === 'deleted') deletions++;
      }
    })();
    await Promise.all([pusher, deleter]);
    t.ok(deletions > 0, `the deleter did delete bodies meanwhile (${deletions} times)`);
    const kept = await pool.query<{ version: number }>("SELECT version FROM state_versions WHERE name = 'race' AND pruned_at IS NULL ORDER BY version");
    t.ok(kept.rows.length >= 1);
    for (const { version } of kept.rows) {
      const expected = acknowledged.find((a) => a.version === version)?.bytes;
      t.strictSame(Buffer.from(await (await server.request(`/states/race/versions/${version}`)).arrayBuffer()), expected, `kept version ${version} reads back byte for byte`);
    }
    t.strictSame(Buffer.from(await (await server.request('/states/race')).arrayBuffer()), acknowledged.at(-1)?.bytes, 'the current version reads back');
  });

  t.test('verify passes after pruning, and still reports a kept version whose body is missing', async (t) => {
    const report = await verifyLedger(pool, server.blobs);
    t.strictSame(report.problems, []);
    const lost = doc(50, 'c0ffee00-0000-4000-8000-0000000000f0');
    await push('lost', lost);
    await server.blobs.delete(blobKeyFor(sha(lost)));
    const broken = await verifyLedger(pool, server.blobs);
    t.strictSame(broken.problems, [{ kind: 'blob', key: blobKeyFor(sha(lost)), reason: 'is missing from the blob store' }]);
    await server.blobs.upload(blobKeyFor(sha(lost)), { kind: 'memory', bytes: lost, size: lost.length, sha256: sha(lost) }).commit();
  });

  t.test('replay rebuilds identical read models after pruning and pinning', async (t) => {
    t.strictSame((await replay(pool, { kind: 'verify' })).differences, []);
    const before = await versions('count');
    t.strictSame((await replay(pool, { kind: 'swap' })).differences, []);
    t.strictSame(await versions('count'), before);
    t.strictSame((await replay(pool, { kind: 'verify' })).differences, []);
  });

  t.test('unpin lets retention prune the version', async (t) => {
    t.strictSame((await server.request('/states/count/versions/2/pin', { method: 'DELETE' })).status, 200);
    const report = await prune('count=2,age=off');
    t.strictSame(report.versions.map((v) => v.version), [2, 4]);
  });

  t.test('hostile input on the pin routes', async (t) => {
    const tokens = new Map<string, string>();
    for (const role of ['write', 'read']) {
      const created = (await (await post('/access/tokens', { name: `${role}-t` })).json()) as { secret: string };
      tokens.set(role, created.secret);
      t.strictSame((await post('/access/grants', { role, subject: `token:${role}-t`, glob: 'age' })).status, 200);
    }
    const pin = (body: string | Buffer, extra: Partial<HostileRequest> = {}): HostileRequest => ({
      method: 'POST',
      path: '/states/age/versions/3/pin',
      headers: [['Content-Type', 'application/json']],
      body,
      ...extra,
    });
    const cases: Array<{ kind: string; request: HostileRequest; status: number; error?: string }> = [
      { kind: 'malformed JSON', request: pin('{"reason": '), status: 400, error: 'invalid_json' },
      { kind: 'no body', request: pin(''), status: 400, error: 'invalid_pin' },
      { kind: 'missing reason', request: pin('{}'), status: 400, error: 'invalid_pin' },
      { kind: 'empty reason', request: pin('{"reason": ""}'), status: 400, error: 'invalid_pin' },
      { kind: 'blank reason', request: pin('{"reason": "   "}'), status: 400, error: 'invalid_pin' },
      { kind: 'non-string reason', request: pin('{"reason": 42}'), status: 400, error: 'invalid_pin' },
      { kind: 'reason an object', request: pin('{"reason": {"a": 1}}'), status: 400, error: 'invalid_pin' },
      { kind: 'an array', request: pin('["reason"]'), status: 400, error: 'invalid_pin' },
      { kind: 'deeply nested', request: pin(`${'['.repeat(5000)}${']'.repeat(5000)}`), status: 400 },
      { kind: 'NUL in reason', request: pin('{"reason": "a\\u0000b"}'), status: 400, error: 'invalid_pin' },
      { kind: 'oversized body', request: pin(Buffer.from(`{"reason": "${'x'.repeat(70 * 1024)}"}`)), status: 413 },
      { kind: 'version 0', request: pin('{"reason": "x"}', { path: '/states/age/versions/0/pin' }), status: 400, error: 'invalid_version' },
      { kind: 'version -1', request: pin('{"reason": "x"}', { path: '/states/age/versions/-1/pin' }), status: 400, error: 'invalid_version' },
      { kind: 'version abc', request: pin('{"reason": "x"}', { path: '/states/age/versions/abc/pin' }), status: 400, error: 'invalid_version' },
      { kind: 'version too large', request: pin('{"reason": "x"}', { path: '/states/age/versions/99999999999/pin' }), status: 400, error: 'invalid_version' },
      { kind: 'version never written', request: pin('{"reason": "x"}', { path: '/states/age/versions/9/pin' }), status: 404, error: 'not_found' },
      { kind: 'writer', request: pin('{"reason": "x"}', { auth: `Bearer ${tokens.get('write')}` }), status: 403, error: 'forbidden' },
      { kind: 'reader', request: pin('{"reason": "x"}', { auth: `Bearer ${tokens.get('read')}` }), status: 403, error: 'forbidden' },
      { kind: 'no role on the state', request: pin('{"reason": "x"}', { path: '/states/count/versions/4/pin', auth: `Bearer ${tokens.get('read')}` }), status: 404, error: 'not_found' },
      { kind: 'writer unpinning', request: { method: 'DELETE', path: '/states/age/versions/1/pin', auth: `Bearer ${tokens.get('write')}` }, status: 403, error: 'forbidden' },
      { kind: 'reader unpinning', request: { method: 'DELETE', path: '/states/age/versions/1/pin', auth: `Bearer ${tokens.get('read')}` }, status: 403, error: 'forbidden' },
    ];
    runHostileCases(t, 'pin routes', server.baseUrl, cases, {
      snapshot: async () => ({ events: await eventCount(), age: await versions('age'), count: await versions('count') }),
      check: (t, reply: RawReply, c) => {
        t.strictSame(reply.status, c.status, `${c.kind}: ${reply.body.toString().slice(0, 200)}`);
        const body = reply.json as { error?: string; message?: string } | undefined;
        if (c.error !== undefined) t.strictSame(body?.error, c.error);
        t.strictSame(DUMP.test(body?.message ?? ''), false, 'no parser or codec dump');
      },
      unchanged: 'events and the version lists',
      stillServing: async (t) => {
        t.strictSame((await server.request('/states/age/versions')).status, 200);
      },
    });
  });
});
