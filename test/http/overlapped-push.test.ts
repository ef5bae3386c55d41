import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import * as Minio from 'minio';
import t from 'tap';
import type { S3Config } from '../../src/config.js';
import { BODY_PREFIX, blobKeyFor } from '../../src/storage/blobs/blob-store.js';
import { listUploads } from '../../src/storage/blobs/s3-upload.js';
import { md5Base64, stateDocument } from '../support/go-client.js';
import { privateS3 } from '../support/private-services.js';
import { startServer, type TestServer } from '../support/server.js';
import { freshS3Config, tempDir } from '../support/services.js';

/** Bodies over one 8 MiB part go up in parts, while they are checked. */
const LARGE_PADDING = 'x'.repeat(24 * 1024 * 1024);

const keyOf = (body: Buffer) => blobKeyFor(createHash('sha256').update(body).digest('hex'));

const clientFor = (s3: S3Config) =>
  new Minio.Client({ endPoint: s3.endPoint, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true });

/** A push as curl sends it: Content-MD5 only when asked; `chunked` sends no Content-Length (so the body goes to a file). */
const push = (server: TestServer, name: string, body: Buffer, options: { md5?: string; chunked?: boolean } = {}) =>
  server.request(`/states/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.md5 === undefined ? {} : { 'content-md5': options.md5 }) },
    ...(options.chunked === true
      ? { body: new Blob([new Uint8Array(body)]).stream(), duplex: 'half' }
      : { body: new Uint8Array(body) }),
  } as RequestInit);

const versionsOf = async (server: TestServer, name: string) =>
  ((await (await server.request(`/states/${name}/versions`)).json()) as { versions: Array<{ version: number; md5: string | null }> }).versions;

const eventCount = async (server: TestServer): Promise<number> =>
  (await server.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]?.n ?? -1;

t.test('Content-MD5 is checked when sent, and a body pushed without one is served without one', async (t) => {
  const s3 = freshS3Config();
  const server = await startServer(t, { s3 });
  for (const [size, body, chunked] of [
    ['small', stateDocument(1), false],
    ['large', stateDocument(2, undefined, { padding: LARGE_PADDING }), true],
  ] as const) {
    const name = `md5-${size}`;
    const wrong = await push(server, name, body, { md5: md5Base64(Buffer.from('other bytes')), chunked });
    t.equal(wrong.status, 400, `${size}: a Content-MD5 that does not match is refused`);
    t.equal(((await wrong.json()) as { error: string }).error, 'content_md5_mismatch');
    t.equal(await server.blobs.exists(keyOf(body)), false, `${size}: the refused body was not stored`);

    t.equal((await push(server, name, body, { chunked })).status, 200, `${size}: without Content-MD5 it is stored`);
    const read = await server.request(`/states/${name}`);
    t.strictSame(Buffer.from(await read.arrayBuffer()), body, `${size}: and served byte for byte`);
    t.equal(read.headers.get('content-md5'), null, `${size}: without a Content-MD5 nobody asked for`);
    t.strictSame((await versionsOf(server, name)).map((v) => v.md5), [null]);

    const next = Buffer.concat([body.subarray(0, -1), Buffer.from(' \n')]);
    t.equal((await push(server, name, next, { md5: md5Base64(next), chunked })).status, 200, `${size}: a matching Content-MD5 passes`);
    t.equal((await server.request(`/states/${name}`)).headers.get('content-md5'), md5Base64(next), `${size}: and is served with the body`);
  }
  t.strictSame(await listUploads(clientFor(s3), s3.bucket, BODY_PREFIX), [], 'no upload was left incomplete');
});

t.test('an invalid large body is refused and leaves nothing in S3, not even an incomplete upload', async (t) => {
  const s3 = freshS3Config();
  const server = await startServer(t, { s3 });
  t.equal((await push(server, 'invalid', stateDocument(1))).status, 200);
  const before = await eventCount(server);
  // Valid for 24 MiB, broken at the very end: the upload is well under way when the check fails.
  const body = Buffer.concat([stateDocument(2, undefined, { padding: LARGE_PADDING }).subarray(0, -2), Buffer.from(',}')]);
  const reply = await push(server, 'invalid', body, { md5: md5Base64(body) });
  t.equal(reply.status, 400);
  t.equal(((await reply.json()) as { error: string }).error, 'invalid_state');
  t.equal(await server.blobs.exists(keyOf(body)), false, 'no object under its key');
  t.strictSame(await listUploads(clientFor(s3), s3.bucket, BODY_PREFIX), [], 'no incomplete upload');
  t.equal(await eventCount(server), before, 'no event');
});

t.test('S3 failing in the middle of an upload: 503, no version, nothing readable, nothing on disk', async (t) => {
  const s3 = await privateS3(t, 2000);
  const tmpDir = await tempDir(t);
  const server = await startServer(t, { s3: s3.config, tmpDir });
  const minio = clientFor(s3.config);
  t.equal((await push(server, 'fragile', stateDocument(1))).status, 200);
  const before = await eventCount(server);

  const body = stateDocument(2, undefined, { padding: 'x'.repeat(64 * 1024 * 1024) });
  const pushing = push(server, 'fragile', body, { md5: md5Base64(body) });
  // Stop S3 once the first parts are up (so while the body is being checked and the rest goes up).
  for (let i = 0; ; i++) {
    const uploads = await listUploads(minio, s3.config.bucket, BODY_PREFIX).catch(() => []);
    if (uploads.length > 0) break;
    if (i === 400) throw new Error('the upload never started');
    await new Promise((r) => setTimeout(r, 10));
  }
  await s3.kill();
  const reply = await pushing;
  t.equal(reply.status, 503, 'the push answers 503, which the clients retry');
  t.equal(await eventCount(server), before, 'no event refers to the body');
  t.strictSame(await fs.readdir(tmpDir), [], 'its temporary file is gone');

  await s3.restart();
  t.equal(await server.blobs.exists(keyOf(body)), false, 'nothing is readable under its key');
  t.strictSame(JSON.parse(Buffer.from(await (await server.request('/states/fragile')).arrayBuffer()).toString()), JSON.parse(stateDocument(1).toString()));
  t.equal((await push(server, 'fragile', body, { md5: md5Base64(body) })).status, 200, 'the retry is stored');
  t.equal(await server.blobs.exists(keyOf(body)), true);
});
