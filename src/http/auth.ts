import { parse as parseCookies } from 'cookie';
import type { Request, RequestHandler } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuthFailure, Authenticator, Credentials, Principal } from '../identity/authenticate.js';
import { isJwtShaped } from '../identity/oidc.js';
import { SESSION_COOKIE } from '../identity/sessions.js';
import { looksLikeToken } from '../identity/tokens.js';
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

/**
 * A user name as it may appear in a log line: bounded, with control characters escaped, and never
 * a secret sent in the wrong field (a token or a JWT given as the user name).
 */
const loggable = (name: string | undefined): string | null => {
  if (name === undefined) return null;
  if (looksLikeToken(name) || (name.length > 40 && isJwtShaped(name))) return '(a token or JWT given as the user name: not logged)';
  return JSON.stringify(name.slice(0, 100)).slice(1, -1);
};

/** `Bearer <secret>` as RFC 6750 writes it. */
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/** The console session cookie's value, if the request carries one (the Cookie header is bounded by Node's header limit). */
const sessionCookie = (req: Request): string | undefined => {
  const header = req.headers.cookie;
  return header === undefined ? undefined : parseCookies(header)[SESSION_COOKIE];
};

/**
 * What the request presents: its Authorization header, else its verified client certificate, else
 * a console session cookie (undefined: malformed).
 */
export const credentialsOf = (req: Request, certificateName: (req: Request) => string | undefined): Credentials | undefined => {
  const header = req.headers.authorization;
  if (header === undefined) {
    const name = certificateName(req);
    if (name !== undefined) return { kind: 'certificate', name };
    const session = sessionCookie(req);
    return session === undefined ? { kind: 'none' } : { kind: 'session', secret: session };
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
/** What a failed sign-in counts against: the user name tried (Basic), else the kind of credential. */
const identityKey = (credentials: Credentials | undefined): string =>
  credentials === undefined ? 'malformed' : credentials.kind === 'basic' ? `user:${credentials.name}` : credentials.kind;

export const authentication = ({ authenticator, logger, failuresPerMinute, certificateName = () => undefined }: AuthOptions): RequestHandler => {
  // Per address and identity tried, so that guessing one user's password from a shared address
  // (a NAT, a CI egress) does not lock out everyone else there; and a looser limit per address,
  // so that guessing across many user names is bounded too. Only failures count.
  const perIdentity = new RateLimiterMemory({ points: failuresPerMinute, duration: 60 });
  const perAddress = new RateLimiterMemory({ points: failuresPerMinute * 10, duration: 60 });
  /**
   * Counts a failure ahead, before a password is checked, so that guesses sent in parallel are
   * counted as they start; answers false when a limit is spent. Given back if the password was right.
   */
  const reserve = async (address: string, key: string): Promise<boolean> => {
    try {
      await perAddress.consume(address);
    } catch (limit) {
      if (limit instanceof Error) throw limit;
      return false;
    }
    try {
      await perIdentity.consume(key);
      return true;
    } catch (limit) {
      await perAddress.reward(address);
      if (limit instanceof Error) throw limit;
      return false;
    }
  };

  /** Seconds to wait when either limit is spent, else undefined. */
  const blocked = async (address: string, key: string): Promise<number | undefined> => {
    for (const [limiter, id] of [[perAddress, address], [perIdentity, key]] as const) {
      const counted = await limiter.get(id);
      if (counted !== null && counted.consumedPoints >= limiter.points) return Math.max(1, Math.ceil(counted.msBeforeNext / 1000));
    }
    return undefined;
  };

  return async (req, res, next) => {
    const address = req.ip ?? req.socket?.remoteAddress ?? 'unknown';
    const credentials = credentialsOf(req, certificateName);
    // A script's request (the console's fetches and event stream: Sec-Fetch-Dest empty) never asks the
    // browser for Basic credentials: it would show its own dialog, and the request wait on it.
    const challenge = credentials?.kind !== 'session' && !req.path.startsWith('/ui/') && req.get('sec-fetch-dest') !== 'empty';
    if (credentials?.kind === 'none') {
      // No credentials is no failed sign-in: nothing to count.
      res.setHeader('Connection', 'close');
      return sendError(res, { type: 'Unauthorized', challenge });
    }
    const key = `${address}\u0000${identityKey(credentials)}`;
    const wait = await blocked(address, key);
    if (wait !== undefined) return sendError(res, { type: 'TooManyLoginFailures', retryAfterSeconds: wait });
    // Password checks (never the cached ones) are counted before they run; other failures after.
    let reserved = false;
    const mayCheck = async () => (reserved = await reserve(address, key));
    const outcome: E.Either<AuthFailure, Principal> =
      credentials === undefined
        ? E.left({ kind: 'rejected', reason: 'the Authorization header is neither valid Basic nor Bearer credentials' })
        : await authenticator.authenticate(credentials, mayCheck);
    if (E.isRight(outcome)) {
      if (reserved) await Promise.all([perAddress.reward(address), perIdentity.reward(key)]);
      res.locals.principal = outcome.right;
      return next();
    }
    const failure = outcome.left;
    res.setHeader('Connection', 'close');
    switch (failure.kind) {
      case 'throttled':
        return sendError(res, { type: 'TooManyLoginFailures', retryAfterSeconds: (await blocked(address, key)) ?? 1 });
      case 'unavailable':
        if (reserved) await Promise.all([perAddress.reward(address), perIdentity.reward(key)]);
        logger.warn({ remote_address: address, reason: failure.reason, request_id: res.locals.requestId }, 'credentials could not be checked');
        return sendError(res, { type: 'ServerBusy', message: `the credentials could not be checked: ${failure.reason}` });
      case 'missing':
        return sendError(res, { type: 'Unauthorized', challenge });
      case 'ended':
        // A session that ended is no guess at a secret: not counted, not logged as a failed login.
        return sendError(res, { type: 'Unauthorized', reason: failure.reason, challenge });
      case 'rejected':
        if (!reserved) await Promise.all([perAddress.penalty(address, 1), perIdentity.penalty(key, 1)]);
        logger.warn({ remote_address: address, user: loggable(failure.name), reason: failure.reason, request_id: res.locals.requestId }, 'failed login');
        return sendError(res, { type: 'Unauthorized', reason: failure.reason, challenge });
    }
  };
};
