import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as Minio from 'minio';
import t, { type Test } from 'tap';
import type { S3Config } from '../../src/config.js';
import { BODY_PREFIX, blobKeyFor, type BlobSource } from '../../src/storage/blobs/blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { abortStaleUploads, listUploads, STALE_UPLOAD_MS } from '../../src/storage/blobs/s3-upload.js';
import { freshS3Config, tempDir } from '../support/services.js';

const clientFor = (s3: S3Config) =>
  new Minio.Client({ endPoint: s3.endPoint, port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, region: s3.region, pathStyle: true });

/** The multipart uploads S3 holds under a prefix, with how many parts each has so far. */
const incompleteUploads = async (client: Minio.Client, bucket: string, prefix: string) => {
  const uploads: Array<{ key: string; parts: number }> = [];
  for (const { key, uploadId } of await listUploads(client, bucket, prefix)) {
    const response = await client.makeRequestAsync({ method: 'GET', bucketName: bucket, objectName: key, query: `uploadId=${encodeURIComponent(uploadId)}` });
    let xml = '';
    for await (const chunk of response) xml += String(chunk);
    uploads.push({ key, parts: xml.split('<Part>').length - 1 });
  }
  return uploads;
};

const until = async (what: string, check: () => Promise<boolean>) => {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
};

const largeBody = async (t: Test) => {
  const data = randomBytes(40 * 1024 * 1024);
  const file = path.join(await tempDir(t), 'body');
  await fs.writeFile(file, data);
  const sha256 = createHash('sha256').update(data).digest('hex');
  const source: BlobSource = { kind: 'file', path: file, size: data.length, sha256 };
  return { key: blobKeyFor(sha256), source };
};

t.test('a large body goes up before the commit, and only the commit makes it an object', async (t) => {
  const s3 = freshS3Config();
  const store = await s3BlobStore(s3);
  const client = clientFor(s3);
  const { key, source } = await largeBody(t);
  const upload = store.upload(key, source);
  await until('parts are stored before the commit', async () => ((await incompleteUploads(client, s3.bucket, key))[0]?.parts ?? 0) > 0);
  t.equal(await store.exists(key), false, 'no object while the upload is pending');
  await upload.commit();
  t.equal(await store.exists(key), true);
  t.strictSame(await incompleteUploads(client, s3.bucket, key), [], 'no incomplete upload is left');
});

t.test('an abandoned upload leaves neither an object nor an incomplete upload', async (t) => {
  const s3 = freshS3Config();
  const store = await s3BlobStore(s3);
  const client = clientFor(s3);
  const { key, source } = await largeBody(t);
  const upload = store.upload(key, source);
  await until('some parts are stored', async () => ((await incompleteUploads(client, s3.bucket, key))[0]?.parts ?? 0) > 0);
  await upload.abandon();
  t.equal(await store.exists(key), false);
  t.strictSame(await incompleteUploads(client, s3.bucket, BODY_PREFIX), []);
  await t.rejects(upload.commit(), 'an abandoned upload cannot be committed');
  t.equal(await store.exists(key), false, 'not even half of it');
});

t.test('uploads a stopped process left behind are aborted once stale, and not before', async (t) => {
  const s3 = freshS3Config();
  await s3BlobStore(s3);
  const client = clientFor(s3);
  const key = blobKeyFor('ab'.repeat(32));
  await client.initiateNewMultipartUpload(s3.bucket, key, {});
  t.equal(await abortStaleUploads(client, s3.bucket, BODY_PREFIX), 0, 'a recent upload may be another server at work');
  t.equal((await incompleteUploads(client, s3.bucket, BODY_PREFIX)).length, 1);
  t.equal(await abortStaleUploads(client, s3.bucket, BODY_PREFIX, Date.now() + STALE_UPLOAD_MS + 60_000), 1);
  t.strictSame(await incompleteUploads(client, s3.bucket, BODY_PREFIX), []);
});

t.test('S3 checks a single-part body against the SHA-256 it is stored under', async (t) => {
  const s3 = freshS3Config();
  const store = await s3BlobStore(s3);
  const bytes = Buffer.from('{"version":4}\n');
  const wrong = createHash('sha256').update('other bytes').digest('hex');
  await t.rejects(store.upload(blobKeyFor(wrong), { kind: 'memory', bytes, size: bytes.length, sha256: wrong }).commit());
  t.equal(await store.exists(blobKeyFor(wrong)), false);
});
