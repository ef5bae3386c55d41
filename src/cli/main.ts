#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { pino } from 'pino';
import { rollbackState } from '../application/rollback-state.js';
import { loadConfig, type Config } from '../config.js';
import { errorResponse } from '../http/errors.js';
import { createLogger, type Logger } from '../logger.js';
import { replay, type ReplayMode } from '../projections/replay.js';
import { openDatabase, openRuntime, type Runtime } from '../runtime.js';
import { exclusively, type RetentionJob } from '../retention/exclusive.js';
import { collectGarbage } from '../retention/gc.js';
import { pruneLedger } from '../retention/prune.js';
import { gcJson, gcText, pruneJson, pruneText } from '../retention/report.js';
import { Refused } from '../refused.js';
import { registerAccessCommands } from './access-commands.js';
import { exportCommand } from './export-command.js';
import { importCommand } from './import-command.js';
import { progress } from './progress.js';
import { serve } from './serve.js';
import { verifyCommand } from './verify-command.js';

const configOrExit = (): Config => {
  const config = loadConfig(process.env);
  if (E.isRight(config)) return config.right;
  for (const line of config.left) process.stderr.write(`state-ledger: invalid configuration: ${line}\n`);
  process.exit(2);
};

/** The package's version, read from package.json at run time (two levels above src/cli and dist/cli). */
const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Runs a command with the configuration and a logger; a failure prints one line and exits 1. A
 * command whose stdout may carry data (export -) logs to stderr instead.
 */
const action =
  <A extends unknown[]>(run: (config: Config, logger: Logger, ...args: A) => Promise<void>, logTo: 'stdout' | 'stderr' = 'stdout') =>
  async (...args: A): Promise<void> => {
    const config = configOrExit();
    const logger = logTo === 'stdout' ? createLogger(config.logLevel) : pino({ level: config.logLevel, base: { service: 'state-ledger' } }, pino.destination(2));
    try {
      await run(config, logger, ...args);
    } catch (error) {
      if (!(error instanceof Refused)) logger.error({ err: error }, 'failed');
      process.stderr.write(`state-ledger: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  };

const positiveInteger = (value: string): number => {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a version number (1, 2, 3, ...)');
  return Number(value);
};

const instant = (value: string): Date => {
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError('expected an RFC 3339 time such as 2026-11-25T08:00:00Z');
  }
  return date;
};

const position = (value: string): number => {
  if (!/^(0|[1-9]\d*)$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a global position (0, 1, 2, ...)');
  return Number(value);
};

const program = new Command('state-ledger')
  .description('Event-sourced Terraform/OpenTofu http state backend.\nConfiguration comes from environment variables (see README).')
  .version(packageVersion(), '-V, --version', 'print the version and exit')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the HTTP server (applies pending migrations first)')
  .action(action((config, logger) => serve(config, logger)));

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(
    action(async (config, logger) => {
      const database = await openDatabase(config, logger, 'migrate');
      await database.close();
      process.stdout.write('migrations are up to date\n');
    }),
  );

program
  .command('replay')
  .description('rebuild every read model from the events, aside, then swap it in while the server keeps serving')
  .addOption(new Option('--verify', 'rebuild aside and report any difference from the live read models (exit 1 if any)').conflicts('until'))
  .addOption(new Option('--until <time>', 'rebuild aside as of an RFC 3339 time and keep it for inspection').argParser(instant))
  .action(
    action(async (config, logger, options: { verify?: boolean; until?: Date }) => {
      const database = await openDatabase(config, logger, 'replay');
      const bar = progress('replaying', logger);
      try {
        const mode: ReplayMode =
          options.until !== undefined ? { kind: 'until', until: options.until } : options.verify === true ? { kind: 'verify' } : { kind: 'swap' };
        const started = Date.now();
        const report = await replay(database.pool, mode, ({ events, total }) => bar.update(events, total));
        bar.stop();
        const seconds = (Date.now() - started) / 1000;
        const rate = seconds > 0 ? Math.round(report.events / seconds) : report.events;
        process.stdout.write(`replayed ${report.events} events in ${seconds.toFixed(2)} s (${rate} events/s)\n`);
        if (mode.kind === 'until') process.stdout.write(`read models as of ${mode.until.toISOString()} are in schema ${report.schema}\n`);
        for (const difference of report.differences) {
          process.stdout.write(
            `${difference.table}: ${difference.onlyLive} rows only live, ${difference.onlyRebuilt} only rebuilt; e.g. ${JSON.stringify(difference.samples[0])}\n`,
          );
        }
        if (mode.kind === 'verify') {
          process.stdout.write(report.differences.length === 0 ? 'the live read models match the events\n' : 'the live read models differ from the events\n');
          if (report.differences.length > 0) process.exitCode = 1;
        }
      } finally {
        bar.stop();
        await database.close();
      }
    }),
  );

program
  .command('verify')
  .description('recompute every event hash chain, re-hash every stored body, compare with the newest signed checkpoint, then write a fresh one; exit 1 naming the first problem')
  .action(action((config, logger) => verifyCommand(config, logger)));

program
  .command('rollback')
  .description('restore version VERSION of state NAME as a new version (history is never rewritten)')
  .argument('<name>', 'state name')
  .argument('<version>', 'the version to restore', positiveInteger)
  .requiredOption('--reason <text>', 'why, recorded in the ledger')
  .option('--force', 'restore even if the version belongs to another lineage')
  .option('--lock-id <id>', 'the lock ID to write under, when the state is locked by you')
  .action(
    action(async (config, logger, name: string, version: number, options: { reason: string; force?: boolean; lockId?: string }) => {
      const runtime = await openRuntime(config, logger, 'rollback');
      try {
        const outcome = await rollbackState(runtime.ledger)(
          name,
          { version, reason: options.reason, force: options.force ?? false, lockId: options.lockId ?? null },
          { actor: `cli:${os.userInfo().username}`, remoteAddress: null, userAgent: 'state-ledger-cli', requestId: randomUUID(), now: new Date() },
        );
        if (E.isLeft(outcome)) {
          const { body } = errorResponse(outcome.left);
          const message = (body as { message?: string }).message ?? `the state is locked: ${JSON.stringify(body)}`;
          throw new Error(`rollback refused: ${message}`);
        }
        const { version: created, restored, serial } = outcome.right;
        process.stdout.write(`restored version ${restored} of ${name} as version ${created} (serial ${serial})\n`);
      } finally {
        await runtime.close();
      }
    }),
  );

program
  .command('export')
  .description('write the whole ledger (events, and every body they refer to) to FILE as one archive; `-` writes to stdout')
  .argument('<file>', 'the archive to write (a new file), or - for stdout')
  .option('--since <position>', 'only the events after this global position (the last_position of the previous archive) and the bodies they refer to', position)
  .option('--allow-missing', 'write the archive even if bodies are missing from the blob store (listed in it as missing)')
  .action(
    action(
      (config, logger, file: string, options: { since?: number; allowMissing?: boolean }) => exportCommand(config, logger, file, options, `state-ledger ${packageVersion()}`),
      'stderr',
    ),
  );

program
  .command('import')
  .description('load an archive of `export` into this ledger (a whole ledger into an empty one, an increment onto the ledger it continues), then rebuild the read models; `-` reads stdin')
  .argument('<file>', 'the archive to read, or - for stdin')
  .action(action((config, logger, file: string) => importCommand(config, logger, file)));

const cliMetadata = () => ({ actor: `cli:${os.userInfo().username}`, remoteAddress: null, userAgent: 'state-ledger-cli', requestId: randomUUID(), now: new Date() });

/** Runs a retention job under its cross-process lock; another process running it is a refusal, not a wait. */
const retentionJob = async <A>(config: Config, logger: Logger, job: RetentionJob, work: (runtime: Runtime) => Promise<A>, print: (report: A) => string) => {
  const runtime = await openRuntime(config, logger, job);
  try {
    const report = await exclusively(runtime.pool, job, () => work(runtime));
    if (report === undefined) throw new Refused(`another process is running ${job} right now (a server on its schedule, or another command); try again later`);
    process.stdout.write(print(report));
  } finally {
    await runtime.close();
  }
};

/** A retention job as a command: `--dry-run` only reports, `--json` prints the report as JSON. */
const retentionCommand = <R>(
  job: 'prune' | 'gc',
  description: string,
  run: (config: Config, runtime: Runtime, dryRun: boolean) => Promise<R>,
  report: { readonly json: (report: R) => unknown; readonly text: (report: R) => string },
) =>
  program
    .command(job)
    .description(description)
    .option('--dry-run', `only print what would be ${job === 'prune' ? 'pruned and deleted' : 'deleted'}, and the bytes saved`)
    .option('--json', 'print the report as JSON')
    .action(
      action((config, logger, options: { dryRun?: boolean; json?: boolean }) =>
        retentionJob(
          config,
          logger,
          job,
          (runtime) => run(config, runtime, options.dryRun === true),
          (result) => (options.json === true ? `${JSON.stringify(report.json(result))}\n` : report.text(result)),
        ),
      ),
    );

retentionCommand(
  'prune',
  'apply RETENTION: record every version no rule keeps as pruned (its metadata stays), then delete the bodies no kept version refers to',
  (config, runtime, dryRun) =>
    pruneLedger({ pool: runtime.pool, store: runtime.ledger.store, blobs: runtime.blobs }, config.retention.policy, { now: new Date(), dryRun, metadata: cliMetadata() }),
  { json: pruneJson, text: pruneText },
);

retentionCommand(
  'gc',
  'delete the bodies no kept version refers to (left by failed or refused pushes, or by pruning) once older than GC_GRACE',
  (config, runtime, dryRun) => collectGarbage({ pool: runtime.pool, blobs: runtime.blobs }, { now: new Date(), graceSeconds: config.retention.gcGraceSeconds, dryRun }),
  { json: gcJson, text: gcText },
);

registerAccessCommands(program, action);

await program.parseAsync(process.argv);
