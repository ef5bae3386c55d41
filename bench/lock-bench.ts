import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { expectStatus, md5Base64, send, type Target } from './http.js';
import { percentile } from './stats.js';

export interface Bounds {
  /** Cycles in all, across clients. */
  readonly maxCycles: number;
  /** Wall time; a cycle under way when it runs out still finishes. */
  readonly maxMs: number;
}

export interface LoadResult {
  readonly clients: number;
  readonly cycles: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly elapsedMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cyclesPerS: number;
}

const MAX_ERRORS = 20;

interface Driven {
  errors: number;
  firstError: string | null;
  elapsedMs: number;
}

/** Runs `clients` loops of `cycle` until either bound is reached, adding each cycle's latency to `latencies`. */
const drive = async (clients: number, bounds: Bounds, cycle: (client: number) => Promise<void>, latencies: number[], into: Driven): Promise<void> => {
  let started = 0;
  let errors = 0;
  const begin = performance.now();
  const deadline = begin + bounds.maxMs;
  const loop = async (client: number) => {
    while (started < bounds.maxCycles && performance.now() < deadline && errors < MAX_ERRORS) {
      started++;
      const t0 = performance.now();
      try {
        await cycle(client);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        into.firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => loop(client)));
  into.errors += errors;
  into.elapsedMs += performance.now() - begin;
};

const summary = (clients: number, latencies: readonly number[], driven: Driven): LoadResult => ({
  clients,
  cycles: latencies.length,
  ...driven,
  p50Ms: percentile(latencies, 50),
  p99Ms: percentile(latencies, 99),
  cyclesPerS: latencies.length / (driven.elapsedMs / 1000),
});

/** Runs `clients` loops of `cycle` until either bound is reached; latency is timed per cycle. */
export const runLoad = async (clients: number, bounds: Bounds, cycle: (client: number) => Promise<void>): Promise<LoadResult> => {
  const latencies: number[] = [];
  const driven: Driven = { errors: 0, firstError: null, elapsedMs: 0 };
  await drive(clients, bounds, cycle, latencies, driven);
  return summary(clients, latencies, driven);
};

export interface Load {
  readonly clients: number;
  readonly bounds: Bounds;
  readonly cycle: (client: number) => Promise<void>;
}

export interface LoadInRounds {
  readonly result: LoadResult;
  /** CPU of `cpuMs`'s process (the server) and of this one while this load ran, ms. */
  readonly cpuMs: number;
  readonly clientCpuMs: number;
}

/**
 * Runs the loads one after another, `rounds` times over, each round for its share of their
 * bounds, and sums up each load over all rounds: a server and its floor measured turn about see
 * the same moods of a shared machine, rather than a minute each of their own.
 */
export const runInRounds = async (rounds: number, loads: readonly Load[], cpuMs: () => number): Promise<LoadInRounds[]> => {
  const runs = loads.map((load) => ({ load, latencies: [] as number[], driven: { errors: 0, firstError: null, elapsedMs: 0 } as Driven, cpuMs: 0, clientCpuMs: 0 }));
  for (let round = 0; round < rounds; round++) {
    for (const run of runs) {
      const { clients, bounds, cycle } = run.load;
      const cpu0 = cpuMs();
      const client0 = process.cpuUsage();
      await drive(clients, { maxCycles: Math.ceil(bounds.maxCycles / rounds), maxMs: bounds.maxMs / rounds }, cycle, run.latencies, run.driven);
      const client = process.cpuUsage(client0);
      run.cpuMs += cpuMs() - cpu0;
      run.clientCpuMs += (client.user + client.system) / 1000;
    }
  }
  return runs.map((run) => ({ result: summary(run.load.clients, run.latencies, run.driven), cpuMs: run.cpuMs, clientCpuMs: run.clientCpuMs }));
};

/** statemgr.LockInfo as Go marshals it: field order and empty strings included. */
export const lockInfoJson = (): Buffer =>
  Buffer.from(
    JSON.stringify({
      ID: randomUUID(),
      Operation: 'OperationTypeApply',
      Info: '',
      Who: 'runner@ci-host',
      Version: '1.9.8',
      Created: new Date().toISOString().replace('Z', '123456Z'),
      Path: '',
    }),
  );

/** One Terraform lock/unlock pair on the state's own address (the clients' default LOCK/UNLOCK methods). */
export const serverLockCycle = (target: Target, stateName: (client: number) => string) => async (client: number) => {
  const path = `/states/${stateName(client)}`;
  const body = lockInfoJson();
  const md5 = md5Base64(body);
  expectStatus(await send(target, 'LOCK', path, { body, md5, keepBody: true, timeoutMs: 30_000 }), 200, `LOCK ${path}`);
  expectStatus(await send(target, 'UNLOCK', path, { body, md5, keepBody: true, timeoutMs: 30_000 }), 200, `UNLOCK ${path}`);
};

export const FLOOR_TABLES = `
  CREATE TABLE bench_floor_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream   text NOT NULL,
    data     jsonb NOT NULL,
    metadata jsonb NOT NULL
  );
  CREATE TABLE bench_floor_locks (stream text PRIMARY KEY, info jsonb NOT NULL);`;

const FLOOR_METADATA = JSON.stringify({ actor: 'token:bench', remote_address: '127.0.0.1', user_agent: 'Terraform/1.11.0', request_id: randomUUID() });

/** One short write transaction: the least an event-sourced lock or unlock must cost in PostgreSQL (an event row, and the lock row it changes). */
const floorTransaction = async (client: pg.Client, stream: string, data: string, lockRow: string): Promise<void> => {
  await client.query('BEGIN');
  try {
    await client.query('INSERT INTO bench_floor_events (stream, data, metadata) VALUES ($1, $2::jsonb, $3::jsonb)', [stream, data, FLOOR_METADATA]);
    await client.query(lockRow, lockRow.startsWith('DELETE') ? [stream] : [stream, data]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
};

const TAKE_LOCK = 'INSERT INTO bench_floor_locks (stream, info) VALUES ($1, $2::jsonb) ON CONFLICT (stream) DO UPDATE SET info = EXCLUDED.info';
const RELEASE_LOCK = 'DELETE FROM bench_floor_locks WHERE stream = $1';

/** The floor of a lock+unlock cycle: the same two transactions, sent straight to PostgreSQL. */
export const floorLockCycle = (clients: readonly pg.Client[], stream: (client: number) => string) => async (client: number) => {
  const connection = clients[client];
  if (connection === undefined) throw new Error(`no pg client ${client}`);
  const data = lockInfoJson().toString('utf8');
  await floorTransaction(connection, stream(client), data, TAKE_LOCK);
  await floorTransaction(connection, stream(client), data, RELEASE_LOCK);
};

export const openFloorClients = async (url: string, count: number): Promise<pg.Client[]> => {
  const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((client) => client.connect()));
  return clients;
};
