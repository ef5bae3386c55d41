#!/usr/bin/env node
import { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { replay } from '../projections/replay.js';
import { openDatabase } from '../runtime.js';
import { serve } from './serve.js';

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
      logger.error({ err: error }, 'failed');
      process.stderr.write(`state-ledger: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
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
      const database = await openDatabase(config, logger, 'borrow');
      await database.close();
      process.stdout.write('migrations are up to date\n');
    }),
  );

program
  .command('replay')
  .description('rebuild every read model from the events')
  .action(
    action(async (config, logger) => {
      const database = await openDatabase(config, logger, 'borrow');
      try {
        const started = Date.now();
        const { events } = await replay(database.pool, ({ events: n, total }) =>
          logger.info({ events: n, total }, 'replaying'),
        );
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(`replayed ${events} events in ${seconds.toFixed(2)} s\n`);
      } finally {
        await database.close();
      }
    }),
  );

await program.parseAsync(process.argv);
