import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import type { Dir } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CHECKPOINT_PREFIX, isCheckpointName, type BlobSource, type BlobStore, type PendingUpload, type StoredObject } from './blob-store.js';

const isCode = (error: unknown, code: string): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;

/** Flushes a file or folder to disk: an acknowledged push must survive a power cut. */
const sync = async (target: string): Promise<void> => {
  const handle = await fs.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Writes a blob beside its target, then renames it into place, so readers never see half a blob. */
const placeBeside = async (target: string, write: (partial: string) => Promise<void>): Promise<void> => {
  const partial = `${target}.${randomUUID()}.partial`;
  try {
    await write(partial);
    await sync(partial);
    await fs.rename(partial, target);
  } catch (error) {
    await fs.rm(partial, { force: true }); // a full disk must not keep half a body (with its secrets)
    throw error;
  }
};

/** A hard link makes a body file a blob without copying it; across file systems it is copied. */
const linkOrCopy = async (file: string, target: string): Promise<void> => {
  try {
    await sync(file);
    await fs.link(file, target);
  } catch (error) {
    if (isCode(error, 'EEXIST')) return;
    if (!isCode(error, 'EXDEV')) throw error;
    await placeBeside(target, (partial) => fs.copyFile(file, partial));
  }
};

/**
 * Blobs as files under one folder: the zero-setup mode. Writes are atomic (link or rename) and
 * durable (fsynced); the folder is private, since state bodies hold secrets.
 */
export const fsBlobStore = async (root: string): Promise<BlobStore> => {
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  /** Keys are content addresses and checkpoint names; whatever a caller passes, the path stays under root. */
  const pathOf = (key: string): string => {
    const resolved = path.join(root, ...key.split('/'));
    if (path.relative(root, resolved).startsWith('..') || path.isAbsolute(path.relative(root, resolved))) throw new Error(`blob key ${JSON.stringify(key.slice(0, 100))} leaves the blob folder`);
    return resolved;
  };

  const exists = async (key: string): Promise<boolean> =>
    fs.access(pathOf(key)).then(
      () => true,
      (error: unknown) => (isCode(error, 'ENOENT') ? false : Promise.reject(error)),
    );

  const store = async (key: string, source: BlobSource): Promise<void> => {
    const target = pathOf(key);
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    if (source.kind === 'memory') await placeBeside(target, (partial) => fs.writeFile(partial, source.bytes, { flag: 'wx', mode: 0o600 }));
    else await linkOrCopy(source.path, target);
    await sync(path.dirname(target));
  };

  // Nothing to overlap: the file is linked (or written) into place when committed.
  const upload = (key: string, source: BlobSource): PendingUpload => ({ commit: () => store(key, source), abandon: async () => undefined });

  const get = async (key: string) => {
    try {
      const handle = await fs.open(pathOf(key), 'r');
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    } catch (error) {
      if (isCode(error, 'ENOENT')) return null;
      throw error;
    }
  };

  const ping = () => fs.access(root, constants.R_OK | constants.W_OK);

  const checkpoints = pathOf(CHECKPOINT_PREFIX);

  /**
   * Write-once: the file is created read-only, beside its name, and linked into place; the link
   * fails if the name exists (as O_EXCL would) and a reader never sees half a checkpoint.
   */
  const putCheckpoint = async (name: string, bytes: Buffer) => {
    if (!isCheckpointName(name)) throw new Error(`not a checkpoint name: ${JSON.stringify(name)}`);
    await fs.mkdir(checkpoints, { recursive: true, mode: 0o700 });
    const partial = path.join(checkpoints, `.${name}.${randomUUID()}.partial`);
    try {
      const handle = await fs.open(partial, 'wx', 0o400);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.link(partial, path.join(checkpoints, name));
    } finally {
      await fs.rm(partial, { force: true });
    }
    await sync(checkpoints);
    return { writeOnce: true };
  };

  const listCheckpoints = async () => {
    const names = await fs.readdir(checkpoints).catch((error: unknown) => (isCode(error, 'ENOENT') ? [] : Promise.reject(error)));
    return names.filter(isCheckpointName).sort();
  };

  /** Walks the folders under the prefix one directory handle at a time: bounded memory whatever the count. */
  async function* list(prefix: string): AsyncIterable<StoredObject> {
    const walk = async function* (dir: string, keyPrefix: string): AsyncGenerator<StoredObject> {
      let handle: Dir;
      try {
        handle = await fs.opendir(dir);
      } catch (error) {
        if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return;
        throw error;
      }
      for await (const entry of handle) {
        const key = `${keyPrefix}${entry.name}`;
        if (entry.isDirectory()) yield* walk(path.join(dir, entry.name), `${key}/`);
        else if (entry.isFile() && key.startsWith(prefix)) {
          const stat = await fs.stat(path.join(dir, entry.name)).catch((error: unknown) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
          if (stat !== undefined) yield { key, size: stat.size, lastModified: stat.mtime };
        }
      }
    };
    // The deepest folder the prefix names whole; entries below it are filtered by the rest.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    yield* walk(folder === '' ? root : pathOf(folder.slice(0, -1)), folder);
  }

  const remove = async (key: string): Promise<void> => {
    const target = pathOf(key);
    await fs.rm(target, { force: true });
    await sync(path.dirname(target)).catch((error: unknown) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
  };

  return { upload, get, exists, ping, putCheckpoint, listCheckpoints, list, delete: remove };
};
