import type net from 'node:net';
import express, { type Request } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { atLeast, roleOn } from '../access/roles.js';
import type { TrafficLimits } from '../config.js';
import { ACCESS_STREAM } from '../events/access-events.js';
import type { RecordedEvent } from '../events/events.js';
import { STATE_NAME_RULE, stateNameProblem } from '../events/state-name.js';
import { mayManageAccess, type Authenticator, type Credentials, type Principal } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';
import type { EventWakeups } from '../storage/event-wakeups.js';
import { liveFeed, type FeedFollower, type FeedNarrowing, type LiveFeedOptions } from '../storage/live-feed.js';
import type { SqlExecutor } from '../storage/sql.js';
import { logDenial, principalOf, visiblePatterns } from './access-control.js';
import { credentialsOf } from './auth.js';
import { decodeInput, FeedQuery, StatesQuery } from './codecs.js';
import { badRequest, sendError, type RequestError } from './errors.js';
import { eventJson } from './event-json.js';

/**
 * GET /events/stream: Server-Sent Events of every new event the caller may read, as they become
 * final in the global feed, from any server process (src/storage/live-feed.ts reads the ledger
 * once per wake-up for every stream of this process). Each message's `id:` is the event's global
 * position: `Last-Event-ID` (or `?after=`) resumes after it without loss or repetition.
 */

/** Heartbeats: a comment line this often (seconds) unless `?heartbeat=` asks otherwise. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;
export const MAX_HEARTBEAT_SECONDS = 300;
/** Each stream's credentials are checked again this often (expiring tokens), and at once after any access change. */
const RECHECK_MS = 30_000;
/** After a failed check (the database unavailable, say), the next one. */
const RETRY_CHECK_MS = 5_000;
/** A stream closed by the server gets this long to take its last comment before its connection is cut. */
const LINGER_MS = 5_000;

const HeartbeatSeconds = new t.Type<number, string, unknown>(
  'HeartbeatSeconds',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 1 && u <= MAX_HEARTBEAT_SECONDS,
  (u, c) => {
    const n = typeof u === 'string' && /^[1-9]\d{0,2}$/.test(u) ? Number(u) : NaN;
    return n <= MAX_HEARTBEAT_SECONDS ? t.success(n) : t.failure(u, c);
  },
  String,
);

/** `?after=&state=&prefix=&heartbeat=`: the cursor and prefix exactly as GET /events and GET /states take them. */
export const StreamQuery = t.partial({ after: FeedQuery.props.after, state: t.string, prefix: StatesQuery.props.prefix, heartbeat: HeartbeatSeconds });

const decodeShape = decodeInput(
  StreamQuery,
  'invalid_query',
  {
    after: 'a position (a non-negative integer) or now',
    state: 'a state name, given once',
    prefix: 'the start of a state name: letters, digits, ".", "_", "-" and "/", at most 512 characters, given once',
    heartbeat: `a number of seconds from 1 to ${MAX_HEARTBEAT_SECONDS}`,
  },
  'the query is not valid',
  'query',
);

export interface StreamRequest {
  /** Where to start: after a position, or the present. */
  readonly after: number | 'now';
  readonly state: string | undefined;
  readonly prefix: string | undefined;
  readonly heartbeatSeconds: number;
}

const POSITION = /^\d{1,15}$/;

/**
 * The query and the Last-Event-ID header, decoded once. Last-Event-ID (what EventSource sends
 * when it reconnects) wins over `?after=` (what the first request carried).
 */
export const decodeStreamRequest = (query: unknown, lastEventId: string | undefined): E.Either<RequestError, StreamRequest> => {
  const decoded = decodeShape(query);
  if (E.isLeft(decoded)) return decoded;
  const { after, state, prefix, heartbeat } = decoded.right;
  if (state !== undefined) {
    const problem = stateNameProblem(state);
    if (problem !== undefined) return E.left(badRequest('invalid_name', `state must be ${STATE_NAME_RULE}; ${problem}`));
    if (prefix !== undefined) return E.left(badRequest('invalid_query', 'give state (one state) or prefix (a subtree of names), not both'));
  }
  let resume: number | undefined;
  if (lastEventId !== undefined && lastEventId !== '') {
    if (!POSITION.test(lastEventId)) {
      return E.left(badRequest('invalid_last_event_id', 'Last-Event-ID must be a position (a non-negative integer), as the `id:` lines of the stream give it'));
    }
    resume = Number(lastEventId);
  }
  return E.right({
    after: resume ?? after ?? 'now',
    state,
    prefix: prefix === '' ? undefined : prefix,
    heartbeatSeconds: heartbeat ?? DEFAULT_HEARTBEAT_SECONDS,
  });
};

/** Whether the principal may see the event, within the stream's state or prefix. */
const visibleTo = (principal: Principal, request: StreamRequest, event: RecordedEvent): boolean => {
  if (request.state !== undefined && event.streamId !== request.state) return false;
  if (request.prefix !== undefined && !event.streamId.startsWith(request.prefix)) return false;
  if (event.streamId === ACCESS_STREAM) return mayManageAccess(principal);
  return atLeast(roleOn(principal.grants, event.streamId), 'read');
};

const narrowingOf = (principal: Principal, request: StreamRequest): FeedNarrowing => ({
  states: visiblePatterns(principal),
  access: mayManageAccess(principal),
  state: request.state,
  prefix: request.prefix,
});

let openCount = 0;

/** Event streams open in this process (every app's): for a gauge. */
export const openStreams = (): number => openCount;

export interface EventStreamDeps {
  readonly db: SqlExecutor;
  readonly wakeups: EventWakeups;
  readonly logger: Logger;
  readonly traffic: Pick<TrafficLimits, 'idleTimeoutMs'>;
  /** Checks each stream's credentials again, and forgets cached access when the ledger shows an access change. */
  readonly authenticator: Pick<Authenticator, 'authenticate' | 'accessChanged'>;
  readonly certificateName?: ((req: Request) => string | undefined) | undefined;
  /** The shared reader's settings (tests). */
  readonly feed?: Partial<Pick<LiveFeedOptions, 'maxBacklogBytes' | 'backstopMs' | 'batch' | 'page'>>;
}

interface OpenStream {
  principal: Principal;
  readonly request: StreamRequest;
  readonly credentials: Credentials | undefined;
  /** The server that accepted the connection: once it stops listening, the stream ends. */
  readonly server: net.Server | undefined;
  readonly heartbeatMs: number;
  nextHeartbeat: number;
  nextCheck: number;
  checking: boolean;
  write(text: string): void;
  /** Ends the stream with a last comment saying why, and closes its connection. */
  close(why: string): void;
}

const comment = (text: string): string => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;

export const eventStreamRoutes = (deps: EventStreamDeps): express.Router => {
  const { logger, authenticator } = deps;
  const certificateName = deps.certificateName ?? (() => undefined);
  const streams = new Set<OpenStream>();
  /** One message per event, shared by every stream it is sent to. */
  const frames = new WeakMap<RecordedEvent, string>();
  const frameOf = (event: RecordedEvent): string => {
    let frame = frames.get(event);
    if (frame === undefined) {
      // JSON has no raw line breaks: one data line.
      frame = `id: ${event.position}\ndata: ${JSON.stringify(eventJson(event))}\n\n`;
      frames.set(event, frame);
    }
    return frame;
  };

  const recheck = (stream: OpenStream) => {
    if (stream.checking) return;
    stream.checking = true;
    stream.nextCheck = Date.now() + RECHECK_MS;
    const run = async () => {
      if (stream.credentials === undefined || stream.credentials.kind === 'none') return stream.close('the credentials of this stream can no longer be checked');
      const outcome = await authenticator.authenticate(stream.credentials);
      if (E.isLeft(outcome)) {
        const failure = outcome.left;
        if (failure.kind === 'rejected' || failure.kind === 'missing') {
          return stream.close(`the credentials are no longer accepted${failure.kind === 'rejected' ? `: ${failure.reason}` : ''}`);
        }
        if (failure.kind === 'ended') return stream.close(`the console session has ended: ${failure.reason}`);
        stream.nextCheck = Date.now() + RETRY_CHECK_MS;
        return;
      }
      stream.principal = outcome.right;
      const { state } = stream.request;
      if (state !== undefined && !atLeast(roleOn(stream.principal.grants, state), 'read')) {
        stream.close(`this identity may no longer read state ${state}`);
      }
    };
    run()
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'checking the credentials of an event stream again failed');
        stream.nextCheck = Date.now() + RETRY_CHECK_MS;
      })
      .finally(() => {
        stream.checking = false;
      });
  };

  const feed = liveFeed({
    ...deps.feed,
    sql: deps.db,
    wakeups: deps.wakeups,
    logger,
    onBatch: (events) => {
      if (!events.some((event) => event.streamId === ACCESS_STREAM)) return;
      // Users, tokens or grants changed, through this process or another: what this process
      // remembers of access is stale, and every stream is checked again on the next tick.
      authenticator.accessChanged();
      for (const stream of streams) stream.nextCheck = 0;
    },
  });

  /** One timer for every stream: heartbeats, checks, and the end of streams whose server is closing. */
  let ticker: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = Date.now();
    for (const stream of streams) {
      if (stream.server !== undefined && !stream.server.listening) {
        stream.close('the server is shutting down; reconnect to resume');
        continue;
      }
      if (now >= stream.nextHeartbeat) {
        stream.nextHeartbeat = now + stream.heartbeatMs;
        stream.write(comment('heartbeat'));
      }
      if (now >= stream.nextCheck) recheck(stream);
    }
    if (streams.size === 0 && ticker !== undefined) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };

  const router = express.Router();

  router.get('/events/stream', async (req, res) => {
    const decoded = decodeStreamRequest(req.query, req.get('last-event-id'));
    if (E.isLeft(decoded)) return sendError(res, decoded.left);
    const request = decoded.right;
    const principal = principalOf(res);
    if (request.state !== undefined) {
      // As every route of one state: no role at all is the same 404 whether or not it exists.
      const has = roleOn(principal.grants, request.state);
      if (!atLeast(has, 'read')) {
        logDenial(logger, req, res, 'read', request.state, has);
        return sendError(
          res,
          has === undefined
            ? { type: 'Hidden', name: request.state }
            : { type: 'Forbidden', message: `this needs the read role on state ${request.state}; ${principal.actor} has ${has}` },
        );
      }
    }
    const streamHeaders = () => {
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('X-Accel-Buffering', 'no'); // nginx: pass each message on as it comes
    };
    if (req.method === 'HEAD') return void (streamHeaders(), res.end());
    // Before the headers: a database that cannot answer is a 503 like anywhere else.
    const start = await feed.start(request.after);
    if (req.socket.destroyed) return;
    streamHeaders();
    res.flushHeaders();

    // Below the idle timeout, so that a quiet stream keeps its connection.
    const heartbeatMs = Math.max(1000, Math.min(request.heartbeatSeconds * 1000, Math.floor(deps.traffic.idleTimeoutMs / 2)));
    let closed = false;
    let stopFollowing: () => void = () => undefined;
    const socket = req.socket;
    const finish = () => {
      if (closed) return false;
      closed = true;
      stopFollowing();
      streams.delete(stream);
      openCount--;
      return true;
    };
    const stream: OpenStream = {
      principal,
      request,
      credentials: credentialsOf(req, certificateName),
      server: (socket as net.Socket & { server?: net.Server }).server,
      heartbeatMs,
      nextHeartbeat: Date.now() + heartbeatMs,
      nextCheck: Date.now() + RECHECK_MS + Math.floor(Math.random() * (RECHECK_MS / 2)),
      checking: false,
      write: (text) => {
        if (!closed && !res.writableEnded) res.write(text);
      },
      close: (why) => {
        if (!finish()) return;
        if (res.writableEnded || res.destroyed) return;
        // A client that reads nothing would keep the connection: it is cut after a moment.
        const cut = setTimeout(() => socket.destroy(), LINGER_MS).unref();
        res.once('finish', () => {
          clearTimeout(cut);
          socket.end();
        });
        res.end(comment(`closed: ${why}`));
      },
    };
    const follower: FeedFollower = {
      narrowing: () => narrowingOf(stream.principal, request),
      wants: (event) => visibleTo(stream.principal, request, event),
      send: (events) => {
        if (closed || res.writableEnded) return 0;
        res.write(events.map(frameOf).join(''));
        return res.writableLength;
      },
      drained: () =>
        new Promise<void>((resolve) => {
          if (closed || !res.writableNeedDrain) return resolve();
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        }),
      dropped: (reason, error) => {
        if (reason === 'failed') logger.warn({ err: error, request_id: res.locals.requestId }, 'an event stream could not be read; closing it');
        stream.close(
          reason === 'slow'
            ? 'the client did not read its events fast enough; reconnect with Last-Event-ID to resume'
            : 'the ledger could not be read; reconnect with Last-Event-ID to resume',
        );
      },
    };
    streams.add(stream);
    openCount++;
    res.once('close', finish);
    res.write(`${comment(`events after position ${start.position}; a heartbeat every ${heartbeatMs / 1000} s`).slice(0, -1)}id: ${start.position}\n\n`);
    stopFollowing = feed.follow(start, follower);
    ticker ??= setInterval(tick, 1000).unref();
  });

  return router;
};
