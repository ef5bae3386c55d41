import pg from 'pg';
import { globToRegex } from '../src/access/roles.js';
import { searchResources, type ResourceFilter } from '../src/projections/queries.js';
import { expectStatus, send, type Target } from './http.js';
import { percentile } from './stats.js';

/**
 * Resource search at scale: 1,000 states of 1,000 resource instances each in the contents index,
 * searched through the server (as the bench token, admin on `*`) against the floor of the same
 * query sent straight to PostgreSQL. The index is written straight into its tables (what the
 * contents projection would write for such states), so the phase measures the search alone.
 */

const STATES = 1000;
const INSTANCES = 1000;
const REQUESTS = 50;
/** A type that only every 200th state holds: a search for it visits every state. */
const RARE_TYPE = 'aws_kms_key';

export interface SearchTiming {
  readonly query: string;
  readonly found: number;
  readonly server: { readonly p50Ms: number; readonly p99Ms: number };
  readonly floor: { readonly p50Ms: number; readonly p99Ms: number };
}

export interface SearchResult {
  readonly states: number;
  readonly instances: number;
  readonly seedMs: number;
  readonly timings: readonly SearchTiming[];
}

/** Each state: 100 instances each of 10 types in two modules, ids `i-<state>-<n>`; every 200th state holds one RARE_TYPE. */
const seed = async (client: pg.Client): Promise<void> => {
  await client.query(
    `INSERT INTO state_contents (name, version, status, reason, resource_count, instance_count, output_count, recorded_at)
     SELECT 'team-' || (s / 100) || '/svc-' || lpad(s::text, 4, '0'), 1, 'indexed', NULL, 10, $2, 0, now()
     FROM generate_series(0, $1 - 1) AS s`,
    [STATES, INSTANCES],
  );
  await client.query(
    `INSERT INTO state_resource_instances (name, ordinal, address, resource_address, mode, type, resource_name, module, provider, index_key, instance_id)
     SELECT state, n, module_prefix || type || '.main[' || (n % 100) || ']', module_prefix || type || '.main', 'managed', type, 'main',
            rtrim(module_prefix, '.'), 'provider["registry.terraform.io/hashicorp/aws"]', to_jsonb(n % 100), 'i-' || s || '-' || n
     FROM (
       SELECT s, n, 'team-' || (s / 100) || '/svc-' || lpad(s::text, 4, '0') AS state,
              CASE WHEN s % 200 = 0 AND n = 0 THEN $3 ELSE 'aws_type_' || (n / 100) END AS type,
              CASE WHEN n % 2 = 0 THEN '' ELSE 'module.net.' END AS module_prefix
       FROM generate_series(0, $1 - 1) AS s, generate_series(0, $2 - 1) AS n
     ) x`,
    [STATES, INSTANCES, RARE_TYPE],
  );
  await client.query('ANALYZE state_contents');
  await client.query('ANALYZE state_resource_instances');
};

const timed = async (run: () => Promise<number>): Promise<{ p50Ms: number; p99Ms: number; found: number }> => {
  const samples: number[] = [];
  let found = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const started = process.hrtime.bigint();
    found = await run();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), found };
};

export const searchBench = async (databaseUrl: string, target: Target, log: (line: string) => void): Promise<SearchResult> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    log(`  writing ${STATES} states of ${INSTANCES} instances into the contents index`);
    const started = Date.now();
    await seed(client);
    const seedMs = Date.now() - started;
    const middle = STATES / 2;
    const queries: ReadonlyArray<readonly [string, ResourceFilter]> = [
      ['address=module.net.aws_type_3.main[7]', { address: { value: 'module.net.aws_type_3.main[7]', prefix: false } }],
      [`id=i-${middle}-512`, { id: { value: `i-${middle}-512`, prefix: false } }],
      [`id=i-${middle}-5*`, { id: { value: `i-${middle}-5`, prefix: true } }],
      ['type=aws_type_4', { type: { value: 'aws_type_4', prefix: false } }],
      [`type=${RARE_TYPE}`, { type: { value: RARE_TYPE, prefix: false } }],
      ['state=team-7/*&type=aws_type_1', { state: { value: 'team-7/', prefix: true }, type: { value: 'aws_type_1', prefix: false } }],
      ['module=module.net&type=aws_type_9', { module: { value: 'module.net', prefix: false }, type: { value: 'aws_type_9', prefix: false } }],
      ['type=aws_type_*', { type: { value: 'aws_type_', prefix: true } }],
      ['module=module.net', { module: { value: 'module.net', prefix: false } }],
    ];
    const timings: SearchTiming[] = [];
    const visible = [globToRegex('*')];
    for (const [query, filter] of queries) {
      log(`  /resources?${query}`);
      const server = await timed(async () => {
        const reply = await send(target, 'GET', `/resources?${query.replace(/\[/g, '%5B').replace(/\]/g, '%5D')}`, { keepBody: true, timeoutMs: 30_000 });
        expectStatus(reply, 200, `search ${query}`);
        return (JSON.parse(reply.body.toString()) as { resources: unknown[] }).resources.length;
      });
      const floor = await timed(async () => (await searchResources(client, visible, filter, { limit: 50 })).length);
      timings.push({ query, found: server.found, server: { p50Ms: server.p50Ms, p99Ms: server.p99Ms }, floor: { p50Ms: floor.p50Ms, p99Ms: floor.p99Ms } });
    }
    return { states: STATES, instances: STATES * INSTANCES, seedMs, timings };
  } finally {
    await client.end();
  }
};
