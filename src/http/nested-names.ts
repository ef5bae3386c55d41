import type { RequestHandler } from 'express';
import { isSubResource } from '../events/state-name.js';
import { badRequest, sendError } from './errors.js';

const READS = new Set(['GET', 'HEAD']);
/** The sub-resources a write may address: anything else after a name is a name the client meant to use. */
const WRITABLE = new Set(['lock', 'unlock', 'rollback']);
const writable = (segment: string): boolean => WRITABLE.has(segment.toLowerCase());

/** `versions/V/pin`: an administrator pinning or unpinning a version (src/http/history-routes.ts). */
const isPin = (rest: readonly string[]): boolean => rest.length === 3 && rest[0]?.toLowerCase() === 'versions' && rest[2]?.toLowerCase() === 'pin';

/**
 * Lets names hold `/` (`/states/team-a/prod/network/lock`): the path is split at the first segment
 * that names a sub-resource, and the name's own `/`s are encoded, so every route below keeps
 * matching `/states/:name[/...]` and receives the whole name as one parameter.
 */
export const nestedStateNames: RequestHandler = (req, res, next) => {
  if (!req.url.startsWith('/states/')) return next();
  const queryAt = req.url.indexOf('?');
  const path = queryAt < 0 ? req.url : req.url.slice(0, queryAt);
  const segments = path.slice('/states/'.length).split('/');
  // One trailing slash is no segment (`address = ".../states/app/"` always worked, as routes are not strict).
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  if (segments.length < 2) return next();
  const at = segments.findIndex((segment, i) => i > 0 && isSubResource(segment));
  const name = at < 0 ? segments : segments.slice(0, at);
  const rest = at < 0 ? [] : segments.slice(at);
  if (!READS.has(req.method) && rest.length > 0 && !(rest.length === 1 && writable(rest[0]!)) && !isPin(rest)) {
    return sendError(res, badRequest('invalid_name', `"${rest[0]}" names a sub-resource and cannot be a segment of a state name`));
  }
  req.url = `/states/${name.join('%2F')}${rest.map((segment) => `/${segment}`).join('')}${queryAt < 0 ? '' : req.url.slice(queryAt)}`;
  next();
};
