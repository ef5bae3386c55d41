import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import type { Test } from 'tap';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import type { BlobStore } from '../../src/storage/blobs/blob-store.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import { pgEventStore } from '../../src/storage/pg-event-store.js';
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
  readonly maxStateBytes?: number;
  readonly trustProxy?: string;
}

export const basicAuth = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Serves an app on a free loopback port until the test ends; answers its base URL. */
export const listen = async (t: Test, app: Express): Promise<string> => {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/** The real app on a real PostgreSQL and blob store (S3 by default), on a free loopback port. */
export const startServer = async (t: Test, options: ServerOptions = {}): Promise<TestServer> => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const blobs = options.blobs === 'fs' ? await fsBlobStore(path.join(dir, 'blobs')) : await s3BlobStore(freshS3Config());
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const wakeups = await listenForEvents(db.url, logger);
  t.teardown(() => wakeups.close());
  const app = createApp({
    store: pgEventStore(db.pool),
    db: db.pool,
    blobs,
    users: new Map([
      [USER, PASSWORD],
      ['bob', 'hunter2'],
    ]),
    limits: { maxBytes: options.maxStateBytes ?? 512 * 1024 * 1024, tmpDir: dir },
    logger,
    trustProxy: options.trustProxy,
    wakeups,
  });
  const baseUrl = await listen(t, app);
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
