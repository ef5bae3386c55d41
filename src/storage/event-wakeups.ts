import pgListen from 'pg-listen';
import type { Logger } from '../logger.js';
import { EVENTS_CHANNEL } from './commit-notifier.js';

/** Wakes long-polling readers when events commit. A nudge only: readers always re-read the ledger. */
export interface EventWakeups {
  /** Resolves at the next commit of any event, or after `ms`, whichever comes first. */
  next(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Without a listener: readers simply wake after the time they were given. */
export const timerWakeups: EventWakeups = {
  next: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  close: async () => undefined,
};

/**
 * LISTEN on the channel appends notify after they commit (see commit-notifier.ts),
 * one connection per server process, reconnecting forever:
 * pg-listen's defaults give up after 3 s of database downtime.
 */
export const listenForEvents = async (url: string, logger: Logger): Promise<EventWakeups> => {
  // pg-listen is CommonJS with a transpiled default export.
  const subscriber = pgListen.default(
    { connectionString: url, connectionTimeoutMillis: 5000 },
    { retryTimeout: 0, retryLimit: Infinity, retryInterval: (attempt: number) => Math.min(500 * 2 ** attempt, 5000) },
  );
  const waiters = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of [...waiters]) wake();
  };
  subscriber.notifications.on(EVENTS_CHANNEL, wakeAll);
  // Notifications sent while the connection was down are lost: wake everyone to re-read.
  subscriber.events.on('connected', wakeAll);
  subscriber.events.on('reconnect', (attempt) => logger.warn({ attempt }, 'reconnecting the event listener'));
  subscriber.events.on('error', (error) => logger.error({ err: error }, 'event listener failed'));
  await subscriber.connect();
  await subscriber.listenTo(EVENTS_CHANNEL);
  return {
    next: (ms) =>
      new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        waiters.add(done);
      }),
    close: async () => {
      wakeAll();
      await subscriber.close();
    },
  };
};
