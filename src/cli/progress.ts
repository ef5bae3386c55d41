import cliProgress from 'cli-progress';
import type { Logger } from '../logger.js';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** A progress bar on a terminal; plain log lines (at most one a second) otherwise. */
export const progress = (what: string, logger: Logger): Progress => {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${what} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.setTotal(total);
        bar.update(done);
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update: (done, total) => {
      if (Date.now() - last < 1000 && done < total) return;
      last = Date.now();
      logger.info({ done, total }, what);
    },
    stop: () => undefined,
  };
};
