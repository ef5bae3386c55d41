import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import { exclusively, type RetentionJob } from './exclusive.js';
import { collectGarbage } from './gc.js';
import type { Retention } from './policy.js';
import { pruneLedger, type PruneDeps } from './prune.js';

export interface RetentionSchedule {
  /** Stops scheduling and resolves once a run in progress has ended. */
  stop(): Promise<void>;
}

export interface ScheduleSettings {
  readonly retention: Retention;
  /** RETENTION_INTERVAL and GC_INTERVAL in milliseconds; 0: that job never runs here. */
  readonly pruneIntervalMs: number;
  readonly gcIntervalMs: number;
  readonly graceSeconds: number;
  readonly logger: Logger;
}

/**
 * Runs prune and gc every so often in the server. Only one process at a time runs each (an
 * advisory try-lock: the others skip that turn). A failure (PostgreSQL or S3 down, say) is
 * logged and the job runs again at its next turn: it never takes the server down.
 */
export const startRetentionSchedule = (deps: PruneDeps, settings: ScheduleSettings): RetentionSchedule => {
  const { logger } = settings;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  const jobs: Record<RetentionJob, () => Promise<Record<string, unknown>>> = {
    prune: async () => {
      const report = await pruneLedger(deps, settings.retention, {
        now: new Date(),
        dryRun: false,
        metadata: { actor: 'system', remoteAddress: null, userAgent: 'state-ledger-retention', requestId: randomUUID(), now: new Date() },
      });
      return { versions: report.versions.length, blobs: report.blobs.filter((b) => b.outcome === 'deleted').length, bytesSaved: report.bytesSaved };
    },
    gc: async () => {
      const report = await collectGarbage(deps, { now: new Date(), graceSeconds: settings.graceSeconds, dryRun: false });
      return { examined: report.examined, blobs: report.removed.length, bytesSaved: report.bytesSaved };
    },
  };

  const schedule = (job: RetentionJob, intervalMs: number) => {
    if (stopped || intervalMs <= 0) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const turn = (async () => {
        try {
          const outcome = await exclusively(deps.pool, job, jobs[job]);
          if (outcome === undefined) logger.debug({ job }, 'retention job skipped: another process is running it');
          else logger.info({ job, ...outcome }, `retention ${job} done`);
        } catch (error) {
          logger.error({ job, err: error }, `retention ${job} failed; it runs again at its next turn`);
        }
      })();
      running.add(turn);
      void turn.finally(() => {
        running.delete(turn);
        schedule(job, intervalMs);
      });
    }, intervalMs);
    timer.unref();
    timers.add(timer);
  };

  schedule('prune', settings.pruneIntervalMs);
  schedule('gc', settings.gcIntervalMs);
  return {
    stop: async () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all([...running]);
    },
  };
};
