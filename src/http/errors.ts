import type { Response } from 'express';
import { assertNever } from '../commands/state.js';
import type { CommandError } from '../commands/errors.js';

/** Refusals found at the edge, before any command is decided. */
export type RequestError =
  | { readonly type: 'BadRequest'; readonly code: string; readonly message: string }
  | { readonly type: 'TooLarge'; readonly limit: number }
  | { readonly type: 'NotFound'; readonly message: string }
  | { readonly type: 'Unauthorized' };

export type HttpError = CommandError | RequestError;

export const badRequest = (code: string, message: string): RequestError => ({ type: 'BadRequest', code, message });

const json = (res: Response, status: number, body: unknown): void => {
  res.status(status).json(body);
};
const problem = (res: Response, status: number, error: string, message: string): void =>
  json(res, status, { error, message });

/**
 * The one place where errors become HTTP statuses. Lock conflicts answer the holder's LockInfo
 * as the body, because both clients parse it to print who holds the lock.
 */
export const sendError = (res: Response, error: HttpError): void => {
  switch (error.type) {
    case 'LockHeld':
      return json(res, 423, error.holder);
    case 'LockMismatch':
      return json(res, 409, error.holder);
    case 'LockLost':
      return problem(
        res,
        409,
        'lock_lost',
        `lock ${error.lockId} is not held any more (it was released or force-unlocked); refusing the write`,
      );
    case 'ConcurrencyConflict':
      return problem(res, 409, 'conflict', `state ${error.streamId} kept changing during ${error.attempts} attempts; try again`);
    case 'BadRequest':
      return problem(res, 400, error.code, error.message);
    case 'TooLarge':
      res.setHeader('Connection', 'close');
      return problem(res, 413, 'too_large', `the body exceeds the limit of ${error.limit} bytes (MAX_STATE_BYTES)`);
    case 'NotFound':
      return problem(res, 404, 'not_found', error.message);
    case 'Unauthorized':
      res.setHeader('WWW-Authenticate', 'Basic realm="state-ledger", charset="UTF-8"');
      return problem(res, 401, 'unauthorized', 'valid HTTP Basic credentials are required');
    default:
      return assertNever(error);
  }
};
