import type { Request, RequestHandler } from 'express';
import onHeaders from 'on-headers';
import { sendError } from './errors.js';

/**
 * An answer given before the request's body has all arrived (a refusal, a health check sent with a
 * body) closes the connection: Node would otherwise read the rest and throw it away, for as long
 * as a slow client cares to trickle it in. Unauthenticated bodies are never read this way either.
 */
export const closeIfBodyUnread: RequestHandler = (req, res, next) => {
  onHeaders(res, () => {
    // A request without a body is not complete yet while it is answered in the same tick (a health
    // check): its connection stays open for the next request.
    if (announcesBody(req) && !req.complete) res.setHeader('Connection', 'close');
  });
  next();
};

const announcesBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * HTTP/1.0 and 1.1 only, and 1.1 with a Host, as the standard asks: Node's parser would also let
 * an HTTP/0.9 line or an "HTTP/2.0" one through to the routes.
 */
export const wellFormedRequest: RequestHandler = (req, res, next) => {
  if (req.httpVersion !== '1.1' && req.httpVersion !== '1.0') {
    res.setHeader('Connection', 'close');
    return sendError(res, { type: 'BadRequest', code: 'unsupported_http_version', message: 'the server speaks HTTP/1.1 (and 1.0)' });
  }
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    res.setHeader('Connection', 'close');
    return sendError(res, { type: 'BadRequest', code: 'missing_host', message: 'an HTTP/1.1 request needs a Host header' });
  }
  next();
};

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Every answer: never sniffed into something executable, never kept in a cache (state holds secrets). */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  next();
};

const ownOrigin = (req: Request): string => `${req.protocol}://${req.get('host') ?? ''}`.toLowerCase();

/**
 * A web page of another site can make a browser send a state-changing request with the user's
 * credentials. Browsers always name the page's origin on such requests; the Terraform and OpenTofu
 * clients never send Origin, so they are unaffected.
 */
export const refuseForeignOrigins =
  (allowed: readonly string[]): RequestHandler =>
  (req, res, next) => {
    const origin = req.get('origin');
    if (origin === undefined || SAFE_METHODS.has(req.method)) return next();
    const normalised = origin.trim().toLowerCase();
    if (normalised === ownOrigin(req) || allowed.includes(normalised)) return next();
    res.setHeader('Connection', 'close');
    sendError(res, { type: 'ForeignOrigin', origin: origin.slice(0, 200) });
  };

/** Bodies are stored byte for byte: a compressed one would be stored compressed, as if it were the state. */
export const refuseEncodedBodies: RequestHandler = (req, res, next) => {
  const encoding = req.get('content-encoding')?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') return next();
  sendError(res, { type: 'UnsupportedEncoding', encoding: encoding.slice(0, 100) });
};

/**
 * Query values must be valid percent-encoded UTF-8: the lenient parser would turn a bad byte into
 * U+FFFD, and a lock ID would be stored as something the client never sent.
 */
export const strictQuery: RequestHandler = (req, res, next) => {
  const question = req.originalUrl.indexOf('?');
  if (question < 0) return next();
  try {
    for (const part of req.originalUrl.slice(question + 1).split('&')) decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return sendError(res, { type: 'BadRequest', code: 'invalid_query', message: 'the query string must be percent-encoded UTF-8' });
  }
  next();
};

/**
 * For routes that read a small body whole: the request must have arrived in full within `ms`, or
 * it is answered 408 and the connection closed (a client trickling bytes must not hold it open).
 */
export const receiveWithin =
  (ms: number): RequestHandler =>
  (req, res, next) => {
    if (req.complete) return next();
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      sendError(res, { type: 'RequestTimeout', ms });
    }, ms);
    res.once('close', () => clearTimeout(timer));
    next();
  };
