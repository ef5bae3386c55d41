import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Test } from 'tap';
import type { S3Config } from '../../src/config.js';
import { CLI_POOL, migrate, openPool } from '../../src/storage/postgres.js';

/** Set by scripts/test-services.sh: a real PostgreSQL and a real S3 server on loopback. */
const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: run the tests with npm test`);
  return value;
};

const uniqueName = (prefix: string): string => `${prefix}${randomUUID().replace(/-/g, '').slice(0, 16)}`;

export interface TestDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
}

/** A database of its own for one test file, migrated, dropped at teardown. */
export const freshDatabase = async (t: Test): Promise<TestDatabase> => {
  const adminUrl = required('TEST_DATABASE_URL');
  const name = uniqueName('t_');
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString(), () => undefined);
  const pool = openPool(url.toString(), CLI_POOL);
  t.teardown(async () => {
    await pool.end();
    const cleanup = new pg.Client(adminUrl);
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  });
  return { url: url.toString(), pool };
};

/** Settings for a new bucket on the test S3 server (the blob store creates it). */
export const freshS3Config = (): S3Config => ({
  endPoint: required('TEST_S3_ENDPOINT'),
  port: Number(required('TEST_S3_PORT')),
  useSSL: false,
  accessKey: required('TEST_S3_ACCESS_KEY'),
  secretKey: required('TEST_S3_SECRET_KEY'),
  bucket: uniqueName('t-'),
  region: 'us-east-1',
  timeoutMs: 10_000,
});

/** The environment that points a `state-ledger` process at a fresh bucket of the test S3 server. */
export const s3Environment = (s3: S3Config = freshS3Config()): Record<string, string> => ({
  S3_ENDPOINT: s3.endPoint,
  S3_PORT: String(s3.port),
  S3_ACCESS_KEY: s3.accessKey,
  S3_SECRET_KEY: s3.secretKey,
  S3_BUCKET: s3.bucket,
});

export const tempDir = async (t: Test): Promise<string> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'state-ledger-t-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
};
