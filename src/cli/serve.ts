import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { createApp } from '../http/app.js';
import { openStreams } from '../http/event-stream.js';
import { createHttpServer, listenOn } from '../http/server.js';
import { metricsApp } from '../http/metrics-routes.js';
import { createMetrics } from '../observability/metrics.js';
import { observedBlobStore } from '../storage/blobs/observed-blob-store.js';
import type { Logger } from '../logger.js';
import { describeBackends, openRuntime } from '../runtime.js';
import { Refused } from '../refused.js';
import { listenForEvents, type EventWakeups } from '../storage/event-wakeups.js';
import { startCheckpointWriter, type CheckpointWriter } from '../storage/verify/checkpoint-writer.js';
import { startRetentionSchedule, type RetentionSchedule } from '../retention/schedule.js';
import { loadSigningKey } from '../storage/verify/signing-key.js';
import { manageAccess } from '../application/manage-access.js';
import { clientCertificateName, loadTls } from '../http/tls.js';
import { loadOidcIssuers } from '../identity/load-issuers.js';
import { oidcVerifier } from '../identity/oidc.js';
import { ADMIN, ensureFirstAdministrator, type FirstAdministrator } from '../zero-setup-users.js';
import { projectionLag } from '../projections/async/checkpoints.js';
import { asyncProjections } from '../projections/async/projections.js';
import { announcingStored } from '../storage/blobs/recent-bodies.js';
import { startProjectionProcess, type ProjectionProcess } from './projection-process.js';

const credentialsLine = (first: FirstAdministrator): string => {
  switch (first.kind) {
    case 'development-users':
      return `users ${first.names.join(', ')} from AUTH_USERS: plain-text passwords, for development only`;
    case 'created':
      return `user ${ADMIN}, password ${first.password} (generated now and stored hashed: shown only this once; change it with \`npx state-ledger user passwd ${ADMIN}\`)`;
    case 'imported':
      return `user ${ADMIN}, password from ${first.file}, now stored hashed (the plain-text file was deleted)`;
    case 'existing':
      return `users, tokens and grants are in the database (\`npx state-ledger user list\`, \`access list\`)`;
  }
};

const banner = (baseUrl: string, first: FirstAdministrator, config: Config): string => {
  const user = first.kind === 'development-users' ? (first.names[0] ?? ADMIN) : ADMIN;
  const state = `${baseUrl}/states/my-state`;
  return [
    `state-ledger is ready on ${baseUrl} (${describeBackends(config)})`,
    credentialsLine(first),
    `The web console: ${baseUrl}/ui/ (sign in with the same user and password)`,
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
  let metricsServer: http.Server | undefined;
  let checkpoints: CheckpointWriter | undefined;
  let retention: RetentionSchedule | undefined;
  let projections: ProjectionProcess | undefined;
  try {
    // The process's own registry (never prom-client's global one), and the blob store timed for it.
    const metrics = createMetrics({
      db: runtime.pool,
      pool: runtime.pool,
      processMetrics: true,
      onSourceError: (source, error) => logger.warn({ source, err: error }, 'metrics of a failing source left out of a scrape'),
      projectionLag: () => projectionLag(runtime.pool, asyncProjections.map((projection) => projection.name)),
      openStreams,
    });
    const blobs = observedBlobStore(runtime.blobs, metrics.blobs);
    const { key, created } = await loadSigningKey(config.checkpoints.signingKey);
    if (created) logger.info({ file: key.file, fingerprint: key.fingerprint }, 'generated the checkpoint signing key: keep a copy of its public key outside this machine (`state-ledger verify` prints it)');
    const issuers = await loadOidcIssuers(config);
    const tls = config.tls === undefined ? undefined : await loadTls(config.tls).catch((error: Error) => {
      throw new Refused(error.message);
    });
    const first = await ensureFirstAdministrator(config, manageAccess(runtime.ledger.accessStore));
    if (first.kind === 'development-users') logger.warn('AUTH_USERS holds plain-text passwords: it is for development only; use `state-ledger user add` and tokens in production');
    wakeups = await listenForEvents(runtime.databaseUrl, logger);
    const app = createApp({
      ...runtime.ledger,
      // Bodies just pushed go to the projections process, if it runs any projection, to read.
      blobs: announcingStored(blobs, { keep: (key, bytes) => projections?.keep(key, bytes), forget: (key) => projections?.forget(key) }, () => (projections?.running().length ?? 0) > 0),
      metrics,
      users: config.users ?? new Map(),
      oidc: issuers.length === 0 ? undefined : oidcVerifier(issuers),
      ...(config.tls?.clientCaFile === undefined ? {} : { certificateName: clientCertificateName }),
      logger,
      traffic: config.traffic,
      allowedOrigins: config.allowedOrigins,
      trustProxy: config.trustProxy,
      wakeups,
      leases: config.lockLeases,
    });
    server = createHttpServer(app, config.traffic, logger, tls);
    await listenOn(server, config.port, config.host);
    const { port } = server.address() as AddressInfo;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    process.stderr.write(`${banner(`${tls === undefined ? 'http' : 'https'}://${shownHost}:${port}`, first, config)}\n`);
    logger.info({ host: config.host, port }, 'listening');
    if (config.metricsPort !== undefined) {
      metricsServer = createHttpServer(metricsApp(metrics, logger), config.traffic, logger);
      await listenOn(metricsServer, config.metricsPort, config.host);
      logger.info({ host: config.host, port: config.metricsPort }, 'serving GET /metrics without authentication');
    }
    // In a child process; each projection runs in one process at a time (an advisory lock), the others stand by.
    projections = startProjectionProcess(runtime.databaseUrl, logger, metrics.projectionProcessEnded);
    checkpoints = startCheckpointWriter({ pool: runtime.pool, blobs, key, intervalMs: config.checkpoints.intervalMs, logger, onRun: (outcome) => metrics.run('checkpoint', outcome) });
    retention = startRetentionSchedule(
      { pool: runtime.pool, store: runtime.ledger.store, blobs },
      { retention: config.retention.policy, pruneIntervalMs: config.retention.pruneIntervalMs, gcIntervalMs: config.retention.gcIntervalMs, graceSeconds: config.retention.gcGraceSeconds, logger },
    );
  } catch (error) {
    await projections?.stop().catch(() => undefined);
    await retention?.stop().catch(() => undefined);
    metricsServer?.close();
    server?.close();
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

  const projectionsStopped = projections.stop(); // a batch cut short rolls back: its events are applied again by whoever runs next
  const checkpointsStopped = checkpoints.stop();
  const retentionStopped = retention.stop();
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  metricsServer?.close();
  metricsServer?.closeAllConnections();
  await atMost(left() / 2, wakeups.close()); // long polls answer now rather than at their deadline
  await atMost(left() * 0.6, stopped);
  server.closeAllConnections();
  await atMost(left() / 2, checkpointsStopped); // not behind a hung dependency: a checkpoint is written again next start
  await atMost(left() / 2, retentionStopped); // an interrupted prune or gc is harmless: the next run finishes it
  await atMost(left() / 2, projectionsStopped);
  await atMost(left(), runtime.close());
  logger.info('stopped');
  process.exit(0);
};
