import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { commitNotifier, EVENTS_CHANNEL } from '../../src/storage/commit-notifier.js';
import type { SqlExecutor } from '../../src/storage/sql.js';

interface Sent {
  readonly at: number;
  readonly values: unknown[] | undefined;
}

/** Records each statement and when it was sent; each takes `latencyMs` to answer, or fails when told. */
const recordingSql = (latencyMs = 1, failing = () => false) => {
  const sent: Sent[] = [];
  const sql: SqlExecutor = {
    query: async (_text, values) => {
      sent.push({ at: performance.now(), values });
      await sleep(latencyMs);
      if (failing()) throw new Error('connection terminated');
      return { rows: [], rowCount: 0 };
    },
  };
  return { sql, sent };
};

const INTERVAL = 40;

t.test('the first commit after a quiet spell is announced at once, with its position', async (t) => {
  const { sql, sent } = recordingSql();
  const notify = commitNotifier(sql, () => undefined, INTERVAL);
  const before = performance.now();
  notify(7);
  t.equal(sent.length, 1, 'sent in the same tick');
  t.ok(sent[0]!.at - before < 5);
  t.strictSame(sent[0]!.values, [EVENTS_CHANNEL, '7']);
});

t.test('a burst of commits becomes a few notifications, spaced by the interval, the last with the newest position', async (t) => {
  const { sql, sent } = recordingSql();
  const notify = commitNotifier(sql, () => undefined, INTERVAL);
  const started = performance.now();
  let position = 0;
  while (performance.now() - started < 3 * INTERVAL) {
    notify(++position);
    await sleep(2);
  }
  const elapsed = performance.now() - started;
  await sleep(2 * INTERVAL);
  // A busy machine stretches the burst: the bounds follow the time it actually took.
  t.ok(position > 10, `${position} commits`);
  t.ok(sent.length >= 2 && sent.length <= Math.floor(elapsed / INTERVAL) + 2, `${sent.length} notifications for ${position} commits in ${elapsed.toFixed(0)} ms`);
  for (let i = 1; i < sent.length; i++) {
    // Each send is recorded a few microseconds after the notifier takes its time.
    t.ok(sent[i]!.at - sent[i - 1]!.at >= INTERVAL - 0.1, `gap ${i}: ${(sent[i]!.at - sent[i - 1]!.at).toFixed(1)} ms`);
  }
  t.strictSame(sent[sent.length - 1]!.values, [EVENTS_CHANNEL, String(position)]);
});

t.test('a position is never announced lower than one announced before', async (t) => {
  const { sql, sent } = recordingSql();
  const notify = commitNotifier(sql, () => undefined, INTERVAL);
  notify(10);
  notify(4); // a concurrent append that committed earlier reports last
  await sleep(2 * INTERVAL);
  t.strictSame(sent.map((s) => s.values?.[1]), ['10', '10']);
});

t.test('a failed notification is reported and the next commit is still announced', async (t) => {
  let fail = true;
  const { sql, sent } = recordingSql(1, () => fail);
  const errors: string[] = [];
  const notify = commitNotifier(sql, (error) => errors.push(error.message), INTERVAL);
  notify(1);
  await sleep(10);
  fail = false;
  notify(2);
  await sleep(2 * INTERVAL);
  t.strictSame(errors, ['connection terminated']);
  t.strictSame(sent.map((s) => s.values?.[1]), ['1', '2']);
});

t.test('a report that throws does not stop the notifications', async (t) => {
  let fail = true;
  const { sql, sent } = recordingSql(1, () => fail);
  const notify = commitNotifier(sql, () => {
    throw new Error('the logger broke');
  }, INTERVAL);
  notify(1);
  await sleep(10);
  fail = false;
  notify(2);
  await sleep(2 * INTERVAL);
  t.strictSame(sent.map((s) => s.values?.[1]), ['1', '2']);
});
