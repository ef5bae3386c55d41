import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { Refused } from '../refused.js';
import { openRuntime } from '../runtime.js';
import { exportLedger } from '../storage/archive/export-ledger.js';
import { prunedBodies } from '../storage/archive/known-absent.js';
import { progress } from './progress.js';

export interface ExportCommandOptions {
  readonly since?: number;
  readonly allowMissing?: boolean;
}

/** Flushes the archive to disk before it takes its name: a backup must survive a power cut. */
const syncFile = async (file: string): Promise<void> => {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/**
 * `state-ledger export FILE`: the whole ledger (or, with --since, the events after a position and
 * the bodies they refer to) as one archive. A file is written beside its name and renamed into
 * place once complete, so FILE is never a partial archive; `-` writes to stdout (messages then go
 * to stderr).
 */
export const exportCommand = async (config: Config, logger: Logger, file: string, options: ExportCommandOptions, writtenBy: string): Promise<void> => {
  const toStdout = file === '-';
  if (toStdout && process.stdout.isTTY) throw new Refused('an archive is binary: redirect stdout (export - > FILE) or give a FILE');
  const say = (line: string) => (toStdout ? process.stderr : process.stdout).write(`${line}\n`);
  if (!toStdout && (await fs.stat(file).then(() => true, () => false))) throw new Refused(`${file} exists: give a new file name`);
  const runtime = await openRuntime(config, logger, 'export');
  const bar = progress('exporting', logger);
  const partial = toStdout ? undefined : `${file}.${randomUUID().slice(0, 8)}.partial`;
  try {
    const sink: Writable = partial === undefined ? process.stdout : createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    const report = await exportLedger(runtime.pool, runtime.blobs, sink, {
      since: options.since ?? 0,
      allowMissing: options.allowMissing ?? false,
      knownAbsent: prunedBodies,
      writtenBy,
      now: new Date(),
      onProgress: (done, total) => bar.update(done, total),
    });
    if (partial !== undefined) {
      await syncFile(partial);
      await fs.link(partial, file).catch((error: NodeJS.ErrnoException) =>
        Promise.reject(error.code === 'EEXIST' ? new Refused(`${file} appeared while exporting: the archive is left at ${partial}`) : error),
      );
      await fs.rm(partial);
    }
    bar.stop();
    const { manifest, missing, pruned } = report;
    const range = manifest.events === 0 ? 'no events' : `${manifest.events} events (positions ${manifest.since + 1} to ${manifest.last_position})`;
    say(`exported ${range} and ${manifest.blobs - missing - pruned} bodies${manifest.since > 0 ? ` after position ${manifest.since}` : ''} to ${toStdout ? 'stdout' : file}`);
    if (missing > 0) say(`${missing} missing bodies are listed in the archive as missing: \`state-ledger verify\` will report them after an import too`);
    if (pruned > 0) say(`${pruned} pruned bodies are listed in the archive as pruned`);
    say(`the next increment: state-ledger export --since ${manifest.last_position} FILE`);
  } catch (error) {
    if (partial !== undefined) await fs.rm(partial, { force: true });
    throw error;
  } finally {
    bar.stop();
    await runtime.close();
  }
};
