import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import * as Minio from 'minio';
import pg from 'pg';
import t from 'tap';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { defaultClient, stateDocument } from '../support/go-client.js';
import { bodyLimits, listen, startServer, TRAFFIC } from '../support/server.js';
import { freshDatabase, freshS3Config, tempDir } from '../support/services.js';

t.test('a failed upload answers an error and leaves no version', async (t) => {
  const s3 = freshS3Config();
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const app = createApp({
    ...ledgerStores(db.pool),
    db: db.pool,
    blobs: await s3BlobStore(s3),
    users: new Map([['u', 'p']]),
    limits: bodyLimits(dir, 1 << 20),
    logger: createLogger('silent'),
    traffic: TRAFFIC,
  });
  const client = defaultClient(await listen(t, app), 'fragile', { username: 'u', password: 'p' });
  t.equal((await client.put(stateDocument(1))).status, 200);

  // The bucket disappears: the blob cannot be written, so no event may refer to it.
  const minio = new Minio.Client({ endPoint: s3.endPoint, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true });
  const keys: string[] = [];
  for await (const item of minio.listObjectsV2(s3.bucket, '', true)) if (typeof item.name === 'string') keys.push(item.name);
  await minio.removeObjects(s3.bucket, keys);
  await minio.removeBucket(s3.bucket);

  const failed = await client.put(stateDocument(2));
  t.equal(failed.status, 503, 'the object store is failing: a 503 the client will retry');
  t.equal(failed.headers.get('retry-after'), '5');
  t.strictSame(JSON.parse(failed.body.toString()), { error: 'unavailable', message: "the server's object store is unavailable; retry shortly" });
  const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM events WHERE type = 'StatePushed'");
  t.equal(rows[0].n, 1, 'no event for the lost body');
  t.same(await fs.readdir(dir), [], 'no temporary file left behind');
});

t.test('/readyz and /healthz are 503 saying what does not answer, and nothing more', async (t) => {
  const dir = await tempDir(t);
  const blobs = await fsBlobStore(path.join(dir, 'blobs'));
  const deadPool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
  t.teardown(() => deadPool.end());
  const app = createApp({
    ...ledgerStores(deadPool),
    db: deadPool,
    blobs,
    users: new Map([['u', 'p']]),
    limits: bodyLimits(dir, 1 << 20),
    logger: createLogger('silent'),
    traffic: TRAFFIC,
  });
  const baseUrl = await listen(t, app);
  await fs.rm(path.join(dir, 'blobs'), { recursive: true });
  for (const route of ['/readyz', '/healthz']) {
    const response = await fetch(`${baseUrl}${route}`);
    t.equal(response.status, 503, route);
    t.strictSame(await response.json(), { status: 'unavailable', postgres: 'unavailable', blobs: 'unavailable' }, `${route}: no paths, no addresses`);
  }
  const live = await fetch(`${baseUrl}/livez`);
  t.equal(live.status, 200, '/livez touches no dependency');
  t.strictSame(await live.json(), { status: 'ok' });
});

t.test('/readyz and /healthz are 200 when both answer', async (t) => {
  const server = await startServer(t);
  for (const route of ['/readyz', '/healthz']) {
    t.strictSame(await (await fetch(`${server.baseUrl}${route}`)).json(), { status: 'ok', postgres: 'ok', blobs: 'ok' }, route);
  }
});

t.test('a client that goes away mid-upload leaves no version and no temporary file', async (t) => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const baseUrl = await listen(
    t,
    createApp({
    ...ledgerStores(db.pool),
      db: db.pool,
      blobs: await fsBlobStore(path.join(dir, 'blobs')),
      users: new Map([['u', 'p']]),
      limits: bodyLimits(path.join(dir, 'tmp'), 1 << 30),
      logger: createLogger('silent'),
      traffic: TRAFFIC,
    }),
  );
  await fs.mkdir(path.join(dir, 'tmp'));
  const { port } = new URL(baseUrl);
  await new Promise<void>((resolve) => {
    const request = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/states/aborted',
      headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}`, 'content-length': String(10 * 1024 * 1024) },
    });
    request.on('error', () => resolve());
    request.write(stateDocument(1).subarray(0, 40));
    setTimeout(() => {
      request.destroy();
      resolve();
    }, 200);
  });
  for (let i = 0; i < 50 && (await fs.readdir(path.join(dir, 'tmp'))).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(await fs.readdir(path.join(dir, 'tmp')), [], 'the partial body was removed');
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM events');
  t.equal(rows[0].n, 0, 'no version');
});
