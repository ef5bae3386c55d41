import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { blobKeyFor, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { freshS3Config, tempDir } from '../support/services.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const drain = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

const writeFile = async (t: Test, data: Buffer): Promise<string> => {
  const file = path.join(await tempDir(t), 'body');
  await fs.writeFile(file, data);
  return file;
};

/** One contract, every adapter: what the rest of the server may rely on. */
const contract = (name: string, open: (t: Test) => Promise<BlobStore>) =>
  t.test(name, async (t) => {
    const store = await open(t);

    t.test('answers a ping', async (t) => {
      await t.resolves(store.ping());
    });

    t.test('stores, reports and returns the exact bytes', async (t) => {
      const data = Buffer.from('{"version":4,"serial":1}\n');
      const key = blobKeyFor(sha256(data));
      t.equal(await store.exists(key), false);
      await store.put(key, await writeFile(t, data), data.length);
      t.equal(await store.exists(key), true);
      const stream = await store.get(key);
      t.ok(stream);
      if (stream !== null) t.same(await drain(stream), data);
    });

    t.test('a second put of the same key is harmless and keeps the bytes', async (t) => {
      const data = randomBytes(1000);
      const key = blobKeyFor(sha256(data));
      const file = await writeFile(t, data);
      await store.put(key, file, data.length);
      await store.put(key, file, data.length);
      const stream = await store.get(key);
      if (stream !== null) t.same(await drain(stream), data);
    });

    t.test('a missing key reads as null', async (t) => {
      t.equal(await store.get(blobKeyFor('0'.repeat(64))), null);
      t.equal(await store.exists(blobKeyFor('0'.repeat(64))), false);
    });

    t.test('a large body streams through (multipart on S3) unchanged', async (t) => {
      const data = randomBytes(70 * 1024 * 1024);
      const key = blobKeyFor(sha256(data));
      await store.put(key, await writeFile(t, data), data.length);
      const stream = await store.get(key);
      t.ok(stream);
      if (stream !== null) t.equal(sha256(await drain(stream)), sha256(data));
    });
  });

contract('file-system blob store', async (t) => fsBlobStore(path.join(await tempDir(t), 'blobs')));
contract('S3 blob store (real S3 server)', async () => s3BlobStore(freshS3Config()));

t.test('S3 blob store refuses wrong credentials', async (t) => {
  await t.rejects(s3BlobStore({ ...freshS3Config(), secretKey: 'wrong' }));
});
