import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Refused } from '../../refused.js';

/**
 * The Ed25519 key that signs checkpoints. It lives in a file, never in PostgreSQL: someone who can
 * rewrite the database cannot sign a checkpoint that agrees with the rewrite.
 */
export interface SigningKey {
  readonly file: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public key as base64 DER (SubjectPublicKeyInfo): one line an operator can keep elsewhere. */
  readonly publicKeyBase64: string;
  /** `sha256:` and the hex sha256 of that DER: names the key in checkpoints and messages. */
  readonly fingerprint: string;
}

/** Where the key is, and whether a missing file may be generated (only where nobody named one). */
export interface SigningKeySettings {
  readonly file: string;
  readonly generate: boolean;
}

export const signingKeyFromPem = (file: string, pem: string): SigningKey => {
  const privateKey = createPrivateKey({ key: pem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`it holds a ${privateKey.asymmetricKeyType ?? 'symmetric'} key`);
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return {
    file,
    privateKey,
    publicKey,
    publicKeyBase64: der.toString('base64'),
    fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
};

export const signBytes = (key: SigningKey, bytes: Buffer): string => sign(null, bytes, key.privateKey).toString('base64');

export const signatureHolds = (key: SigningKey, bytes: Buffer, signature: string): boolean => {
  try {
    return verify(null, bytes, key.publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false; // a malformed signature is as bad as a wrong one
  }
};

const isCode = (error: unknown, code: string): boolean => (error as { code?: unknown } | null)?.code === code;

/**
 * Writes a new key to `file` unless one is there. The key is written beside it and then linked
 * into place: the link fails if the file exists (as O_EXCL would) and a reader never sees half a
 * key, so two processes starting at once end up using the same one. True if this call's key won.
 */
const generateInto = async (file: string): Promise<boolean> => {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });
  const partial = `${file}.${randomUUID()}.partial`;
  try {
    const handle = await fs.open(partial, 'wx', 0o600);
    try {
      await handle.writeFile(pem);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return await fs.link(partial, file).then(
      () => true,
      (error: unknown) => (isCode(error, 'EEXIST') ? false : Promise.reject(error)),
    );
  } finally {
    await fs.rm(partial, { force: true });
  }
};

/** Loads the key, generating it first where that is allowed; `created` says whether this call made it. */
export const loadSigningKey = async (settings: SigningKeySettings): Promise<{ key: SigningKey; created: boolean }> => {
  const read = () => fs.readFile(settings.file, 'utf8');
  let created = false;
  let pem = await read().catch((error: unknown) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
  if (pem === undefined) {
    if (!settings.generate) {
      throw new Refused(
        `LEDGER_SIGNING_KEY names ${settings.file}, which does not exist: restore the key, or create one with ` +
          `\`openssl genpkey -algorithm ed25519 -out ${settings.file}\``,
      );
    }
    created = await generateInto(settings.file);
    pem = await read();
  }
  try {
    return { key: signingKeyFromPem(settings.file, pem), created };
  } catch (error) {
    throw new Refused(`the checkpoint signing key ${settings.file} is not an Ed25519 private key in PEM: ${(error as Error).message}`);
  }
};
