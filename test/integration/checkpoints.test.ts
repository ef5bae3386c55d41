import fs from 'node:fs/promises';
import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import t, { type Test } from 'tap';
import type { Command } from '../../src/commands/commands.js';
import { handleCommand } from '../../src/commands/handler.js';
import { chainHash, GENESIS_HASH } from '../../src/events/hash-chain.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { checkpointKey, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { chainedFieldsOf, eventColumns, type EventRow } from '../../src/storage/event-rows.js';
import { checkpointName, newCheckpoint, signCheckpoint, type Checkpoint } from '../../src/storage/verify/checkpoint-document.js';
import { startCheckpointWriter } from '../../src/storage/verify/checkpoint-writer.js';
import { sealLedger } from '../../src/storage/verify/checkpoints.js';
import { loadSigningKey, signingKeyFromPem, type SigningKey } from '../../src/storage/verify/signing-key.js';
import { describeProblem, verifyLedger } from '../../src/storage/verify/verify-ledger.js';
import { runCli } from '../support/cli.js';
import { metadata } from '../support/commands.js';
import { capturedLogger } from '../support/log-capture.js';
import { freshDatabase, tempDir } from '../support/services.js';

interface Ledger {
  readonly url: string;
  readonly pool: pg.Pool;
  readonly blobs: BlobStore;
  readonly key: SigningKey;
  /** Locks and unlocks each state in turn, `rounds` times: two events per round, no bodies needed. */
  write(states: readonly string[], rounds: number): Promise<void>;
}

const newKey = async (t: Test) => (await loadSigningKey({ file: path.join(await tempDir(t), 'key.pem'), generate: true })).key;

const ledger = async (t: Test): Promise<Ledger> => {
  const { url, pool } = await freshDatabase(t);
  const run = handleCommand(ledgerStores(pool).store);
  const command = async (state: string, c: Command) => {
    const outcome = await run(state, c, metadata())();
    if (E.isLeft(outcome)) throw new Error(`${state}: ${JSON.stringify(outcome.left)}`);
  };
  return {
    url,
    pool,
    blobs: await fsBlobStore(path.join(await tempDir(t), 'blobs')),
    key: await newKey(t),
    write: async (states, rounds) => {
      for (let round = 0; round < rounds; round++) {
        for (const state of states) {
          await command(state, { type: 'LockState', lock: { ID: `${state}-${round}` } });
          await command(state, { type: 'UnlockState', presented: { ID: `${state}-${round}` }, mayForce: false });
        }
      }
    },
  };
};

const sealed = async (l: Ledger, key = l.key): Promise<Checkpoint> => {
  const outcome = await sealLedger(l.pool, l.blobs, key);
  if (E.isLeft(outcome) || outcome.right.kind !== 'written') throw new Error(`no checkpoint written: ${JSON.stringify(outcome)}`);
  return outcome.right.checkpoint;
};

const headOf = (checkpoint: Checkpoint, stream: string) => {
  const head = checkpoint.streams.find((s) => s.stream_id === stream);
  if (head === undefined) throw new Error(`${stream} is not in checkpoint ${checkpoint.name}`);
  return head;
};

/** Runs statements as a superuser would to tamper: with the append-only triggers off. */
const tamper = async (pool: pg.Pool, ...statements: Array<[string, unknown[]?]>) => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE events DISABLE TRIGGER USER');
    for (const [sql, values] of statements) await client.query(sql, values);
    await client.query('ALTER TABLE events ENABLE TRIGGER USER');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
};

const problemLines = async (l: Ledger, key = l.key) => (await verifyLedger(l.pool, l.blobs, { key })).problems.map(describeProblem);

t.test('verify with no checkpoint yet works and says so; the next one compares with the checkpoint written', async (t) => {
  const l = await ledger(t);
  await l.write(['infra'], 2);
  const first = await verifyLedger(l.pool, l.blobs, { key: l.key });
  t.strictSame([first.problems, first.checkpoint, first.events], [[], { kind: 'none yet' }, 4]);

  const checkpoint = await sealed(l);
  t.strictSame(checkpoint.streams, [{ stream_id: 'infra', version: 4, hash: headOf(checkpoint, 'infra').hash }]);
  t.strictSame(checkpoint.signed_by, l.key.fingerprint);
  await l.write(['infra', 'app'], 1);
  const second = await verifyLedger(l.pool, l.blobs, { key: l.key });
  t.strictSame([second.problems, second.checkpoint], [[], { kind: 'compared', checkpoint }], 'a ledger that only grew still matches');
  t.strictSame((await verifyLedger(l.pool, l.blobs)).checkpoint, { kind: 'skipped' }, 'without a key checkpoints are not looked at');
});

t.test('a deleted stream is caught and named', async (t) => {
  const l = await ledger(t);
  await l.write(['gone', 'kept'], 2);
  const checkpoint = await sealed(l);
  const gone = headOf(checkpoint, 'gone');
  await tamper(l.pool, ["DELETE FROM events WHERE stream_id = 'gone'"], ["DELETE FROM streams WHERE stream_id = 'gone'"]);
  t.strictSame((await verifyLedger(l.pool, l.blobs)).problems, [], 'the chains alone cannot tell: what is left is intact');
  t.strictSame(await problemLines(l), [`state gone was at version 4 with hash ${gone.hash} at checkpoint ${checkpoint.name}, now missing`]);
});

t.test('a stream cut short is caught, even with its record moved back to match', async (t) => {
  const l = await ledger(t);
  await l.write(['cut'], 3);
  await l.write(['later'], 1); // the ledger's last events are another stream's
  const checkpoint = await sealed(l);
  const cut = headOf(checkpoint, 'cut');
  await tamper(
    l.pool,
    ["DELETE FROM events WHERE stream_id = 'cut' AND stream_version > 4"],
    // The decider snapshot of an older shape is ignored by verify: the record looks consistent.
    ["UPDATE streams SET version = 4, snapshot_schema = 0 WHERE stream_id = 'cut'"],
  );
  t.strictSame((await verifyLedger(l.pool, l.blobs)).problems, [], 'the chains alone cannot tell');
  t.strictSame(await problemLines(l), [`state cut was at version 6 with hash ${cut.hash} at checkpoint ${checkpoint.name}, now at version 4: cut short`]);
});

t.test('the last events of the whole ledger removed: the checkpoint names the position', async (t) => {
  const l = await ledger(t);
  await l.write(['a'], 1);
  await l.write(['b'], 2);
  const checkpoint = await sealed(l);
  const b = headOf(checkpoint, 'b');
  await tamper(l.pool, ["DELETE FROM events WHERE stream_id = 'b' AND stream_version > 2"], ["UPDATE streams SET version = 2, snapshot_schema = 0 WHERE stream_id = 'b'"]);
  t.strictSame(await problemLines(l), [
    `state b was at version 4 with hash ${b.hash} at checkpoint ${checkpoint.name}, now at version 2: cut short`,
    `checkpoint ${checkpoint.name} recorded the ledger up to position ${checkpoint.global_position}, but it now ends at position ${checkpoint.global_position - 2}: its last events were removed`,
  ]);
});

t.test('a chain rewritten with recomputed hashes is caught', async (t) => {
  const l = await ledger(t);
  await l.write(['prod'], 2);
  const checkpoint = await sealed(l);
  const before = headOf(checkpoint, 'prod');
  // Rewrite history: the first lock was someone else's, and every hash after it recomputed.
  const { rows } = await l.pool.query<EventRow & Record<string, unknown>>(`SELECT ${eventColumns} FROM events WHERE stream_id = 'prod' ORDER BY stream_version`);
  let hash = GENESIS_HASH;
  const updates: Array<[string, unknown[]]> = [];
  for (const row of rows) {
    const data = row.stream_version === 1 ? { ...(row.data as object), lock: { ID: 'mallory' } } : row.data;
    hash = chainHash(hash, chainedFieldsOf({ ...row, data }));
    updates.push(['UPDATE events SET data = $1, hash = $2 WHERE global_position = $3', [data, hash, row.global_position]]);
  }
  await tamper(l.pool, ...updates);
  t.strictSame((await verifyLedger(l.pool, l.blobs)).problems.filter((p) => p.kind === 'event'), [], 'every link recomputes: the chains alone cannot tell');
  t.strictSame((await problemLines(l))[0], `state prod was at version 4 with hash ${before.hash} at checkpoint ${checkpoint.name}, now has hash ${hash} at that version: its history was rewritten`);

  t.test('and the server does not seal over it', async (t) => {
    const refused = await sealLedger(l.pool, l.blobs, l.key);
    t.strictSame(E.isLeft(refused) && refused.left.kind, 'broken');
    t.strictSame((await l.blobs.listCheckpoints()).length, 1, 'no new checkpoint hides the old one');
  });
});

t.test('a forged checkpoint is named, and the newest one that holds is still compared with', async (t) => {
  const l = await ledger(t);
  await l.write(['infra'], 1);
  const genuine = await sealed(l);
  await l.write(['infra'], 1);
  // Someone with write access to the store but not the key: a newer checkpoint of a rewritten ledger.
  const forged = newCheckpoint(l.key, { globalPosition: 99, streams: [{ stream_id: 'infra', version: 4, hash: 'f'.repeat(64) }] }, new Date());
  const bytes = signCheckpoint(l.key, { ...forged, streams: [{ stream_id: 'infra', version: 4, hash: headOf(genuine, 'infra').hash }] });
  const swapped = Buffer.from(bytes.toString().replace(headOf(genuine, 'infra').hash, 'f'.repeat(64)));
  await l.blobs.putCheckpoint(forged.name, swapped);
  const report = await verifyLedger(l.pool, l.blobs, { key: l.key });
  t.strictSame(report.problems.map(describeProblem), [`checkpoint ${forged.name} has a signature that does not verify with key ${l.key.fingerprint}: it was forged or altered`]);
  t.strictSame(report.checkpoint, { kind: 'compared', checkpoint: genuine });

  t.test('an unreadable one likewise', async (t) => {
    const junk = checkpointName(100, new Date());
    await l.blobs.putCheckpoint(junk, Buffer.from('{"checkpoint": {}, "signature": "'));
    t.strictSame((await problemLines(l))[0], `checkpoint ${junk} is not JSON: not a checkpoint this server wrote`);
  });
});

t.test('a checkpoint signed by another key is named', async (t) => {
  const l = await ledger(t);
  await l.write(['infra'], 1);
  const stranger = await newKey(t);
  const theirs = await sealed(l, stranger);
  const report = await verifyLedger(l.pool, l.blobs, { key: l.key });
  t.strictSame(report.problems.map(describeProblem), [`checkpoint ${theirs.name} is signed by another key (${stranger.fingerprint}), not by this key (${l.key.fingerprint})`]);
  t.strictSame(report.checkpoint, { kind: 'none trusted', count: 1 });

  t.test('while a checkpoint of this key, newer, is compared with as usual', async (t) => {
    const ours = await sealed(l);
    const again = await verifyLedger(l.pool, l.blobs, { key: l.key });
    t.strictSame([again.problems, again.checkpoint], [[], { kind: 'compared', checkpoint: ours }]);
  });
});

t.test('the periodic writer: writes, skips an unchanged ledger, outlives a failing store, stops', async (t) => {
  const l = await ledger(t);
  await l.write(['infra'], 1);
  let failures = 1;
  const flaky: BlobStore = {
    ...l.blobs,
    listCheckpoints: async () => {
      if (failures-- > 0) throw new Error('the object store failed to list checkpoints: connect ECONNREFUSED');
      return l.blobs.listCheckpoints();
    },
  };
  const { logger, lines } = capturedLogger();
  const runs: string[] = [];
  const writer = startCheckpointWriter({ pool: l.pool, blobs: flaky, key: l.key, intervalMs: 30, logger, onRun: (outcome) => runs.push(outcome) });
  const waitFor = async (what: string, done: () => Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await done()); i++) await new Promise((r) => setTimeout(r, 10));
    t.ok(await done(), what);
  };
  await waitFor('a checkpoint after the failure', async () => (await l.blobs.listCheckpoints()).length === 1);
  t.strictSame(lines().filter((line) => line.msg === 'checkpoint failed; trying again later').length, 1, 'the failure was logged');
  await new Promise((r) => setTimeout(r, 200));
  t.strictSame((await l.blobs.listCheckpoints()).length, 1, 'nothing new: no new checkpoint');
  await l.write(['infra'], 1);
  await waitFor('a checkpoint of the new events', async () => (await l.blobs.listCheckpoints()).length === 2);
  await writer.stop();
  const count = (await l.blobs.listCheckpoints()).length;
  await l.write(['infra'], 1);
  await new Promise((r) => setTimeout(r, 200));
  t.strictSame((await l.blobs.listCheckpoints()).length, count, 'stopped: no more checkpoints');
  t.strictSame(lines().filter((line) => line.msg === 'checkpoint written').length, count);
  t.strictSame(runs[0], 'failed', 'each run is reported (metrics): the failure first');
  t.ok(runs.length > 2 && runs.slice(1).every((outcome) => outcome === 'ok'), `then ok runs: ${runs.join(', ')}`);
});

t.test('the checkpoint is one snapshot: stream heads and position agree under concurrent writes', async (t) => {
  const l = await ledger(t);
  await l.write(['a', 'b'], 1);
  const writing = l.write(['a', 'b'], 10);
  const checkpoints: Checkpoint[] = [];
  for (let i = 0; i < 5; i++) checkpoints.push(await sealed(l));
  await writing;
  for (const checkpoint of checkpoints) {
    const { rows } = await l.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events e JOIN unnest($1::text[], $2::bigint[]) AS c(s, v) ON e.stream_id = c.s AND e.stream_version <= c.v
       WHERE e.global_position > $3`,
      [checkpoint.streams.map((s) => s.stream_id), checkpoint.streams.map((s) => s.version), checkpoint.global_position],
    );
    t.strictSame(rows[0]?.n, 0, `no head of ${checkpoint.name} lies beyond its position`);
  }
  t.strictSame(await problemLines(l), []);
  t.ok(await l.blobs.get(checkpointKey(checkpoints[0]?.name ?? '')), 'readable from the store');
});

t.test('state-ledger verify: says there is no checkpoint yet, writes one, compares with it, prints the public key', async (t) => {
  const l = await ledger(t);
  const dataDir = await tempDir(t);
  const env = { DATABASE_URL: l.url, DATA_DIR: dataDir };
  const keyFile = path.join(dataDir, 'ledger-signing-key.pem');
  await l.write(['infra'], 2);

  const first = await runCli(['verify'], env);
  t.strictSame(first.code, 0, first.stderr);
  const key = signingKeyFromPem(keyFile, await fs.readFile(keyFile, 'utf8'));
  const [written] = await (await fsBlobStore(path.join(dataDir, 'blobs'))).listCheckpoints();
  t.strictSame(first.stdout.trim().split('\n'), [
    'ledger intact: 4 events in 1 streams, 0 blobs',
    'no checkpoint yet: nothing to compare with',
    `wrote checkpoint ${written} (1 streams, up to position 4, write-once)`,
    `checkpoints are signed by Ed25519 key ${key.fingerprint} (${keyFile}); public key ${key.publicKeyBase64}: keep a copy of it elsewhere`,
  ]);

  const second = await runCli(['verify'], env);
  t.strictSame(second.code, 0, second.stderr);
  t.match(second.stdout, new RegExp(`^ledger intact: 4 events in 1 streams, 0 blobs\\ncompared with checkpoint ${written} of \\S+ \\(1 streams, up to position 4\\)\\nwrote checkpoint `));

  const newest = (await (await fsBlobStore(path.join(dataDir, 'blobs'))).listCheckpoints()).at(-1);
  const hash = (await l.pool.query<{ hash: string }>("SELECT hash FROM events WHERE stream_id = 'infra' AND stream_version = 4")).rows[0]?.hash;
  await tamper(l.pool, ["DELETE FROM events WHERE stream_id = 'infra'"], ["DELETE FROM streams WHERE stream_id = 'infra'"]);
  const broken = await runCli(['verify'], env);
  t.strictSame(broken.code, 1);
  const [problem, also, compared, verdict] = broken.stdout.trim().split('\n');
  t.strictSame(problem, `ledger NOT intact: state infra was at version 4 with hash ${hash} at checkpoint ${newest}, now missing`);
  t.strictSame(also, `also: checkpoint ${newest} recorded the ledger up to position 4, but it now ends at position 0: its last events were removed`);
  t.match(compared, new RegExp(`^compared with checkpoint ${newest} of `));
  t.strictSame(verdict, 'no checkpoint written: the ledger is not intact');
});
