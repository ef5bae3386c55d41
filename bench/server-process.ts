import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

/**
 * The real server as a child process (`node bin/state-ledger.js serve`), so it has its own event
 * loop and its memory and CPU time can be read from /proc/<pid>.
 */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** Peak resident set (VmHWM) and current resident set (VmRSS), in bytes. */
  memory(): { hwm: number; rss: number };
  /** User + system CPU time the process has used so far, in ms. */
  cpuMs(): number;
  /** Lines the server wrote on stdout (pino JSON at LOG_LEVEL) after it became ready. */
  logLines(): readonly string[];
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux
const KEEP_LINES = 200;

export const readMemory = (pid: number): { hwm: number; rss: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) * 1024;
  };
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
};

export const readCpuMs = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
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
