import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { accountNameError, decodeAccessFile, grantError } from '../access/access-file.js';
import { described } from '../access/described.js';
import { EXPIRY_FORMS, parseExpiry } from '../access/expiry.js';
import type { Grant } from '../access/roles.js';
import { untrustedIssuer } from '../access/trusted-issuers.js';
import type { OidcIssuer } from '../identity/oidc-issuers.js';
import type { OidcVerifier } from '../identity/oidc.js';
import type { AccessManager } from '../application/manage-access.js';
import type { AccessEvent } from '../events/access-events.js';
import { keepSession, sessionSha256 } from '../identity/sessions.js';
import type { TrafficLimits } from '../config.js';
import type { Logger } from '../logger.js';
import { listGrants, listTokens, listUsers } from '../projections/access-queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import { principalOf, requireAccessManager } from './access-control.js';
import { credentialsOf } from './auth.js';
import { badRequest, sendError, type HttpError, type RequestError } from './errors.js';
import { commandMetadata } from './request-context.js';
import { readSmallJson, smallBody } from './small-body.js';
import { sendTable, wantsTable } from './text-table.js';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Passwords given over the API: long enough to resist guessing, short enough to hash cheaply. */
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;

const passwordError = (password: unknown): string | undefined =>
  typeof password !== 'string' || [...password].length < MIN_PASSWORD || password.length > MAX_PASSWORD
    ? `password must be text of ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`
    : undefined;

/** A JSON object body with only the keys named, else one sentence saying what it should be. */
const objectBody = (req: Request, code: string, keys: readonly string[], shape: string): E.Either<HttpError, Record<string, unknown>> =>
  E.flatMap(readSmallJson(req), (body): E.Either<HttpError, Record<string, unknown>> => {
    if (!isObject(body)) return E.left(badRequest(code, `the body must be a JSON object: ${shape}`));
    const extra = Object.keys(body).find((key) => !keys.includes(key));
    return extra === undefined ? E.right(body) : E.left(badRequest(code, `unknown field ${described(extra)}; the body is ${shape}`));
  });

const checked = <A>(code: string, error: string | undefined, value: A): E.Either<RequestError, A> => (error === undefined ? E.right(value) : E.left(badRequest(code, error)));

const GRANT_SHAPE = '{"role": "outputs|read|write|admin", "subject": "user:NAME|token:NAME|oidc:ISSUER[:claim=value,...]", "glob": "team-a-*"}';

/** A grant in the body; with `trusted`, one naming an issuer outside it is refused. */
const grantBody = (req: Request, trusted?: readonly OidcIssuer[]): E.Either<HttpError, Grant> =>
  E.flatMap(objectBody(req, 'invalid_grant', ['role', 'subject', 'glob'], GRANT_SHAPE), (body) => {
    const error = grantError({ role: body.role, subject: body.subject, glob: body.glob });
    return checked('invalid_grant', error ?? (trusted === undefined ? undefined : untrustedIssuer(body as unknown as Grant, trusted)), body as unknown as Grant);
  });

/**
 * A changed password ends the user's console sessions (src/identity/authenticate.ts), except the
 * one the user changed it through: that one is moved to the new password.
 */
const keepOwnSession = async (db: SqlExecutor, req: Request, res: Response, name: string, events: readonly AccessEvent[]): Promise<void> => {
  const credentials = credentialsOf(req, () => undefined);
  const salt = events.flatMap((event) => (event.type === 'UserPasswordChanged' ? [event.data.password.salt] : []))[0];
  if (credentials?.kind !== 'session' || principalOf(res).actor !== `user:${name}` || salt === undefined) return;
  await keepSession(db, sessionSha256(credentials.secret), name, salt);
};

const pathName = (req: Request, kind: 'user' | 'token'): E.Either<RequestError, string> => {
  const name = req.params[kind];
  return checked(`invalid_${kind}`, accountNameError(kind, name), String(name));
};

/** Users, tokens and grants over HTTP, for administrators of every state (admin on `*`). */
export const accessRoutes = (deps: {
  readonly db: SqlExecutor;
  readonly access: AccessManager;
  readonly logger: Logger;
  readonly traffic: TrafficLimits;
  readonly oidc?: OidcVerifier | undefined;
}): express.Router => {
  const { db, access } = deps;
  const issuers = deps.oidc?.issuers ?? [];
  const router = express.Router();
  const small = smallBody(deps.traffic.requestTimeoutMs);
  router.use('/access', requireAccessManager(deps.logger));

  /** Answers the outcome of an access command: 200 (or `status`) with `reply`, or the error. */
  const answer = <A>(res: Response, outcome: E.Either<HttpError, A>, reply: (value: A) => unknown, status = 200): void =>
    E.isLeft(outcome) ? sendError(res, outcome.left) : void res.status(status).json(reply(outcome.right));

  router.get('/access/users', async (req, res) => {
    const users = await listUsers(db);
    if (wantsTable(req)) return sendTable(res, ['name', 'password', 'updated', 'by'], users.map((u) => [u.name, u.has_password ? 'set' : 'none', u.updated_at, u.updated_by]));
    res.json({ users });
  });

  router.post('/access/users', ...small, async (req, res) => {
    const body = E.flatMap(objectBody(req, 'invalid_user', ['name', 'password'], '{"name": "alice", "password": "<optional; generated when absent>"}'), (b) =>
      checked('invalid_user', accountNameError('user', b.name) ?? (b.password === undefined ? undefined : passwordError(b.password)), b),
    );
    if (E.isLeft(body)) return sendError(res, body.left);
    const name = body.right.name as string;
    const outcome = await access.addUser(name, body.right.password as string | undefined, commandMetadata(req, res));
    answer(res, outcome, ({ password }) => ({ name, ...(password === undefined ? {} : { password }) }), 201);
  });

  router.put('/access/users/:user/password', ...small, async (req, res) => {
    const name = pathName(req, 'user');
    if (E.isLeft(name)) return sendError(res, name.left);
    const body = E.flatMap(objectBody(req, 'invalid_password', ['password'], '{"password": "<at least 12 characters>"}'), (b) => checked('invalid_password', passwordError(b.password), b));
    if (E.isLeft(body)) return sendError(res, body.left);
    const outcome = await access.changePassword(name.right, body.right.password as string, commandMetadata(req, res));
    if (E.isRight(outcome)) await keepOwnSession(db, req, res, name.right, outcome.right);
    answer(res, outcome, () => ({ name: name.right }));
  });

  router.delete('/access/users/:user', async (req, res) => {
    const name = pathName(req, 'user');
    if (E.isLeft(name)) return sendError(res, name.left);
    answer(res, await access.removeUser(name.right, commandMetadata(req, res)), (events) => ({ removed: name.right, grants_revoked: events.length - 1 }));
  });

  router.get('/access/tokens', async (req, res) => {
    const tokens = await listTokens(db);
    if (wantsTable(req)) return sendTable(res, ['name', 'created', 'by', 'expires', 'last used'], tokens.map((k) => [k.name, k.created_at, k.created_by, k.expires_at, k.last_used_at]));
    res.json({ tokens });
  });

  router.post('/access/tokens', ...small, async (req, res) => {
    const body = E.flatMap(objectBody(req, 'invalid_token', ['name', 'expires'], '{"name": "ci-deploy", "expires": "<optional: 30d, or a time>"}'), (b) =>
      checked('invalid_token', accountNameError('token', b.name) ?? (b.expires === undefined || (typeof b.expires === 'string' && parseExpiry(b.expires, new Date()) !== undefined) ? undefined : `expires must be ${EXPIRY_FORMS}`), b),
    );
    if (E.isLeft(body)) return sendError(res, body.left);
    const name = body.right.name as string;
    const expires = typeof body.right.expires === 'string' ? (parseExpiry(body.right.expires, new Date()) ?? null) : null;
    const outcome = await access.createToken(name, expires, commandMetadata(req, res));
    answer(res, outcome, ({ secret }) => ({ name, secret, expires_at: expires }), 201);
  });

  router.delete('/access/tokens/:token', async (req, res) => {
    const name = pathName(req, 'token');
    if (E.isLeft(name)) return sendError(res, name.left);
    answer(res, await access.revokeToken(name.right, commandMetadata(req, res)), (events) => ({ revoked: name.right, grants_revoked: events.length - 1 }));
  });

  router.get('/access/grants', async (req, res) => {
    const grants = await listGrants(db);
    if (wantsTable(req)) return sendTable(res, ['role', 'subject', 'states', 'granted', 'by'], grants.map((g) => [g.role, g.subject, g.glob, g.granted_at, g.granted_by]));
    res.json({ grants });
  });

  router.post('/access/grants', ...small, async (req, res) => {
    const grant = grantBody(req, issuers);
    if (E.isLeft(grant)) return sendError(res, grant.left);
    answer(res, await access.grant(grant.right, commandMetadata(req, res)), (events) => ({ ...grant.right, changed: events.length > 0 }));
  });

  router.delete('/access/grants', ...small, async (req, res) => {
    // No issuer check: a grant to an issuer since removed from OIDC_ISSUERS must still be revocable.
    const grant = grantBody(req);
    if (E.isLeft(grant)) return sendError(res, grant.left);
    answer(res, await access.revokeGrant(grant.right, commandMetadata(req, res)), () => ({ ...grant.right, revoked: true }));
  });

  router.post('/access/apply', ...small, async (req, res) => {
    const dryRun = req.query.dry_run;
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') return sendError(res, badRequest('invalid_query', 'dry_run must be true or false, given once'));
    const file = E.flatMap(readSmallJson(req), (body) => E.mapLeft((message: string) => badRequest('invalid_access_file', message))(decodeAccessFile(body)));
    if (E.isLeft(file)) return sendError(res, file.left);
    const untrusted = file.right.grants.map((grant) => untrustedIssuer(grant, issuers)).find((error) => error !== undefined);
    if (untrusted !== undefined) return sendError(res, badRequest('invalid_access_file', untrusted));
    answer(res, await access.apply(file.right, dryRun === 'true', commandMetadata(req, res)), (applied) => ({ dry_run: dryRun === 'true', ...applied }));
  });

  return router;
};
