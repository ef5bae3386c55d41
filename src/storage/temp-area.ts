import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readIfExists } from './files.js';
import { isOtherStateLedgerProcess } from './processes.js';

/**
 * Where pushed bodies wait while they are checked. They hold secrets, so nothing may outlive the
 * process that wrote it: each process works in a folder of its own inside TMP_DIR, marks it with
 * its host and pid, and touches it every minute. Any folder whose process is gone (same host) or
 * that has not been touched for STALE_MS (a process on another host sharing the volume) is
 * removed at start and at every heartbeat.
 */
export interface TempArea {
  /** This process's own folder. */
  readonly dir: string;
  close(): Promise<void>;
}

const HEARTBEAT_MS = 60_000;
const STALE_MS = 5 * 60_000;
const OWNER_FILE = '.owner';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** Our own folders, and bodies an older version wrote straight into TMP_DIR: nothing else is ever touched. */
const PROCESS_FOLDER = new RegExp(`^${UUID}$`);
const OLD_BODY = new RegExp(`^state-${UUID}$`);

const isAbandoned = async (folder: string): Promise<boolean> => {
  const name = path.basename(folder);
  const stat = await fs.lstat(folder).catch(() => undefined);
  if (stat === undefined) return false;
  if (stat.isFile() && OLD_BODY.test(name)) return true;
  if (!stat.isDirectory() || !PROCESS_FOLDER.test(name)) return false;
  if (Date.now() - stat.mtimeMs > STALE_MS) return true;
  const [hostname, pid] = ((await readIfExists(path.join(folder, OWNER_FILE))) ?? '').split('\n');
  return hostname === os.hostname() && !(await isOtherStateLedgerProcess(Number(pid)));
};

/** Removes what dead processes left; answers how many entries went. */
export const sweepTempArea = async (root: string, keep?: string): Promise<number> => {
  let removed = 0;
  for (const entry of await fs.readdir(root).catch(() => [] as string[])) {
    const full = path.join(root, entry);
    if (full === keep || !(await isAbandoned(full))) continue;
    await fs.rm(full, { recursive: true, force: true });
    removed++;
  }
  return removed;
};

export const openTempArea = async (root: string, onSweep: (removed: number) => void): Promise<TempArea> => {
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const dir = path.join(root, randomUUID());
  await fs.mkdir(dir, { mode: 0o700 });
  await fs.writeFile(path.join(dir, OWNER_FILE), `${os.hostname()}\n${process.pid}\n`, { mode: 0o600 });
  const sweep = async () => {
    const removed = await sweepTempArea(root, dir);
    if (removed > 0) onSweep(removed);
  };
  await sweep();
  const heartbeat = setInterval(() => {
    const now = new Date();
    void fs.utimes(dir, now, now).then(sweep).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    dir,
    close: async () => {
      clearInterval(heartbeat);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
};
