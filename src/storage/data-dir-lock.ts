import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readIfExists } from './files.js';
import { isOtherStateLedgerProcess } from './processes.js';

/** Who holds a zero-setup DATA_DIR (and so its embedded PostgreSQL). */
export interface DataDirOwner {
  readonly pid: number;
  readonly command: string;
  readonly hostname: string;
}

export type DataDirLock =
  | { readonly held: true; release(): Promise<void> }
  | { readonly held: false; readonly owner: DataDirOwner };

const LOCK_FILE = 'owner.json';

const parseOwner = (text: string | undefined): DataDirOwner | undefined => {
  try {
    const owner = JSON.parse(text ?? '') as Partial<DataDirOwner>;
    return typeof owner.pid === 'number' && typeof owner.command === 'string' && typeof owner.hostname === 'string'
      ? { pid: owner.pid, command: owner.command, hostname: owner.hostname }
      : undefined;
  } catch {
    return undefined;
  }
};

/** An owner that died (kill -9, power cut) leaves its file behind; it no longer counts. */
const isLive = async (owner: DataDirOwner | undefined): Promise<boolean> =>
  owner !== undefined && owner.hostname === os.hostname() && (await isOtherStateLedgerProcess(owner.pid));

/**
 * Takes DATA_DIR for this process (`command` says what for), unless a live state-ledger process
 * holds it. The file is created exclusively, so two processes starting at once cannot both win.
 */
export const lockDataDir = async (dataDir: string, command: string): Promise<DataDirLock> => {
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const mine: DataDirOwner = { pid: process.pid, command, hostname: os.hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, `${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o600 });
      return {
        held: true,
        release: async () => {
          if (parseOwner(await readIfExists(file))?.pid === process.pid) await fs.rm(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = parseOwner(await readIfExists(file));
    if (owner !== undefined && (await isLive(owner))) return { held: false, owner };
    // Left by a process that is gone: remove it and try again (another starter may win the race).
    await fs.rm(file, { force: true });
  }
  const owner = parseOwner(await readIfExists(file));
  return owner === undefined ? Promise.reject(new Error(`cannot lock ${file}`)) : { held: false, owner };
};
