import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandObserver, CommandReport } from '../commands/handler.js';
import type { BlobObserver } from '../storage/blobs/observed-blob-store.js';
import type { SqlExecutor } from '../storage/sql.js';

/** One finished HTTP request, as the metrics see it: labels from small fixed sets only. */
export interface RequestSample {
  /** The express route pattern (`/states/:name`), or UNMATCHED. Never the raw URL. */
  readonly route: string;
  readonly method: string;
  readonly status: number;
  readonly seconds: number;
  /** Body bytes received and sent. */
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** The route label of a request no route answered (refused before routing, or no such route). */
export const UNMATCHED = '(unmatched)';

/** The connection counts of a pg.Pool, read without I/O. */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options?: { readonly max?: number | undefined };
}

export type RunKind = 'replay' | 'verify' | 'checkpoint';
export type RunOutcome = 'ok' | 'mismatch' | 'failed';

export interface LedgerMetrics {
  /** What `render` answers: Prometheus text format 0.0.4. */
  readonly contentType: string;
  /** The handler's observer port (LedgerDeps.commandObserver: src/commands/handler.ts). */
  readonly commands: CommandObserver;
  /** For observedBlobStore. */
  readonly blobs: BlobObserver;
  request(sample: RequestSample): void;
  /** A replay or verification run of this process. */
  run(kind: RunKind, outcome: RunOutcome): void;
  /** The projections process ended unasked (it is started again). */
  projectionProcessEnded(): void;
  /**
   * Every metric as text. A source that fails (PostgreSQL down or slow for the lock gauges) leaves
   * its metrics out of this answer and counts in state_ledger_metrics_collect_errors_total; the
   * rest is answered.
   */
  render(): Promise<string>;
}

export interface MetricsSources {
  /** Where the current locks are read (the state_locks read model). */
  readonly db?: SqlExecutor;
  readonly pool?: PoolCounts;
  /** process_* and nodejs_* metrics (event-loop lag, heap, GC, handles): off in tests that make many. */
  readonly processMetrics?: boolean;
  /** A read of a source that takes longer is given up for this scrape. */
  readonly sourceTimeoutMs?: number;
  readonly onSourceError?: (source: string, error: unknown) => void;
  /** Each asynchronous projection's lag (src/projections/async/checkpoints.ts: projectionLag), read at scrape time. */
  readonly projectionLag?: () => Promise<ReadonlyArray<{ readonly name: string; readonly events: number; readonly seconds: number }>>;
  /** Event streams (GET /events/stream) open in this process. */
  readonly openStreams?: () => number;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'LOCK', 'UNLOCK']);

/** Routes whose 200 answers carry a state body. */
const PUSH_ROUTE = '/states/:name';
const BODY_ROUTES = new Set(['/states/:name', '/states/:name/versions/:version']);

/** The outcome label: a small fixed set whatever the error type. */
export const outcomeLabel = (report: CommandReport): string => {
  const { outcome } = report;
  if (outcome.kind !== 'refused') return outcome.kind;
  const type = typeof outcome.error === 'object' && outcome.error !== null ? (outcome.error as { type?: unknown }).type : undefined;
  switch (type) {
    case 'LockHeld':
      return 'lock_held';
    case 'LockMismatch':
      return 'lock_mismatch';
    case 'LockLost':
      return 'lock_lost';
    case 'ConcurrencyConflict':
    case 'RollbackStale':
      return 'conflict';
    default:
      return 'refused';
  }
};

const withTimeout = <A>(work: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
};

/**
 * The ledger's metrics, each process (and each test app) with registries of its own, never
 * prom-client's global one. Names follow `state_ledger_<noun>_<unit>`.
 */
export const createMetrics = (sources: MetricsSources = {}): LedgerMetrics => {
  const registry = new Registry();
  /** Metrics read from PostgreSQL: apart, so that their failure leaves the others answered. */
  const database = new Registry();
  const timeoutMs = sources.sourceTimeoutMs ?? 2000;
  const registers = [registry];

  const requests = new Counter({
    name: 'state_ledger_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'state_ledger_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer finishing, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const pushed = new Counter({
    name: 'state_ledger_pushed_bytes_total',
    help: 'State body bytes received by successful pushes (POST or PUT /states/:name answered 200).',
    registers,
  });
  const served = new Counter({
    name: 'state_ledger_served_bytes_total',
    help: 'State body bytes sent by successful reads of a state or one of its versions.',
    labelNames: ['route'] as const,
    registers,
  });
  const commands = new Counter({
    name: 'state_ledger_commands_total',
    help: 'Commands handled, by type and outcome (accepted, unchanged, lock_held, lock_mismatch, lock_lost, conflict, refused, failed).',
    labelNames: ['command', 'outcome'] as const,
    registers,
  });
  const conflicts = new Counter({
    name: 'state_ledger_version_conflicts_total',
    help: 'Appends that found the stream moved by another writer (optimistic concurrency conflicts).',
    labelNames: ['command'] as const,
    registers,
  });
  const retries = new Counter({
    name: 'state_ledger_command_retries_total',
    help: 'Decisions taken again: after a version conflict, or because the cached stream was behind.',
    labelNames: ['command', 'reason'] as const,
    registers,
  });
  const blobSeconds = new Histogram({
    name: 'state_ledger_blob_operation_duration_seconds',
    help: 'Blob store operations by kind (an upload until committed, a get until its first byte).',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const blobErrors = new Counter({
    name: 'state_ledger_blob_operation_errors_total',
    help: 'Blob store operations that failed, by kind.',
    labelNames: ['operation'] as const,
    registers,
  });
  const runs = new Counter({
    name: 'state_ledger_runs_total',
    help: 'Replay, verification and checkpoint runs of this process (a checkpoint run checks the ledger against the last checkpoint), by kind and outcome (ok, mismatch, failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const projectionProcessExits = new Counter({
    name: 'state_ledger_projection_process_exits_total',
    help: 'Times the asynchronous projections process of this server ended unasked (killed, out of memory, a failure) and was started again.',
    registers,
  });
  const collectErrors = new Counter({
    name: 'state_ledger_metrics_collect_errors_total',
    help: 'Scrapes that left out the metrics of a failing source (postgres: the lock gauges).',
    labelNames: ['source'] as const,
    registers,
  });

  const pool = sources.pool;
  if (pool !== undefined) {
    const gauge = (name: string, help: string, read: (p: PoolCounts) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(pool));
        },
      });
    gauge('state_ledger_pg_pool_connections', 'PostgreSQL connections open in the pool.', (p) => p.totalCount);
    gauge('state_ledger_pg_pool_idle_connections', 'PostgreSQL connections open and idle in the pool.', (p) => p.idleCount);
    gauge('state_ledger_pg_pool_waiting_clients', 'Queries waiting for a PostgreSQL connection (the pool is exhausted while above 0).', (p) => p.waitingCount);
    gauge('state_ledger_pg_pool_max_connections', 'The most connections the pool opens (PG_POOL_MAX).', (p) => p.options?.max ?? 0);
  }

  const db = sources.db;
  if (db !== undefined) {
    /**
     * One read for both gauges, shared by every scrape until the query itself settles: a scrape
     * gives up waiting after timeoutMs, but a hung database never holds more than this one
     * connection for the metrics, however many scrapes arrive meanwhile.
     */
    let reading: Promise<{ held: number; oldest: number }> | undefined;
    const readLocks = () => {
      reading ??= db
        .query<{ held: number; oldest: number | null }>(
          'SELECT count(*)::int AS held, COALESCE(EXTRACT(EPOCH FROM (now() - min(acquired_at))), 0)::float8 AS oldest FROM state_locks',
        )
        .then(({ rows }) => ({ held: rows[0]?.held ?? 0, oldest: Math.max(0, rows[0]?.oldest ?? 0) }))
        .finally(() => {
          reading = undefined;
        });
      return withTimeout(reading, timeoutMs, 'the lock query');
    };
    new Gauge({
      name: 'state_ledger_locks_held',
      help: 'State locks held now.',
      registers: [database],
      async collect() {
        this.set((await readLocks()).held);
      },
    });
    new Gauge({
      name: 'state_ledger_oldest_lock_age_seconds',
      help: 'How long the oldest lock held now has been held (0 with none).',
      registers: [database],
      async collect() {
        this.set((await readLocks()).oldest);
      },
    });
  }

  const openStreams = sources.openStreams;
  if (openStreams !== undefined) {
    new Gauge({
      name: 'state_ledger_event_streams_open',
      help: 'Event streams (GET /events/stream) open in this process.',
      registers,
      collect() {
        this.set(openStreams());
      },
    });
  }

  const lagOf = sources.projectionLag;
  if (lagOf !== undefined) {
    /** One read for both gauges per scrape, as for the locks. */
    let reading: ReturnType<typeof lagOf> | undefined;
    const readLag = () => {
      reading ??= lagOf().finally(() => {
        reading = undefined;
      });
      return withTimeout(reading, timeoutMs, 'the projection lag query');
    };
    new Gauge({
      name: 'state_ledger_projection_lag_events',
      help: 'Final events of the ledger an asynchronous projection has not applied yet (counted up to 100000), by projection.',
      labelNames: ['projection'] as const,
      registers: [database],
      async collect() {
        this.reset();
        for (const lag of await readLag()) this.set({ projection: lag.name }, lag.events);
      },
    });
    new Gauge({
      name: 'state_ledger_projection_lag_seconds',
      help: 'How long the oldest final event an asynchronous projection has not applied yet has waited (0 when caught up), by projection.',
      labelNames: ['projection'] as const,
      registers: [database],
      async collect() {
        this.reset();
        for (const lag of await readLag()) this.set({ projection: lag.name }, lag.seconds);
      },
    });
  }

  if (sources.processMetrics === true) collectDefaultMetrics({ register: registry });

  return {
    contentType: registry.contentType,
    commands: {
      onOutcome: (report) => {
        const command = report.command;
        commands.inc({ command, outcome: outcomeLabel(report) });
        if (report.versionConflicts > 0) {
          conflicts.inc({ command }, report.versionConflicts);
          // The last conflict of a command that gave up was not retried.
          const gaveUp = report.outcome.kind === 'refused' && (report.outcome.error as { type?: unknown } | null)?.type === 'ConcurrencyConflict';
          const retried = report.versionConflicts - (gaveUp ? 1 : 0);
          if (retried > 0) retries.inc({ command, reason: 'version_conflict' }, retried);
        }
        if (report.staleReloads > 0) retries.inc({ command, reason: 'stale_cache' }, report.staleReloads);
      },
    },
    blobs: (operation, seconds, failed) => {
      blobSeconds.observe({ operation, outcome: failed ? 'error' : 'ok' }, seconds);
      if (failed) blobErrors.inc({ operation });
    },
    request: ({ route, method, status, seconds, bytesIn, bytesOut }) => {
      const m = HTTP_METHODS.has(method) ? method : 'OTHER';
      requests.inc({ route, method: m, status: String(status) });
      duration.observe({ route, method: m }, seconds);
      if (status !== 200) return;
      if (route === PUSH_ROUTE && (m === 'POST' || m === 'PUT')) pushed.inc(bytesIn);
      if (BODY_ROUTES.has(route) && m === 'GET') served.inc({ route }, bytesOut);
    },
    run: (kind, outcome) => runs.inc({ kind, outcome }),
    projectionProcessEnded: () => projectionProcessExits.inc(),
    render: async () => {
      let fromDatabase = '';
      if (db !== undefined || lagOf !== undefined) {
        try {
          fromDatabase = await database.metrics();
        } catch (error) {
          collectErrors.inc({ source: 'postgres' });
          sources.onSourceError?.('postgres', error);
        }
      }
      const main = await registry.metrics();
      return fromDatabase === '' ? main : `${main.trimEnd()}\n${fromDatabase}`;
    },
  };
};
