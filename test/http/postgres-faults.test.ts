import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { startCliServer, type RunningServer } from '../support/cli.js';
import { seedStyleClient, newLockInfo, stateDocument, type GoHttpClient } from '../support/go-client.js';
import { privatePostgres } from '../support/private-services.js';
import { s3Environment, tempDir } from '../support/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Acknowledged {
  readonly state: string;
  readonly version: number;
  readonly body: Buffer;
}

/**
 * A Terraform run, over and over: lock, push, unlock, through one of the servers. Every answer
 * that is not a success is retried as the clients do (a 503 with the same lock ID and bytes), so
 * the loop also proves that retries after a lost answer are safe.
 */
interface Observed {
  readonly acknowledged: Acknowledged[];
  /** When each acknowledged push was answered. */
  readonly successes: number[];
  /** Every status a write was answered with. */
  readonly statuses: Map<number, number>;
}

const runWorkload = (servers: readonly string[], state: string, stop: { now: boolean }, { acknowledged, successes, statuses }: Observed) =>
  (async () => {
    for (let round = 1; !stop.now; round++) {
      const client: GoHttpClient = seedStyleClient(servers[round % servers.length] ?? '', state, { username: 'ci', password: 'pw' });
      const info = newLockInfo();
      while (!stop.now && !(await client.lock(info).catch(() => ({ locked: false }))).locked) await sleep(100);
      const body = stateDocument(round, undefined, { round_id: randomUUID() });
      let stored = false;
      while (!stop.now && !stored) {
        const reply = await client.put(body).catch(() => undefined);
        if (reply !== undefined) statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        if (reply?.status === 200) {
          stored = true;
          acknowledged.push({ state, version: (JSON.parse(reply.body.toString()) as { version: number }).version, body });
          successes.push(Date.now());
        } else await sleep(100);
      }
      while (!stop.now && (await client.unlock().catch(() => undefined))?.status !== 200) await sleep(100);
    }
  })();

t.test('three servers on one PostgreSQL: restarts (fast, then immediate) end no process and lose no acknowledged push', async (t) => {
  const postgres = await privatePostgres(t);
  const env = {
    DATABASE_URL: postgres.url,
    ...s3Environment(),
    AUTH_USERS: 'ci:pw',
    PG_CONNECT_TIMEOUT_SECONDS: '2',
  };
  const servers: RunningServer[] = [];
  const dataDirs: string[] = [];
  for (let i = 0; i < 3; i++) {
    dataDirs.push(await tempDir(t));
    servers.push(await startCliServer({ ...env, DATA_DIR: dataDirs[i] ?? '' }));
  }
  t.teardown(() => {
    for (const server of servers) server.process.kill('SIGKILL');
  });
  const exits: Array<number | null> = [];
  for (const server of servers) void server.exited.then((code) => exits.push(code));

  const urls = servers.map((s) => s.baseUrl);
  const stop = { now: false };
  const observed: Observed = { acknowledged: [], successes: [], statuses: new Map() };
  const { acknowledged, successes, statuses } = observed;
  const workloads = Array.from({ length: 6 }, (_, i) => runWorkload(urls, `app-${i}`, stop, observed));

  for (const mode of ['fast', 'immediate'] as const) {
    await sleep(1500);
    const before = acknowledged.length;
    await postgres.restart(mode);
    const back = Date.now();
    for (let i = 0; i < 100 && !successes.some((at) => at >= back); i++) await sleep(100);
    const first = successes.find((at) => at >= back);
    t.ok(first !== undefined && first - back <= 5000, `after a ${mode} restart, pushes succeed again within 5 s (took ${first === undefined ? 'forever' : first - back} ms)`);
    t.ok(acknowledged.length > before, `pushes went on around the ${mode} restart`);
  }
  await sleep(1000);
  stop.now = true;
  await Promise.all(workloads);

  t.strictSame(exits, [], 'no server process exited');
  t.strictSame(
    [...statuses.keys()].filter((status) => status !== 200 && status !== 503),
    [],
    `pushes were answered 200 or 503, never a 500 (${statuses.get(503) ?? 0} answered 503)`,
  );
  for (const server of servers) t.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200, 'every server is ready again');
  let intact = 0;
  for (const { state, version, body } of acknowledged) {
    const reply = await fetch(`${urls[0]}/states/${state}/versions/${version}`, { headers: { authorization: `Basic ${Buffer.from('ci:pw').toString('base64')}` } });
    if (reply.status === 200 && Buffer.from(await reply.arrayBuffer()).equals(body)) intact++;
  }
  t.equal(intact, acknowledged.length, `every acknowledged push (${acknowledged.length}) reads back with its exact bytes`);
  for (const dataDir of dataDirs) {
    const tmp = path.join(dataDir, 'tmp');
    const left = (await Promise.all((await fs.readdir(tmp)).map((folder) => fs.readdir(path.join(tmp, folder))))).flat();
    t.strictSame(left, ['.owner'], 'no pushed body was left on disk by a failed attempt');
  }
  const versions = new Set(acknowledged.map((a) => `${a.state}/${a.version}`));
  t.equal(versions.size, acknowledged.length, 'no two acknowledged pushes share a version');
});
