import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { createApp } from '../http/app.js';
import type { Logger } from '../logger.js';
import { describeBackends, openRuntime } from '../runtime.js';
import { listenForEvents } from '../storage/event-wakeups.js';
import { resolveUsers, type ResolvedUsers } from '../zero-setup-users.js';

const SHUTDOWN_GRACE_MS = 30_000;

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

/** Runs the HTTP server until SIGINT/SIGTERM, then drains requests and closes the database. */
export const serve = async (config: Config, logger: Logger): Promise<void> => {
  const resolved = await resolveUsers(config);
  const runtime = await openRuntime(config, logger, 'own');
  const wakeups = await listenForEvents(runtime.databaseUrl, logger).catch(async (error: unknown) => {
    await runtime.close();
    throw error;
  });
  const app = createApp({ ...runtime.ledger, users: resolved.users, logger, trustProxy: config.trustProxy, wakeups });
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (error: unknown) => {
    await wakeups.close();
    await runtime.close();
    throw error;
  });
  // Large states on slow links take a while; Node's default of 5 minutes would cut them off.
  server.requestTimeout = 60 * 60 * 1000;
  const { port } = server.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  process.stderr.write(`${banner(`http://${shownHost}:${port}`, resolved, config)}\n`);
  logger.info({ host: config.host, port }, 'listening');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      void wakeups.close(); // long polls answer now rather than at their deadline
      server.closeIdleConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await wakeups.close();
  await runtime.close();
};
