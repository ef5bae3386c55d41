import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { checkpointKey, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { freshS3Config, tempDir } from '../support/services.js';

const drain = async (stream: Readable | null): Promise<Buffer | null> => {
  if (stream === null) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** What the checkpoint code relies on, from every adapter. */
const contract = (name: string, open: (t: Test) => Promise<BlobStore>, writeOnce: boolean) =>
  t.test(name, async (t) => {
    const store = await open(t);

    t.test('none at first; written ones are listed oldest first and read back exactly', async (t) => {
      t.strictSame(await store.listCheckpoints(), []);
      const names = ['0000000000000002-b.json', '0000000000000010-a.json', '0000000000000001-c.json'];
      for (const name of names) t.strictSame(await store.putCheckpoint(name, Buffer.from(`{"name":"${name}"}\n`)), { writeOnce }, name);
      t.strictSame(await store.listCheckpoints(), [...names].sort());
      t.strictSame(await drain(await store.get(checkpointKey(names[1] ?? ''))), Buffer.from(`{"name":"${names[1]}"}\n`));
    });

    t.test('they live apart from the bodies', async (t) => {
      t.strictSame(await store.exists('checkpoints/0000000000000002-b.json'), true);
      t.strictSame(await store.exists('sha256/0000000000000002-b.json'), false);
    });

    t.test('a name that is not one path segment is refused', async (t) => {
      for (const bad of ['../escape.json', 'a/b.json', '.hidden', '']) await t.rejects(store.putCheckpoint(bad, Buffer.from('{}')), { message: /^not a checkpoint name/ }, JSON.stringify(bad));
    });
  });

contract('file-system checkpoints', async (t) => fsBlobStore(path.join(await tempDir(t), 'blobs')), true);
// The test server (OpenStack Swift s3api) has no object lock: checkpoints there are not write-once.
contract('S3 checkpoints (real S3 server)', async () => s3BlobStore(freshS3Config()), false);

t.test('file system: write-once, read-only, and never half-written', async (t) => {
  const root = path.join(await tempDir(t), 'blobs');
  const store = await fsBlobStore(root);
  const name = '0000000000000001-x.json';
  await store.putCheckpoint(name, Buffer.from('first'));
  await t.rejects(store.putCheckpoint(name, Buffer.from('second')), { code: 'EEXIST' }, 'a second write of the name is refused');
  const file = path.join(root, 'checkpoints', name);
  t.strictSame(await fs.readFile(file, 'utf8'), 'first', 'and the first stays');
  t.strictSame((await fs.stat(file)).mode & 0o777, 0o400, 'read-only');
  t.strictSame(await fs.readdir(path.dirname(file)), [name], 'no partial file left behind');
  await fs.writeFile(path.join(root, 'checkpoints', `.${name}.1234.partial`), 'half');
  t.strictSame(await store.listCheckpoints(), [name], 'a partial file (a crash mid-write) is not listed');
});
