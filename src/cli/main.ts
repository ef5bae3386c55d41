#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { rollbackState } from '../application/rollback-state.js';
import { loadConfig, type Config } from '../config.js';
import { errorResponse } from '../http/errors.js';
import { createLogger, type Logger } from '../logger.js';
import { replay, type ReplayMode } from '../projections/replay.js';
import { openDatabase, openRuntime } from '../runtime.js';
import { Refused } from '../refused.js';
import { registerAccessCommands } from './access-commands.js';
import { progress } from './progress.js';
import { serve } from './serve.js';
import { verifyCommand } from './verify-command.js';

const configOrExit = (): Config => {
  const config = loadConfig(process.env);
  if (E.isRight(config)) return config.right;
  for (const line of config.left) process.stderr.write(`state-ledger: invalid configuration: ${line}\n`);
  process.exit(2);
};

/** Runs a command with the configuration and a logger; a failure prints one line and exits 1. */
const action =
  <A extends unknown[]>(run: (config: Config, logger: Logger, ...args: A) => Promise<void>) =>
  async (...args: A): Promise<void> => {
    const config = configOrExit();
    const logger = createLogger(config.logLevel);
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

const program = new Command('state-ledger')
  .description('Event-sourced Terraform/OpenTofu http state backend.\nConfiguration comes from environment variables (see README).')
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

registerAccessCommands(program, action);

await program.parseAsync(process.argv);
