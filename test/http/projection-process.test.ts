import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startCliServer } from '../support/cli.js';
import { richState } from '../support/contents-states.js';
import { defaultClient } from '../support/go-client.js';
import { killTree, processTree, statFields } from '../support/process-tree.js';
import { waitFor } from '../support/projections.js';
import { freshDatabase, s3Environment } from '../support/services.js';

/**
 * The asynchronous projections run in a child process of `state-ledger serve`, at a lower priority:
 * indexing a pushed body costs about as much CPU as the push, and requests must not wait behind it.
 * The child is started again whenever it ends unasked, and ends with the server.
 */

const AUTH = { authorization: `Basic ${Buffer.from('ci:pw').toString('base64')}` };

/** The state and version the resource search finds the bucket `bucket` in. */
const foundIn = async (baseUrl: string, bucket: string): Promise<Array<[string, number]>> => {
  const reply = await fetch(`${baseUrl}/resources?id=${bucket}`, { headers: AUTH });
  if (reply.status !== 200) throw new Error(`search answered ${reply.status}: ${await reply.text()}`);
  const { resources } = (await reply.json()) as { resources: Array<{ state: string; version: number }> };
  return resources.map((r) => [r.state, r.version]);
};

const childrenOf = (pid: number): number[] => processTree(pid).filter((member) => member !== pid);

const alive = (pid: number): boolean => {
  try {
    statFields(pid);
    return true;
  } catch {
    return false;
  }
};

t.test('the projections run in a niced child process, which comes back after it is killed and ends with the server', async (t) => {
  const db = await freshDatabase(t);
  const server = await startCliServer({ DATABASE_URL: db.url, ...s3Environment(), AUTH_USERS: 'ci:pw', LOG_LEVEL: 'info' });
  let log = '';
  server.process.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  t.teardown(() => killTree(server.process.pid ?? 0));
  const serverPid = server.process.pid ?? 0;
  const client = defaultClient(server.baseUrl, 'indexed', { username: 'ci', password: 'pw' });

  t.equal((await client.put(richState(1, { bucket: 'first-bucket' }))).status, 200);
  await waitFor('the push to be indexed', async () => (await foundIn(server.baseUrl, 'first-bucket')).length === 1);
  t.strictSame(await foundIn(server.baseUrl, 'first-bucket'), [['indexed', 1]], 'indexed by the projections process');
  const [first, ...others] = childrenOf(serverPid);
  t.strictSame(others, [], 'one child process');
  if (first === undefined) throw new Error('the server has no child process');
  // Field 19 of /proc/<pid>/stat is the nice value.
  t.equal(statFields(first)[16], '10', 'at a lower priority');
  t.equal(statFields(serverPid)[16], '0', 'the server itself at the normal priority');

  process.kill(first, 'SIGKILL');
  await waitFor('another projections process', () => childrenOf(serverPid).some((pid) => pid !== first));
  t.equal((await fetch(`${server.baseUrl}/livez`)).status, 200, 'the server kept serving');
  t.equal((await client.put(richState(2, { bucket: 'second-bucket' }))).status, 200);
  await waitFor('the next push to be indexed', async () => (await foundIn(server.baseUrl, 'second-bucket')).length === 1);
  t.strictSame(await foundIn(server.baseUrl, 'second-bucket'), [['indexed', 2]], 'indexed by the new process');
  t.strictSame(await foundIn(server.baseUrl, 'first-bucket'), [], 'the first version is no longer the current one');
  t.match(log, /"signal":"SIGKILL".*the projections process ended; starting it again/, 'its end is logged');
  const metrics = await (await fetch(`${server.baseUrl}/metrics`, { headers: AUTH })).text();
  t.match(metrics, /^state_ledger_projection_process_exits_total 1$/m, 'and counted');

  const [second] = childrenOf(serverPid);
  if (second === undefined) throw new Error('no projections process');
  server.process.kill('SIGTERM');
  t.equal(await server.exited, 0, 'the server stops cleanly');
  await waitFor('the projections process to end', () => !alive(second), 5000);
  t.pass('the projections process ended with the server');
});

t.test('a server killed outright leaves no projections process behind', async (t) => {
  const db = await freshDatabase(t);
  const server = await startCliServer({ DATABASE_URL: db.url, ...s3Environment(), AUTH_USERS: 'ci:pw' });
  const serverPid = server.process.pid ?? 0;
  await waitFor('the projections process', () => childrenOf(serverPid).length === 1);
  const [child] = childrenOf(serverPid);
  t.teardown(() => {
    if (child !== undefined && alive(child)) process.kill(child, 'SIGKILL');
  });
  server.process.kill('SIGKILL');
  await server.exited;
  await waitFor('the orphaned projections process to end', () => child === undefined || !alive(child), 15_000);
  await sleep(0);
  t.pass('it noticed the server was gone and ended');
});
