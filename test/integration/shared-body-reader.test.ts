import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { sharedBodyReader } from '../../src/projections/async/stored-contents.js';
import { blobKeyFor, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { stateDocument } from '../support/go-client.js';
import { freshS3Config } from '../support/services.js';

/** A real blob store, its reads counted. */
const counted = (store: BlobStore) => {
  const reads: string[] = [];
  return { reads, store: { ...store, get: (key: string) => (reads.push(key), store.get(key)) } satisfies BlobStore };
};

const stored = async (store: BlobStore, body: Buffer) => {
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = blobKeyFor(sha256);
  await store.upload(key, { kind: 'memory', bytes: body, size: body.length, sha256 }).commit();
  return { key, sha256, size: body.length };
};

t.test("the asynchronous projections of a process read each body once: the second takes the first's reading", async (t) => {
  const { reads, store } = counted(await s3BlobStore(freshS3Config()));
  const reader = sharedBodyReader(store);
  const one = await stored(store, stateDocument(1));
  const two = await stored(store, stateDocument(2));

  const [first, second] = await Promise.all([reader.read(one.key, one.sha256, one.size), reader.read(one.key, one.sha256, one.size)]);
  t.equal(first, second, 'the same reading, read while the first was in flight');
  t.equal(first.kind, 'contents');
  t.equal(await reader.read(one.key, one.sha256, one.size), first, 'and once it is done');
  t.strictSame(reads, [one.key], 'read from the blob store once');
  await reader.read(two.key, two.sha256, two.size);
  t.strictSame(reads, [one.key, two.key], 'another body is read on its own');
});

t.test('a failed read is not kept: the next asks the blob store again', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shared-reader-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const real = await fsBlobStore(dir);
  let failing = true;
  const reads: string[] = [];
  const store: BlobStore = { ...real, get: async (key) => (reads.push(key), failing ? Promise.reject(new Error('the blob store is down')) : real.get(key)) };
  const reader = sharedBodyReader(store);
  const body = await stored(real, stateDocument(3));
  await t.rejects(reader.read(body.key, body.sha256, body.size), { message: 'the blob store is down' });
  failing = false;
  t.equal((await reader.read(body.key, body.sha256, body.size)).kind, 'contents');
  t.strictSame(reads, [body.key, body.key]);
});

t.test('the readings kept stand for at most 64 MiB of bodies, the newest always', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shared-reader-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const { reads, store } = counted(await fsBlobStore(dir));
  const reader = sharedBodyReader(store);
  const a = await stored(store, stateDocument(4));
  const b = await stored(store, stateDocument(5));
  // Sizes as the events give them: these two add up to more than 64 MiB.
  await reader.read(a.key, a.sha256, 40 * 1024 * 1024);
  await reader.read(b.key, b.sha256, 40 * 1024 * 1024);
  await reader.read(b.key, b.sha256, 40 * 1024 * 1024);
  await reader.read(a.key, a.sha256, 40 * 1024 * 1024);
  t.strictSame(reads, [a.key, b.key, a.key], 'b is kept, a was let go for it and is read again');
});

t.test('a reading of a body larger than 64 MiB is shared while it is read, and not kept after', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shared-reader-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const { reads, store } = counted(await fsBlobStore(dir));
  const reader = sharedBodyReader(store);
  const big = await stored(store, stateDocument(6));
  const size = 500 * 1000 * 1000; // as the event gives it
  const [first, second] = await Promise.all([reader.read(big.key, big.sha256, size), reader.read(big.key, big.sha256, size)]);
  t.equal(first, second, 'one reading for both, while in flight');
  t.strictSame(reads, [big.key]);
  t.equal((await reader.read(big.key, big.sha256, size)).kind, 'contents');
  t.strictSame(reads, [big.key, big.key], 'read again once done: not kept');
});
