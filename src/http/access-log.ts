import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { Principal } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';

/** What is measured of one request while it runs. */
interface Measure {
  readonly start: bigint;
  bytesIn: number;
  bytesOut: number;
}

const measures = new WeakMap<object, Measure>();

const byteLength = (chunk: unknown, encoding: unknown): number =>
  typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : chunk instanceof Uint8Array ? chunk.byteLength : 0;

/**
 * Starts measuring the request: its time, and the body bytes it receives and sends. Must run
 * before anything reads the body (it counts what Node's parser hands to the request stream from
 * now on) and before anything writes the answer.
 */
export const measureRequests: RequestHandler = (req, res, next) => {
  const measure: Measure = { start: process.hrtime.bigint(), bytesIn: 0, bytesOut: 0 };
  measures.set(res, measure);
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    measure.bytesIn += byteLength(chunk, encoding);
    return push(chunk, encoding);
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    measure.bytesOut += byteLength(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as Response['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') measure.bytesOut += byteLength(chunk, rest[0]);
    return end(chunk, ...rest);
  }) as Response['end'];
  next();
};

/**
 * The express route pattern that answered (`/states/:name`), or undefined when none did (refused
 * before routing: a failed login, a foreign origin; or no such route). Never the raw URL.
 */
export const routeOf = (req: IncomingMessage): string | undefined => {
  const { route, baseUrl } = req as Partial<Request>;
  const path: unknown = (route as { path?: unknown } | undefined)?.path;
  if (path === undefined) return undefined;
  // A route for several paths (['/readyz', '/healthz']): the one requested, else the first.
  const pattern = Array.isArray(path) ? (path.find((p) => p === (req as Request).path) ?? path[0]) : path;
  return `${baseUrl ?? ''}${String(pattern)}`;
};

export interface RequestSummary {
  readonly method: string;
  readonly route: string | null;
  readonly status: number;
  readonly duration_ms: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly user: string | null;
  readonly remote_address: string | null;
}

/** The request as the access log and the metrics tell it: only these fields, never a header or the query. */
export const requestSummary = (req: IncomingMessage, res: ServerResponse): RequestSummary => {
  const measure = measures.get(res);
  const principal = (res as Partial<Response>).locals?.principal as Principal | undefined;
  const seconds = measure === undefined ? 0 : Number(process.hrtime.bigint() - measure.start) / 1e9;
  return {
    method: req.method ?? '',
    route: routeOf(req) ?? null,
    status: res.statusCode,
    duration_ms: Math.round(seconds * 1e6) / 1e3,
    bytes_in: measure?.bytesIn ?? 0,
    bytes_out: measure?.bytesOut ?? 0,
    user: principal?.actor ?? null,
    // express's req.ip reads the socket, gone once the client has left (then nobody to name).
    remote_address: req.socket == null ? null : ((req as Partial<Request>).ip ?? req.socket.remoteAddress ?? null),
  };
};

/** Calls `done` once, when the answer has finished or the connection closed before it did. */
export const whenDone = (res: ServerResponse, done: () => void): void => {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    res.off('finish', once);
    res.off('close', once);
    done();
  };
  res.on('finish', once);
  res.on('close', once);
};

/** Health checks, logged at debug only: a probe every few seconds is noise. */
const QUIET_ROUTES = new Set(['/livez', '/readyz', '/healthz']);

/**
 * One JSON line per request on the server's logger, when its answer finishes (or the client
 * leaves): method, route pattern, status, duration, body bytes in and out, the authenticated user,
 * the client address and the request id. Nothing else of the request (headers, query, body) is
 * read, so no credential can reach the line. Level: debug for health checks, error for 5xx, else info.
 * Written straight on pino: pino-http made two child loggers and serialised the whole request on
 * every request before our line builder replaced its output, a third of a millisecond each.
 */
export const accessLog =
  (logger: Logger): RequestHandler =>
  (req, res, next) => {
    whenDone(res, () => {
      const summary = requestSummary(req, res);
      const level = QUIET_ROUTES.has(summary.route ?? '') ? 'debug' : summary.status >= 500 ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const finished = !req.readableAborted && res.writableEnded;
      const message = finished ? (level === 'error' ? 'request failed' : 'request completed') : 'request aborted';
      logger[level]({ ...summary, request_id: String(res.locals.requestId) }, message);
    });
    next();
  };
