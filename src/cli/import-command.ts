import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { replay } from '../projections/replay.js';
import { Refused } from '../refused.js';
import { openRuntime } from '../runtime.js';
import { importLedger } from '../storage/archive/import-ledger.js';
import { progress } from './progress.js';

/**
 * `state-ledger import FILE`: loads an archive of `export` into the configured ledger (a whole one
 * into an empty ledger, an increment onto the ledger it continues), then rebuilds the read models
 * from the events. `-` reads stdin.
 */
export const importCommand = async (config: Config, logger: Logger, file: string): Promise<void> => {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (file !== '-') {
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat === undefined || !stat.isFile()) throw new Refused(`${file} is not a file`);
  } else if (process.stdin.isTTY) {
    throw new Refused('give an archive on stdin (import - < FILE) or a FILE');
  }
  const runtime = await openRuntime(config, logger, 'import');
  try {
    const bar = progress('importing', logger);
    const source = file === '-' ? process.stdin : createReadStream(file);
    const report = await importLedger(runtime.pool, runtime.blobs, source, {
      tmpDir: runtime.ledger.limits.tmpDir,
      onProgress: (done, total) => bar.update(done, total),
    }).finally(() => bar.stop());
    const { manifest } = report;
    const range = report.events === 0 ? 'no events' : `${report.events} events (positions ${manifest.since + 1} to ${manifest.last_position})`;
    out(`imported ${range} and ${report.blobs} bodies${manifest.since > 0 ? ` onto position ${manifest.since}` : ''}`);
    if (report.absent > 0) out(`${report.absent} bodies were absent from the exporting ledger and are absent here too`);
    const rebuild = progress('rebuilding read models', logger);
    try {
      const replayed = await replay(runtime.pool, { kind: 'swap' }, ({ events, total }) => rebuild.update(events, total));
      rebuild.stop();
      out(`rebuilt the read models from ${replayed.events} events; the ledger ends at position ${manifest.last_position}`);
    } catch (error) {
      throw new Error(`the events are imported, but rebuilding the read models failed (${(error as Error).message}): run \`state-ledger replay\``, { cause: error });
    } finally {
      rebuild.stop();
    }
  } finally {
    await runtime.close();
  }
};
