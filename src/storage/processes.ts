import { readIfExists } from './files.js';

/** A live process, not a zombie left unreaped (its pid files would still be lying about it). */
export const isAlive = async (pid: number): Promise<boolean> => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = await readIfExists(`/proc/${pid}/stat`);
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
};

/**
 * Another live state-ledger process. After a reboot or a kill -9 the pid recorded in a file may
 * have been reused by something else, which must not keep a data folder locked forever; and a file
 * naming this very process was left by an earlier one that had the same pid (pid 1 in a container).
 */
export const isOtherStateLedgerProcess = async (pid: number): Promise<boolean> => {
  if (pid === process.pid || !(await isAlive(pid))) return false;
  const cmdline = await readIfExists(`/proc/${pid}/cmdline`);
  return cmdline === undefined || cmdline.includes('state-ledger');
};
