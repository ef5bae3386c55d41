import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import t, { type Test } from 'tap';
import { discardBody, inspectBody, IN_MEMORY_LIMIT, receiveBody, type Declared } from '../../src/bodies/ingest.js';

const tmpDir = async (t: Test) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'state-ledger-ingest-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
};

const limits = (dir: string) => ({ maxBytes: 64 * 1024 * 1024, tmpDir: dir, idleTimeoutMs: 10_000 });
const md5 = (data: Buffer) => createHash('md5').update(data).digest('base64');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** A body as a request delivers it: in chunks. */
const chunked = (data: Buffer) => Readable.from(Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536)));

const document = (padding: number) =>
  Buffer.from(JSON.stringify({ version: 4, terraform_version: '1.9.8', serial: 7, lineage: 'l-1', outputs: { a: { value: 'x'.repeat(padding), type: 'string' } }, resources: [] }));

/** Receives then inspects, as a push does; answers what came out and whether it waited in memory. */
const ingest = async (t: Test, data: Buffer, declared: Declared) => {
  const dir = await tmpDir(t);
  const received = await receiveBody(chunked(data), declared, limits(dir));
  if (E.isLeft(received)) return { kind: 'refused', outcome: received.left, files: await fs.readdir(dir) };
  const filesWhileWaiting = await fs.readdir(dir);
  const inspected = await inspectBody(received.right, declared);
  await discardBody(received.right);
  t.strictSame(await fs.readdir(dir), [], 'nothing is left on disk');
  return { kind: received.right.kind, outcome: E.isLeft(inspected) ? inspected.left : { md5: inspected.right.md5, serial: inspected.right.serial, sha256: inspected.right.sha256, size: inspected.right.size }, files: filesWhileWaiting };
};

for (const [label, data] of [
  ['a small body', document(1000)],
  ['a body over the in-memory limit', document(IN_MEMORY_LIMIT + 10)],
] as const) {
  t.test(`${label}: the same verdict in memory (declared length) and in a file (none declared)`, async (t) => {
    const withLength = { length: data.length };
    const expectations: Array<[string, Declared, unknown]> = [
      ['no Content-MD5: no MD5', {}, { md5: null, serial: 7, sha256: sha256(data), size: data.length }],
      ['a matching Content-MD5', { contentMd5: md5(data) }, { md5: md5(data), serial: 7, sha256: sha256(data), size: data.length }],
      ['a Content-MD5 of other bytes', { contentMd5: md5(Buffer.from('x')) }, { type: 'ContentMd5Mismatch', declared: md5(Buffer.from('x')), actual: md5(data) }],
      ['a Content-MD5 that is no MD5', { contentMd5: 'not base64' }, { type: 'InvalidContentMd5' }],
    ];
    for (const [what, declared, expected] of expectations) {
      const inFile = await ingest(t, data, declared);
      t.equal(inFile.kind, 'file', `${what}: without a length, a file`);
      t.equal(inFile.files.length, 1);
      t.strictSame(inFile.outcome, expected, `${what} (file)`);
      const sized = await ingest(t, data, { ...declared, ...withLength });
      t.equal(sized.kind, data.length <= IN_MEMORY_LIMIT ? 'memory' : 'file', `${what}: kept in memory only up to the limit`);
      t.equal(sized.files.length, data.length <= IN_MEMORY_LIMIT ? 0 : 1);
      t.strictSame(sized.outcome, expected, `${what} (declared length)`);
    }
  });
}

t.test('a body that is not a state is refused whichever way it waits', async (t) => {
  const data = Buffer.from('{"version":4,"serial":1,');
  for (const declared of [{}, { length: data.length }]) {
    const { outcome } = await ingest(t, data, declared);
    t.equal((outcome as { type?: string }).type, 'InvalidState');
  }
});
