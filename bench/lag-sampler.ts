import pg from 'pg';
import { projectionLag } from '../src/projections/async/checkpoints.js';
import { percentile } from './stats.js';

export interface LagFigures {
  readonly name: string;
  readonly samples: number;
  readonly maxEvents: number;
  readonly p50Seconds: number;
  readonly maxSeconds: number;
}

const EVERY_MS = 250;

/**
 * Samples the asynchronous projections' lag, as /readyz?verbose reports it, every 250 ms on a
 * connection of its own, until stopped: how far behind the ledger they fall under load.
 */
export const sampleLag = async (databaseUrl: string, names: readonly string[]) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const samples = new Map<string, Array<{ events: number; seconds: number }>>(names.map((name) => [name, []]));
  let running = true;
  const loop = (async () => {
    while (running) {
      // A sample that fails is left out: the sampler must not end the bench.
      const lags = await projectionLag(client, names).catch(() => []);
      for (const lag of lags) samples.get(lag.name)?.push({ events: lag.events, seconds: lag.seconds });
      await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
    }
  })();
  return {
    stop: async (): Promise<LagFigures[]> => {
      running = false;
      await loop;
      await client.end();
      return names.map((name) => {
        const taken = samples.get(name) ?? [];
        return {
          name,
          samples: taken.length,
          maxEvents: Math.max(0, ...taken.map((s) => s.events)),
          p50Seconds: percentile(taken.map((s) => s.seconds), 50),
          maxSeconds: Math.max(0, ...taken.map((s) => s.seconds)),
        };
      });
    },
  };
};
