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

/** Runs `clients` loops of `cycle` until either bound is reached; latency is timed per cycle. */
export const runLoad = async (
  clients: number,
  bounds: Bounds,
  cycle: (client: number) => Promise<void>,
): Promise<LoadResult> => {
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | null = null;
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
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => loop(client)));
  const elapsedMs = performance.now() - begin;
  return {
    clients,
    cycles: latencies.length,
    errors,
    firstError,
    elapsedMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cyclesPerS: latencies.length / (elapsedMs / 1000),
  };
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
  CREATE TABLE bench_floor_streams (id text PRIMARY KEY, version bigint NOT NULL);
  CREATE TABLE bench_floor_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream   text NOT NULL,
    data     jsonb NOT NULL
  );`;

/** One short write transaction: the least an event-sourced lock or unlock must cost in PostgreSQL. */
const floorTransaction = async (client: pg.Client, stream: string, data: string): Promise<void> => {
  await client.query('BEGIN');
  try {
    await client.query('UPDATE bench_floor_streams SET version = version + 1 WHERE id = $1', [stream]);
    await client.query('INSERT INTO bench_floor_events (stream, data) VALUES ($1, $2::jsonb)', [stream, data]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
};

/** The floor of a lock+unlock cycle: the same two transactions, sent straight to PostgreSQL. */
export const floorLockCycle = (clients: readonly pg.Client[], stream: (client: number) => string) => async (client: number) => {
  const connection = clients[client];
  if (connection === undefined) throw new Error(`no pg client ${client}`);
  const data = lockInfoJson().toString('utf8');
  await floorTransaction(connection, stream(client), data);
  await floorTransaction(connection, stream(client), data);
};

export const openFloorClients = async (url: string, count: number, streams: readonly string[]): Promise<pg.Client[]> => {
  const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((client) => client.connect()));
  const [first] = clients;
  if (first !== undefined) {
    await first.query('INSERT INTO bench_floor_streams (id, version) SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING', [streams]);
  }
  return clients;
};
