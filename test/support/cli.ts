import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'state-ledger.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `state-ledger <args>` (the compiled CLI, as `npx state-ledger` would) to completion, with `input` on its stdin. */
export const runCli = (args: string[], env: Record<string, string>, input = ''): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });

/** The first administrator's password, as the first start's banner prints it (once). */
export const bannerPassword = (banner: string): string => {
  const password = /password (\S+) \(generated now/.exec(banner)?.[1];
  if (password === undefined) throw new Error(`no generated password in the banner:\n${banner}`);
  return password;
};

export interface RunningServer {
  readonly process: ChildProcess;
  readonly baseUrl: string;
  readonly banner: string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

const ROOT = path.dirname(path.dirname(BIN));

/**
 * Starts `state-ledger serve` on a free port and waits for its ready banner; `viaNpm` starts it
 * the way the README says, with `npm start` (the process is then npm's).
 */
export const startCliServer = (env: Record<string, string>, viaNpm = false): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const [command, args] = viaNpm ? ['npm', ['start', '--silent']] : [process.execPath, [BIN, 'serve']];
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env } });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not become ready:\n${stderr}`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /ready on (http:\/\/[^\s]+)/.exec(stderr);
      if (match?.[1] !== undefined && stderr.includes('\n}\n')) {
        clearTimeout(timer);
        resolve({ process: child, baseUrl: match[1], banner: stderr, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${stderr}`));
    });
  });
