import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { isStorable } from '../events/storable-string.js';
import { badRequest, type RequestError } from './errors.js';

const STATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

interface StateNameBrand {
  readonly StateName: unique symbol;
}
export const StateName = t.brand(t.string, (s): s is t.Branded<string, StateNameBrand> => STATE_NAME.test(s), 'StateName');
export type StateName = t.TypeOf<typeof StateName>;

interface NonEmptyBrand {
  readonly NonEmpty: unique symbol;
}
const NonEmptyString = t.brand(t.string, (s): s is t.Branded<string, NonEmptyBrand> => s.length > 0 && isStorable(s), 'NonEmpty');

/** Version numbers are PostgreSQL integers. */
const MAX_VERSION = 2147483647;

const PositiveIntFromString = new t.Type<number, string, unknown>(
  'PositiveInteger',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u > 0,
  (u, c) => {
    const n = typeof u === 'string' && /^[1-9]\d{0,9}$/.test(u) ? Number(u) : NaN;
    return n <= MAX_VERSION ? t.success(n) : t.failure(u, c);
  },
  String,
);

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An instant written as RFC 3339 with its offset, e.g. 2026-11-25T08:00:00Z. */
const InstantFromString = new t.Type<Date, string, unknown>(
  'RFC3339',
  (u): u is Date => u instanceof Date,
  (u, c) => {
    const date = typeof u === 'string' && RFC3339.test(u) ? new Date(u) : undefined;
    return date !== undefined && !Number.isNaN(date.getTime()) ? t.success(date) : t.failure(u, c);
  },
  (d) => d.toISOString(),
);

const NonNegativeIntFromString = new t.Type<number, string, unknown>(
  'NonNegativeInteger',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0,
  (u, c) => {
    const n = typeof u === 'string' && /^\d{1,15}$/.test(u) ? Number(u) : NaN;
    return Number.isSafeInteger(n) ? t.success(n) : t.failure(u, c);
  },
  String,
);

/** Path parameters of /states/:name[/versions/:version]. */
export const StateParams = t.type({ name: StateName });
export const VersionParams = t.type({ name: StateName, version: PositiveIntFromString });

/** `?ID=` on writes: the lock the client believes it holds (absent when it holds none). */
export const WriteQuery = t.partial({ ID: NonEmptyString });

const Format = t.keyof({ json: null, table: null });

export const VersionsQuery = t.partial({ limit: PositiveIntFromString, before: PositiveIntFromString, at: InstantFromString, format: Format });
export const AtQuery = t.partial({ at: InstantFromString });
/** Seconds a global-feed read may wait for new events (a long poll). */
export const MAX_WAIT_SECONDS = 60;
const WaitSeconds = t.refinement(NonNegativeIntFromString, (n) => n <= MAX_WAIT_SECONDS, 'WaitSeconds');

export const EventsQuery = t.partial({ after: NonNegativeIntFromString, limit: PositiveIntFromString, wait: WaitSeconds, format: Format });
export const DiffQuery = t.partial({ from: PositiveIntFromString, to: PositiveIntFromString, format: Format });

/** POST /states/:name/rollback. */
export const RollbackBody = t.intersection([
  t.type({ version: t.refinement(t.number, (n) => Number.isSafeInteger(n) && n > 0 && n <= MAX_VERSION, 'PositiveInteger'), reason: NonEmptyString }),
  t.partial({ force: t.boolean }),
]);

type Decode<A> = (input: unknown) => E.Either<RequestError, A>;

/** For routes that take no query parameters (any given are ignored). */
export const noQuery: Decode<Record<string, never>> = () => E.right({});

/** A request's path parameters and query, decoded together at the edge. */
export const decodeRequest = <P, Q>(req: { params: unknown; query: unknown }, params: Decode<P>, query: Decode<Q>) =>
  pipe(E.Do, E.apS('params', params(req.params)), E.apS('query', query(req.query)));

/** Decodes one input at the edge; the 400 message is io-ts's own account of what was wrong. */
export const decodeInput =
  <A>(codec: t.Decoder<unknown, A>, code: string, what: string) =>
  (input: unknown): E.Either<RequestError, A> =>
    pipe(
      codec.decode(input),
      E.mapLeft((errors) =>
        badRequest(code, `${what}: ${PathReporter.report(E.left(errors)).join('; ')}`),
      ),
    );

export const decodeStateParams = decodeInput(
  StateParams,
  'invalid_name',
  'state names match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
);
export const decodeVersionParams = decodeInput(VersionParams, 'invalid_version', 'expected a state name and a version number');
export const decodeWriteQuery = decodeInput(WriteQuery, 'invalid_lock_id', 'ID must be a single non-empty lock ID');
export const decodeVersionsQuery = decodeInput(
  VersionsQuery,
  'invalid_query',
  'limit and before must be positive integers, at an RFC 3339 time, format json or table',
);
export const decodeAtQuery = decodeInput(AtQuery, 'invalid_query', 'at must be an RFC 3339 time such as 2026-11-25T08:00:00Z');
export const decodeEventsQuery = decodeInput(
  EventsQuery,
  'invalid_query',
  `after must be a non-negative integer, limit a positive one, wait a number of seconds up to ${MAX_WAIT_SECONDS}`,
);
export const decodeDiffQuery = decodeInput(DiffQuery, 'invalid_query', 'from and to must be version numbers');
export const decodeRollbackBody = decodeInput(
  RollbackBody,
  'invalid_rollback',
  'the body must be {"version": <positive integer>, "reason": "<non-empty text>", "force": <optional boolean>}',
);
