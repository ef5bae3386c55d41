import type { GlobPolicy } from '../../src/policies/glob-policy.js';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import type { Test } from 'tap';
import { defaultConfig, type S3Config, type TrafficLimits } from '../../src/config.js';
import { createApp } from '../../src/http/app.js';
import { createHttpServer, listenOn } from '../../src/http/server.js';
import { clientCertificateName } from '../../src/http/tls.js';
import type { OidcVerifier } from '../../src/identity/oidc.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { freshDatabase, freshS3Config, tempDir, type TestDatabase } from './services.js';

export const USER = 'alice';
export const PASSWORD = 'correct horse battery staple';

export interface TestServer {
  readonly baseUrl: string;
  readonly db: TestDatabase;
  readonly blobs: BlobStore;
  /** fetch with the test user's credentials. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

export interface ServerOptions {
  readonly blobs?: 'fs' | 's3';
  /** An S3 server of the test's own (the shared one otherwise). */
  readonly s3?: S3Config;
  readonly maxStateBytes?: number;
  readonly trustProxy?: string;
  readonly traffic?: Partial<TrafficLimits>;
  readonly allowedOrigins?: readonly string[];
  /** Where pushed bodies wait (a fresh folder otherwise). */
  readonly tmpDir?: string;
  readonly logger?: Logger;
  /** Accept JWTs of these issuers. */
  readonly oidc?: OidcVerifier;
  /** Serve HTTPS (client certificates checked when the options ask for them); the client cert's CN names the user. */
  readonly tls?: https.ServerOptions;
  /** Another process on the same database (a second server): reuse it instead of a fresh one. */
  readonly db?: TestDatabase;
  /** LOCK_TTL: lock leases per state. */
  readonly leases?: GlobPolicy<number | null>;
}

export const basicAuth = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The default limits, for tests that build an app themselves. */
export const TRAFFIC = defaultConfig().traffic;

/** Body limits for tests: bodies wait in `tmpDir`. */
export const bodyLimits = (tmpDir: string, maxBytes = 512 * 1024 * 1024) => ({ maxBytes, tmpDir, idleTimeoutMs: TRAFFIC.bodyIdleTimeoutMs });

/** Serves an app on a free loopback port, bounded as the real server is, until the test ends. */
export const serveApp = async (t: Test, app: Express, options: { traffic?: TrafficLimits; tls?: https.ServerOptions | undefined; logger?: Logger } = {}) => {
  const server = createHttpServer(app, options.traffic ?? TRAFFIC, options.logger ?? createLogger('silent'), options.tls);
  await listenOn(server, 0, '127.0.0.1');
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { server, port, baseUrl: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}` };
};

/** serveApp, answering only the base URL. */
export const listen = async (t: Test, app: Express, traffic: TrafficLimits = TRAFFIC, tls?: https.ServerOptions): Promise<string> =>
  (await serveApp(t, app, { traffic, tls })).baseUrl;

/** The real app on a real PostgreSQL and blob store (S3 by default), on a free loopback port. */
export const startServer = async (t: Test, options: ServerOptions = {}): Promise<TestServer> => {
  const db = options.db ?? (await freshDatabase(t));
  const dir = await tempDir(t);
  const traffic = { ...TRAFFIC, ...options.traffic };
  const blobs = options.blobs === 'fs' ? await fsBlobStore(path.join(dir, 'blobs')) : await s3BlobStore(options.s3 ?? freshS3Config());
  const logger = options.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const wakeups = await listenForEvents(db.url, logger);
  t.teardown(() => wakeups.close());
  const app = createApp({
    ...ledgerStores(db.pool),
    db: db.pool,
    blobs,
    users: new Map([
      [USER, PASSWORD],
      ['bob', 'hunter2'],
    ]),
    limits: { ...bodyLimits(options.tmpDir ?? dir, options.maxStateBytes), idleTimeoutMs: traffic.bodyIdleTimeoutMs },
    logger,
    traffic,
    allowedOrigins: options.allowedOrigins ?? [],
    trustProxy: options.trustProxy,
    wakeups,
    oidc: options.oidc,
    ...(options.tls === undefined ? {} : { certificateName: clientCertificateName }),
    ...(options.leases === undefined ? {} : { leases: options.leases }),
  });
  const baseUrl = await listen(t, app, traffic, options.tls);
  return {
    baseUrl,
    db,
    blobs,
    request: (p, init = {}) =>
      fetch(`${baseUrl}${p}`, {
        ...init,
        headers: { authorization: basicAuth(USER, PASSWORD), ...(init.headers as Record<string, string> | undefined) },
      }),
  };
};
