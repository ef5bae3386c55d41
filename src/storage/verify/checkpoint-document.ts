import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { canonicalJson } from '../../events/hash-chain.js';
import { signatureHolds, signBytes, type SigningKey } from './signing-key.js';

/** Where one stream's chain stood: its version and the hash of the event at that version. */
const StreamHeadCodec = t.type({ stream_id: t.string, version: t.number, hash: t.string });
export type StreamHead = t.TypeOf<typeof StreamHeadCodec>;

const FORMAT = 'state-ledger checkpoint 1';

const CheckpointCodec = t.type({
  format: t.literal(FORMAT),
  /** Signed with the rest: a checkpoint copied under a newer name is not taken for a newer one. */
  name: t.string,
  created_at: t.string,
  /** The ledger's last global position when the heads were read. */
  global_position: t.number,
  /** Fingerprint of the key that signed it. */
  signed_by: t.string,
  streams: t.array(StreamHeadCodec),
});
export type Checkpoint = t.TypeOf<typeof CheckpointCodec>;

/** The stored form: the checkpoint and an Ed25519 signature of its canonical JSON. */
const SignedCodec = t.type({ checkpoint: t.unknown, signature: t.string });

/**
 * `<global position, 16 digits>-<UTC time>-<random>.json`: names sort by position, then time, so
 * the newest sorts last; the random part keeps two processes writing at once from colliding.
 */
export const checkpointName = (globalPosition: number, at: Date): string =>
  `${String(globalPosition).padStart(16, '0')}-${at.toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}.json`;

export const newCheckpoint = (key: SigningKey, heads: { globalPosition: number; streams: StreamHead[] }, at: Date): Checkpoint => ({
  format: FORMAT,
  name: checkpointName(heads.globalPosition, at),
  created_at: at.toISOString(),
  global_position: heads.globalPosition,
  signed_by: key.fingerprint,
  streams: heads.streams,
});

export const signCheckpoint = (key: SigningKey, checkpoint: Checkpoint): Buffer =>
  Buffer.from(`${JSON.stringify({ checkpoint, signature: signBytes(key, Buffer.from(canonicalJson(checkpoint), 'utf8')) })}\n`, 'utf8');

/**
 * The checkpoint stored under `name`, if this key signed exactly these bytes; otherwise why not,
 * phrased to follow "checkpoint <name> ".
 */
export const openCheckpoint = (key: SigningKey, name: string, bytes: Buffer): E.Either<string, Checkpoint> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return E.left('is not JSON: not a checkpoint this server wrote');
  }
  const signed = SignedCodec.decode(parsed);
  if (E.isLeft(signed)) return E.left('has no signature: not a checkpoint this server wrote');
  const checkpoint = CheckpointCodec.decode(signed.right.checkpoint);
  if (E.isLeft(checkpoint)) return E.left(`is not a checkpoint: ${PathReporter.report(checkpoint).join('; ')}`);
  const { signed_by } = checkpoint.right;
  if (signed_by !== key.fingerprint) {
    return E.left(`is signed by another key (${signed_by}), not by this key (${key.fingerprint})`);
  }
  // The signature covers the checkpoint as stored, extra fields included: nothing can be added unsigned.
  if (!signatureHolds(key, Buffer.from(canonicalJson(signed.right.checkpoint), 'utf8'), signed.right.signature)) {
    return E.left(`has a signature that does not verify with key ${key.fingerprint}: it was forged or altered`);
  }
  if (checkpoint.right.name !== name) return E.left(`is a copy of checkpoint ${checkpoint.right.name} under another name`);
  return E.right(checkpoint.right);
};
