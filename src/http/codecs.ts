import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { isStorable } from '../events/storable-string.js';
import { isStateName, STATE_NAME_RULE, stateNameProblem } from '../events/state-name.js';
import { parseInstant } from '../instant.js';

export { parseInstant };
import { badRequest, type RequestError } from './errors.js';


interface StateNameBrand {
  readonly StateName: unique symbol;
}
export const StateName = t.brand(t.string, (s): s is t.Branded<string, StateNameBrand> => isStateName(s), 'StateName');
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

const InstantFromString = new t.Type<Date, string, unknown>(
  'RFC3339',
  (u): u is Date => u instanceof Date,
  (u, c) => {
    const date = typeof u === 'string' ? parseInstant(u) : undefined;
    return date === undefined ? t.failure(u, c) : t.success(date);
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
/** `GET /states/NAME/runs?before=V`: runs that began before version V. */
export const RunsQuery = t.partial({ limit: PositiveIntFromString, before: PositiveIntFromString, format: Format });
export const FormatQuery = t.partial({ format: Format });

const NAME_PREFIX = /^[A-Za-z0-9._/-]{0,512}$/;
/** `GET /states?prefix=team-a/`: one subtree of nested names. */
export const StatesQuery = t.partial({ prefix: t.refinement(t.string, (s) => NAME_PREFIX.test(s), 'NamePrefix') });

/** DELETE /states/:name/lock: an administrator releasing a lock; ID guards against releasing a lock taken since. */
export const ReleaseBody = t.intersection([t.type({ reason: NonEmptyString }), t.partial({ ID: NonEmptyString })]);
/** Seconds a global-feed read may wait for new events (a long poll). */
export const MAX_WAIT_SECONDS = 60;
const WaitSeconds = t.refinement(NonNegativeIntFromString, (n) => n <= MAX_WAIT_SECONDS, 'WaitSeconds');

/** A state's events: oldest first after `after`, or newest first (`order=newest`) before `before`. */
export const EventsQuery = t.partial({
  after: NonNegativeIntFromString,
  before: PositiveIntFromString,
  order: t.union([t.literal('oldest'), t.literal('newest')]),
  limit: PositiveIntFromString,
  wait: WaitSeconds,
  format: Format,
});
/** The global feed's cursor may also be `now`: the present, to follow only what happens next. */
export const FeedQuery = t.partial({ after: t.union([NonNegativeIntFromString, t.literal('now')]), limit: PositiveIntFromString, wait: WaitSeconds, format: Format });
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

/**
 * A client's value as a message may quote it: scalars short and as JSON (so nothing in them is
 * taken for markup), objects and arrays only by kind (they may be nested arbitrarily deep).
 */
const quoted = (value: unknown): string => {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
};

/**
 * Decodes one input at the edge. A failure becomes one sentence naming the first field that is
 * wrong and what it expects (`fields` says it in words), never io-ts's account of its types.
 */
export const decodeInput =
  <A>(codec: t.Decoder<unknown, A>, code: string, fields: Readonly<Record<string, string>>, whole: string, from: 'query' | 'other' = 'other') =>
  (input: unknown): E.Either<RequestError, A> =>
    pipe(
      codec.decode(input),
      E.mapLeft((errors) => {
        const error = errors[0];
        const field = error?.context.map((entry) => entry.key).find((key) => Object.hasOwn(fields, key));
        if (error === undefined || field === undefined) return badRequest(code, whole);
        const value = error.context.find((entry) => entry.key === field)?.actual;
        const got =
          value === undefined
            ? 'it is missing'
            : Array.isArray(value) && from === 'query'
              ? 'it was given more than once'
              : `got ${quoted(value)}`;
        return badRequest(code, `${field} must be ${fields[field]}; ${got}`);
      }),
    );

const NAME = STATE_NAME_RULE;
const VERSION = 'a version number (1, 2, 3, ...)';
const INSTANT = 'an RFC 3339 time with an offset, such as 2026-11-25T08:00:00Z';
const FORMAT = 'json or table';
const PAGE = 'a positive integer (a page holds at most 1000)';

const decodeStateParamsShape = decodeInput(StateParams, 'invalid_name', { name: NAME }, `the state name must be ${NAME}`);
/** A name refused for a reason the pattern does not tell (a reserved word, its length) also says which. */
export const decodeStateParams = (input: unknown): E.Either<RequestError, t.TypeOf<typeof StateParams>> =>
  E.mapLeft((error: RequestError) => {
    const name = (input as { name?: unknown } | null)?.name;
    const problem = typeof name === 'string' ? stateNameProblem(name) : undefined;
    const refused = error.type === 'BadRequest' ? error.message : `the state name must be ${NAME}`;
    return problem === undefined || !/sub-resource|longer than/.test(problem) ? error : badRequest('invalid_name', `${refused}: ${problem}`);
  })(decodeStateParamsShape(input));
export const decodeVersionParams = decodeInput(VersionParams, 'invalid_version', { name: NAME, version: VERSION }, `expected a state name and ${VERSION}`);
export const decodeWriteQuery = decodeInput(WriteQuery, 'invalid_lock_id', { ID: 'a non-empty lock ID, given once' }, 'ID must be a non-empty lock ID, given once', 'query');
export const decodeVersionsQuery = decodeInput(
  VersionsQuery,
  'invalid_query',
  { limit: PAGE, before: VERSION, at: INSTANT, format: FORMAT },
  'the query is not valid',
  'query',
);
export const decodeRunsQuery = decodeInput(RunsQuery, 'invalid_query', { limit: PAGE, before: VERSION, format: FORMAT }, 'the query is not valid', 'query');
export const decodeAtQuery = decodeInput(AtQuery, 'invalid_query', { at: INSTANT }, `at must be ${INSTANT}`, 'query');
export const decodeFormatQuery = decodeInput(FormatQuery, 'invalid_query', { format: FORMAT }, `format must be ${FORMAT}`, 'query');
export const decodeStatesQuery = decodeInput(
  StatesQuery,
  'invalid_query',
  { prefix: 'the start of a state name: letters, digits, ".", "_", "-" and "/", at most 512 characters, given once' },
  'the query is not valid',
  'query',
);
export const decodeReleaseBody = decodeInput(
  ReleaseBody,
  'invalid_release',
  { reason: 'non-empty text saying why', ID: 'the ID of the lock to release, as GET /states/NAME/lock shows it' },
  'the body must be a JSON object: {"reason": "<why>", "ID": "<optional: the lock to release>"}',
);
const eventsQueryFields = (after: string) => ({ after, limit: PAGE, wait: `a number of seconds from 0 to ${MAX_WAIT_SECONDS}`, format: FORMAT });
export const decodeEventsQuery = decodeInput(
  EventsQuery,
  'invalid_query',
  { ...eventsQueryFields('a stream version: a non-negative integer'), before: 'a stream version: a positive integer', order: 'oldest or newest' },
  'the query is not valid',
  'query',
);
export const decodeFeedQuery = decodeInput(FeedQuery, 'invalid_query', eventsQueryFields('a position (a non-negative integer) or now'), 'the query is not valid', 'query');
export const decodeDiffQuery = decodeInput(DiffQuery, 'invalid_query', { from: VERSION, to: VERSION, format: FORMAT }, 'from and to must be version numbers', 'query');
export const decodeRollbackBody = decodeInput(
  RollbackBody,
  'invalid_rollback',
  { version: `${VERSION} as a JSON number`, reason: 'non-empty text saying why', force: 'true or false' },
  'the body must be a JSON object: {"version": <version number>, "reason": "<why>", "force": <optional true or false>}',
);
