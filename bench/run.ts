/**
 * One benchmark run of the real server (a child process) against the floor of what it does:
 * the same PostgreSQL transactions sent straight with `pg`, the same bytes put to and got from S3
 * with the plain `minio` client. Not a test: it asserts nothing. Run it with `npm run bench`,
 * which starts PostgreSQL and S3 (scripts/test-services.sh) and exports TEST_DATABASE_URL and TEST_S3_*.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Minio from 'minio';
import pg from 'pg';
import {
  FLOOR_VERSIONS_TABLE,
  floorPush,
  floorRead,
  prepare,
  serverPush,
  serverRead,
  stateDocuments,
  timeRuns,
  type BodyRuns,
  type PreparedBody,
} from './body-bench.js';
import { HISTORY_STATE, historyBench, type HistoryResult } from './history-bench.js';
import { sampleLag, type LagFigures } from './lag-sampler.js';
import { searchBench, type SearchResult } from './search-bench.js';
import { consoleBench, type ConsoleResult } from './console-bench.js';
import { asyncProjections } from '../src/projections/async/projections.js';
import { tokenTarget } from './http.js';
import { FLOOR_TABLES, floorLockCycle, openFloorClients, runInRounds, runLoad, serverLockCycle, type Bounds, type LoadResult } from './lock-bench.js';
import { startServer, type ServerProcess } from './server-process.js';
import { requestCosts, type RequestCosts } from './request-costs.js';
import { shapesBench, type ShapeResult } from './shapes-bench.js';
import { measureValidator, type ValidatorResult } from './validator-bench.js';
import { verifyBench, type VerifyBenchResult } from './verify-bench.js';
import { streamBench, streamRows, type StreamBenchResult } from './stream-bench.js';
import { migrate } from '../src/storage/postgres.js';
import { MiB, num, ratio, table, times } from './stats.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const resultsFile = path.join(benchDir, 'results', 'latest.json');

const CONCURRENT = 32;
const LOCK_WARMUP: Record<'one' | 'many', Bounds> = { one: { maxCycles: 300, maxMs: 3_000 }, many: { maxCycles: 3_000, maxMs: 3_000 } };
const LOCK_MEASURE: Record<'one' | 'many', Bounds> = { one: { maxCycles: 8_000, maxMs: 10_000 }, many: { maxCycles: 40_000, maxMs: 12_000 } };
/** The lock phases' time is split into this many rounds of server, then floor (runInRounds). */
const LOCK_ROUNDS = 5;
const SMALL = { bytes: 1 * MiB, warmup: 2, runs: 10, maxMs: 20_000, timeoutMs: 30_000 };
const LARGE = { bytes: 100 * MiB, runs: 3, maxMs: 45_000, timeoutMs: 120_000 };
const CLEANUP_MS = 20_000;
const HISTORY_VERSIONS = 100_000;
const VERIFY_EVENTS = 1_000_000;

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the bench with \`npm run bench\` (it starts PostgreSQL and S3 first)`);
  }
  return value;
};

const isLoopback = (host: string) => host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });

interface Measured<A> {
  readonly result: A | null;
  readonly error: string | null;
  /** Server CPU (user + system) per operation, ms; null for floors. */
  readonly serverCpuMsPerOp: number | null;
  /** CPU of this process (the load generator, or for floors the whole floor) per operation, ms. */
  readonly clientCpuMsPerOp: number | null;
}

/** Runs a phase; a failure is recorded (and the run goes on) rather than ending the bench. */
const measure = async <A>(
  what: string,
  server: ServerProcess | null,
  phase: () => Promise<A>,
  ops: (result: A) => number,
): Promise<Measured<A>> => {
  log(what);
  const cpu0 = server?.cpuMs();
  const client0 = process.cpuUsage();
  try {
    const result = await phase();
    const clientUsage = process.cpuUsage(client0);
    const n = Math.max(1, ops(result));
    return {
      result,
      error: null,
      serverCpuMsPerOp: server === null || cpu0 === undefined ? null : (server.cpuMs() - cpu0) / n,
      clientCpuMsPerOp: (clientUsage.user + clientUsage.system) / 1000 / n,
    };
  } catch (error) {
    log(`  failed: ${(error as Error).message}`);
    return { result: null, error: (error as Error).message, serverCpuMsPerOp: null, clientCpuMsPerOp: null };
  }
};

const main = async () => {
  const startedAt = new Date();
  // Other work on the machine skews every figure: the 1-minute load average says how idle it was.
  const loadAtStart = os.loadavg()[0] ?? Number.NaN;
  const databaseUrl = required('TEST_DATABASE_URL');
  const s3 = {
    endPoint: required('TEST_S3_ENDPOINT'),
    port: Number(required('TEST_S3_PORT')),
    accessKey: required('TEST_S3_ACCESS_KEY'),
    secretKey: required('TEST_S3_SECRET_KEY'),
  };
  const adminUrl = new URL(databaseUrl);
  if (!isLoopback(adminUrl.hostname) || !isLoopback(s3.endPoint)) {
    throw new Error('the bench only talks to 127.0.0.1: TEST_DATABASE_URL and TEST_S3_ENDPOINT must be loopback');
  }

  const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dbName = `bench_${stamp}`;
  const serverBucket = `bench-server-${stamp}`;
  const floorBucket = `bench-floor-${stamp}`;
  const verifyBucket = `bench-verify-${stamp}`;
  const benchUrl = new URL(databaseUrl);
  benchUrl.pathname = `/${dbName}`;

  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const db = new pg.Client({ connectionString: benchUrl.toString() });
  await db.connect();
  await db.query(FLOOR_TABLES + FLOOR_VERSIONS_TABLE);
  const pgVersion = String((await db.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version'])).rows[0]?.v ?? '?');
  const pgFsync = String((await db.query<{ v: string }>('SELECT current_setting($1) AS v', ['fsync'])).rows[0]?.v ?? '?');

  const minio = new Minio.Client({ ...s3, useSSL: false, region: 'us-east-1', pathStyle: true });
  await minio.makeBucket(floorBucket, 'us-east-1');

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-ledger-bench-'));
  log('starting the server');
  const server = await startServer(repoRoot, {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: benchUrl.toString(),
    S3_ENDPOINT: s3.endPoint,
    S3_PORT: String(s3.port),
    S3_USE_SSL: 'false',
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    S3_BUCKET: serverBucket,
    S3_REGION: 'us-east-1',
    AUTH_USERS: 'bench:bench',
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS: '4000', // the event-stream phase holds 1,000 streams open beside the load
  });
  // Measured as a pipeline signs in in production: an API token with a grant, looked up in PostgreSQL on every request.
  const target = await tokenTarget(server.port, CONCURRENT * 2);
  const memory: { point: string; hwm: number; rss: number }[] = [];
  const memoryAt = (point: string) => memory.push({ point, ...server.memory() });
  memoryAt('after start (idle)');

  const floorClients: pg.Client[] = [];
  try {
    // The asynchronous projections' lag while the server locks and pushes (phases a and b).
    const lagSampler = await sampleLag(benchUrl.toString(), asyncProjections.map((projection) => projection.name));
    // ---- a) lock + unlock cycles ----
    const lockName = (clients: number) => (client: number) => `lock-c${clients}-${client}`;
    const serverCycle1 = serverLockCycle(target, lockName(1));
    const serverCycleN = serverLockCycle(target, lockName(CONCURRENT));
    await measure('lock+unlock warm-up (server)', null, async () => {
      await runLoad(1, LOCK_WARMUP.one, serverCycle1);
      await runLoad(CONCURRENT, LOCK_WARMUP.many, serverCycleN);
    }, () => 1);

    floorClients.push(...(await openFloorClients(benchUrl.toString(), CONCURRENT)));
    const floorCycle1 = floorLockCycle(floorClients, lockName(1));
    const floorCycleN = floorLockCycle(floorClients, lockName(CONCURRENT));
    await measure('lock+unlock warm-up (floor)', null, async () => {
      await runLoad(1, LOCK_WARMUP.one, floorCycle1);
      await runLoad(CONCURRENT, LOCK_WARMUP.many, floorCycleN);
    }, () => 1);
    const rounds = await measure(`lock+unlock, server and floor turn about in ${LOCK_ROUNDS} rounds, 1 and ${CONCURRENT} clients`, null, () =>
      runInRounds(LOCK_ROUNDS, [
        { clients: 1, bounds: LOCK_MEASURE.one, cycle: serverCycle1 },
        { clients: 1, bounds: LOCK_MEASURE.one, cycle: floorCycle1 },
        { clients: CONCURRENT, bounds: LOCK_MEASURE.many, cycle: serverCycleN },
        { clients: CONCURRENT, bounds: LOCK_MEASURE.many, cycle: floorCycleN },
      ], () => server.cpuMs()), () => 1);
    const inRound = (i: number, ofServer: boolean): Measured<LoadResult> => {
      const load = rounds.result?.[i];
      if (load === undefined) return { result: null, error: rounds.error, serverCpuMsPerOp: null, clientCpuMsPerOp: null };
      const n = Math.max(1, load.result.cycles);
      return { result: load.result, error: null, serverCpuMsPerOp: ofServer ? load.cpuMs / n : null, clientCpuMsPerOp: load.clientCpuMs / n };
    };
    const [lockServer1, lockFloor1, lockServerN, lockFloorN] = [inRound(0, true), inRound(1, false), inRound(2, true), inRound(3, false)];
    memoryAt('after lock+unlock cycles');
    await Promise.all(floorClients.splice(0).map((client) => client.end()));
    const costs = await measure('what one request costs, path by path (1 client)', null, () => requestCosts(repoRoot, target, server, benchUrl.toString()), () => 1);

    // ---- b) pushes and reads ----
    let serial = 0;
    const runs = (r: BodyRuns) => r.runs;
    const small = stateDocuments(SMALL.bytes);
    const smallSize = small(0).length;
    // Sizes differ by a byte or two with the serial's digits: reads expect what was pushed last.
    const pushed = { server: { small: 0, large: 0 }, floor: { small: { serial: 0, size: 0 }, large: { serial: 0, size: 0 } } };
    const smallDoc = () => prepare(small, ++serial);
    const pushSmall = (doc: PreparedBody) => ((pushed.server.small = doc.body.length), serverPush(target, 'body-1mib', doc, SMALL.timeoutMs));
    const readSmall = () => serverRead(target, 'body-1mib', pushed.server.small, SMALL.timeoutMs);
    const floorSmall = (doc: PreparedBody) => (
      (pushed.floor.small = { serial: doc.serial, size: doc.body.length }), floorPush(minio, floorBucket, db, 'small', doc)
    );
    const floorReadSmall = () => floorRead(minio, floorBucket, 'small', pushed.floor.small.serial, pushed.floor.small.size);
    await measure('1 MiB warm-up', null, async () => {
      await timeRuns(SMALL.warmup, SMALL.maxMs, smallSize, smallDoc, pushSmall);
      await timeRuns(SMALL.warmup, SMALL.maxMs, smallSize, () => undefined, readSmall);
      await timeRuns(SMALL.warmup, SMALL.maxMs, smallSize, smallDoc, floorSmall);
      await timeRuns(SMALL.warmup, SMALL.maxMs, smallSize, () => undefined, floorReadSmall);
    }, () => 1);
    const pushSmallServer = await measure('push 1 MiB (server)', server, () =>
      timeRuns(SMALL.runs, SMALL.maxMs, smallSize, smallDoc, pushSmall), runs);
    const readSmallServer = await measure('read 1 MiB (server)', server, () =>
      timeRuns(SMALL.runs, SMALL.maxMs, smallSize, () => undefined, readSmall), runs);
    const pushSmallFloor = await measure('push 1 MiB (floor: putObject + INSERT)', null, () =>
      timeRuns(SMALL.runs, SMALL.maxMs, smallSize, smallDoc, floorSmall), runs);
    const readSmallFloor = await measure('read 1 MiB (floor: getObject)', null, () =>
      timeRuns(SMALL.runs, SMALL.maxMs, smallSize, () => undefined, floorReadSmall), runs);

    log('generating the 100 MiB state document');
    const large = stateDocuments(LARGE.bytes);
    const largeSize = large(0).length;
    const largeDoc = () => prepare(large, ++serial);
    // Generating the document blocks this process for seconds, longer than the server's 5 s keep-alive:
    // the server closes the idle sockets meanwhile, and one turn of the event loop lets the agent drop
    // them; without it the first push is written to a closed socket and fails with EPIPE.
    await new Promise((resolve) => setTimeout(resolve, 100));
    memoryAt('before 100 MiB (after 1 MiB)');
    const pushLargeServer = await measure('push 100 MiB (server)', server, () =>
      timeRuns(LARGE.runs, LARGE.maxMs, largeSize, largeDoc, (doc) => (
        (pushed.server.large = doc.body.length), serverPush(target, 'body-100mib', doc, LARGE.timeoutMs)
      )), runs);
    memoryAt('after 100 MiB pushes');
    const projectionLagUnderLoad = await lagSampler.stop();
    const readLargeServer = await measure('read 100 MiB (server)', server, () =>
      timeRuns(LARGE.runs, LARGE.maxMs, largeSize, () => undefined, () => serverRead(target, 'body-100mib', pushed.server.large, LARGE.timeoutMs)), runs);
    memoryAt('after 100 MiB reads');
    const pushLargeFloor = await measure('push 100 MiB (floor: putObject + INSERT)', null, () =>
      timeRuns(LARGE.runs, LARGE.maxMs, largeSize, largeDoc, (doc) => (
        (pushed.floor.large = { serial: doc.serial, size: doc.body.length }), floorPush(minio, floorBucket, db, 'large', doc)
      )), runs);
    const readLargeFloor = await measure('read 100 MiB (floor: getObject)', null, () =>
      timeRuns(LARGE.runs, LARGE.maxMs, largeSize, () => undefined, () =>
        floorRead(minio, floorBucket, 'large', pushed.floor.large.serial, pushed.floor.large.size)), runs);

    // ---- c) state bodies of every shape: validation throughput, and peak memory going in and out ----
    const validator = await measure('validator throughput (in this process, no I/O)', null, () => measureValidator(), () => 1);
    const shapes = await measure('500 MB states of each shape, one and four at once (server peak memory)', null, () =>
      shapesBench(target, server.pid, log), () => 1);

    // ---- d) history at scale: replay and version listing ----
    const history = await measure(`history: ${HISTORY_VERSIONS} versions, replay and listing`, null, () =>
      historyBench(benchUrl.toString(), target, HISTORY_VERSIONS, log, async (key, bytes) => void (await minio.putObject(serverBucket, key, bytes))), () => 1);

    // ---- d2) resource search over 1,000 states of 1,000 instances ----
    const search = await measure('resource search: 1,000 states of 1,000 instances', null, () => searchBench(benchUrl.toString(), target, log), () => 1);

    // ---- d3) the web console's overview of 1,000 states and the page of the 100,000-version state ----
    const consolePages = await measure('web console pages in Chromium', null, () => consoleBench(target, HISTORY_STATE, log), () => 1);

    // ---- e) verify of a 1,000,000-event ledger against its signed checkpoint ----
    const verifyUrl = new URL(benchUrl);
    verifyUrl.pathname = `/${dbName}_verify`;
    const verify = await measure(`verify: ${VERIFY_EVENTS} events`, null, async () => {
      await admin.query(`CREATE DATABASE ${dbName}_verify`);
      await migrate(verifyUrl.toString(), () => undefined);
      return verifyBench({ databaseUrl: verifyUrl.toString(), blobs: { ...s3, useSSL: false, region: 'us-east-1', bucket: verifyBucket, timeoutMs: 60_000 }, log, events: VERIFY_EVENTS });
    }, () => 1);

    // ---- f) 1,000 open event streams: memory and CPU, idle and with events flowing ----
    const streams = await measure('event streams: 1,000 open, idle and with events flowing', null, () => streamBench(target, server, log), () => 1);

    const finishedAt = new Date();
    const serverLogs = server.logLines();
    const report = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      machine: {
        cores: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? '?',
        totalMemoryBytes: os.totalmem(),
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        node: process.version,
        loadAverage1mAtStart: loadAtStart,
      },
      setup: {
        server: `node bin/state-ledger.js serve (pid ${server.pid}, port ${server.port})`,
        postgres: `${pgVersion} (fsync=${pgFsync})`,
        s3: `${s3.endPoint}:${s3.port} (OpenStack Swift s3api when started by scripts/test-services.sh)`,
      },
      lock: {
        rounds: LOCK_ROUNDS,
        server: { oneClient: lockServer1, concurrent: lockServerN },
        floor: { oneClient: lockFloor1, concurrent: lockFloorN },
      },
      requestCosts: costs,
      body: {
        small: { bytes: smallSize, push: { server: pushSmallServer, floor: pushSmallFloor }, read: { server: readSmallServer, floor: readSmallFloor } },
        large: { bytes: largeSize, push: { server: pushLargeServer, floor: pushLargeFloor }, read: { server: readLargeServer, floor: readLargeFloor } },
      },
      projectionLagUnderLoad,
      history,
      search,
      consolePages,
      verify,
      streams,
      validator,
      shapes,
      serverMemory: memory,
      serverLog: { lines: serverLogs.length, last: serverLogs.slice(-5) },
    };
    printReport(report);
    fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
    fs.writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);
    log(`results written to ${path.relative(process.cwd(), resultsFile)}`);
  } finally {
    await Promise.all(floorClients.map((client) => client.end()));
    await server.stop();
    log('cleaning up');
    await withTimeout(
      (async () => {
        await db.end();
        await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
        await admin.query(`DROP DATABASE IF EXISTS ${dbName}_verify`);
        await admin.end();
        for (const bucket of [floorBucket, serverBucket, verifyBucket]) {
          if (!(await minio.bucketExists(bucket))) continue;
          const keys: string[] = [];
          for await (const item of minio.listObjectsV2(bucket, '', true)) if (typeof item.name === 'string') keys.push(item.name);
          if (keys.length > 0) await minio.removeObjects(bucket, keys);
          await minio.removeBucket(bucket);
        }
      })(),
      CLEANUP_MS,
      'cleaning up',
    ).catch((error: unknown) => log(`cleanup incomplete (the services are thrown away anyway): ${(error as Error).message}`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
};

type Report = {
  startedAt: string;
  durationS: number;
  machine: { cores: number; cpuModel: string; totalMemoryBytes: number; os: string; node: string; loadAverage1mAtStart: number };
  setup: { server: string; postgres: string; s3: string };
  lock: { rounds: number } & Record<'server' | 'floor', Record<'oneClient' | 'concurrent', Measured<LoadResult>>>;
  requestCosts: Measured<RequestCosts>;
  body: Record<'small' | 'large', { bytes: number } & Record<'push' | 'read', Record<'server' | 'floor', Measured<BodyRuns>>>>;
  projectionLagUnderLoad: LagFigures[];
  history: Measured<HistoryResult>;
  search: Measured<SearchResult>;
  consolePages: Measured<ConsoleResult>;
  verify: Measured<VerifyBenchResult>;
  streams: Measured<StreamBenchResult>;
  validator: Measured<ValidatorResult[]>;
  shapes: Measured<ShapeResult[]>;
  serverMemory: { point: string; hwm: number; rss: number }[];
  serverLog: { lines: number; last: string[] };
};

const printReport = (r: Report) => {
  const out: string[] = [];
  const gib = (bytes: number) => (bytes / 1024 ** 3).toFixed(1);
  out.push(`state-ledger bench, ${r.startedAt} (${r.durationS.toFixed(0)} s)`);
  out.push(`machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${gib(r.machine.totalMemoryBytes)} GiB RAM, ${r.machine.os}, node ${r.machine.node}, load average ${r.machine.loadAverage1mAtStart.toFixed(2)} at start`);
  out.push(`server:  ${r.setup.server}; PostgreSQL ${r.setup.postgres}; S3 ${r.setup.s3}; all on loopback`);
  out.push('ratio = server / floor: for latency and ms per op higher is worse; for cycles/s and MiB/s lower is worse');
  out.push('CPU/op = user+system CPU per cycle or op: of the server process, and of this bench process (load generator / floor client)');
  out.push('');

  const rows: string[][] = [['', 'server', 'floor', 'server/floor', 'server CPU/op', 'bench CPU/op (srv run | floor run)']];
  const errors: string[] = [];
  const cpu = (m: Measured<unknown>) => (m.serverCpuMsPerOp === null ? '' : `${num(m.serverCpuMsPerOp)} ms`);
  const clientCpu = (server: Measured<unknown>, floor: Measured<unknown>) =>
    `${num(server.clientCpuMsPerOp)} | ${num(floor.clientCpuMsPerOp)} ms`;
  const noteErrors = (label: string, m: Measured<unknown>) => {
    if (m.error !== null) errors.push(`${label}: failed: ${m.error}`);
  };

  const lockRows = (label: string, server: Measured<LoadResult>, floor: Measured<LoadResult>) => {
    rows.push([label]);
    const s = server.result;
    const f = floor.result;
    const row = (name: string, pick: (x: LoadResult) => number, withCpu: boolean) => {
      const sv = s === null ? null : pick(s);
      const fv = f === null ? null : pick(f);
      rows.push([`  ${name}`, num(sv), num(fv), times(ratio(sv, fv)), withCpu ? cpu(server) : '', withCpu ? clientCpu(server, floor) : '']);
    };
    row('p50 ms per cycle', (x) => x.p50Ms, false);
    row('p99 ms per cycle', (x) => x.p99Ms, false);
    row('cycles/s', (x) => x.cyclesPerS, true);
    noteErrors(`${label} (server)`, server);
    noteErrors(`${label} (floor)`, floor);
    for (const [who, m] of [['server', server], ['floor', floor]] as const) {
      if (m.result !== null && m.result.errors > 0) errors.push(`${label} (${who}): ${m.result.errors} failed cycles, first: ${m.result.firstError}`);
    }
    if (s !== null && f !== null) rows.push([`  (cycles measured: server ${s.cycles}, floor ${f.cycles})`]);
  };
  rows.push([`lock+unlock: the server and its floor turn about, in ${r.lock.rounds} rounds`]);
  lockRows('lock+unlock, 1 client (floor: 2 pg transactions)', r.lock.server.oneClient, r.lock.floor.oneClient);
  lockRows(`lock+unlock, ${CONCURRENT} clients, one state each`, r.lock.server.concurrent, r.lock.floor.concurrent);

  noteErrors('request costs', r.requestCosts);
  const rc = r.requestCosts.result;
  if (rc !== null) {
    rows.push(['what one request costs the serving process, 1 client', 'requests/s', '', '', 'CPU/request']);
    for (const c of rc.requests) rows.push([`  ${c.what}`, num(c.requestsPerS), '', '', `${num(c.cpuMsPerRequest)} ms`]);
    const alone = rc.storeAlone;
    rows.push(['  the event store alone, lock+unlock cycles/s | p50 ms (no HTTP; CPU per command)', num(alone.cyclesPerS), num(alone.p50MsPerCycle), '', `${num(alone.cpuMsPerCommand)} ms`]);
  }

  const bodyRows = (label: string, server: Measured<BodyRuns>, floor: Measured<BodyRuns>) => {
    const s = server.result;
    const f = floor.result;
    const runsNote = s === null ? '' : ` (median of ${s.runs})`;
    rows.push([`${label}${runsNote}`]);
    rows.push(['  ms per op', num(s?.medianMs), num(f?.medianMs), times(ratio(s?.medianMs, f?.medianMs)), cpu(server), clientCpu(server, floor)]);
    rows.push(['  MiB/s', num(s?.mibPerS), num(f?.mibPerS), times(ratio(s?.mibPerS, f?.mibPerS)), '']);
    noteErrors(`${label} (server)`, server);
    noteErrors(`${label} (floor)`, floor);
  };
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 1)} MiB`;
  bodyRows(`push ${mib(r.body.small.bytes)} (floor: putObject + INSERT)`, r.body.small.push.server, r.body.small.push.floor);
  bodyRows(`read ${mib(r.body.small.bytes)} (floor: getObject)`, r.body.small.read.server, r.body.small.read.floor);
  bodyRows(`push ${mib(r.body.large.bytes)} (floor: putObject + INSERT)`, r.body.large.push.server, r.body.large.push.floor);
  bodyRows(`read ${mib(r.body.large.bytes)} (floor: getObject)`, r.body.large.read.server, r.body.large.read.floor);

  rows.push(['asynchronous projections\' lag while the server locks and pushes (sampled every 250 ms, as /readyz?verbose reports it)']);
  for (const lag of r.projectionLagUnderLoad) {
    rows.push([`  ${lag.name}: most events behind | p50 s | most s behind (${lag.samples} samples)`, `${lag.maxEvents} | ${num(lag.p50Seconds)} | ${num(lag.maxSeconds)}`]);
  }

  const h = r.history.result;
  noteErrors('history', r.history);
  if (h !== null) {
    rows.push([`history: one state with ${h.versions} versions; replay of all ${h.events} events (floor: reading them)`]);
    const perS = (ms: number) => (h.events / ms) * 1000;
    rows.push(['  replay, events/s', num(perS(h.replayMs)), num(perS(h.readFloorMs)), times(ratio(perS(h.replayMs), perS(h.readFloorMs)))]);
    rows.push(['  replay, s', num(h.replayMs / 1000), num(h.readFloorMs / 1000), times(ratio(h.replayMs, h.readFloorMs))]);
    rows.push([`asynchronous projections (${asyncProjections.map((p) => p.name).join(', ')}), side by side, each reading every version's body`]);
    rows.push([`  catching up on ${h.catchUpVersions} versions with distinct bodies, s`, num(h.catchUpMs / 1000)]);
    rows.push(['  catching up, versions/s', num((h.catchUpVersions / h.catchUpMs) * 1000)]);
    rows.push([`  rebuilding all ${h.events} events after the replay (bodies of the ${h.versions} versions unread), s`, num(h.rebuildMs / 1000)]);
    rows.push([`list ${h.versions}-version state, 50 per page (floor: the keyset query in pg)`]);
    for (const page of h.pages) {
      rows.push([`  ${page.page}, p50 ms`, num(page.server.p50Ms), num(page.floor.p50Ms), times(ratio(page.server.p50Ms, page.floor.p50Ms))]);
      rows.push([`  ${page.page}, p99 ms`, num(page.server.p99Ms), num(page.floor.p99Ms), times(ratio(page.server.p99Ms, page.floor.p99Ms))]);
    }
  }

  const sr = r.search.result;
  noteErrors('search', r.search);
  if (sr !== null) {
    rows.push([`GET /resources over ${sr.states} states, ${sr.instances} instances, first page of 50 (floor: the same query in pg)`]);
    for (const timing of sr.timings) {
      rows.push([`  ${timing.query} (${timing.found} found), p50 ms`, num(timing.server.p50Ms), num(timing.floor.p50Ms), times(ratio(timing.server.p50Ms, timing.floor.p50Ms))]);
      rows.push([`  ${timing.query}, p99 ms`, num(timing.server.p99Ms), num(timing.floor.p99Ms), times(ratio(timing.server.p99Ms, timing.floor.p99Ms))]);
    }
  }

  const cp = r.consolePages.result;
  noteErrors('console', r.consolePages);
  if (cp !== null && 'skipped' in cp) rows.push([`web console pages: skipped, ${cp.skipped}`]);
  if (cp !== null && 'pages' in cp) {
    rows.push(['web console in Chromium, navigation start to every section shown (floor: its API requests from Node, in parallel)']);
    for (const page of cp.pages) {
      rows.push([`  ${page.page}, p50 ms`, num(page.browser.p50Ms), num(page.apiFloor.p50Ms), times(ratio(page.browser.p50Ms, page.apiFloor.p50Ms))]);
      rows.push([`  ${page.page}, p99 ms`, num(page.browser.p99Ms), num(page.apiFloor.p99Ms), times(ratio(page.browser.p99Ms, page.apiFloor.p99Ms))]);
    }
  }

  const v = r.verify.result;
  noteErrors('verify', r.verify);
  if (v !== null) {
    rows.push([`verify of ${v.events} events in ${v.streams} states against a signed checkpoint (floor: reading the rows)`]);
    rows.push(['  verify, s', num(v.verifyMs / 1000), num(v.readFloorMs / 1000), times(ratio(v.verifyMs, v.readFloorMs))]);
    rows.push(['  verify, events/s', num(v.eventsPerSecond), num((v.events / v.readFloorMs) * 1000), times(ratio(v.eventsPerSecond, (v.events / v.readFloorMs) * 1000))]);
    rows.push(['  writing a checkpoint, s', num(v.checkpointMs / 1000)]);
    if (v.problems.length > 0) errors.push(`verify found problems: ${v.problems.slice(0, 3).join('; ')}`);
  }

  noteErrors('streams', r.streams);
  if (r.streams.result !== null) {
    rows.push(...streamRows(r.streams.result, num, MiB));
    if (r.streams.result.errors.length > 0) errors.push(`streams: ${r.streams.result.errors.join('; ')}`);
  }

  noteErrors('validator', r.validator);
  if (r.validator.result !== null) {
    rows.push(['state validation (byte-level scanner, 64 KiB chunks), MB/s']);
    for (const v of r.validator.result) rows.push([`  ${v.shape} (${num(v.bytes / 1e6)} MB)`, num(v.mbPerSecond)]);
  }
  noteErrors('shapes', r.shapes);
  if (r.shapes.result !== null) {
    rows.push(['server peak memory growth pushing and reading back, MiB (server and projections process | server alone)', 'one', 'four at once', 'limit one | four', 'four, until indexed']);
    for (const v of r.shapes.result) {
      rows.push([
        `  ${v.shape} (${num(v.bytes / 1e6)} MB; ${num(v.oneMs / 1000)} s | ${num(v.fourMs / 1000)} s)`,
        `${num(v.oneGrowth / MiB)} | ${num(v.oneServerGrowth / MiB)}`,
        `${num(v.fourGrowth / MiB)} | ${num(v.fourServerGrowth / MiB)}`,
        '64 | 256',
        num(v.fourIndexedGrowth / MiB),
      ]);
    }
  }

  rows.push(['server memory, MiB', 'VmHWM', 'VmRSS']);
  for (const m of r.serverMemory) rows.push([`  ${m.point}`, num(m.hwm / MiB), num(m.rss / MiB)]);
  const before = r.serverMemory.find((m) => m.point.startsWith('before 100'));
  const after = r.serverMemory[r.serverMemory.length - 1];
  if (before !== undefined && after !== undefined) {
    rows.push([`  peak growth moving ${mib(r.body.large.bytes)}`, num((after.hwm - before.hwm) / MiB), '', `${times((after.hwm - before.hwm) / r.body.large.bytes)} body`]);
  }

  out.push(...table(rows));
  out.push('');
  out.push(errors.length === 0 ? 'errors: none' : `errors:\n  ${errors.join('\n  ')}`);
  out.push(`server log lines at LOG_LEVEL=warn: ${r.serverLog.lines}${r.serverLog.lines > 0 ? ` (last: ${r.serverLog.last.join(' | ').slice(0, 400)})` : ''}`);
  process.stdout.write(`${out.join('\n')}\n`);
};

// A run takes about 30 minutes on the 2-core machine since the console phase (about 4) joined.
const deadline = setTimeout(() => {
  log('the bench ran for more than 45 minutes: giving up');
  process.exit(1);
}, 45 * 60_000);
deadline.unref();

await main().catch((error: unknown) => {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
