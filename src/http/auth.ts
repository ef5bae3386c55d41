import type { Request, RequestHandler } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuthFailure, Authenticator, Credentials, Principal } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';
import { sendError } from './errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `Basic <base64 of name:password>`, strictly: canonical base64 (nothing after the padding, no
 * stray characters), valid UTF-8, and a colon. Anything looser would let odd encodings log in.
 */
export const parseBasic = (header: string | undefined): { name: string; password: string } | undefined => {
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header ?? '');
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64') !== encoded) return undefined;
  let decoded: string;
  try {
    decoded = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
};

/** A user name as it may appear in a log line: bounded, with control characters escaped. */
const loggable = (name: string | undefined): string | null =>
  name === undefined ? null : JSON.stringify(name.slice(0, 100)).slice(1, -1);

/** `Bearer <secret>` as RFC 6750 writes it. */
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/** What the request presents: its Authorization header, else its verified client certificate. */
const credentialsOf = (req: Request, certificateName: (req: Request) => string | undefined): Credentials | undefined => {
  const header = req.headers.authorization;
  if (header === undefined) {
    const name = certificateName(req);
    return name === undefined ? { kind: 'none' } : { kind: 'certificate', name };
  }
  const bearer = BEARER.exec(header);
  if (bearer?.[1] !== undefined) return { kind: 'bearer', secret: bearer[1] };
  const basic = parseBasic(header);
  return basic === undefined ? undefined : { kind: 'basic', ...basic };
};

export interface AuthOptions {
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  /** Failed logins per client address per minute before it is refused with 429. */
  readonly failuresPerMinute: number;
  /** The CN of a verified client certificate (TLS with TLS_CLIENT_CA), if any. */
  readonly certificateName?: (req: Request) => string | undefined;
}

/**
 * Establishes who is calling: HTTP Basic (a user; or user name `token` or `oidc` with a token or
 * a JWT as the password), a Bearer token or JWT, or a client certificate. The principal becomes
 * the actor of every event. Failed logins are logged (address and user name, never a secret) and
 * counted per client address: past the limit, that address is refused for the rest of the minute
 * while others carry on. A refused request's body is never read, and its connection is closed.
 */
export const authentication = ({ authenticator, logger, failuresPerMinute, certificateName = () => undefined }: AuthOptions): RequestHandler => {
  const failures = new RateLimiterMemory({ points: failuresPerMinute, duration: 60 });
  return async (req, res, next) => {
    const address = req.ip ?? req.socket?.remoteAddress ?? 'unknown';
    const counted = await failures.get(address);
    if (counted !== null && counted.consumedPoints >= failuresPerMinute) {
      return sendError(res, { type: 'TooManyLoginFailures', retryAfterSeconds: Math.max(1, Math.ceil(counted.msBeforeNext / 1000)) });
    }
    const credentials = credentialsOf(req, certificateName);
    const outcome: E.Either<AuthFailure, Principal> =
      credentials === undefined ? E.left({ kind: 'rejected', reason: 'the Authorization header is neither valid Basic nor Bearer credentials' }) : await authenticator.authenticate(credentials);
    if (E.isRight(outcome)) {
      res.locals.principal = outcome.right;
      return next();
    }
    const failure = outcome.left;
    res.setHeader('Connection', 'close');
    if (failure.kind === 'unavailable') {
      logger.warn({ remote_address: address, reason: failure.reason, request_id: res.locals.requestId }, 'credentials could not be checked');
      return sendError(res, { type: 'ServerBusy', message: `the credentials could not be checked: ${failure.reason}` });
    }
    if (failure.kind === 'rejected') {
      await failures.penalty(address, 1);
      logger.warn({ remote_address: address, user: loggable(failure.name), reason: failure.reason, request_id: res.locals.requestId }, 'failed login');
    }
    return sendError(res, { type: 'Unauthorized', reason: failure.kind === 'rejected' ? failure.reason : undefined });
  };
};
