import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Users } from '../config.js';
import { sendError } from './errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Equal-length digests keep the comparison constant-time whatever the input lengths. */
const safeEqual = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

const parseBasic = (header: string | undefined): { name: string; password: string } | undefined => {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
};

/** HTTP Basic against the configured users; the user name becomes the actor of every event. */
export const basicAuth = (users: Users): RequestHandler => {
  const entries = [...users.entries()];
  return (req, res, next) => {
    const credentials = parseBasic(req.headers.authorization);
    // Compare against every user so the time taken does not reveal which names exist.
    const matched = entries.reduce<string | undefined>((found, [name, password]) => {
      const nameMatches = safeEqual(name, credentials?.name ?? '');
      const passwordMatches = safeEqual(password, credentials?.password ?? '');
      return nameMatches && passwordMatches ? name : found;
    }, undefined);
    if (credentials === undefined || matched === undefined) return sendError(res, { type: 'Unauthorized' });
    res.locals.actor = matched;
    next();
  };
};
