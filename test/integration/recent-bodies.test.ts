import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import t from 'tap';
import { sharedBodyReader } from '../../src/projections/async/stored-contents.js';
import { blobKeyFor, type BlobSource, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { announcingStored, recentBodies, type RecentBodiesOptions } from '../../src/storage/blobs/recent-bodies.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { stateDocument } from '../support/go-client.js';
import { freshS3Config } from '../support/services.js';

const inMemory = (bytes: Buffer): Extract<BlobSource, { kind: 'memory' }> & { key: string } => {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { kind: 'memory' as const, bytes, size: bytes.length, sha256, key: blobKeyFor(sha256) };
};

const drained = async (stream: Readable | null): Promise<Buffer | null> => {
  if (stream === null) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
};

/** A real store (S3 unless told), its gets counted, seen through both faces of one memory. */
const setUp = async (options: Partial<RecentBodiesOptions & { wanted: boolean }> = {}, base?: BlobStore) => {
  const store = base ?? (await s3BlobStore(freshS3Config()));
  const gets: string[] = [];
  const counted: BlobStore = { ...store, get: (key) => (gets.push(key), store.get(key)) };
  const recent = recentBodies({ maxBytes: 1024 * 1024, forMs: 10_000, ...options });
  return { store, gets, writer: announcingStored(counted, recent, () => options.wanted ?? true), reader: recent.reading(counted) };
};

t.test('a body stored from memory is read back from memory, byte for byte, while the store is not asked', async (t) => {
  const { store, gets, writer, reader } = await setUp();
  const body = inMemory(stateDocument(1));
  await writer.upload(body.key, body).commit();
  t.strictSame(await drained(await store.get(body.key)), body.bytes, 'stored in the blob store as usual');
  t.strictSame(await drained(await reader.get(body.key)), body.bytes);
  t.strictSame(await drained(await reader.get(body.key)), body.bytes, 'a fresh stream each time');
  t.strictSame(gets, [], 'the store was not asked');
  const other = inMemory(stateDocument(2));
  await store.upload(other.key, other).commit();
  t.strictSame(await drained(await reader.get(other.key)), other.bytes, 'a body stored elsewhere comes from the store');
  t.strictSame(gets, [other.key]);
});

t.test('the projections read a body just pushed without downloading it, and still check its hash', async (t) => {
  const { gets, writer, reader } = await setUp();
  const body = inMemory(stateDocument(3));
  await writer.upload(body.key, body).commit();
  const reading = await sharedBodyReader(reader).read(body.key, body.sha256, body.size);
  t.equal(reading.kind, 'contents');
  t.strictSame(gets, []);
  const wrong = await sharedBodyReader(reader).read(body.key, '0'.repeat(64), body.size);
  t.strictSame(wrong, { kind: 'unreadable', reason: `its body ${body.key} no longer matches its sha256` });
});

t.test('nothing is kept when this process runs no projection', async (t) => {
  const { gets, writer, reader } = await setUp({ wanted: false });
  const body = inMemory(stateDocument(4));
  await writer.upload(body.key, body).commit();
  t.strictSame(await drained(await reader.get(body.key)), body.bytes);
  t.strictSame(gets, [body.key]);
});

t.test('an upload abandoned, or one that failed, leaves nothing in memory', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'recent-bodies-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const real = await fsBlobStore(dir);
  const failing: BlobStore = { ...real, upload: () => ({ commit: () => Promise.reject(new Error('the disk is full')), abandon: async () => undefined }) };
  const { writer, reader } = await setUp({}, failing);
  const body = inMemory(stateDocument(5));
  await t.rejects(writer.upload(body.key, body).commit(), { message: 'the disk is full' });
  t.equal(await reader.get(body.key), null, 'not in memory, nor in the store');
  const abandoned = inMemory(stateDocument(6));
  await writer.upload(abandoned.key, abandoned).abandon();
  t.equal(await reader.get(abandoned.key), null);
});

t.test('a body received in a file is not kept (it is too large to hold)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'recent-bodies-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const { gets, writer, reader } = await setUp();
  const bytes = stateDocument(7);
  const file = path.join(dir, 'body');
  await fs.writeFile(file, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writer.upload(blobKeyFor(sha256), { kind: 'file', path: file, size: bytes.length, sha256 }).commit();
  t.strictSame(await drained(await reader.get(blobKeyFor(sha256))), bytes);
  t.strictSame(gets, [blobKeyFor(sha256)]);
});

t.test('bodies are forgotten after their time, the oldest first beyond the byte limit, and when deleted', async (t) => {
  const a = inMemory(stateDocument(8));
  const b = inMemory(stateDocument(9));
  const c = inMemory(stateDocument(10));
  const { gets, writer, reader } = await setUp({ maxBytes: a.size + b.size + 10, forMs: 300 });
  for (const body of [a, b, c]) await writer.upload(body.key, body).commit();
  for (const body of [a, b, c]) await drained(await reader.get(body.key));
  t.strictSame(gets, [a.key], 'the third pushed the first out');
  await writer.delete(b.key);
  t.equal(await reader.get(b.key), null, 'a deleted body is gone from memory too');
  gets.length = 0;
  await sleep(400);
  t.strictSame(await drained(await reader.get(c.key)), c.bytes);
  t.strictSame(gets, [c.key], 'past its time, read from the store');
});

t.test('a body larger than the whole memory is not kept', async (t) => {
  const body = inMemory(stateDocument(11));
  const { gets, writer, reader } = await setUp({ maxBytes: body.size - 1 });
  await writer.upload(body.key, body).commit();
  await drained(await reader.get(body.key));
  t.strictSame(gets, [body.key]);
});
