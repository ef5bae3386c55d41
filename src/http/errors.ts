import type { Response } from 'express';
import type { BodyError } from '../bodies/ingest.js';
import type { CommandError } from '../commands/errors.js';
import { assertNever } from '../commands/state.js';

/** Refusals found at the edge, before any command is decided. */
export type RequestError =
  | { readonly type: 'BadRequest'; readonly code: string; readonly message: string }
  | { readonly type: 'NotFound'; readonly message: string }
  | { readonly type: 'Unprocessable'; readonly code: string; readonly message: string }
  | { readonly type: 'Conflict'; readonly code: string; readonly message: string }
  | { readonly type: 'Unauthorized' };

export type HttpError = CommandError | BodyError | RequestError;

export const badRequest = (code: string, message: string): RequestError => ({ type: 'BadRequest', code, message });
export const notFound = (message: string): RequestError => ({ type: 'NotFound', message });

export interface ErrorResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

const problem = (status: number, error: string, message: string, headers?: Record<string, string>): ErrorResponse => ({
  status,
  body: { error, message },
  ...(headers === undefined ? {} : { headers }),
});

/**
 * The one place where errors become HTTP statuses (and the CLI's messages). Lock conflicts answer
 * the holder's LockInfo as the body, because both clients parse it to print who holds the lock.
 * Nothing here is a 5xx: the clients retry those.
 */
export const errorResponse = (error: HttpError): ErrorResponse => {
  switch (error.type) {
    case 'LockHeld':
      return { status: 423, body: error.holder };
    case 'LockMismatch':
      return { status: 409, body: error.holder };
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
    case 'RollbackStale':
      return problem(409, 'conflict', 'the state changed while the rollback was prepared; try again');
    case 'EmptyBody':
      return problem(400, 'empty_body', 'the body is empty; a state push needs a JSON state');
    case 'TooLarge':
      return problem(413, 'too_large', `the body exceeds the limit of ${error.limit} bytes`, { Connection: 'close' });
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
      return problem(401, 'unauthorized', 'valid HTTP Basic credentials are required', {
        'WWW-Authenticate': 'Basic realm="state-ledger", charset="UTF-8"',
      });
    default:
      return assertNever(error);
  }
};

export const sendError = (res: Response, error: HttpError): void => {
  const { status, body, headers } = errorResponse(error);
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res.status(status).json(body);
};
