import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import t, { type Test } from 'tap';
import { handleCommand } from '../../src/commands/handler.js';
import { stateStreams } from '../../src/commands/stream-kinds.js';
import { contentsIndex } from '../../src/projections/async/contents-index.js';
import { runsProjection } from '../../src/projections/async/runs.js';
import { readModelsInline } from '../../src/projections/inline.js';
import { blobKeyFor, type BlobStore } from '../../src/storage/blobs/blob-store.js';
import { s3BlobStore } from '../../src/storage/blobs/s3-blob-store.js';
import { pgStreamStore } from '../../src/storage/pg-event-store.js';
import { CLI_POOL, migrate, openPool } from '../../src/storage/postgres.js';
import type { SqlExecutor } from '../../src/storage/sql.js';
import { startCliServer, type RunningServer } from '../support/cli.js';
import { metadata } from '../support/commands.js';
import { richState } from '../support/contents-states.js';
import { defaultClient, md5Base64, newLockInfo } from '../support/go-client.js';
import { privatePostgres } from '../support/private-services.js';
import { killTree, processTree } from '../support/process-tree.js';
import { dumpTables, rebuilt, waitFor } from '../support/projections.js';
import { freshDatabase, freshS3Config, s3Environment, tempDir } from '../support/services.js';

/**
 * Issue 10, item 7: "many processes as one". Three real `state-ledger serve` processes on one
 * PostgreSQL database and one bucket: what is written through one is indexed, searchable and
 * streamed by the others; the process running the contents projection is SIGKILLed and another
 * takes over; an appending transaction left open is not passed; PostgreSQL restarted under load.
 *
 * "Exactly once, in order" is observed on the real processes through a trigger this test adds to
 * its own database: every row the contents projection writes into state_version_instances (one
 * per readable pushed version, written with ON CONFLICT DO UPDATE) is logged with a sequence
 * number. A version applied twice shows as an UPDATE (or a second INSERT after a rollback of the
 * row); a version lost is missing; the log's order is the order the runner applied them in, which
 * must be the events' order (transaction id, global position).
 */

const USER = 'ci';
const PASSWORD = 'pw';
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
const credentials = { username: USER, password: PASSWORD };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Proc {
  readonly label: string;
  readonly server: RunningServer;
  readonly url: string;
  log: string;
  /** The exit code once it exited (undefined while it runs). */
  exit: number | null | undefined;
}

/** Starts the built CLI's `serve` once per label, each on a port and DATA_DIR of its own; SIGKILLed at teardown. */
const startProcesses = async (t: Test, env: Record<string, string>, labels: readonly string[]): Promise<Proc[]> => {
  const procs: Proc[] = [];
  t.teardown(async () => {
    if (!t.passing()) for (const p of procs) t.comment(`process ${p.label} (exit ${String(p.exit)}), last log lines:\n${p.log.slice(-3000)}`);
    for (const p of procs) p.server.process.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.server.exited));
  });
  for (const label of labels) {
    const server = await startCliServer({ ...env, DATA_DIR: await tempDir(t) });
    const proc: Proc = { label, server, url: server.baseUrl, log: '', exit: undefined };
    server.process.stderr?.on('data', (d: Buffer) => {
      proc.log = (proc.log + d.toString()).slice(-200_000);
    });
    void server.exited.then((code) => (proc.exit = code));
    procs.push(proc);
  }
  return procs;
};

/** Logs every row the contents projection writes into state_version_instances (see the top of the file). */
const instrument = (pool: pg.Pool) =>
  pool.query(`
    CREATE TABLE public.applied_versions (seq bigserial PRIMARY KEY, name text NOT NULL, version integer NOT NULL, op text NOT NULL);
    CREATE FUNCTION public.record_applied_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO public.applied_versions (name, version, op) VALUES (NEW.name, NEW.version, TG_OP);
      RETURN NULL;
    END $$;
    CREATE TRIGGER record_applied_version AFTER INSERT OR UPDATE ON public.state_version_instances
      FOR EACH ROW EXECUTE FUNCTION public.record_applied_version();`);

const appliedLog = async (sql: SqlExecutor): Promise<Array<{ v: string; op: string }>> =>
  (await sql.query<{ v: string; op: string }>("SELECT name || '@' || version AS v, op FROM applied_versions ORDER BY seq")).rows;

/** Every readable pushed version ("state@version"), in the order the runner must apply them: (transaction id, position). */
const pushedInOrder = async (sql: SqlExecutor): Promise<string[]> =>
  (
    await sql.query<{ v: string }>(
      `SELECT stream_id || '@' || (data->>'version') AS v FROM events
       WHERE type IN ('StatePushed', 'StateRolledBack') AND COALESCE((data->>'encrypted')::boolean, false) = false
       ORDER BY transaction_id, global_position`,
    )
  ).rows.map((r) => r.v);

/** The checks every scenario ends with: each pushed version applied exactly once, in order, and the tables equal a rebuild. */
const exactlyOnceAndLikeARebuild = async (t: Test, pool: pg.Pool, blobs: BlobStore, acknowledged: readonly string[]) => {
  const log = await appliedLog(pool);
  const expected = await pushedInOrder(pool);
  t.strictSame(
    log.filter((r) => r.op !== 'INSERT'),
    [],
    'no version row was written a second time (an UPDATE of state_version_instances is a batch applied twice)',
  );
  t.strictSame(log.map((r) => r.v), expected, `every pushed version (${expected.length}) applied exactly once, in (transaction id, position) order`);
  const applied = new Set(log.map((r) => r.v));
  t.strictSame(
    acknowledged.filter((v) => !applied.has(v)),
    [],
    `every acknowledged push (${acknowledged.length}) is in the index`,
  );
  t.strictSame(await dumpTables(pool, contentsIndex, 'public'), await rebuilt(pool, contentsIndex, blobs), 'the contents tables equal what a replay of the events builds');
  t.strictSame(await dumpTables(pool, runsProjection, 'public'), await rebuilt(pool, runsProjection, blobs), 'and so do the runs tables');
};

interface ProjectionReport {
  readonly name: string;
  readonly lag_events: number;
}

const PROJECTIONS = [contentsIndex, runsProjection].map((p) => p.name);

/** The projections' lag (events, summed) as a process reports it in /readyz?verbose (undefined when it cannot say). */
const reportedLag = async (baseUrl: string): Promise<number | undefined> => {
  const reply = await fetch(`${baseUrl}/readyz?verbose`);
  const body = (await reply.json()) as { projections?: ProjectionReport[] | 'unavailable' };
  if (!Array.isArray(body.projections)) return undefined;
  const lags = PROJECTIONS.map((name) => (body.projections as ProjectionReport[]).find((p) => p.name === name)?.lag_events);
  return lags.some((lag) => lag === undefined) ? undefined : lags.reduce((sum: number, lag) => sum + (lag ?? 0), 0);
};

/**
 * Waits until the contents and runs checkpoints are at or after every event (so nothing is left to
 * apply) and every process's /readyz?verbose reports a lag of zero.
 */
const settle = (pool: pg.Pool, procs: readonly Proc[], what: string, ms = 30_000) =>
  waitFor(
    what,
    async () => {
      try {
        const { rows } = await pool.query<{ done: boolean }>(
          `SELECT (SELECT count(*) FROM projection_checkpoints WHERE name = ANY($1)) = cardinality($1::text[])
              AND NOT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
                              WHERE c.name = ANY($1) AND (e.transaction_id, e.global_position) > (c.tx, c.position)) AS done`,
          [PROJECTIONS],
        );
        if (rows[0]?.done !== true) return false;
        const lags = await Promise.all(procs.map((p) => reportedLag(p.url).catch(() => undefined)));
        return lags.every((lag) => lag === 0);
      } catch {
        return false;
      }
    },
    ms,
  );

const getJson = async <T>(url: string): Promise<T> => {
  const reply = await fetch(url, { headers: AUTH });
  if (reply.status !== 200) throw new Error(`GET ${url} answered ${reply.status}: ${await reply.text()}`);
  return (await reply.json()) as T;
};

interface Found {
  readonly state: string;
  readonly version: number;
  readonly address: string;
  readonly id: string | null;
}

const search = async (baseUrl: string, query: string): Promise<Found[]> => (await getJson<{ resources: Found[] }>(`${baseUrl}/resources?${query}`)).resources;

/** The process whose connection holds the contents projection's advisory lock, found through its TCP port. */
const localPortInodes = async (port: number): Promise<Set<string>> => {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const inode = cols[9];
      if (local === undefined || inode === undefined) continue;
      if (parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(inode);
    }
  }
  return inodes;
};

const ownerOfPort = async (procs: readonly Proc[], port: number): Promise<Proc | undefined> => {
  const inodes = await localPortInodes(port);
  for (const proc of procs) {
    if (proc.exit !== undefined) continue;
    // The projections run in a child of the server.
    for (const pid of processTree(proc.server.process.pid ?? 0)) {
      const dir = `/proc/${pid}/fd`;
      for (const fd of await fs.readdir(dir).catch(() => [] as string[])) {
        const link = await fs.readlink(`${dir}/${fd}`).catch(() => '');
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        if (inode !== undefined && inodes.has(inode)) return proc;
      }
    }
  }
  return undefined;
};

/** The backends holding the contents projection's advisory lock in this test's database (one, or none during a takeover). */
const lockHolders = async (pool: pg.Pool): Promise<Array<{ pid: number; port: number }>> =>
  (
    await pool.query<{ pid: number; port: number }>(
      `SELECT a.pid, a.client_port AS port FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'state-ledger projection contents'
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    )
  ).rows;

/** Who runs the contents projection: the processes owning the connections that hold its lock. */
const contentsRunners = async (pool: pg.Pool, procs: readonly Proc[]): Promise<Array<Proc | undefined>> =>
  Promise.all((await lockHolders(pool)).map((r) => ownerOfPort(procs, r.port)));

/** Pushes (no lock) to its own state, round robin over the processes still in `live`, until stopped. */
interface Load {
  stop: boolean;
  live: Proc[];
  readonly acknowledged: string[];
  readonly statuses: Map<string, number>;
}

const newLoad = (live: Proc[]): Load => ({ stop: false, live, acknowledged: [], statuses: new Map() });

const pushLoop = async (load: Load, state: string): Promise<void> => {
  for (let serial = 1; !load.stop; serial++) {
    const target = load.live[serial % load.live.length];
    if (target === undefined) return;
    const reply = await defaultClient(target.url, state, credentials)
      .put(richState(serial, { bucket: `${state}-${serial}` }))
      .catch((error: Error) => ({ status: error.message, body: Buffer.alloc(0) }));
    const key = String(reply.status);
    load.statuses.set(key, (load.statuses.get(key) ?? 0) + 1);
    if (reply.status === 200) {
      load.acknowledged.push(`${state}@${(JSON.parse(reply.body.toString()) as { version: number }).version}`);
      await sleep(20);
    } else await sleep(100);
  }
};

interface SseItem {
  readonly id?: string;
  readonly data?: { position: number; state: string; type: string; data: Record<string, unknown> };
  readonly comment?: string;
}

interface Sse {
  readonly items: SseItem[];
  until(pick: (item: SseItem) => boolean, count: number, ms?: number): Promise<SseItem[]>;
  close(): void;
}

/** GET /events/stream read with fetch and a stream reader, its messages parsed as they arrive. */
const openSse = async (t: Test, url: string): Promise<Sse> => {
  const controller = new AbortController();
  const reply = await fetch(url, { headers: AUTH, signal: controller.signal });
  if (reply.status !== 200 || reply.body === null) throw new Error(`GET ${url} answered ${reply.status}: ${await reply.text()}`);
  t.match(reply.headers.get('content-type'), /^text\/event-stream/, 'the stream is text/event-stream');
  const reader = reply.body.getReader();
  const decoder = new TextDecoder();
  const items: SseItem[] = [];
  const listeners = new Set<() => void>();
  let ended = false;
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  void (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let id: string | undefined;
          let data: SseItem['data'];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) items.push({ comment: line.slice(1).trim() });
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data = JSON.parse(line.slice(6)) as SseItem['data'];
          }
          if (id !== undefined || data !== undefined) items.push({ ...(id === undefined ? {} : { id }), ...(data === undefined ? {} : { data }) });
        }
        notify();
      }
    } catch {
      // aborted
    } finally {
      ended = true;
      notify();
    }
  })();
  const close = () => controller.abort();
  t.teardown(close);
  return {
    items,
    close,
    until: (pick, count, ms = 15_000) =>
      new Promise((found, fail) => {
        const finish = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        const check = () => {
          const picked = items.filter(pick);
          if (picked.length >= count) return finish(() => found(picked.slice(0, count)));
          if (ended) finish(() => fail(new Error(`the stream ended after ${picked.length} of ${count}: ${JSON.stringify(items).slice(-2000)}`)));
        };
        const timer = setTimeout(
          () => finish(() => fail(new Error(`${count} messages did not arrive within ${ms} ms: ${JSON.stringify(items).slice(-2000)}`))),
          ms,
        );
        listeners.add(check);
        check();
      }),
  };
};

/** Where a stream starts: the position of its first `id:` (sent before any event). */
const streamStart = async (sse: Sse): Promise<number> => Number((await sse.until((item) => item.id !== undefined && item.data === undefined, 1))[0]?.id);

t.test('three server processes on one PostgreSQL database and one bucket work as one', async (t) => {
  const db = await freshDatabase(t);
  const { pool } = db;
  pool.on('error', () => undefined);
  await instrument(pool);
  const s3 = freshS3Config();
  const blobs = await s3BlobStore(s3);
  const procs = await startProcesses(t, { DATABASE_URL: db.url, ...s3Environment(s3), AUTH_USERS: `${USER}:${PASSWORD}`, PG_CONNECT_TIMEOUT_SECONDS: '2' }, ['A', 'B', 'C']);
  const [A, B, C] = procs as [Proc, Proc, Proc];
  await waitFor('one process to run the contents projection', async () => (await contentsRunners(pool, procs)).length === 1);

  await t.test('a push through A is in the contents index and the search of B and C once the lag is zero', async (t) => {
    t.equal((await defaultClient(A.url, 'alpha', credentials).put(richState(1, { bucket: 'alpha-logs' }))).status, 200, 'pushed through A');
    await settle(pool, procs, 'the push to be indexed and every lag to be zero');
    for (const proc of [B, C]) {
      t.strictSame(
        await getJson(`${proc.url}/resources?type=aws_s3_bucket&state=alpha`),
        {
          resources: [
            {
              state: 'alpha',
              version: 1,
              address: 'aws_s3_bucket.logs',
              resource_address: 'aws_s3_bucket.logs',
              mode: 'managed',
              type: 'aws_s3_bucket',
              name: 'logs',
              module: '',
              provider: 'provider["registry.terraform.io/hashicorp/aws"]',
              index_key: null,
              id: 'alpha-logs',
            },
          ],
          next: null,
        },
        `${proc.label} finds the bucket by type`,
      );
      t.strictSame(
        (await search(proc.url, 'id=i-0*')).map((r) => [r.state, r.version, r.address, r.id]),
        [
          ['alpha', 1, 'aws_instance.web[0]', 'i-0abc'],
          ['alpha', 1, 'aws_instance.web[1]', 'i-0def'],
        ],
        `${proc.label} finds the instances by id prefix`,
      );
      const { versions } = await getJson<{ versions: Array<{ version: number; instances: number | null }> }>(`${proc.url}/states/alpha/versions`);
      t.strictSame(versions.map((v) => [v.version, v.instances]), [[1, 6]], `${proc.label} lists the version with its instance count`);
    }
  });

  await t.test('GET /events/stream on B and C shows a lock, a push and an unlock written through A', async (t) => {
    const streams = [await openSse(t, `${B.url}/events/stream?heartbeat=1`), await openSse(t, `${C.url}/events/stream?prefix=stream`)];
    const starts = await Promise.all(streams.map(streamStart));
    const client = defaultClient(A.url, 'streamed', credentials);
    t.strictSame(await client.lock(newLockInfo({ ID: 'lock-through-a' })), { locked: true }, 'locked through A');
    t.equal((await client.put(richState(1, { bucket: 'streamed-1' }))).status, 200, 'pushed through A');
    t.equal((await client.unlock()).status, 200, 'unlocked through A');
    const seenOn = await Promise.all(streams.map((sse) => sse.until((item) => item.data?.state === 'streamed', 3)));
    const feed = await getJson<{ events: Array<{ position: number; state: string; type: string }> }>(`${A.url}/events?after=${Math.min(...starts)}&limit=1000`);
    const written = feed.events.filter((e) => e.state === 'streamed').map((e) => [String(e.position), e.type]);
    t.strictSame(written.map(([, type]) => type), ['StateLocked', 'StatePushed', 'StateUnlocked'], 'the global feed holds the three events');
    for (const [i, sse] of streams.entries()) {
      const seen = seenOn[i] ?? [];
      t.strictSame(
        seen.map((item) => [item.id, item.data?.type]),
        written,
        `the stream on ${i === 0 ? 'B' : 'C (prefix)'} shows them, with their positions as ids`,
      );
      const pushed = seen.find((item) => item.data?.type === 'StatePushed');
      t.equal(pushed?.data?.data.version, 1, 'the push is version 1');
      t.ok(Number(seen[0]?.id) > (starts[i] ?? Infinity), 'after where the stream started');
      sse.close();
    }
    await settle(pool, procs, 'the streamed push to be indexed');
  });

  await t.test('an appending transaction left open is not passed; once it commits everything is applied in order', async (t) => {
    // The body of the push the open transaction appends: in the bucket, as an accepted push leaves it.
    const body = richState(1, { bucket: 'late-1' });
    const sha256 = createHash('sha256').update(body).digest('hex');
    const blobKey = blobKeyFor(sha256);
    await blobs.upload(blobKey, { kind: 'memory', bytes: body, size: body.length, sha256 }).commit();

    const late = new pg.Client(db.url);
    late.on('error', () => undefined);
    await late.connect();
    t.teardown(() => late.end());
    await late.query('BEGIN');
    const lateStore = pgStreamStore({ query: (...args: unknown[]) => (late.query as (...a: unknown[]) => unknown)(...args) } as unknown as pg.Pool, stateStreams, {
      inline: [readModelsInline],
    });
    const appended = await handleCommand(lateStore)(
      'late',
      {
        type: 'PushState',
        lockId: null,
        body: { blobKey, sha256, md5: md5Base64(body), size: body.length, serial: 1, lineage: 'c0ffee00-0000-4000-8000-00000000c0de', terraformVersion: '1.9.8', encrypted: false, resourceCount: 5, outputCount: 3 },
      },
      metadata(USER),
    )();
    t.ok(E.isRight(appended), 'the open transaction appended a push');
    const lateTx = BigInt((await late.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx')).rows[0]?.tx ?? '0');

    for (const proc of procs) {
      t.equal((await defaultClient(proc.url, `after-${proc.label}`, credentials).put(richState(1, { bucket: `after-${proc.label}` }))).status, 200, `pushed and committed through ${proc.label}`);
    }
    await sleep(2500); // the notifications of three commits, quick reads, and a backstop poll's worth
    const checkpoint = (await pool.query<{ tx: string }>("SELECT tx::text AS tx FROM projection_checkpoints WHERE name = 'contents'")).rows[0];
    t.ok(checkpoint !== undefined && BigInt(checkpoint.tx) < lateTx, `the checkpoint (transaction ${checkpoint?.tx}) stays before the open transaction (${lateTx})`);
    t.strictSame(
      (await pool.query("SELECT name FROM state_contents WHERE name IN ('late', 'after-A', 'after-B', 'after-C')")).rows,
      [],
      'none of the three committed pushes is applied while an older appending transaction is open',
    );
    t.strictSame(await search(B.url, 'state=after-*'), [], 'nor found by the search');
    // The lag counts final events only: the three committed pushes wait behind the open transaction unannounced.
    t.comment(`meanwhile /readyz?verbose on B reports a lag of ${String(await reportedLag(B.url))} events`);

    await late.query('COMMIT');
    await settle(pool, procs, 'everything to be applied after the commit');
    const log = await appliedLog(pool);
    t.strictSame(
      log.slice(-4).map((r) => r.v),
      ['late@1', 'after-A@1', 'after-B@1', 'after-C@1'],
      'the late push first (its transaction began before theirs), then the three others, in the order they were written',
    );
    for (const proc of [B, C]) {
      t.strictSame(
        (await search(proc.url, 'address=aws_s3_bucket.logs')).filter((r) => r.state === 'late' || r.state.startsWith('after-')).map((r) => [r.state, r.id]),
        [
          ['after-A', 'after-A'],
          ['after-B', 'after-B'],
          ['after-C', 'after-C'],
          ['late', 'late-1'],
        ],
        `${proc.label} finds all four`,
      );
    }
    await exactlyOnceAndLikeARebuild(t, pool, blobs, []);
  });

  await t.test('SIGKILL of the process running the contents projection: another takes over, no event lost or applied twice', async (t) => {
    const load = newLoad([...procs]);
    const loops = ['k1', 'k2', 'k3'].map((state) => pushLoop(load, state));
    try {
      const before = (await appliedLog(pool)).length;
      await waitFor('some pushes of the load to be applied', async () => (await appliedLog(pool)).length >= before + 6, 20_000);
      const runners = await contentsRunners(pool, procs);
      t.equal(runners.length, 1, 'exactly one connection holds the contents lock');
      const victim = runners[0];
      if (victim === undefined) throw new Error('the lock holder is none of the three processes');
      // Killed, if it comes within 5 s, while it is inside a batch's transaction (between its statements).
      const [holder] = await lockHolders(pool);
      let inBatch = false;
      for (const until = Date.now() + 5000; !inBatch && Date.now() < until; ) {
        const { rows } = await pool.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [holder?.pid]);
        inBatch = rows[0]?.state === 'idle in transaction';
      }
      load.live = procs.filter((p) => p !== victim);
      killTree(victim.server.process.pid ?? 0); // with its projections process
      t.comment(`process ${victim.label} runs the contents projection: SIGKILLed ${inBatch ? 'inside a batch transaction' : 'between batches'}`);
      await victim.server.exited;
      const killedAt = Date.now();
      await waitFor(
        'a survivor to take the contents projection over',
        async () => {
          const now = await contentsRunners(pool, procs);
          return now.length === 1 && now[0] !== undefined && now[0] !== victim;
        },
        15_000,
      );
      const [heir] = await contentsRunners(pool, procs);
      t.comment(`process ${heir?.label} took over after ${Date.now() - killedAt} ms`);
      const acknowledgedAtTakeover = load.acknowledged.length;
      const appliedAtTakeover = (await appliedLog(pool)).length;
      await waitFor('pushes after the takeover to be applied', async () => load.acknowledged.length >= acknowledgedAtTakeover + 6 && (await appliedLog(pool)).length >= appliedAtTakeover + 6, 20_000);
    } finally {
      load.stop = true;
      await Promise.all(loops);
    }
    const survivors = procs.filter((p) => p.exit === undefined);
    t.equal(survivors.length, 2, 'the two others still run');
    await settle(pool, survivors, 'the survivors to catch up');
    t.comment(`push answers: ${JSON.stringify([...load.statuses])}`);
    await exactlyOnceAndLikeARebuild(t, pool, blobs, load.acknowledged);
    for (const proc of survivors) {
      const found = await search(proc.url, 'address=aws_s3_bucket.logs&state=k*');
      const { rows } = await pool.query<{ name: string; version: number }>("SELECT name, version FROM state_contents WHERE name LIKE 'k%' ORDER BY name");
      t.strictSame(
        found.map((r) => [r.state, r.version]),
        rows.map((r) => [r.name, r.version]),
        `${proc.label}'s search shows each loaded state's last version`,
      );
      const last = await pool.query<{ name: string; version: number }>(
        "SELECT DISTINCT ON (stream_id) stream_id AS name, (data->>'version')::int AS version FROM events WHERE type = 'StatePushed' AND stream_id LIKE 'k%' ORDER BY stream_id, stream_version DESC",
      );
      t.strictSame(rows, last.rows, 'each state is indexed at its latest pushed version');
    }
  });
});

t.test('PostgreSQL restarted under load: runners and listeners recover by themselves, the index converges to a replay', async (t) => {
  const postgres = await privatePostgres(t);
  await migrate(postgres.url, () => undefined);
  const pool = openPool(postgres.url, CLI_POOL, () => undefined);
  t.teardown(() => pool.end());
  await instrument(pool);
  const s3 = freshS3Config();
  const blobs = await s3BlobStore(s3);
  const procs = await startProcesses(
    t,
    { DATABASE_URL: postgres.url, ...s3Environment(s3), AUTH_USERS: `${USER}:${PASSWORD}`, PG_CONNECT_TIMEOUT_SECONDS: '2' },
    ['A', 'B', 'C'],
  );
  await waitFor('one process to run the contents projection', async () => (await contentsRunners(pool, procs)).length === 1);

  const load = newLoad([...procs]);
  const loops = ['r1', 'r2', 'r3'].map((state) => pushLoop(load, state));
  try {
    await waitFor('some pushes of the load to be applied', async () => (await appliedLog(pool)).length >= 6, 20_000);
    await postgres.restart('immediate');
    const back = load.acknowledged.length;
    await waitFor('pushes to succeed again after the restart', () => load.acknowledged.length >= back + 9, 30_000);
  } finally {
    load.stop = true;
    await Promise.all(loops);
  }
  t.comment(`push answers: ${JSON.stringify([...load.statuses])}`);
  t.strictSame(
    procs.map((p) => [p.label, p.exit]),
    procs.map((p) => [p.label, undefined]),
    'no process exited',
  );
  await settle(pool, procs, 'the projection to catch up after the restart', 45_000);
  await exactlyOnceAndLikeARebuild(t, pool, blobs, load.acknowledged);

  // The listener is back: a push wakes the runner at once, not at its 5 s backstop poll.
  const delays: number[] = [];
  for (const [i, proc] of procs.entries()) {
    for (const round of [1, 2]) {
      await sleep(300);
      const state = `after-restart-${round}`;
      const serial = i * 2 + round;
      const reply = await defaultClient(proc.url, state, credentials).put(richState(serial, { bucket: `${state}-${serial}` }));
      const pushedAt = Date.now();
      t.equal(reply.status, 200, `pushed through ${proc.label}`);
      const { version } = JSON.parse(reply.body.toString()) as { version: number };
      await waitFor(`${state}@${version} to be applied`, async () => (await appliedLog(pool)).some((r) => r.v === `${state}@${version}`), 10_000);
      delays.push(Date.now() - pushedAt);
    }
  }
  t.comment(`applied ${delays.join(', ')} ms after each push`);
  t.ok(
    delays.every((ms) => ms < 2000),
    `every push after the restart is applied within 2 s (the runner's backstop poll is 5 s, so NOTIFY wakes it again): ${delays.join(', ')} ms`,
  );

  // And every process's live stream follows the ledger again.
  const streams = await Promise.all(procs.map((p) => openSse(t, `${p.url}/events/stream?state=streamed-after-restart`)));
  await Promise.all(streams.map(streamStart));
  t.equal((await defaultClient(procs[0]?.url ?? '', 'streamed-after-restart', credentials).put(richState(1))).status, 200);
  for (const [i, sse] of streams.entries()) {
    const [seen] = await sse.until((item) => item.data !== undefined, 1, 10_000);
    t.equal(seen?.data?.type, 'StatePushed', `the stream on ${procs[i]?.label} shows the push after the restart`);
    sse.close();
  }
  await settle(pool, procs, 'the last pushes to be indexed');
  await exactlyOnceAndLikeARebuild(t, pool, blobs, load.acknowledged);
});
