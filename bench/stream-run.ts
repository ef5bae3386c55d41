/**
 * The event-stream part of the bench alone (`npx tsx bench/stream-run.ts`, with the test services
 * running: TEST_DATABASE_URL and TEST_S3_*): a server process on a fresh database, then
 * streamBench. `npm run bench` runs the same measurement among the others.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { tokenTarget } from './http.js';
import { startServer } from './server-process.js';
import { MiB, num, table } from './stats.js';
import { STREAM_BENCH, streamBench, streamRows } from './stream-bench.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set: start the test services first (scripts/test-services.sh)`);
  return value;
};

const databaseUrl = required('TEST_DATABASE_URL');
const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const dbName = `bench_streams_${stamp}`;
const benchUrl = new URL(databaseUrl);
benchUrl.pathname = `/${dbName}`;
const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-ledger-bench-'));
const server = await startServer(repoRoot, {
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  DATABASE_URL: benchUrl.toString(),
  S3_ENDPOINT: required('TEST_S3_ENDPOINT'),
  S3_PORT: required('TEST_S3_PORT'),
  S3_USE_SSL: 'false',
  S3_ACCESS_KEY: required('TEST_S3_ACCESS_KEY'),
  S3_SECRET_KEY: required('TEST_S3_SECRET_KEY'),
  S3_BUCKET: `bench-streams-${stamp}`,
  S3_REGION: 'us-east-1',
  AUTH_USERS: 'bench:bench',
  LOG_LEVEL: 'warn',
  MAX_CONNECTIONS: '4000',
});
try {
  const target = await tokenTarget(server.port, 16);
  // BENCH_STREAMS and BENCH_STREAM_RATE (lock+unlock cycles per second) change the defaults.
  const streams = Number(process.env.BENCH_STREAMS ?? STREAM_BENCH.streams);
  const cyclesPerS = Number(process.env.BENCH_STREAM_RATE ?? STREAM_BENCH.cyclesPerS);
  const result = await streamBench(target, server, log, { ...STREAM_BENCH, streams, cyclesPerS });
  process.stdout.write(`${table(streamRows(result, num, MiB)).join('\n')}\n`);
  if (result.errors.length > 0) process.stdout.write(`errors: ${result.errors.join('; ')}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await server.stop();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
