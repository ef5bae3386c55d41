import type { Response } from 'express';
import type { AccessError } from '../access/decide.js';
import type { BodyError } from '../bodies/body-error.js';
import { CorruptBody } from '../bodies/verified-stream.js';
import type { CommandError } from '../commands/errors.js';
import { assertNever } from '../assert-never.js';
import { faultOf } from '../storage/failures.js';

/** Refusals found at the edge, before any command is decided. */
export type RequestError =
  | { readonly type: 'BadRequest'; readonly code: string; readonly message: string }
  | { readonly type: 'NotFound'; readonly message: string }
  | { readonly type: 'Unprocessable'; readonly code: string; readonly message: string }
  | { readonly type: 'Conflict'; readonly code: string; readonly message: string }
  /** reason: why the credentials given were refused (absent when none were given). */
  /** challenge: false leaves out WWW-Authenticate (the web console's requests: a browser would show its own dialog). */
  | { readonly type: 'Unauthorized'; readonly reason?: string | undefined; readonly challenge?: boolean }
  /** The caller has a role here, but not the one needed. */
  | { readonly type: 'Forbidden'; readonly message: string }
  /** The caller has no role at all on this state: answered the same whether or not it exists. */
  | { readonly type: 'Hidden'; readonly name: string }
  /** A state-changing request sent from a web page of another site. */
  | { readonly type: 'ForeignOrigin'; readonly origin: string }
  | { readonly type: 'UnsupportedEncoding'; readonly encoding: string }
  /** Too many uploads at once from this client. */
  | { readonly type: 'TooManyUploads'; readonly limit: number }
  /** The server has as much of some work in hand as it takes; a retry shortly will do. */
  | { readonly type: 'ServerBusy'; readonly message: string }
  | { readonly type: 'TooManyLoginFailures'; readonly retryAfterSeconds: number }
  /** The request did not arrive in full within its time. */
  | { readonly type: 'RequestTimeout'; readonly ms: number };

export type HttpError = CommandError | BodyError | RequestError | AccessError;

export const badRequest = (code: string, message: string): RequestError => ({ type: 'BadRequest', code, message });
export const notFound = (message: string): RequestError => ({ type: 'NotFound', message });

export interface ErrorResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Answers that leave a request body unread must close the connection: its bytes would be taken for the next request. */
const CLOSE = { Connection: 'close' };

const problem = (status: number, error: string, message: string, headers?: Record<string, string>): ErrorResponse => ({
  status,
  body: { error, message },
  ...(headers === undefined ? {} : { headers }),
});

/**
 * The one place where errors become HTTP statuses (and the CLI's messages). Lock conflicts answer
 * the holder's LockInfo as the body, because both clients parse it to print who holds the lock.
 * Nothing here but a busy server is a 5xx: the clients retry those.
 */
export const errorResponse = (error: HttpError): ErrorResponse => {
  switch (error.type) {
    case 'LockHeld':
      return { status: 423, body: error.holder };
    case 'LockMismatch':
      return { status: 409, body: error.holder };
    case 'ForceUnlockForbidden': {
      const { ID, Who, Operation, Created } = error.holder;
      return problem(
        403,
        'forbidden',
        `releasing a lock this client does not hold (a force-unlock) needs the admin role on the state; the lock ${ID} is held by ` +
          `${Who ?? 'an unnamed holder'}${Operation === undefined ? '' : ` for ${Operation}`}${Created === undefined ? '' : ` since ${Created}`}, and releasing it may break that run`,
      );
    }
    case 'LockLost':
      return problem(409, 'lock_lost', `lock ${error.lockId} is not held any more (it was released or force-unlocked); refusing the write`);
    case 'ConcurrencyConflict':
      return problem(409, 'conflict', `state ${error.streamId} kept changing during ${error.attempts} attempts; try again`);
    case 'VersionNotFound':
      return problem(404, 'not_found', `version ${error.version} does not exist`);
    case 'LineageMismatch':
      return problem(
        409,
        'lineage_mismatch',
        `the version's lineage ${error.target} differs from the current lineage ${error.head}; send "force": true to restore it anyway`,
      );
    case 'SerialExhausted':
      return problem(
        409,
        'serial_exhausted',
        `the state's serial is already ${error.serial}, the largest Terraform can count to, so a rollback cannot give the restored version a higher one`,
      );
    case 'RollbackStale':
      return problem(409, 'conflict', 'the state changed while the rollback was prepared; try again');
    case 'VersionPruned':
      return problem(
        410,
        'version_pruned',
        `version ${error.version} of state ${error.name} was pruned on ${error.prunedAt} by the retention policy ${error.policy}; its metadata remains in GET /states/${error.name}/versions`,
      );
    case 'PruneStale':
      return problem(409, 'conflict', `state ${error.name} was pruned while the request was prepared; try again`);
    case 'EmptyBody':
      return problem(400, 'empty_body', 'the body is empty; a state push needs a JSON state');
    case 'TooLarge':
      return problem(413, 'too_large', `the body exceeds the limit of ${error.limit} bytes`, CLOSE);
    case 'BodyStalled':
      return problem(408, 'body_stalled', `no byte of the body arrived for ${error.idleMs / 1000} s; the upload was dropped`, CLOSE);
    case 'InvalidContentMd5':
      return problem(400, 'invalid_content_md5', 'Content-MD5 must be a base64 MD5 digest');
    case 'ContentMd5Mismatch':
      return problem(400, 'content_md5_mismatch', `Content-MD5 is ${error.declared} but the body's MD5 is ${error.actual}`);
    case 'InvalidState':
      return problem(400, 'invalid_state', error.reason);
    case 'BadRequest':
      return problem(400, error.code, error.message);
    case 'NotFound':
      return problem(404, 'not_found', error.message);
    case 'Unprocessable':
      return problem(422, error.code, error.message);
    case 'Conflict':
      return problem(409, error.code, error.message);
    case 'Unauthorized':
      return problem(
        401,
        'unauthorized',
        error.reason === undefined
          ? 'credentials are required: HTTP Basic (a user and password; or user name token or oidc with an API token or a JWT as the password), or Authorization: Bearer <token or JWT>'
          : `the credentials were refused: ${error.reason}`,
        error.challenge === false ? {} : { 'WWW-Authenticate': 'Basic realm="state-ledger", charset="UTF-8"' },
      );
    case 'Forbidden':
      return problem(403, 'forbidden', error.message);
    case 'Hidden':
      return problem(404, 'not_found', `state ${error.name} does not exist, or this identity has no role on it`);
    case 'UserExists':
      return problem(409, 'user_exists', `user ${error.name} exists already`);
    case 'UserUnknown':
      return problem(404, 'not_found', `there is no user ${error.name}`);
    case 'TokenExists':
      return problem(409, 'token_exists', `token ${error.name} exists already; revoke it first to make a new one under that name`);
    case 'TokenUnknown':
      return problem(404, 'not_found', `there is no token ${error.name}`);
    case 'GrantUnknown':
      return problem(404, 'not_found', `${error.grant.subject} has no ${error.grant.role} grant on ${error.grant.glob}`);
    case 'LastAdministrator':
      return problem(409, 'last_administrator', 'this would leave nobody with admin on * (who may manage access); grant it to someone else first');
    case 'SubjectUnknown':
      return problem(422, 'unknown_subject', `${error.subject} does not exist; add the user or create the token before granting it a role`);
    case 'ForeignOrigin':
      return problem(
        403,
        'foreign_origin',
        `state-changing requests from web pages of ${error.origin} are refused; add the origin to ALLOWED_ORIGINS to allow them`,
      );
    case 'UnsupportedEncoding':
      return problem(415, 'unsupported_encoding', `Content-Encoding ${error.encoding} is not accepted; send the body uncompressed`);
    case 'TooManyUploads':
      return problem(429, 'too_many_uploads', `this client already has ${error.limit} uploads in progress; retry when one has finished`, {
        ...CLOSE,
        'Retry-After': '2',
      });
    case 'ServerBusy':
      return problem(503, 'server_busy', error.message, { ...CLOSE, 'Retry-After': '2' });
    case 'TooManyLoginFailures':
      return problem(429, 'too_many_login_failures', 'too many failed logins from this address; wait before trying again', {
        ...CLOSE,
        'Retry-After': String(error.retryAfterSeconds),
      });
    case 'RequestTimeout':
      return problem(408, 'request_timeout', `the request did not arrive in full within ${error.ms / 1000} s`, CLOSE);
    default:
      return assertNever(error);
  }
};

export const sendError = (res: Response, error: HttpError): void => sendResponse(res, errorResponse(error));

/**
 * An error nobody turned into a value: a dependency failing (503, the clients retry; 507 for a
 * full disk) or a bug (500). Never a stack trace or a path in the body; the log has the details.
 */
export const failureResponse = (error: unknown): ErrorResponse => {
  // A stored body that fails its checksum (send-body.ts): the server's fault, and a retry will not mend it.
  if (error instanceof CorruptBody) return problem(500, 'corrupt_body', error.publicMessage);
  const fault = faultOf(error);
  if (fault === undefined) return problem(500, 'internal', 'the server failed to handle the request; see its log');
  if (fault.problem === 'full') {
    return problem(507, 'insufficient_storage', `the server's ${fault.dependency === 'disk' ? 'disk' : 'database'} is full; retry once space has been freed`, {
      'Retry-After': '30',
    });
  }
  return problem(503, 'unavailable', `the server's ${fault.dependency} is unavailable; retry shortly`, { 'Retry-After': '5' });
};

export const sendResponse = (res: Response, { status, body, headers }: ErrorResponse): void => {
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res.status(status).json(body);
};
