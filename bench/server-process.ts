import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { processTree, statFields } from '../test/support/process-tree.js';

/**
 * The real server as a child process (`node bin/state-ledger.js serve`), so it has its own event
 * loop and its memory and CPU time can be read from /proc/<pid>.
 */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** Peak resident set (VmHWM) and current resident set (VmRSS), in bytes, summed over its processes. */
  memory(): { hwm: number; rss: number };
  /** User + system CPU time its processes have used so far, in ms. */
  cpuMs(): number;
  /** Lines the server wrote on stdout (pino JSON at LOG_LEVEL) after it became ready. */
  logLines(): readonly string[];
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux
const KEEP_LINES = 200;

/** One process's peak resident set (VmHWM) and current one (VmRSS), in bytes; zeros once it has ended. */
export const processMemory = (pid: number): { hwm: number; rss: number } => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { hwm: field('VmHWM'), rss: field('VmRSS') };
  } catch {
    return { hwm: 0, rss: 0 };
  }
};

/** Summed over the server's processes, so work moved to a child still counts. Peaks add up (an upper bound). */
export const readMemory = (pid: number): { hwm: number; rss: number } =>
  processTree(pid)
    .map(processMemory)
    .reduce((sum, one) => ({ hwm: sum.hwm + one.hwm, rss: sum.rss + one.rss }), { hwm: 0, rss: 0 });

/**
 * User + system CPU time, in ms, of the server's processes (with what its ended children used, once
 * they were waited for). Summed, so work moved to a child still counts.
 */
export const readCpuMs = (pid: number): number => {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      // utime, stime, cutime and cstime are fields 14 to 17.
      const fields = statFields(member);
      ticks += Number(fields[11]) + Number(fields[12]) + (member === pid ? Number(fields[13]) + Number(fields[14]) : 0);
    } catch {
      // ended meanwhile
    }
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
};

export const startServer = async (repoRoot: string, env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> => {
  // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", goes to the server's node (for a quick profile).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, path.join(repoRoot, 'bin', 'state-ledger.js'), 'serve'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stderrTail: string[] = [];
  const logs: string[] = [];
  let ready = false;
  const keep = (lines: string[], line: string) => {
    if (line.trim() === '') return;
    lines.push(line);
    if (lines.length > KEEP_LINES) lines.shift();
  };
  readline.createInterface({ input: child.stdout }).on('line', (line) => keep(ready ? logs : stderrTail, line));
  const stderr = readline.createInterface({ input: child.stderr });

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let found: number | undefined;
    const timer = setTimeout(() => fail(new Error(`the server was not ready within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n--- server output ---\n${stderrTail.join('\n')}`));
    };
    stderr.on('line', (line) => {
      if (ready) return keep(logs, line);
      keep(stderrTail, line);
      const match = /^state-ledger is ready on http:\/\/127\.0\.0\.1:(\d+) /.exec(line);
      if (match?.[1] !== undefined) found = Number(match[1]);
      // The banner ends with the closing brace of the Terraform snippet.
      if (found !== undefined && line === '}') {
        ready = true;
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.once('error', fail);
    void exited.then((code) => {
      if (!ready) fail(new Error(`the server exited with code ${code} before it was ready`));
    });
  });

  const pid = child.pid;
  if (pid === undefined) throw new Error('the server process has no pid');
  return {
    pid,
    port,
    memory: () => readMemory(pid),
    cpuMs: () => readCpuMs(pid),
    logLines: () => logs,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      process.off('exit', killOnExit);
    },
  };
};
