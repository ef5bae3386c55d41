import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createApp } from '../../src/http/app.js';
import { openStreams } from '../../src/http/event-stream.js';
import { createHttpServer, listenOn } from '../../src/http/server.js';
import { ledgerStores } from '../../src/ledger-stores.js';
import { createLogger } from '../../src/logger.js';
import type { RecordedEvent } from '../../src/events/events.js';
import { fsBlobStore } from '../../src/storage/blobs/fs-blob-store.js';
import { globalFeed } from '../../src/storage/event-reads.js';
import { listenForEvents } from '../../src/storage/event-wakeups.js';
import { liveFeed, type FeedFollower } from '../../src/storage/live-feed.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { basicAuth, bodyLimits, PASSWORD, startServer, TRAFFIC, USER, type TestServer } from '../support/server.js';
import { freshDatabase, tempDir } from '../support/services.js';

/** Issue 10, item 6: GET /events/stream, Server-Sent Events of the global feed as it happens. */

const ALICE = basicAuth(USER, PASSWORD);

type Data = Record<string, unknown> & { position: number; state: string; type: string };
type Item =
  | { readonly kind: 'event'; readonly id: string; readonly data: Data }
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'comment'; readonly text: string };

interface Stream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Everything received so far, in order. */
  readonly items: Item[];
  /** The body as text (for answers that are not a stream). */
  text(): string;
  /** Waits until `count` items that `pick` takes have arrived, and answers them; fails after `ms` or when the stream ends first. */
  until(pick: (item: Item) => boolean, count: number, ms?: number): Promise<Item[]>;
  readonly ended: Promise<void>;
  close(): void;
}

const isEvent = (item: Item): item is Extract<Item, { kind: 'event' }> => item.kind === 'event';
const eventsOf = (items: readonly Item[]): Data[] => items.filter(isEvent).map((item) => item.data);

/** A Server-Sent Events client on a connection of its own, parsing messages and comments as they arrive. */
const openStream = (baseUrl: string, url: string, headers: Record<string, string> = {}): Promise<Stream> =>
  new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${url}`, { headers: 'cookie' in headers ? headers : { authorization: ALICE, ...headers }, agent: false }, (res) => {
      res.setEncoding('utf8');
      const items: Item[] = [];
      let body = '';
      let buffer = '';
      let done = false;
      const listeners = new Set<() => void>();
      const notify = () => {
        for (const listener of [...listeners]) listener();
      };
      const ended = new Promise<void>((end) =>
        res.once('close', () => {
          done = true;
          notify();
          end();
        }),
      );
      res.on('data', (chunk: string) => {
        body += chunk;
        buffer += chunk;
        for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let id: string | undefined;
          let data: Data | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) items.push({ kind: 'comment', text: line.slice(1).trim() });
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data = JSON.parse(line.slice(6)) as Data;
          }
          if (data !== undefined) items.push({ kind: 'event', id: id ?? '', data });
          else if (id !== undefined) items.push({ kind: 'id', id });
        }
        notify();
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        items,
        text: () => body,
        ended,
        close: () => req.destroy(),
        until: (pick, count, ms = 10_000) =>
          new Promise((found, fail) => {
            const check = () => {
              const picked = items.filter(pick);
              if (picked.length >= count) return finish(() => found(picked.slice(0, count)));
              if (done) return finish(() => fail(new Error(`the stream ended after ${picked.length} of ${count}: ${JSON.stringify(items).slice(0, 2000)}`)));
            };
            const timer = setTimeout(() => finish(() => fail(new Error(`${count} items did not arrive within ${ms} ms: ${JSON.stringify(items).slice(0, 2000)}`))), ms);
            const finish = (then: () => void) => {
              clearTimeout(timer);
              listeners.delete(check);
              then();
            };
            listeners.add(check);
            check();
          }),
      });
    });
    req.once('error', reject);
    req.end();
  });

const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

const tokenFor = async (t: Test, server: TestServer, name: string, role: string, glob: string): Promise<string> => {
  const created = await server.request('/access/tokens', json({ name }));
  t.equal(created.status, 201, `token ${name} created`);
  const { secret } = (await created.json()) as { secret: string };
  t.equal((await server.request('/access/grants', json({ role, subject: `token:${name}`, glob }))).status, 200, `${role} on ${glob} granted to ${name}`);
  return `Bearer ${secret}`;
};

const feedAfter = async (server: TestServer, after: number | string, auth = ALICE): Promise<Data[]> => {
  const reply = await server.request(`/events?after=${after}&limit=1000`, { headers: { authorization: auth } });
  return ((await reply.json()) as { events: Data[] }).events;
};

/** The position the stream announced it starts after (its first `id:`). */
const startOf = async (stream: Stream): Promise<number> => {
  const [first] = await stream.until((item) => item.kind === 'id', 1);
  return Number((first as { id: string }).id);
};

/** A lock, a push and an unlock of a state, as Terraform does them. */
const apply = async (t: Test, baseUrl: string, name: string, serial: number) => {
  const client = defaultClient(baseUrl, name);
  t.same(await client.lock(newLockInfo({ Operation: 'OperationTypeApply' })), { locked: true }, `${name} locked`);
  t.equal((await client.put(stateDocument(serial))).status, 200, `${name} pushed`);
  t.equal((await client.unlock()).status, 200, `${name} unlocked`);
};

const push = async (t: Test, baseUrl: string, name: string, serial: number) =>
  t.equal((await defaultClient(baseUrl, name).put(stateDocument(serial))).status, 200, `${name} pushed`);

t.test('events arrive in order as locks and pushes happen, exactly as GET /events shows them', async (t) => {
  const server = await startServer(t);
  await push(t, server.baseUrl, 'before', 1); // not in the stream: it starts at the present
  const stream = await openStream(server.baseUrl, '/events/stream');
  t.teardown(stream.close);
  t.equal(stream.status, 200);
  t.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
  t.equal(stream.headers['cache-control'], 'no-store');
  const start = await startOf(stream);
  t.strictSame(eventsOf(stream.items), [], 'nothing before the present');

  await apply(t, server.baseUrl, 'app', 1);
  await push(t, server.baseUrl, 'app', 2);
  const received = (await stream.until(isEvent, 4)) as Array<Extract<Item, { kind: 'event' }>>;
  t.strictSame(received.map((item) => [item.data.state, item.data.type]), [
    ['app', 'StateLocked'],
    ['app', 'StatePushed'],
    ['app', 'StateUnlocked'],
    ['app', 'StatePushed'],
  ]);
  t.strictSame(received.map((item) => item.id), received.map((item) => String(item.data.position)), 'each id is the global position');
  t.strictSame(received.map((item) => item.data), await feedAfter(server, start), 'the same entries as GET /events after the start');
  t.strictSame(stream.items.filter((item) => item.kind === 'comment').length >= 1, true, 'an opening comment');
});

t.test('HEAD answers the headers only', async (t) => {
  const server = await startServer(t);
  const reply = await server.request('/events/stream', { method: 'HEAD' });
  t.equal(reply.status, 200);
  t.equal(reply.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.equal(await reply.text(), '');
});

t.test('a second server on the same database writes; the stream of the first shows it', async (t) => {
  const first = await startServer(t);
  const second = await startServer(t, { db: first.db });
  const stream = await openStream(first.baseUrl, '/events/stream');
  t.teardown(stream.close);
  const start = await startOf(stream);
  await apply(t, second.baseUrl, 'shared', 1);
  const received = await stream.until(isEvent, 3);
  t.strictSame(eventsOf(received).map((e) => [e.state, e.type]), [
    ['shared', 'StateLocked'],
    ['shared', 'StatePushed'],
    ['shared', 'StateUnlocked'],
  ]);
  t.strictSame(eventsOf(received), await feedAfter(first, start));
});

t.test('Last-Event-ID resumes after a disconnect without loss or repetition', async (t) => {
  const server = await startServer(t);
  const before = openStreams();
  const first = await openStream(server.baseUrl, '/events/stream');
  t.equal(openStreams(), before + 1, 'counted as open');
  const start = await startOf(first);
  await apply(t, server.baseUrl, 'r1', 1);
  const seen = eventsOf(await first.until(isEvent, 3));
  first.close();
  await first.ended;
  for (let i = 0; i < 50 && openStreams() !== before; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(openStreams(), before, 'no longer counted once the client is gone');

  // While nobody listens: more events, on several states.
  await push(t, server.baseUrl, 'r1', 2);
  await apply(t, server.baseUrl, 'r2', 1);
  const last = seen[seen.length - 1]!.position;
  const resumed = await openStream(server.baseUrl, '/events/stream?after=0', { 'last-event-id': String(last) });
  t.teardown(resumed.close);
  t.equal(await startOf(resumed), last, 'Last-Event-ID wins over ?after=');
  const missed = eventsOf(await resumed.until(isEvent, 4));
  t.strictSame(missed.map((e) => [e.state, e.type]), [
    ['r1', 'StatePushed'],
    ['r2', 'StateLocked'],
    ['r2', 'StatePushed'],
    ['r2', 'StateUnlocked'],
  ]);
  await push(t, server.baseUrl, 'r2', 2);
  const all = [...seen, ...eventsOf(await resumed.until(isEvent, 5))];
  t.strictSame(all, await feedAfter(server, start), 'together, exactly the feed: nothing lost, nothing twice');

  // ?after= (curl) from the middle, and from the beginning.
  const middle = await openStream(server.baseUrl, `/events/stream?after=${seen[0]!.position}`);
  t.teardown(middle.close);
  t.strictSame(eventsOf(await middle.until(isEvent, all.length - 1)), all.slice(1));
  const everything = await openStream(server.baseUrl, '/events/stream?after=0');
  t.teardown(everything.close);
  const fromZero = await feedAfter(server, 0);
  t.strictSame(eventsOf(await everything.until(isEvent, fromZero.length)), fromZero);

  // A position no event holds yet: nothing, as GET /events answers an empty page.
  const ahead = await openStream(server.baseUrl, '/events/stream?after=999999');
  t.teardown(ahead.close);
  t.equal(await startOf(ahead), 999999);
  t.strictSame(await feedAfter(server, 999999), []);
});

t.test('heartbeats arrive as comment lines', async (t) => {
  const server = await startServer(t);
  const stream = await openStream(server.baseUrl, '/events/stream?heartbeat=1');
  t.teardown(stream.close);
  const beats = await stream.until((item) => item.kind === 'comment' && item.text === 'heartbeat', 2);
  t.equal(beats.length, 2);
  t.match(stream.items[0], { kind: 'comment', text: /^events after position \d+; a heartbeat every 1 s$/ });
});

t.test('visibility follows the grants: a reader of team-a/** never sees team-b, nor access events', async (t) => {
  const server = await startServer(t);
  const reader = await tokenFor(t, server, 'reader', 'read', 'team-a/**');
  const outputsOnly = await tokenFor(t, server, 'outputs-only', 'outputs', 'team-a/**');
  const everything = await openStream(server.baseUrl, '/events/stream');
  const whole = await openStream(server.baseUrl, '/events/stream', { authorization: reader });
  const one = await openStream(server.baseUrl, '/events/stream?state=team-a/x', { authorization: reader });
  const subtreeA = await openStream(server.baseUrl, '/events/stream?prefix=team-a/', { authorization: reader });
  const subtreeB = await openStream(server.baseUrl, '/events/stream?prefix=team-b/', { authorization: reader });
  for (const stream of [everything, whole, one, subtreeA, subtreeB]) {
    t.teardown(stream.close);
    t.equal(stream.status, 200);
    await startOf(stream);
  }

  await push(t, server.baseUrl, 'team-a/x', 1);
  await push(t, server.baseUrl, 'team-b/y', 1);
  t.equal((await server.request('/access/tokens', json({ name: 'another' }))).status, 201, 'an access event');
  await push(t, server.baseUrl, 'team-a/z', 1);

  const all = eventsOf(await everything.until(isEvent, 4));
  t.strictSame(all.map((e) => [e.state, e.type]), [
    ['team-a/x', 'StatePushed'],
    ['team-b/y', 'StatePushed'],
    ['$access', 'TokenCreated'],
    ['team-a/z', 'StatePushed'],
  ], 'an access administrator sees everything');
  t.notMatch(JSON.stringify(all[2]), /secret|sha256/i, 'never a token secret or its hash');
  t.strictSame(eventsOf(await whole.until(isEvent, 2)).map((e) => e.state), ['team-a/x', 'team-a/z']);
  t.strictSame(eventsOf(await subtreeA.until(isEvent, 2)).map((e) => e.state), ['team-a/x', 'team-a/z']);
  t.strictSame(eventsOf(await one.until(isEvent, 1)).map((e) => e.state), ['team-a/x']);
  // Every stream of the process is handed the same batches in the same tick: the others have theirs by now.
  t.strictSame(eventsOf(subtreeB.items), [], 'a prefix does not widen what the grants show');
  t.strictSame(eventsOf(whole.items).map((e) => e.state), ['team-a/x', 'team-a/z'], 'and nothing else arrived');

  const hidden = await openStream(server.baseUrl, '/events/stream?state=team-b/y', { authorization: reader });
  await hidden.ended;
  t.equal(hidden.status, 404);
  t.strictSame(JSON.parse(hidden.text()), { error: 'not_found', message: 'state team-b/y does not exist, or this identity has no role on it' });
  const missing = await openStream(server.baseUrl, '/events/stream?state=team-b/nothing', { authorization: reader });
  await missing.ended;
  t.strictSame([missing.status, JSON.parse(missing.text())], [404, { error: 'not_found', message: 'state team-b/nothing does not exist, or this identity has no role on it' }], 'the same answer for a state that does not exist');
  const lower = await openStream(server.baseUrl, '/events/stream?state=team-a/x', { authorization: outputsOnly });
  await lower.ended;
  t.strictSame([lower.status, JSON.parse(lower.text())], [403, { error: 'forbidden', message: 'this needs the read role on state team-a/x; token:outputs-only has outputs' }]);
  const notYet = await openStream(server.baseUrl, '/events/stream?state=team-a/later', { authorization: reader });
  t.teardown(notYet.close);
  t.equal(notYet.status, 200, 'a state it may read that does not exist yet can be followed');
});

t.test('grants revoked while a stream is open apply within seconds', async (t) => {
  const server = await startServer(t);
  const reader = await tokenFor(t, server, 'reader', 'read', 'team-a/**');
  t.equal((await server.request('/access/grants', json({ role: 'read', subject: 'token:reader', glob: 'marker' }))).status, 200);
  const whole = await openStream(server.baseUrl, '/events/stream', { authorization: reader });
  const one = await openStream(server.baseUrl, '/events/stream?state=team-a/x', { authorization: reader });
  for (const stream of [whole, one]) {
    t.teardown(stream.close);
    await startOf(stream);
  }
  await push(t, server.baseUrl, 'team-a/x', 1);
  t.strictSame(eventsOf(await whole.until(isEvent, 1)).map((e) => e.state), ['team-a/x']);

  const revoke = await server.request('/access/grants', { ...json({ role: 'read', subject: 'token:reader', glob: 'team-a/**' }), method: 'DELETE' });
  t.equal(revoke.status, 200, 'grant revoked');
  const closing = await one.until((item) => item.kind === 'comment' && item.text.startsWith('closed:'), 1);
  t.strictSame(closing, [{ kind: 'comment', text: 'closed: this identity may no longer read state team-a/x' }], 'the stream of that state closes');
  await one.ended;

  // The whole stream goes on, without team-a: a push there, then one to the marker it may still read.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await push(t, server.baseUrl, 'team-a/x', 2);
  await push(t, server.baseUrl, 'marker', 1);
  t.strictSame(eventsOf(await whole.until(isEvent, 2)).map((e) => e.state), ['team-a/x', 'marker'], 'team-a is no longer shown');

  t.equal((await server.request('/access/tokens/reader', { method: 'DELETE' })).status, 200, 'token revoked');
  const closed = await whole.until((item) => item.kind === 'comment' && item.text.startsWith('closed:'), 1);
  t.strictSame(closed, [{ kind: 'comment', text: 'closed: the credentials are no longer accepted: the token is unknown or was revoked' }]);
  await whole.ended;
});

t.test('a stream opened with a console session closes when the session ends', async (t) => {
  const server = await startServer(t);
  t.equal((await server.request('/access/users', json({ name: 'carol', password: 'carol-password-1' }))).status, 201);
  t.equal((await server.request('/access/grants', json({ role: 'read', subject: 'user:carol', glob: '*' }))).status, 200);
  const signedIn = await fetch(`${server.baseUrl}/ui/session`, { method: 'POST', headers: { authorization: basicAuth('carol', 'carol-password-1') } });
  t.equal(signedIn.status, 200);
  const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const stream = await openStream(server.baseUrl, '/events/stream', { cookie });
  t.teardown(stream.close);
  t.equal(stream.status, 200, 'the session cookie opens a stream');
  await startOf(stream);
  await push(t, server.baseUrl, 'visible', 1);
  t.strictSame(eventsOf(await stream.until(isEvent, 1)).map((e) => e.state), ['visible']);

  // The access event of the change makes every stream check its credentials again at once.
  const changed = await server.request('/access/users/carol/password', { ...json({ password: 'carol-password-2' }), method: 'PUT' });
  t.equal(changed.status, 200, "an administrator changes carol's password");
  const closed = await stream.until((item) => item.kind === 'comment' && item.text.startsWith('closed:'), 1);
  t.match(closed, [{ kind: 'comment', text: /^closed: the console session has ended: the password of user carol was changed; / }]);
  await stream.ended;
});

t.test('hostile query inputs are refused with a 400 naming what is wrong', async (t) => {
  const server = await startServer(t);
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ['?after=-1', {}, 'invalid_query', 'after must be a position (a non-negative integer) or now; got "-1"'],
    ['?after=later', {}, 'invalid_query', 'after must be a position (a non-negative integer) or now; got "later"'],
    ['?after=1234567890123456', {}, 'invalid_query', 'after must be a position (a non-negative integer) or now; got "1234567890123456"'],
    ['?after=1&after=2', {}, 'invalid_query', 'after must be a position (a non-negative integer) or now; it was given more than once'],
    ['?state=-bad', {}, 'invalid_name', 'state must be a state name: "/"-separated segments of letters, digits, ".", "_" or "-", each starting with a letter or digit and at most 128 characters, at most 512 in all; the segment "-bad" is not a valid one'],
    ['?state=team-a/lock', {}, 'invalid_name', 'state must be a state name: "/"-separated segments of letters, digits, ".", "_" or "-", each starting with a letter or digit and at most 128 characters, at most 512 in all; "lock" names a sub-resource and cannot be a segment of a state name after the first'],
    [`?state=${'a'.repeat(600)}`, {}, 'invalid_name', 'state must be a state name: "/"-separated segments of letters, digits, ".", "_" or "-", each starting with a letter or digit and at most 128 characters, at most 512 in all; it is longer than 512 characters'],
    ['?state=a&state=b', {}, 'invalid_query', 'state must be a state name, given once; it was given more than once'],
    ['?state=team-a/x&prefix=team-a/', {}, 'invalid_query', 'give state (one state) or prefix (a subtree of names), not both'],
    ['?prefix=team%20a', {}, 'invalid_query', 'prefix must be the start of a state name: letters, digits, ".", "_", "-" and "/", at most 512 characters, given once; got "team a"'],
    [`?prefix=${'a'.repeat(513)}`, {}, 'invalid_query', `prefix must be the start of a state name: letters, digits, ".", "_", "-" and "/", at most 512 characters, given once; got "${'a'.repeat(64)}..."`],
    ['?heartbeat=0', {}, 'invalid_query', 'heartbeat must be a number of seconds from 1 to 300; got "0"'],
    ['?heartbeat=301', {}, 'invalid_query', 'heartbeat must be a number of seconds from 1 to 300; got "301"'],
    ['?heartbeat=1.5', {}, 'invalid_query', 'heartbeat must be a number of seconds from 1 to 300; got "1.5"'],
    ['?after=%FF', {}, 'invalid_query', 'the query string must be percent-encoded UTF-8'],
    ['', { 'last-event-id': 'abc' }, 'invalid_last_event_id', 'Last-Event-ID must be a position (a non-negative integer), as the `id:` lines of the stream give it'],
    ['', { 'last-event-id': '1'.repeat(16) }, 'invalid_last_event_id', 'Last-Event-ID must be a position (a non-negative integer), as the `id:` lines of the stream give it'],
    ['', { 'last-event-id': '-5' }, 'invalid_last_event_id', 'Last-Event-ID must be a position (a non-negative integer), as the `id:` lines of the stream give it'],
  ];
  for (const [query, headers, error, message] of cases) {
    const reply = await openStream(server.baseUrl, `/events/stream${query}`, headers);
    await reply.ended;
    t.strictSame([reply.status, JSON.parse(reply.text())], [400, { error, message }], `${query.slice(0, 60)} ${JSON.stringify(headers)}`);
  }
  const anonymous = await fetch(`${server.baseUrl}/events/stream`);
  t.equal(anonymous.status, 401, 'no credentials');
});

t.test('the stream closes cleanly when the server shuts down, and the shutdown does not wait for it', async (t) => {
  const db = await freshDatabase(t);
  const dir = await tempDir(t);
  const logger = createLogger('silent');
  const wakeups = await listenForEvents(db.url, logger);
  t.teardown(() => wakeups.close());
  const app = createApp({
    ...ledgerStores(db.pool),
    db: db.pool,
    blobs: await fsBlobStore(path.join(dir, 'blobs')),
    users: new Map([[USER, PASSWORD]]),
    limits: bodyLimits(dir),
    logger,
    traffic: TRAFFIC,
    wakeups,
  });
  const server = createHttpServer(app, TRAFFIC, logger);
  await listenOn(server, 0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const streams = await Promise.all([openStream(baseUrl, '/events/stream'), openStream(baseUrl, '/events/stream?after=0')]);
  for (const stream of streams) await startOf(stream);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const bound = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000).unref());
  t.equal(await Promise.race([closed.then(() => 'closed'), bound]), 'closed', 'every connection ended by itself');
  for (const stream of streams) {
    await stream.ended;
    t.strictSame(stream.items[stream.items.length - 1], { kind: 'comment', text: 'closed: the server is shutting down; reconnect to resume' });
  }
});

// ---------------------------------------------------------------------------------------------
// The shared reader itself: many followers, concurrent writers, slow followers

/** A follower that records what it is sent; `backlog` says what it pretends waits unsent. */
const recorder = (wants: (event: RecordedEvent) => boolean = () => true, backlog: (events: readonly RecordedEvent[]) => number = () => 0) => {
  const received: number[] = [];
  const drops: string[] = [];
  const follower: FeedFollower = {
    narrowing: () => ({ states: ['^.*$'], access: true }),
    wants,
    send: (events) => {
      received.push(...events.map((event) => event.position));
      return backlog(events);
    },
    drained: async () => undefined,
    dropped: (reason) => drops.push(reason),
  };
  return { follower, received, drops };
};

t.test('the shared reader: followers starting anywhere while writers append get exactly the feed from their start', async (t) => {
  const server = await startServer(t);
  const logger = createLogger('silent');
  const wakeups = await listenForEvents(server.db.url, logger);
  t.teardown(() => wakeups.close());
  const feed = liveFeed({ sql: server.db.pool, wakeups, logger, batch: 7, page: 5 });
  const followers: Array<{ after: number; narrow: boolean; received: number[]; drops: string[]; stop: () => void }> = [];
  const join = async (after: number | 'now', narrow: boolean) => {
    const start = await feed.start(after);
    const { follower, received, drops } = recorder(narrow ? (event) => event.streamId.startsWith('w1') : undefined);
    followers.push({ after: start.position, narrow, received, drops, stop: feed.follow(start, follower) });
  };
  await join('now', false);
  await join(0, false);
  // Five writers, each a few lock-push-unlock cycles, while followers join at the positions reached so far.
  const writers = Array.from({ length: 5 }, async (_, w) => {
    for (let serial = 1; serial <= 4; serial++) {
      const client = defaultClient(server.baseUrl, `w${w}`);
      await client.lock(newLockInfo());
      await client.put(stateDocument(serial));
      await client.unlock();
    }
  });
  const joiners = (async () => {
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 40));
      const feedNow = await feedAfter(server, 0);
      const somewhere = feedNow[Math.floor(Math.random() * feedNow.length)]?.position ?? 0;
      await join(i % 2 === 0 ? somewhere : 'now', i % 3 === 0);
    }
  })();
  await Promise.all([...writers, joiners]);
  const everything = await globalFeed(server.db.pool, { after: 0, limit: 1000, visible: { states: ['^.*$'], access: true } });
  t.equal(everything.length, 60, 'five writers, four cycles of three events');
  t.equal(followers.length, 10);
  for (const f of followers) {
    const expected = (await globalFeed(server.db.pool, { after: f.after, limit: 1000, visible: { states: f.narrow ? ['^w1'] : ['^.*$'], access: true } })).map((e) => e.position);
    for (let i = 0; i < 100 && f.received.length < expected.length; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    t.strictSame(f.received, expected, `a follower from ${f.after}${f.narrow ? ', w1 only' : ''}`);
    t.strictSame(f.drops, []);
    f.stop();
  }
  t.equal(feed.size(), 0, 'stopped followers are forgotten');
});

t.test('the shared reader drops a follower that does not read, rather than buffering without bound', async (t) => {
  const server = await startServer(t);
  const logger = createLogger('silent');
  const wakeups = await listenForEvents(server.db.url, logger);
  t.teardown(() => wakeups.close());
  const feed = liveFeed({ sql: server.db.pool, wakeups, logger, maxBacklogBytes: 1000 });
  // It never reads: what it was sent piles up, 600 bytes an event.
  let waiting = 0;
  let sentBeforeDrop = -1;
  const slow = recorder(undefined, (events) => (waiting += 600 * events.length));
  const fast = recorder();
  const slowFollower: FeedFollower = { ...slow.follower, dropped: (reason) => ((sentBeforeDrop = slow.received.length), slow.follower.dropped(reason)) };
  feed.follow(await feed.start('now'), slowFollower);
  const stopFast = feed.follow(await feed.start('now'), fast.follower);
  await apply(t, server.baseUrl, 'busy', 1);
  await apply(t, server.baseUrl, 'busy', 2);
  for (let i = 0; i < 100 && fast.received.length < 6; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(fast.received.length, 6, 'the reading follower has every event');
  t.strictSame(slow.drops, ['slow'], 'the other was dropped once, when its backlog passed the bound');
  t.ok(sentBeforeDrop >= 2 && sentBeforeDrop <= 3, `after two or three events (${sentBeforeDrop})`);
  t.equal(slow.received.length, sentBeforeDrop, 'and was sent nothing after');
  t.equal(feed.size(), 1, 'only the reading follower is left');
  stopFast();
});
