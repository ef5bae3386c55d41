import fs from 'node:fs/promises';
import path from 'node:path';
import type { Test } from 'tap';

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pid of the embedded PostgreSQL running in DATA_DIR, if any. */
export const postmasterPid = async (dataDir: string): Promise<number | undefined> => {
  const text = await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : Number(text.split('\n')[0]);
};

/** Kills whatever embedded PostgreSQL a test left running in DATA_DIR. */
export const killLeftoverPostgres = (t: Test, dataDir: string): void =>
  t.teardown(async () => {
    const pid = await postmasterPid(dataDir);
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
  });
