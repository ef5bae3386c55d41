import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from './blob-store.js';

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

/**
 * Blobs as files under one folder: the zero-setup mode. Writes are atomic (link or rename) and
 * durable (fsynced); the folder is private, since state bodies hold secrets.
 */
export const fsBlobStore = async (root: string): Promise<BlobStore> => {
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const pathOf = (key: string): string => path.join(root, ...key.split('/'));

  const exists = async (key: string): Promise<boolean> =>
    fs.access(pathOf(key)).then(
      () => true,
      (error: unknown) => (isCode(error, 'ENOENT') ? false : Promise.reject(error)),
    );

  const put = async (key: string, filePath: string): Promise<void> => {
    const target = pathOf(key);
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    try {
      await sync(filePath);
      await fs.link(filePath, target);
    } catch (error) {
      if (isCode(error, 'EEXIST')) return;
      if (!isCode(error, 'EXDEV')) throw error;
      // Another file system: copy beside the target, then rename, so readers never see half a blob.
      const partial = `${target}.${randomUUID()}.partial`;
      try {
        await fs.copyFile(filePath, partial);
        await sync(partial);
        await fs.rename(partial, target);
      } catch (copyError) {
        await fs.rm(partial, { force: true }); // a full disk must not keep half a body (with its secrets)
        throw copyError;
      }
    }
    await sync(path.dirname(target));
  };

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

  return { put, get, exists, ping };
};
