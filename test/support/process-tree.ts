import fs from 'node:fs';

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): field 3 onwards. */
export const statFields = (pid: number): string[] => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

/** `pid` and every process under it, parents first (the server forks its projections and diff workers). */
export const processTree = (pid: number): number[] => {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(statFields(Number(entry))[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // ended meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
};

/** SIGKILLs `pid` and every process under it at once, as when a machine or container dies; those already gone are skipped. */
export const killTree = (pid: number): void => {
  for (const member of processTree(pid)) {
    try {
      process.kill(member, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
};
