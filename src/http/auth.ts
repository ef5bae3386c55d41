import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Users } from '../config.js';
import type { Logger } from '../logger.js';
import { sendError } from './errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Equal-length digests keep the comparison constant-time whatever the input lengths. */
const safeEqual = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

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

export interface AuthOptions {
  readonly users: Users;
  readonly logger: Logger;
  /** Failed logins per client address per minute before it is refused with 429. */
  readonly failuresPerMinute: number;
}

/**
 * HTTP Basic against the configured users; the user name becomes the actor of every event. Failed
 * logins are logged (address and user name, never the password) and counted per client address:
 * past the limit, that address is refused for the rest of the minute while others carry on. A
 * refused request's body is never read, and its connection is closed.
 */
export const basicAuth = ({ users, logger, failuresPerMinute }: AuthOptions): RequestHandler => {
  const entries = [...users.entries()];
  const failures = new RateLimiterMemory({ points: failuresPerMinute, duration: 60 });
  return async (req, res, next) => {
    const address = req.ip ?? req.socket?.remoteAddress ?? 'unknown';
    const counted = await failures.get(address);
    if (counted !== null && counted.consumedPoints >= failuresPerMinute) {
      return sendError(res, { type: 'TooManyLoginFailures', retryAfterSeconds: Math.max(1, Math.ceil(counted.msBeforeNext / 1000)) });
    }
    const credentials = parseBasic(req.headers.authorization);
    // Compare against every user so the time taken does not reveal which names exist.
    const matched = entries.reduce<string | undefined>((found, [name, password]) => {
      const nameMatches = safeEqual(name, credentials?.name ?? '');
      const passwordMatches = safeEqual(password, credentials?.password ?? '');
      return nameMatches && passwordMatches ? name : found;
    }, undefined);
    if (credentials === undefined || matched === undefined) {
      if (req.headers.authorization !== undefined) {
        await failures.penalty(address, 1);
        logger.warn({ remote_address: address, user: loggable(credentials?.name), request_id: res.locals.requestId }, 'failed login');
      }
      res.setHeader('Connection', 'close');
      return sendError(res, { type: 'Unauthorized' });
    }
    res.locals.actor = matched;
    next();
  };
};
