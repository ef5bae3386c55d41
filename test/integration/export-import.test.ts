import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as Minio from 'minio';
import t, { type Test } from 'tap';
import type { S3Config } from '../../src/config.js';
import { BIN, runCli, type CliResult } from '../support/cli.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { freshDatabase, freshS3Config, s3Environment, tempDir, type TestDatabase } from '../support/services.js';

/** A ledger of its own: a database, a bucket, and the environment that points the CLI at them. */
interface Ledger {
  readonly db: TestDatabase;
  readonly s3: S3Config;
  readonly env: Record<string, string>;
}

const freshLedger = async (t: Test): Promise<Ledger> => {
  const db = await freshDatabase(t);
  const s3 = freshS3Config();
  return { db, s3, env: { DATABASE_URL: db.url, ...s3Environment(s3), AUTH_USERS: 'ops:pw', DATA_DIR: await tempDir(t) } };
};

const json = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

const expectStatus = async (t: Test, reply: Promise<Response>, status: number, what: string): Promise<void> => {
  const answer = await reply;
  t.strictSame(answer.status, status, `${what}: ${answer.status === status ? '' : await answer.text()}`);
};

/** Every event row exactly as stored (recorded_at to the microsecond). */
const eventRows = async (db: TestDatabase) =>
  (
    await db.pool.query(
      `SELECT global_position, stream_id, stream_version, type, data, metadata,
              to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS recorded_at, hash, schema_version
       FROM events ORDER BY global_position`,
    )
  ).rows;

const emptiness = async (db: TestDatabase) =>
  (
    await db.pool.query(
      `SELECT (SELECT count(*)::int FROM events) AS events, (SELECT count(*)::int FROM streams) AS streams,
              (SELECT count(*)::int FROM state_versions) AS versions, (SELECT count(*)::int FROM access_users) AS users`,
    )
  ).rows[0];

const EMPTY = { events: 0, streams: 0, versions: 0, users: 0 };

const bytesOf = async (server: TestServer, p: string) => {
  const reply = await server.request(p);
  return { status: reply.status, body: Buffer.from(await reply.arrayBuffer()).toString('base64') };
};

const jsonOf = async (server: TestServer, p: string) => {
  const reply = await server.request(p);
  return { status: reply.status, body: (await reply.json()) as unknown };
};

/** A lock's age depends on when it is asked. */
const withoutAge = (reply: { status: number; body: unknown }) => {
  const { age_seconds: _age, ...rest } = reply.body as Record<string, unknown>;
  return { ...reply, body: rest };
};

/** Everything the HTTP API shows of a ledger: states, bodies, versions and their bodies, locks, events, access. */
const apiView = async (server: TestServer) => {
  const states = (await jsonOf(server, '/states')) as { status: number; body: { states?: Array<{ name: string }> } | Array<{ name: string }> };
  const list = Array.isArray(states.body) ? states.body : (states.body.states ?? []);
  const names = [...new Set([...list.map((s) => s.name), 'net', 'dns', 'app', 'old'])].sort();
  const perState: Record<string, unknown> = {};
  for (const name of names) {
    const versions = (await jsonOf(server, `/states/${name}/versions?limit=1000`)) as { status: number; body: { versions?: Array<{ version: number }> } };
    const bodies: Record<number, unknown> = {};
    for (const v of versions.body.versions ?? []) bodies[v.version] = await bytesOf(server, `/states/${name}/versions/${v.version}`);
    perState[name] = {
      current: await bytesOf(server, `/states/${name}`),
      lock: withoutAge(await jsonOf(server, `/states/${name}/lock`)),
      versions,
      bodies,
      events: await jsonOf(server, `/states/${name}/events?limit=1000`),
    };
  }
  return {
    states,
    perState,
    feed: await jsonOf(server, '/events?limit=1000'),
    users: await jsonOf(server, '/access/users'),
    grants: await jsonOf(server, '/access/grants'),
    tokens: await jsonOf(server, '/access/tokens'),
  };
};

const lastPositionOf = (result: CliResult): number => {
  const match = /export --since (\d+) FILE/.exec(result.stdout);
  if (match?.[1] === undefined) throw new Error(`no next increment in the export's output:\n${result.stdout}\n${result.stderr}`);
  return Number(match[1]);
};

/** `state-ledger export - | state-ledger import -`: the archive streamed through a pipe. */
const pipeExport = (from: Record<string, string>, to: Record<string, string>): Promise<{ code: number | null; stderr: string }> =>
  new Promise((resolve, reject) => {
    const exporter = spawn(process.execPath, [BIN, 'export', '-'], { env: { ...process.env, ...from, LOG_LEVEL: 'warn' } });
    const importer = spawn(process.execPath, [BIN, 'import', '-'], { env: { ...process.env, ...to, LOG_LEVEL: 'warn' }, stdio: ['pipe', 'pipe', 'pipe'] });
    exporter.stdout.pipe(importer.stdin);
    let stderr = '';
    exporter.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    importer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    importer.stdout.resume();
    importer.once('error', reject);
    importer.once('close', (code) => resolve({ code, stderr }));
  });

t.test('a ledger exported and imported into a fresh database and bucket reads the same through the API, and verify passes', async (t) => {
  const source = await freshLedger(t);
  const server = await startServer(t, { db: source.db, s3: source.s3 });
  const shared = stateDocument(7, 'c0ffee00-0000-4000-8000-0000000000ff');

  // net: locked pushes, then a rollback; dns and app share a body; old is deleted; dns stays locked.
  const net = defaultClient(server.baseUrl, 'net');
  t.strictSame((await net.lock(newLockInfo({ ID: 'L-net' }))).locked, true);
  for (const serial of [1, 2, 3]) t.strictSame((await net.put(stateDocument(serial))).status, 200);
  t.strictSame((await net.unlock()).status, 200);
  await expectStatus(t, server.request('/states/net/rollback', json('POST', { version: 1, reason: 'bad apply' })), 200, 'rollback');
  t.strictSame((await defaultClient(server.baseUrl, 'app').put(shared)).status, 200);
  const dns = defaultClient(server.baseUrl, 'dns');
  t.strictSame((await dns.put(shared)).status, 200);
  t.strictSame((await dns.lock(newLockInfo({ ID: 'L-dns' }))).locked, true);
  const old = defaultClient(server.baseUrl, 'old');
  t.strictSame((await old.put(stateDocument(1, 'c0ffee00-0000-4000-8000-0000000000ee'))).status, 200);
  t.strictSame((await old.delete()).status, 200);
  await expectStatus(t, server.request('/access/users', json('POST', { name: 'carol', password: 'carol-password-1' })), 201, 'user');
  await expectStatus(t, server.request('/access/grants', json('POST', { role: 'read', subject: 'user:carol', glob: 'net' })), 200, 'grant');
  await expectStatus(t, server.request('/access/grants', json('POST', { role: 'write', subject: 'user:carol', glob: 'dns' })), 200, 'grant');
  await expectStatus(t, server.request('/access/grants', json('DELETE', { role: 'write', subject: 'user:carol', glob: 'dns' })), 200, 'revoke');
  await expectStatus(t, server.request('/access/tokens', json('POST', { name: 'ci' })), 201, 'token');

  const { rows: sharedKeys } = await source.db.pool.query(
    "SELECT count(*)::int AS versions, count(DISTINCT data->>'blob_key')::int AS keys FROM events WHERE type = 'StatePushed' AND stream_id IN ('app', 'dns')",
  );
  t.strictSame(sharedKeys, [{ versions: 2, keys: 1 }], 'app and dns share one body');

  const dir = await tempDir(t);
  const archive = path.join(dir, 'ledger.tar');
  const exported = await runCli(['export', archive], source.env);
  t.strictSame(exported.code, 0, exported.stderr);
  const lastPosition = lastPositionOf(exported);
  const { rows: bodies } = await source.db.pool.query("SELECT count(DISTINCT data->>'blob_key')::int AS n FROM events WHERE type IN ('StatePushed', 'StateRolledBack')");
  t.match(exported.stdout, `and ${bodies[0].n} bodies to ${archive}`);
  t.strictSame(((await fs.stat(archive)).mode & 0o777).toString(8), '600', 'the archive holds secrets: private');
  t.strictSame((await fs.readdir(dir)).sort(), ['ledger.tar'], 'no partial file is left beside it');
  t.strictSame((await runCli(['export', archive], source.env)).code, 1, 'an existing file is never overwritten');

  const target = await freshLedger(t);
  const imported = await runCli(['import', archive], target.env);
  t.strictSame(imported.code, 0, imported.stderr);
  t.match(imported.stdout, `ledger ends at position ${lastPosition}`);
  t.strictSame(await eventRows(target.db), await eventRows(source.db), 'every event is identical: positions, versions, data, metadata, times, hashes, schema versions');
  const restored = await startServer(t, { db: target.db, s3: target.s3 });
  const before = await apiView(server);
  t.strictSame(await apiView(restored), before, 'states, bodies, versions, locks, events and access read the same');

  const verified = await runCli(['verify'], target.env);
  t.strictSame(verified.code, 0, verified.stdout + verified.stderr);
  t.match(verified.stdout, 'ledger intact');

  t.test('positions continue after the last imported one, and the restored ledger takes writes', async (t) => {
    const app = defaultClient(restored.baseUrl, 'app');
    t.strictSame((await app.put(stateDocument(8, 'c0ffee00-0000-4000-8000-0000000000ff'))).status, 200);
    const { rows } = await target.db.pool.query("SELECT global_position FROM events WHERE stream_id = 'app' ORDER BY stream_version DESC LIMIT 1");
    t.strictSame(rows, [{ global_position: lastPosition + 1 }]);
  });

  t.test('an increment (--since) applies onto a copy that ends where it begins', async (t) => {
    const copy = await freshLedger(t);
    t.strictSame((await runCli(['import', archive], copy.env)).code, 0);
    t.strictSame((await net.lock(newLockInfo({ ID: 'L-net-2' }))).locked, true);
    t.strictSame((await net.put(stateDocument(4))).status, 200);
    t.strictSame((await net.unlock()).status, 200);
    t.strictSame((await defaultClient(server.baseUrl, 'fresh').put(shared)).status, 200, 'a new state, whose body the copy already has');
    await expectStatus(t, server.request('/access/grants', json('POST', { role: 'read', subject: 'user:carol', glob: 'fresh' })), 200, 'grant');
    await expectStatus(t, server.request('/states/net/rollback', json('POST', { version: 2, reason: 'again' })), 200, 'rollback to a body of before the increment');

    const increment = path.join(dir, 'increment.tar');
    const exportedIncrement = await runCli(['export', '--since', String(lastPosition), increment], source.env);
    t.strictSame(exportedIncrement.code, 0, exportedIncrement.stderr);
    t.match(exportedIncrement.stdout, `after position ${lastPosition}`);

    const onto = await runCli(['import', increment], copy.env);
    t.strictSame(onto.code, 0, onto.stderr);
    t.strictSame(await eventRows(copy.db), await eventRows(source.db), 'the copy holds every event again');
    const copyServer = await startServer(t, { db: copy.db, s3: copy.s3 });
    t.strictSame(await apiView(copyServer), await apiView(server));
    t.strictSame((await runCli(['verify'], copy.env)).code, 0);

    const empty = await freshLedger(t);
    const importInto = (ledger: Ledger) => runCli(['import', increment], ledger.env);
    const [again, diverged, first] = await Promise.all([importInto(copy), importInto(target), importInto(empty)]);
    t.strictSame(again.code, 1, 'the same increment twice');
    t.match(again.stderr, `this archive is an increment after position ${lastPosition}, but the target ledger ends at position`);
    t.strictSame(diverged.code, 1, 'onto a ledger that moved on since');
    t.match(diverged.stderr, 'but the target ledger ends at position');
    t.strictSame(first.code, 1, 'onto an empty ledger');
    t.match(first.stderr, `import the archives before it first`);
    t.strictSame(await emptiness(empty.db), EMPTY);
  });

  t.test('a whole-ledger archive is refused by a ledger that holds events', async (t) => {
    const count = (await emptiness(target.db)).events;
    const refused = await runCli(['import', archive], target.env);
    t.strictSame(refused.code, 1);
    t.match(refused.stderr, 'the target ledger is not empty');
    t.strictSame((await emptiness(target.db)).events, count, 'nothing was added');
  });

  t.test('a corrupt or truncated archive is refused and leaves the target empty', async (t) => {
    const original = await fs.readFile(archive);
    /** Each attempt on an empty ledger of its own, all at once (each import is a process of its own). */
    const attempt = async (name: string, bytes: Buffer, reason: string | RegExp): Promise<Ledger> => {
      const empty = await freshLedger(t);
      const file = path.join(dir, `${name.replace(/\W/g, '-')}.tar`);
      await fs.writeFile(file, bytes);
      const result = await runCli(['import', file], empty.env);
      t.strictSame(result.code, 1, `${name}: refused`);
      t.match(result.stderr, reason, `${name}: says why`);
      t.strictSame(await emptiness(empty.db), EMPTY, `${name}: the target stays empty`);
      return empty;
    };
    const flipped = (at: number) => {
      const copy = Buffer.from(original);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      return copy;
    };
    const eventByte = original.indexOf('"actor":"user:alice"') + '"actor":"user:ali'.length;
    const bodyByte = original.indexOf('"serial": 2') + '"serial": '.length;
    const lastBody = original.lastIndexOf('blobs/sha256/');
    t.strictSame([eventByte > 100, bodyByte > 100, lastBody > 100], [true, true, true], 'the bytes to damage are found');
    const [empty] = await Promise.all([
      attempt('event', flipped(eventByte), /the archive is corrupt or truncated: event at position \d+ \(\S+ v\d+\) does not match its hash/),
      attempt('body', flipped(bodyByte), /the archive is corrupt or truncated: body sha256\/\S+ is \d+ bytes with sha256 [0-9a-f]{64}, but the events record/),
      attempt('truncated', original.subarray(0, Math.floor(original.length / 2)), 'the archive is corrupt or truncated'),
      attempt('cut before its last body', original.subarray(0, lastBody), /the archive is corrupt or truncated: bodies its events refer to are not in it/),
      attempt('not an archive', Buffer.from('{"hello": "world"}\n'.repeat(100)), /corrupt or truncated|not a state-ledger archive/),
    ]);

    const piped = await pipeExport(source.env, empty.env);
    t.strictSame(piped.code, 0, `a refused target takes a sound archive afterwards, streamed through a pipe: ${piped.stderr}`);
    t.strictSame(await eventRows(empty.db), await eventRows(source.db));
  });

  t.test('a body missing from the blob store stops the export unless --allow-missing', async (t) => {
    const { rows } = await source.db.pool.query("SELECT data->>'blob_key' AS key FROM events WHERE stream_id = 'old' AND type = 'StatePushed'");
    const key = rows[0].key as string;
    const minio = new Minio.Client({ endPoint: source.s3.endPoint, port: source.s3.port, useSSL: false, accessKey: source.s3.accessKey, secretKey: source.s3.secretKey, region: source.s3.region, pathStyle: true });
    await minio.removeObject(source.s3.bucket, key);
    const file = path.join(dir, 'missing.tar');
    const refused = await runCli(['export', file], source.env);
    t.strictSame(refused.code, 1);
    t.match(refused.stderr, `1 body the events refer to is missing from the blob store:\n  ${key} (old v1)`);
    await t.rejects(fs.stat(file), 'no archive is left behind');
    const allowed = await runCli(['export', '--allow-missing', file], source.env);
    t.strictSame(allowed.code, 0, allowed.stderr);
    t.match(allowed.stdout, '1 missing bodies are listed in the archive as missing');
    const copy = await freshLedger(t);
    const imported = await runCli(['import', file], copy.env);
    t.strictSame(imported.code, 0, imported.stderr);
    t.match(imported.stdout, '1 bodies were absent from the exporting ledger');
    const verified = await runCli(['verify'], copy.env);
    t.strictSame(verified.code, 1, 'verify reports the body missing here as it does there');
    t.match(verified.stdout, `blob ${key} is missing from the blob store`);
  });
});

t.test('--version prints the version of package.json', async (t) => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const result = await runCli(['--version'], {});
  t.strictSame(result, { code: 0, stdout: `${version}\n`, stderr: '' });
});
