import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import { checkpointLocking } from '../../src/storage/blobs/s3-checkpoints.js';
import { checkpointName, newCheckpoint, openCheckpoint, signCheckpoint } from '../../src/storage/verify/checkpoint-document.js';
import { loadSigningKey, signingKeyFromPem } from '../../src/storage/verify/signing-key.js';
import { tempDir } from '../support/services.js';

const pemOf = (type: 'ed25519' | 'x25519' = 'ed25519') => generateKeyPairSync(type as 'ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const someKey = () => signingKeyFromPem('memory', pemOf());
const heads = { globalPosition: 42, streams: [{ stream_id: 'infra', version: 7, hash: 'a'.repeat(64) }] };
const at = new Date('2026-11-25T08:00:00.123Z');

t.test('the signing key file', async (t) => {
  t.test('is generated once, private, as PKCS8 PEM, and callers racing to create it agree on it', async (t) => {
    const file = path.join(await tempDir(t), 'nested', 'ledger-signing-key.pem');
    const loads = await Promise.all(Array.from({ length: 8 }, () => loadSigningKey({ file, generate: true })));
    t.strictSame(new Set(loads.map((l) => l.key.fingerprint)).size, 1, 'every caller got the same key');
    t.strictSame(loads.filter((l) => l.created).length, 1, 'exactly one of them created it');
    t.strictSame((await fs.stat(file)).mode & 0o777, 0o600);
    t.match(await fs.readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    t.strictSame(await fs.readdir(path.dirname(file)), ['ledger-signing-key.pem'], 'no partial file left behind');
    const again = await loadSigningKey({ file, generate: true });
    t.strictSame([again.created, again.key.fingerprint], [false, loads[0]?.key.fingerprint], 'a restart loads the same key');
    t.match(again.key.fingerprint, /^sha256:[0-9a-f]{64}$/);
  });

  t.test('named but missing is refused, never replaced', async (t) => {
    const file = path.join(await tempDir(t), 'gone.pem');
    await t.rejects(loadSigningKey({ file, generate: false }), { message: `LEDGER_SIGNING_KEY names ${file}, which does not exist: restore the key, or create one with \`openssl genpkey -algorithm ed25519 -out ${file}\`` });
    await t.rejects(fs.access(file), 'nothing was created');
  });

  t.test('a file that is not an Ed25519 private key is refused with its name', async (t) => {
    const dir = await tempDir(t);
    for (const [name, content] of [
      ['garbage.pem', 'not a key\n'],
      ['x25519.pem', pemOf('x25519')],
    ] as const) {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      await t.rejects(loadSigningKey({ file, generate: true }), { message: new RegExp(`^the checkpoint signing key ${file} is not an Ed25519 private key in PEM`) }, name);
    }
  });
});

t.test('checkpoint names sort by position, then time, and do not collide', async (t) => {
  const name = checkpointName(42, at);
  t.match(name, /^0000000000000042-20261125T080000123Z-[0-9a-f]{8}\.json$/);
  t.not(checkpointName(42, at), name, 'two writers at the same moment get different names');
  const names = [checkpointName(1000, at), checkpointName(999, new Date('2030-01-01T00:00:00Z')), checkpointName(1000, new Date('2026-11-25T08:00:01Z'))];
  t.strictSame([...names].sort(), [names[1], names[0], names[2]]);
});

t.test('a signed checkpoint opens with its key, and with nothing else', async (t) => {
  const key = someKey();
  const checkpoint = newCheckpoint(key, heads, at);
  const bytes = signCheckpoint(key, checkpoint);
  t.strictSame(openCheckpoint(key, checkpoint.name, bytes), E.right(checkpoint));

  const other = someKey();
  t.strictSame(openCheckpoint(other, checkpoint.name, bytes), E.left(`is signed by another key (${key.fingerprint}), not by this key (${other.fingerprint})`));

  const stored = JSON.parse(bytes.toString()) as { checkpoint: Record<string, unknown>; signature: string };
  const reopened = (change: (s: typeof stored) => unknown) => openCheckpoint(key, checkpoint.name, Buffer.from(JSON.stringify(change(structuredClone(stored)))));
  const forged = `has a signature that does not verify with key ${key.fingerprint}: it was forged or altered`;
  t.strictSame(reopened((s) => ((s.checkpoint.global_position = 41), s)), E.left(forged), 'a changed field');
  t.strictSame(reopened((s) => ((s.checkpoint.note = 'added'), s)), E.left(forged), 'an added field');
  t.strictSame(reopened((s) => ({ ...s, signature: 'AAAA' })), E.left(forged), 'a malformed signature');
  t.strictSame(reopened((s) => ({ ...s, signature: signCheckpoint(other, { ...checkpoint, signed_by: key.fingerprint }).toString().match(/"signature":"([^"]+)"/)?.[1] })), E.left(forged), 'signed by another key claiming to be this one');
  t.strictSame(reopened((s) => ({ checkpoint: s.checkpoint })), E.left('has no signature: not a checkpoint this server wrote'));
  t.strictSame(openCheckpoint(key, checkpoint.name, Buffer.from('{"checkpoint": ')), E.left('is not JSON: not a checkpoint this server wrote'));
  t.match(reopened((s) => ((s.checkpoint.streams = 'none'), s)), E.left(/^is not a checkpoint: Invalid value "none" supplied to .*streams/));

  const newer = checkpointName(43, new Date());
  t.strictSame(openCheckpoint(key, newer, bytes), E.left(`is a copy of checkpoint ${checkpoint.name} under another name`), 'an old checkpoint copied to look newer');
});

t.test('object lock: only an explicit Enabled counts', async (t) => {
  t.strictSame(checkpointLocking(undefined), 'unsupported', 'no configuration (an error answer)');
  t.strictSame(checkpointLocking({}), 'unsupported', 'an empty configuration (what Swift s3api answers)');
  t.strictSame(checkpointLocking({ objectLockEnabled: 'Disabled' }), 'unsupported');
  t.strictSame(checkpointLocking({ objectLockEnabled: 'Enabled' }), 'per object', 'enabled without a default rule: we set retention');
  t.strictSame(checkpointLocking({ objectLockEnabled: 'Enabled', mode: 'COMPLIANCE' }), 'bucket default', "a default rule: the bucket's retention applies");
});
