import * as E from 'fp-ts/lib/Either.js';
import t, { type Test } from 'tap';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import tar from 'tar-stream';
import { stateDocument } from '../support/go-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { freshDatabase, tempDir } from '../support/services.js';
import { exportLedger } from '../../src/storage/archive/export-ledger.js';
import { importLedger } from '../../src/storage/archive/import-ledger.js';
import { noKnownAbsentBodies, prunedBodies } from '../../src/storage/archive/known-absent.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { parseRetention } from '../../src/retention/policy.js';
import { pruneLedger } from '../../src/retention/prune.js';
import { verifyLedger } from '../../src/storage/verify/verify-ledger.js';
import { replay } from '../../src/projections/replay.js';
import { metadata } from '../support/commands.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { chainHash, GENESIS_HASH } from '../../src/events/hash-chain.js';
import { chainedFieldsOf } from '../../src/storage/event-rows.js';

const collect = async (s: AsyncIterable<unknown>) => {
  const chunks: Buffer[] = [];
  for await (const chunk of s) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

t.test('an archive whose event stores a body outside its content address is refused, and nothing is written there', async (t) => {
  const server = await startServer(t, { blobs: 'fs' });
  const doc = stateDocument(1);
  t.equal((await server.request('/states/app', { method: 'POST', body: doc.toString() })).status, 200);
  const sink = new PassThrough();
  const bytesP = collect(sink);
  await exportLedger(server.db.pool, server.blobs, sink, { since: 0, allowMissing: false, knownAbsent: noKnownAbsentBodies, writtenBy: 'x', now: new Date() });
  const archive = await bytesP;
  // rewrite
  const extract = tar.extract();
  const pack = tar.pack();
  const outP = collect(pack);
  const evil = `../../../../../../tmp/hr-pwned-${process.pid}`;
  extract.on('entry', async (header, stream, next) => {
    let body = await collect(stream);
    let name = header.name;
    if (name.startsWith('events/')) {
      const heads = new Map<string, string>();
      const lines = body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      for (const e of lines) {
        if (e.type === 'StatePushed') e.data.blob_key = evil;
        const prev = heads.get(e.stream_id) ?? GENESIS_HASH;
        e.hash = chainHash(prev, chainedFieldsOf({ ...e, global_position: e.position, recorded_at: new Date(e.recorded_at) }));
        heads.set(e.stream_id, e.hash);
      }
      body = Buffer.from(lines.map((l) => JSON.stringify(l) + '\n').join(''));
    }
    if (name.startsWith('blobs/')) name = `blobs/${evil}`;
    pack.entry({ ...header, name, size: body.length }, body, () => next());
  });
  extract.on('finish', () => pack.finalize());
  Readable.from(archive).pipe(extract);
  const crafted = await outP;
  const db2 = await freshDatabase(t);
  const dir = await tempDir(t);
  const blobs2 = await fsBlobStore(path.join(dir, 'blobs'));
  t.teardown(() => fs.rm(`/tmp/hr-pwned-${process.pid}`, { force: true }));
  await t.rejects(importLedger(db2.pool, blobs2, Readable.from(crafted), { tmpDir: dir }), {
    message: `the archive is corrupt or truncated: event at position 1 (app v1) stores its body under ${JSON.stringify(evil)}, not its content address; nothing was imported`,
  });
  t.strictSame(await fs.readFile(`/tmp/hr-pwned-${process.pid}`).then(() => 'written', () => 'not written'), 'not written', 'no file outside the blob folder');
  t.strictSame((await db2.pool.query('SELECT count(*)::int AS n FROM events')).rows, [{ n: 0 }], 'no event imported');
});

const exported = async (server: TestServer, allowMissing = false) => {
  const sink = new PassThrough();
  const bytes = collect(sink);
  await exportLedger(server.db.pool, server.blobs, sink, { since: 0, allowMissing, knownAbsent: prunedBodies, writtenBy: 'test', now: new Date() });
  return bytes;
};

const importedInto = async (t: Test, archive: Buffer) => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const blobs = await fsBlobStore(path.join(dir, 'blobs'));
  return { db, blobs, imported: () => importLedger(db.pool, blobs, Readable.from(archive), { tmpDir: dir }) };
};

t.test('pruned bodies travel as pruned: the restored ledger verifies and still knows what was pruned', async (t) => {
  const server = await startServer(t, { blobs: 'fs' });
  for (const serial of [1, 2, 3]) t.equal((await server.request('/states/app', { method: 'POST', body: stateDocument(serial).toString() })).status, 200);
  const retention = parseRetention('1');
  if (E.isLeft(retention)) return t.fail(retention.left);
  const report = await pruneLedger({ pool: server.db.pool, store: ledgerStores(server.db.pool).store, blobs: server.blobs }, retention.right, { now: new Date(), dryRun: false, metadata: metadata() });
  t.strictSame(report.versions.map((v) => v.version), [1, 2], 'two versions pruned, their bodies deleted');

  const target = await importedInto(t, await exported(server));
  const result = await target.imported();
  t.strictSame([result.events, result.blobs, result.absent], [5, 1, 2], 'five events, the kept body, two bodies listed as pruned');
  t.strictSame((await verifyLedger(target.db.pool, target.blobs)).problems, [], 'verify passes on the restored ledger');
  await replay(target.db.pool, { kind: 'swap' }); // as `import` does after loading
  t.strictSame(
    (await target.db.pool.query("SELECT version, pruned_at IS NOT NULL AS pruned FROM state_versions WHERE name = 'app' ORDER BY version")).rows,
    [{ version: 1, pruned: true }, { version: 2, pruned: true }, { version: 3, pruned: false }],
  );
});

t.test('an archive may not call a body pruned that its events keep', async (t) => {
  const server = await startServer(t, { blobs: 'fs' });
  t.equal((await server.request('/states/app', { method: 'POST', body: stateDocument(1).toString() })).status, 200);
  const { rows } = await server.db.pool.query<{ key: string }>("SELECT blob_key AS key FROM state_versions WHERE name = 'app'");
  await server.blobs.delete(rows[0]!.key); // lost, not pruned
  const honest = await exported(server, true);
  // absent-blobs entries carry no hash: rewrite "missing" as "pruned".
  const extract = tar.extract();
  const pack = tar.pack();
  const out = collect(pack);
  extract.on('entry', (header, stream, next) => {
    void collect(stream).then((body) => {
      const text = header.name.startsWith('absent-blobs/') ? Buffer.from(body.toString().replace('"missing"', '"pruned"')) : body;
      pack.entry({ ...header, size: text.length }, text, () => next());
    });
  });
  extract.on('finish', () => pack.finalize());
  Readable.from(honest).pipe(extract);
  const target = await importedInto(t, await out);
  await t.rejects(target.imported(), {
    message: `the archive is corrupt or truncated: it lists bodies as pruned that versions no event pruned refer to: ${rows[0]!.key}; nothing was imported`,
  });
  t.strictSame((await target.db.pool.query('SELECT count(*)::int AS n FROM events')).rows, [{ n: 0 }], 'nothing imported');
});
