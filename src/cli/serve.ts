import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { createApp } from '../http/app.js';
import { createHttpServer, listenOn } from '../http/server.js';
import type { Logger } from '../logger.js';
import { describeBackends, openRuntime } from '../runtime.js';
import { listenForEvents, type EventWakeups } from '../storage/event-wakeups.js';
import { resolveUsers, type ResolvedUsers } from '../zero-setup-users.js';

const banner = (baseUrl: string, resolved: ResolvedUsers, config: Config): string => {
  const [user] = resolved.users.keys();
  const password =
    resolved.newAdminPassword !== undefined
      ? `password ${resolved.newAdminPassword} (generated now, kept in ${resolved.passwordFile}; shown only this once)`
      : resolved.passwordFile !== undefined
        ? `password in ${resolved.passwordFile}`
        : 'password from AUTH_USERS';
  const state = `${baseUrl}/states/my-state`;
  return [
    `state-ledger is ready on ${baseUrl} (${describeBackends(config)})`,
    `user ${user}, ${password}`,
    '',
    'Paste into your Terraform/OpenTofu configuration, and export TF_HTTP_PASSWORD=<the password>:',
    '',
    'terraform {',
    '  backend "http" {',
    `    address        = "${state}"`,
    `    lock_address   = "${state}/lock"`,
    `    unlock_address = "${state}/unlock"`,
    '    lock_method    = "POST"',
    '    unlock_method  = "POST"',
    `    username       = "${user}"`,
    '  }',
    '}',
    '',
  ].join('\n');
};

/** Resolves when `work` settles or after `ms`, whichever is first: shutdown must not wait on a dead dependency. */
const atMost = (ms: number, work: Promise<unknown>): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.catch(() => undefined).finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });

const signalled = (): Promise<string> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

/**
 * Runs the HTTP server until SIGINT/SIGTERM, then lets requests in flight finish, closes the
 * database and exits, all within SHUTDOWN_GRACE_SECONDS even when PostgreSQL or S3 is down (the
 * listener's reconnect loop and a hung dependency would otherwise keep the process alive).
 */
export const serve = async (config: Config, logger: Logger): Promise<void> => {
  const runtime = await openRuntime(config, logger, 'serve');
  let wakeups: EventWakeups | undefined;
  let server: http.Server | undefined;
  try {
    const resolved = await resolveUsers(config);
    wakeups = await listenForEvents(runtime.databaseUrl, logger);
    const app = createApp({
      ...runtime.ledger,
      users: resolved.users,
      logger,
      traffic: config.traffic,
      allowedOrigins: config.allowedOrigins,
      trustProxy: config.trustProxy,
      wakeups,
    });
    server = createHttpServer(app, config.traffic, logger);
    await listenOn(server, config.port, config.host);
    const { port } = server.address() as AddressInfo;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    process.stderr.write(`${banner(`http://${shownHost}:${port}`, resolved, config)}\n`);
    logger.info({ host: config.host, port }, 'listening');
  } catch (error) {
    await wakeups?.close().catch(() => undefined);
    await runtime.close();
    throw error;
  }

  const signal = await signalled();
  const grace = config.traffic.shutdownGraceMs;
  logger.info({ signal, graceMs: grace }, 'shutting down');
  const deadline = Date.now() + grace;
  const left = () => Math.max(0, deadline - Date.now());
  // A second signal, or the grace period running out, ends the process at once.
  const force = (why: string) => () => {
    logger.warn({ why }, 'shutdown forced');
    process.exit(1);
  };
  process.once('SIGINT', force('second signal'));
  process.once('SIGTERM', force('second signal'));
  setTimeout(force('grace period over'), grace + 1000).unref();

  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await atMost(left() / 2, wakeups.close()); // long polls answer now rather than at their deadline
  await atMost(left() * 0.6, stopped);
  server.closeAllConnections();
  await atMost(left(), runtime.close());
  logger.info('stopped');
  process.exit(0);
};
