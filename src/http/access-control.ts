import type { Request, RequestHandler, Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { atLeast, globToRegex, roleOn, type Role } from '../access/roles.js';
import { mayManageAccess, type Principal } from '../identity/authenticate.js';
import type { Logger } from '../logger.js';
import { decodeStateParams } from './codecs.js';
import { sendError } from './errors.js';

export const principalOf = (res: Response): Principal => res.locals.principal as Principal;

/** The caller's role on the state of this request, as requireRole found it. */
export const roleOf = (res: Response): Role | undefined => res.locals.role as Role | undefined;

/** PostgreSQL regular expressions of the states the caller holds at least `least` on: lists filter with them in the database. */
export const visiblePatterns = (principal: Principal, least: Role = 'read'): string[] =>
  principal.grants.filter((grant) => atLeast(grant.role, least)).map((grant) => globToRegex(grant.glob));

/** Every refusal on the grounds of role is logged: who, which state, what it needed and had. */
export const logDenial = (logger: Logger, req: Request, res: Response, needed: string, state: string | null, has: Role | undefined = roleOf(res)): void =>
  logger.warn(
    { actor: principalOf(res).actor, state, needed, has: has ?? null, method: req.method, path: req.path, request_id: res.locals.requestId },
    'access denied',
  );

/**
 * Lets the request through when the caller holds at least `needed` on the state named in the
 * path. No role at all: the same 404 whether or not the state exists, so names are not disclosed.
 * A lower role: 403 naming the role needed. Runs before any body is read. Every denial is logged.
 */
export const requireRole =
  (needed: Role, logger: Logger): RequestHandler =>
  (req, res, next) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const { name } = params.right;
    const principal = principalOf(res);
    const has = roleOn(principal.grants, name);
    res.locals.role = has;
    if (atLeast(has, needed)) return next();
    logDenial(logger, req, res, needed, name, has);
    if (has === undefined) return sendError(res, { type: 'Hidden', name });
    sendError(res, { type: 'Forbidden', message: `this needs the ${needed} role on state ${name}; ${principal.actor} has ${has}` });
  };

/** Managing users, tokens and grants takes admin on `*`. */
export const requireAccessManager =
  (logger: Logger): RequestHandler =>
  (req, res, next) => {
    if (mayManageAccess(principalOf(res))) return next();
    logDenial(logger, req, res, 'admin on *', null, undefined);
    sendError(res, { type: 'Forbidden', message: `managing access needs the admin role on every state (a grant of admin on *); ${principalOf(res).actor} has none` });
  };

/** For routes that serve more to higher roles: whether the caller's role reaches `role`. */
export const reaches = (res: Response, role: Role): boolean => atLeast(roleOf(res), role);
