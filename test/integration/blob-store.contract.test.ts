import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { blobKeyFor, type BlobSource, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { freshS3Config, tempDir } from '../support/services.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const drain = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

const inFile = async (t: Test, data: Buffer): Promise<BlobSource> => {
  const file = path.join(await tempDir(t), 'body');
  await fs.writeFile(file, data);
  return { kind: 'file', path: file, size: data.length, sha256: sha256(data) };
};

const inMemory = (data: Buffer): BlobSource => ({ kind: 'memory', bytes: data, size: data.length, sha256: sha256(data) });

const read = async (store: BlobStore, key: string): Promise<Buffer | null> => {
  const stream = await store.get(key);
  return stream === null ? null : drain(stream);
};

/** One contract, every adapter: what the rest of the server may rely on. */
const contract = (name: string, open: (t: Test) => Promise<BlobStore>) =>
  t.test(name, async (t) => {
    const store = await open(t);

    t.test('answers a ping', async (t) => {
      await t.resolves(store.ping());
    });

    for (const [kind, source] of [
      ['a file', (t: Test, data: Buffer) => inFile(t, data)],
      ['memory', async (_t: Test, data: Buffer) => inMemory(data)],
    ] as const) {
      t.test(`stores, reports and returns the exact bytes (from ${kind})`, async (t) => {
        const data = Buffer.from(`{"version":4,"serial":1,"from":"${kind}"}\n`);
        const key = blobKeyFor(sha256(data));
        t.equal(await store.exists(key), false);
        await store.upload(key, await source(t, data)).commit();
        t.equal(await store.exists(key), true);
        t.strictSame(await read(store, key), data);
      });
    }

    t.test('nothing is readable before the commit, and an abandoned upload leaves nothing', async (t) => {
      for (const data of [randomBytes(1000), randomBytes(20 * 1024 * 1024)]) {
        const key = blobKeyFor(sha256(data));
        const upload = store.upload(key, await inFile(t, data));
        t.equal(await store.exists(key), false, `${data.length} bytes: not readable while uploading`);
        await new Promise((r) => setTimeout(r, 100)); // let parts go up
        await upload.abandon();
        t.equal(await store.exists(key), false, `${data.length} bytes: nothing after abandoning`);
        t.equal(await store.get(key), null);
      }
    });

    t.test('a second upload of the same key is harmless and keeps the bytes', async (t) => {
      const data = randomBytes(1000);
      const key = blobKeyFor(sha256(data));
      const source = await inFile(t, data);
      await store.upload(key, source).commit();
      await store.upload(key, source).commit();
      await store.upload(key, inMemory(data)).commit();
      t.strictSame(await read(store, key), data);
    });

    t.test('a missing key reads as null', async (t) => {
      t.equal(await store.get(blobKeyFor('0'.repeat(64))), null);
      t.equal(await store.exists(blobKeyFor('0'.repeat(64))), false);
    });

    t.test('a large body streams through (multipart on S3) unchanged', async (t) => {
      // Not a whole number of 8 MiB parts, so the last part is short.
      const data = randomBytes(70 * 1024 * 1024 + 12345);
      const key = blobKeyFor(sha256(data));
      await store.upload(key, await inFile(t, data)).commit();
      const stored = await read(store, key);
      t.equal(stored?.length, data.length);
      t.equal(stored === null ? null : sha256(stored), sha256(data));
    });
  });

contract('file-system blob store', async (t) => fsBlobStore(path.join(await tempDir(t), 'blobs')));
contract('S3 blob store (real S3 server)', async () => s3BlobStore(freshS3Config()));

t.test('S3 blob store refuses wrong credentials', async (t) => {
  await t.rejects(s3BlobStore({ ...freshS3Config(), secretKey: 'wrong' }));
});
