import * as E from 'fp-ts/lib/Either.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { openRuntime } from '../runtime.js';
import { sealLedger } from '../storage/verify/checkpoints.js';
import { loadSigningKey } from '../storage/verify/signing-key.js';
import { describeProblem, verifyLedger, type CheckpointCheck } from '../storage/verify/verify-ledger.js';
import { progress } from './progress.js';

const comparedLine = (check: CheckpointCheck): string | undefined => {
  switch (check.kind) {
    case 'skipped':
      return undefined;
    case 'none yet':
      return 'no checkpoint yet: nothing to compare with';
    case 'none trusted':
      return `none of the newest of ${check.count} checkpoints was signed by this key: nothing to compare with`;
    case 'compared': {
      const { name, created_at, streams, global_position } = check.checkpoint;
      return `compared with checkpoint ${name} of ${created_at} (${streams.length} streams, up to position ${global_position})`;
    }
  }
};

/**
 * `state-ledger verify`: checks the ledger against itself and the newest checkpoint that existed
 * before it started, then, if everything holds, writes a fresh checkpoint. Exit 1 on any problem.
 */
export const verifyCommand = async (config: Config, logger: Logger): Promise<void> => {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const { key, created } = await loadSigningKey(config.checkpoints.signingKey);
  const runtime = await openRuntime(config, logger, 'verify');
  const bar = progress('verifying', logger);
  try {
    const total = (await runtime.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]?.n ?? 0;
    const report = await verifyLedger(runtime.pool, runtime.blobs, { key, onProgress: (events) => bar.update(events, total) });
    bar.stop();
    const [first, ...more] = report.problems;
    if (first === undefined) out(`ledger intact: ${report.events} events in ${report.streams} streams, ${report.blobs} blobs`);
    else {
      out(`ledger NOT intact: ${describeProblem(first)}`);
      for (const problem of more) out(`also: ${describeProblem(problem)}`);
    }
    const compared = comparedLine(report.checkpoint);
    if (compared !== undefined) out(compared);
    if (created && report.checkpoint.kind === 'none trusted') {
      out(`this signing key was generated just now at ${key.file}: if the server signs with another one, point LEDGER_SIGNING_KEY at it`);
    }
    if (first === undefined) {
      const sealed = await sealLedger(runtime.pool, runtime.blobs, key);
      if (E.isRight(sealed) && sealed.right.kind === 'written') {
        const { checkpoint, writeOnce } = sealed.right;
        out(`wrote checkpoint ${checkpoint.name} (${checkpoint.streams.length} streams, up to position ${checkpoint.global_position}${writeOnce ? ', write-once' : '; not write-once: the S3 bucket has no object lock'})`);
      } else {
        // Changed between the verification and now: say so rather than seal it.
        const why = E.isLeft(sealed) ? (sealed.left.kind === 'broken' ? sealed.left.breaks.map((b) => b.reason).join('; ') : `streams without their head event: ${sealed.left.streams.join(', ')}`) : 'nothing new';
        out(`no checkpoint written: ${why}`);
        if (E.isLeft(sealed)) process.exitCode = 1;
      }
    } else {
      out('no checkpoint written: the ledger is not intact');
      process.exitCode = 1;
    }
    out(`checkpoints are signed by Ed25519 key ${key.fingerprint} (${key.file}); public key ${key.publicKeyBase64}: keep a copy of it elsewhere`);
  } finally {
    bar.stop();
    await runtime.close();
  }
};
