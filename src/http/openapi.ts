import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express from 'express';
import { MAX_WAIT_SECONDS } from './codecs.js';
import { components, parameterRef, responseRef, schemaRef } from './openapi/components.js';
import { outputsPaths } from './openapi/outputs.js';
import { eventStreamPaths } from './openapi/event-stream.js';
import { contentsPaths } from './openapi/contents.js';
import { runsPaths } from './openapi/runs.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, served without authentication at GET /openapi.json.
 * Written by hand; test/http/openapi.test.ts fails when a route of the app is missing from it, when
 * it lists a route the app does not have, or when a route answers a status it does not list.
 */

type Json = Record<string, unknown>;

/** The package's version, read from package.json at run time (two levels above src/http and dist/http). */
const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const json = (schema: Json): Json => ({ 'application/json': { schema } });
const text = (description: string): Json => ({ 'text/plain': { schema: { type: 'string', description } } });
const answer = (description: string, content?: Json, headers?: Json): Json => ({
  description,
  ...(headers === undefined ? {} : { headers }),
  ...(content === undefined ? {} : { content }),
});
const stateBodyHeaders = {
  ETag: { $ref: '#/components/headers/ETag' },
  'X-State-Version': { $ref: '#/components/headers/X-State-Version' },
  'Content-MD5': { $ref: '#/components/headers/Content-MD5' },
};
const TABLE = 'An aligned table, one row per entry (with `Accept: text/plain` or `?format=table`).';

/** How an operation is reached: which of the guards in front of the routes can answer it. */
interface Reach {
  /** Behind authentication (every route but the health checks and this document). */
  readonly auth: boolean;
  /** Checks a role (on the state named, or admin on `*`): 403 for too low a role. */
  readonly role?: boolean;
  /** Changes something: 403 for a foreign Origin, 507 when the disk or database is full, 409 when the stream keeps changing. */
  readonly write?: boolean;
  /** Reads a small JSON body whole: 408 when it does not arrive in time, 413 over 64 KiB. */
  readonly smallBody?: boolean;
}

interface OperationSpec {
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly parameters?: readonly Json[];
  readonly requestBody?: Json;
  /** The operation's own answers, by status; the guards' are added from `reach`. */
  readonly responses: Record<string, Json>;
}

/** The operation with every status it can answer: its own, and those of the guards that reach it. */
const operation = (spec: OperationSpec, reach: Reach): Json => {
  const generic: Record<string, Json> = { '400': responseRef('BadRequest'), '500': responseRef('InternalError') };
  if (reach.auth) {
    Object.assign(generic, {
      '401': responseRef('Unauthorized'),
      '415': responseRef('UnsupportedEncoding'),
      '429': responseRef('TooManyRequests'),
      '503': responseRef('Unavailable'),
    });
  }
  if (reach.auth && (reach.role === true || reach.write === true)) generic['403'] = responseRef('Forbidden');
  if (reach.write === true) Object.assign(generic, { '409': responseRef('Conflict'), '507': responseRef('InsufficientStorage') });
  if (reach.smallBody === true) Object.assign(generic, { '408': responseRef('RequestTimeout'), '413': responseRef('TooLarge') });
  const all = { ...generic, ...spec.responses };
  const responses = Object.fromEntries(Object.keys(all).sort().map((status) => [status, all[status]]));
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    tags: spec.tags,
    ...(reach.auth ? {} : { security: [] }),
    ...(spec.parameters === undefined ? {} : { parameters: spec.parameters }),
    ...(spec.requestBody === undefined ? {} : { requestBody: spec.requestBody }),
    responses,
  };
};

const NAME = parameterRef('StateName');
const lockInfoBody = (required: boolean, description: string): Json => ({ required, description, content: json(schemaRef('LockInfo')) });
const smallJsonBody = (schema: string, description?: string): Json => ({
  required: true,
  ...(description === undefined ? {} : { description }),
  content: json(schemaRef(schema)),
});
const stateNotFound = answer('The state does not exist, or the caller has no role on it.', json(schemaRef('Error')));

// ---------------------------------------------------------------------------------------------
// The Terraform/OpenTofu protocol

const lockOperation = (operationId: string, summary: string): Json =>
  operation(
    {
      operationId,
      summary,
      description:
        'Takes the lock with the LockInfo given. The same ID asking again is a retry and is answered 200 again. With LOCK_TTL, the lock has a lease, and a lock past it may be taken over.',
      tags: ['protocol'],
      parameters: [NAME, parameterRef('ContentMd5')],
      requestBody: lockInfoBody(true, 'The LockInfo to lock with; ID is required.'),
      responses: {
        '200': answer('Locked: the LockInfo given.', json(schemaRef('LockInfo'))),
        '404': stateNotFound,
        '423': responseRef('LockHeld'),
      },
    },
    { auth: true, role: true, write: true, smallBody: true },
  );

const unlockOperation = (operationId: string, summary: string): Json =>
  operation(
    {
      operationId,
      summary,
      description:
        "Releases the lock. The holder's own LockInfo releases it; so does an unlock when nothing is locked, or with the ID of the lock released last (a retry). " +
        "An empty body (Terraform's force-unlock) or a body with only the holder's ID (OpenTofu 1.10+) releases someone else's lock: for `admin` only (403 for `write`), recorded as LockForceReleased.",
      tags: ['protocol'],
      parameters: [NAME, parameterRef('ContentMd5')],
      requestBody: lockInfoBody(false, 'The LockInfo locked with, only its ID, or nothing (a force-unlock).'),
      responses: {
        '200': answer('Unlocked (or nothing to unlock).', json(schemaRef('UnlockResult'))),
        '404': stateNotFound,
        '409': answer(
          "Another ID holds the lock: the body is the holder's LockInfo. Also `conflict` (an Error) when the state kept changing.",
          json({ oneOf: [schemaRef('LockInfo'), schemaRef('Error')] }),
        ),
      },
    },
    { auth: true, role: true, write: true, smallBody: true },
  );

const pushOperation = (operationId: string, summary: string): Json =>
  operation(
    {
      operationId,
      summary,
      description:
        'Stores a new version. A push of exactly the current bytes under the lock ID that version was written under is a retry whose answer was lost: it answers that version and stores nothing. ' +
        'Bodies are limited to MAX_STATE_BYTES (512 MiB by default), streamed to disk, never held in memory.',
      tags: ['protocol'],
      parameters: [NAME, parameterRef('LockIdQuery'), parameterRef('ContentMd5')],
      requestBody: {
        required: true,
        description: 'The state, byte for byte, at most MAX_STATE_BYTES (512 MiB by default).',
        content: json(schemaRef('StateDocument')),
      },
      responses: {
        '200': answer('Stored.', json(schemaRef('PushResult'))),
        '404': stateNotFound,
        '408': responseRef('RequestTimeout'),
        '409': answer('`lock_lost`: an ID was given but no lock is held (it was force-unlocked); or `conflict`.', json(schemaRef('Error'))),
        '413': responseRef('TooLarge'),
        '423': responseRef('LockHeld'),
      },
    },
    { auth: true, role: true, write: true },
  );

const statePath: Json = {
  get: operation(
    {
      operationId: 'getState',
      summary: 'The current state, byte for byte (or as it was at a time)',
      description:
        'With only the `outputs` role: a valid state holding only the outputs (sensitive ones marked), so that `terraform_remote_state` works with least privilege; `at` then needs `read`.',
      tags: ['protocol'],
      parameters: [NAME, parameterRef('At'), parameterRef('IfNoneMatch')],
      responses: {
        '200': answer('The state.', json(schemaRef('StateDocument')), stateBodyHeaders),
        '304': responseRef('NotModified'),
        '410': responseRef('Gone'),
        '404': answer('No such state (or none at `at`, or the caller has no role on it): an empty body for a missing state, as the clients expect; an Error otherwise.', json(schemaRef('Error'))),
        '422': answer('An `outputs`-only caller asked for a state whose outputs cannot be served (`outputs_too_large`, `unreadable_state`).', json(schemaRef('Error'))),
      },
    },
    { auth: true, role: true },
  ),
  post: pushOperation('pushState', 'Store a new version (what the clients send with update_method POST, the default)'),
  put: pushOperation('putState', 'Store a new version (update_method PUT)'),
  delete: operation(
    {
      operationId: 'deleteState',
      summary: 'Delete a state (its versions stay in the history)',
      tags: ['protocol'],
      parameters: [NAME, parameterRef('LockIdQuery')],
      responses: {
        '200': answer('Deleted, or nothing to delete.', json(schemaRef('DeleteResult'))),
        '404': stateNotFound,
        '409': answer('`lock_lost` or `conflict`.', json(schemaRef('Error'))),
        '423': responseRef('LockHeld'),
      },
    },
    { auth: true, role: true, write: true },
  ),
  'x-lock': lockOperation('lockStateWebDav', 'LOCK: take the lock (the clients\' default lock_method)'),
  'x-unlock': unlockOperation('unlockStateWebDav', 'UNLOCK: release the lock (the clients\' default unlock_method)'),
};

// ---------------------------------------------------------------------------------------------
// Our JSON API

const read = { auth: true, role: true } as const;
const format = parameterRef('Format');

const paths: Json = {
  '/livez': {
    get: operation(
      {
        operationId: 'livez',
        summary: 'Liveness: the process answers (touches no dependency)',
        tags: ['health'],
        responses: { '200': answer('Alive.', json(schemaRef('Health'))) },
      },
      { auth: false },
    ),
  },
  ...Object.fromEntries(
    (['/readyz', '/healthz'] as const).map((path) => [
      path,
      {
        get: operation(
          {
            operationId: path.slice(1),
            summary: `Readiness: PostgreSQL and the blob store both answer within READY_TIMEOUT_SECONDS${path === '/healthz' ? ' (an alias of /readyz)' : ''}`,
            tags: ['health'],
            responses: {
              '200': answer('Ready.', json(schemaRef('Health'))),
              '503': answer('A dependency does not answer in time (which one, not why: the reasons go to the log).', json(schemaRef('Health'))),
            },
          },
          { auth: false },
        ),
      },
    ]),
  ),
  '/openapi.json': {
    get: operation(
      {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['health'],
        parameters: [parameterRef('IfNoneMatch')],
        responses: {
          '200': answer('The OpenAPI 3.1 document.', json({ type: 'object' }), { ETag: { $ref: '#/components/headers/ETag' } }),
          '304': responseRef('NotModified'),
        },
      },
      { auth: false },
    ),
  },
  '/metrics': {
    get: operation(
      {
        operationId: 'metrics',
        summary: 'Prometheus metrics (admin on `*`; METRICS_PORT serves them without authentication)',
        tags: ['operations'],
        responses: {
          '200': answer('Prometheus text format 0.0.4.', text('Prometheus exposition text.')),
          '503': responseRef('Unavailable'),
        },
      },
      { auth: true, role: true },
    ),
  },
  '/states': {
    get: operation(
      {
        operationId: 'listStates',
        summary: 'The states the caller may read, with their version, size, who wrote it and lock',
        tags: ['states'],
        parameters: [
          {
            name: 'prefix',
            in: 'query',
            required: false,
            description: 'Only names starting with it (one subtree of nested names: `team-a/`).',
            schema: { type: 'string', pattern: '^[A-Za-z0-9._/-]{0,512}$' },
          },
        ],
        responses: { '200': answer('The states.', json(schemaRef('StateList'))) },
      },
      { auth: true },
    ),
  },
  '/states/{name}': statePath,
  '/states/{name}/lock': {
    get: operation(
      {
        operationId: 'getLock',
        summary: 'Who holds the lock, since when, until when (or who held it at a time)',
        tags: ['locks'],
        parameters: [NAME, parameterRef('At')],
        responses: {
          '200': answer('The lock (with `at`: a PastLock).', json({ oneOf: [schemaRef('HeldLock'), schemaRef('PastLock')] })),
          '404': answer('Not locked (then), or no such state, or no role on it.', json(schemaRef('Error'))),
        },
      },
      read,
    ),
    post: lockOperation('lockState', 'Take the lock (lock_method POST)'),
    delete: operation(
      {
        operationId: 'releaseLock',
        summary: 'An administrator releases a lock, with a reason',
        tags: ['locks'],
        parameters: [NAME, parameterRef('ContentMd5')],
        requestBody: smallJsonBody('ReleaseRequest'),
        responses: {
          '200': answer('Released (or nothing was locked).', json(schemaRef('ReleaseResult'))),
          '404': stateNotFound,
          '409': answer("`ID` names a lock other than the one held: the body is the holder's LockInfo. Also `conflict` (an Error).", json({ oneOf: [schemaRef('LockInfo'), schemaRef('Error')] })),
        },
      },
      { auth: true, role: true, write: true, smallBody: true },
    ),
    'x-lock': lockOperation('lockStateLockWebDav', 'LOCK on /lock: take the lock'),
  },
  '/states/{name}/unlock': {
    post: unlockOperation('unlockState', 'Release the lock (unlock_method POST)'),
    'x-unlock': unlockOperation('unlockStateUnlockWebDav', 'UNLOCK on /unlock: release the lock'),
  },
  '/states/{name}/outputs': {
    get: operation(
      {
        operationId: 'getOutputs',
        summary: "The current version's outputs as JSON (role `outputs` or more)",
        tags: ['states'],
        parameters: [NAME],
        responses: {
          '200': answer('The outputs; an `outputs`-only caller gets sensitive ones without their `value`.', json(schemaRef('Outputs'))),
          '403': answer('An `outputs`-only caller and an encrypted state (reading it needs `read`); or too low a role.', json(schemaRef('Error'))),
          '404': answer('No current version, no such state, or no role on it.', json(schemaRef('Error'))),
          '410': responseRef('Gone'),

          '422': answer('`encrypted_state` (to a reader), `outputs_too_large` (over 64 MiB), `unreadable_state`.', json(schemaRef('Error'))),
        },
      },
      read,
    ),
  },
  ...outputsPaths,
  '/locks': {
    get: operation(
      {
        operationId: 'listLocks',
        summary: 'Every lock held on the states the caller may read',
        tags: ['locks'],
        parameters: [format],
        responses: { '200': answer('The locks, oldest first.', { ...json(schemaRef('LockList')), ...text(TABLE) }) },
      },
      { auth: true },
    ),
  },
  '/ui/session': {
    post: operation(
      {
        operationId: 'openConsoleSession',
        summary: "Signs in to the web console: opens a session for the credentials sent (a user's password as Basic, or an API token) and sets its cookie",
        description:
          'The session (12 hours) is kept in PostgreSQL, so every server process honours it; its cookie `state_ledger_session` is HttpOnly, SameSite=Strict, ' +
          'and Secure under TLS. Any route then takes the cookie in place of an Authorization header, with the grants the user or token has at that moment. ' +
          "The console's own requests, and any request a browser's script sends (`Sec-Fetch-Dest: empty`), are never answered with `WWW-Authenticate` (a browser would show its own dialog, and hold the request until it is answered).",
        tags: ['console'],
        responses: {
          '200': answer('Signed in.', json(schemaRef('ConsoleSession')), { 'Set-Cookie': { description: 'The session cookie.', schema: { type: 'string' } } }),
          '400': answer('`unsupported_sign_in`: a JWT, a client certificate or a session cannot open a console session.', json(schemaRef('Error'))),
          '403': responseRef('Forbidden'),
        },
      },
      { auth: true },
    ),
    get: operation(
      {
        operationId: 'consoleSession',
        summary: 'Who the caller is (the session, or any credentials), and their grants',
        tags: ['console'],
        responses: { '200': answer('The caller.', json(schemaRef('ConsoleSession'))) },
      },
      { auth: true },
    ),
    delete: operation(
      {
        operationId: 'endConsoleSession',
        summary: "Signs out: ends the cookie's session at once, for every process, and clears the cookie",
        tags: ['console'],
        responses: {
          '200': answer('Signed out (`signed_out: false` when the request carried no session).', json({ type: 'object', required: ['signed_out'], properties: { signed_out: { type: 'boolean' } } })),
          '403': responseRef('Forbidden'),
        },
      },
      { auth: true },
    ),
  },
  '/states/{name}/versions': {
    get: operation(
      {
        operationId: 'listVersions',
        summary: 'The history, newest first',
        tags: ['history'],
        parameters: [
          NAME,
          parameterRef('Limit'),
          { name: 'before', in: 'query', required: false, description: 'Versions before this one (the `next` of the previous page).', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } },
          { $ref: '#/components/parameters/At', description: 'Only the versions that existed then.' },
          format,
        ],
        responses: {
          '200': answer('A page of versions.', { ...json(schemaRef('VersionList')), ...text(TABLE) }),
          '404': stateNotFound,
        },
      },
      read,
    ),
  },
  '/states/{name}/versions/{version}': {
    get: operation(
      {
        operationId: 'getVersion',
        summary: 'Exactly the bytes of one version',
        tags: ['history'],
        parameters: [NAME, parameterRef('Version'), parameterRef('IfNoneMatch')],
        responses: {
          '200': answer('The version.', json(schemaRef('StateDocument')), stateBodyHeaders),
          '304': responseRef('NotModified'),
          '410': responseRef('Gone'),
          '404': answer('No such version, no such state, or no role on it.', json(schemaRef('Error'))),
        },
      },
      read,
    ),
  },
  '/states/{name}/versions/{version}/pin': {
    post: operation(
      {
        operationId: 'pinVersion',
        summary: 'Keep a version from retention (admin); the reason and the actor are recorded',
        tags: ['history'],
        parameters: [NAME, parameterRef('Version'), parameterRef('ContentMd5')],
        requestBody: smallJsonBody('PinRequest'),
        responses: {
          '200': answer('Pinned (changed: false when it was already).', json(schemaRef('PinResult'))),
          '404': answer('No such version, no such state, or no role on it.', json(schemaRef('Error'))),
          '410': responseRef('Gone'),
        },
      },
      { auth: true, role: true, write: true, smallBody: true },
    ),
    delete: operation(
      {
        operationId: 'unpinVersion',
        summary: 'Let retention apply to a version again (admin)',
        tags: ['history'],
        parameters: [NAME, parameterRef('Version')],
        responses: {
          '200': answer('Unpinned (changed: false when it was not pinned).', json(schemaRef('PinResult'))),
          '404': answer('No such version, no such state, or no role on it.', json(schemaRef('Error'))),
        },
      },
      { auth: true, role: true, write: true, smallBody: true },
    ),
  },
  '/states/{name}/diff': {
    get: operation(
      {
        operationId: 'diffVersions',
        summary: 'What changed between two versions (resources by address, attribute names only; outputs, sensitive values hidden)',
        tags: ['history'],
        parameters: [
          NAME,
          { name: 'from', in: 'query', required: false, description: "Defaults to `to`'s predecessor.", schema: { type: 'integer', minimum: 1, maximum: 2147483647 } },
          { name: 'to', in: 'query', required: false, description: 'Defaults to the current version.', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } },
          format,
        ],
        responses: {
          '200': answer('The diff.', { ...json(schemaRef('Diff')), ...text('A `+ / - / ~` listing (with `Accept: text/plain` or `?format=table`).') }),
          '410': responseRef('Gone'),
          '404': answer('No such version, no current version, no such state, or no role on it.', json(schemaRef('Error'))),
          '422': answer(
            '`encrypted_state`, `too_large_to_diff` (over 32 MiB), `too_deep_to_diff` (nested over 1,000 levels), `cannot_diff` (needs more memory or time than a diff gets).',
            json(schemaRef('Error')),
          ),
        },
      },
      read,
    ),
  },
  '/states/{name}/rollback': {
    post: operation(
      {
        operationId: 'rollback',
        summary: "Append a new version whose content is an earlier version's (history is never rewritten)",
        description:
          "A plain state gets serial max(current, the version's) + 1, so Terraform never sees the serial go backwards; an encrypted state is restored byte for byte. Works on a deleted state. Same lock rules as a push.",
        tags: ['history'],
        parameters: [NAME, parameterRef('LockIdQuery'), parameterRef('ContentMd5')],
        requestBody: smallJsonBody('RollbackRequest'),
        responses: {
          '200': answer('Restored as a new version.', json(schemaRef('RollbackResult'))),
          '410': responseRef('Gone'),
          '404': answer('No such version, no such state, or no role on it.', json(schemaRef('Error'))),
          '409': answer('`lineage_mismatch` (send `"force": true`), `serial_exhausted`, `lock_lost`, `conflict`.', json(schemaRef('Error'))),
          '423': responseRef('LockHeld'),
        },
      },
      { auth: true, role: true, write: true, smallBody: true },
    ),
  },
  '/states/{name}/events': {
    get: operation(
      {
        operationId: 'stateEvents',
        summary: 'The audit trail of one state: every event, oldest first (or newest first)',
        tags: ['audit'],
        parameters: [
          NAME,
          { name: 'after', in: 'query', required: false, description: 'A stream version: events after it, oldest first (the `next` of the previous page).', schema: { type: 'integer', minimum: 0, maximum: 999999999999999 } },
          { name: 'order', in: 'query', required: false, description: '`newest`: newest first, from the latest event (not with `after`).', schema: { type: 'string', enum: ['oldest', 'newest'] } },
          { name: 'before', in: 'query', required: false, description: 'A stream version: events before it, newest first (the `next` of the previous newest-first page; not with `after`).', schema: { type: 'integer', minimum: 1, maximum: 999999999999999 } },
          parameterRef('Limit'),
          { $ref: '#/components/parameters/Wait', description: `Checked (0 to ${MAX_WAIT_SECONDS}) but without effect here: only /events long-polls.` },
          format,
        ],
        responses: {
          '200': answer('A page of events.', { ...json(schemaRef('StateEvents')), ...text(TABLE) }),
          '404': stateNotFound,
        },
      },
      read,
    ),
  },
  '/events': {
    get: operation(
      {
        operationId: 'feed',
        summary: 'The global feed: every event of the states the caller may read (and of `$access` for access administrators), in commit order',
        description:
          'Shows only transactions older than every running one, so a reader that follows `next` never misses an event that commits late. With `wait`, a long poll: it answers as soon as an event commits after the cursor, or with an empty page when the time is up.',
        tags: ['audit'],
        parameters: [
          {
            name: 'after',
            in: 'query',
            required: false,
            description:
              'A position: events after it (the `next` of the previous read); or `now`, the present, to follow only what happens next. A position the feed has not reached yet answers an empty page whose `next` keeps it.',
            schema: { oneOf: [{ type: 'integer', minimum: 0, maximum: 999999999999999 }, { const: 'now' }], default: 0 },
          },
          parameterRef('Limit'),
          parameterRef('Wait'),
          format,
        ],
        responses: {
          '200': answer('A page of events (possibly empty).', { ...json(schemaRef('Feed')), ...text(TABLE) }),
        },
      },
      { auth: true },
    ),
  },
  ...eventStreamPaths,
  ...contentsPaths,
  ...runsPaths,
};

// ---------------------------------------------------------------------------------------------
// Access (admin on `*`)

const manage = { auth: true, role: true } as const;
const change = { auth: true, role: true, write: true } as const;
const changeWithBody = { ...change, smallBody: true } as const;
const listing = (operationId: string, summary: string, schema: string): Json =>
  operation(
    { operationId, summary, tags: ['access'], parameters: [format], responses: { '200': answer(summary, { ...json(schemaRef(schema)), ...text(TABLE) }) } },
    manage,
  );
const errorAnswer = (description: string): Json => answer(description, json(schemaRef('Error')));

Object.assign(paths, {
  '/access/users': {
    get: listing('listUsers', 'The users', 'UserList'),
    post: operation(
      {
        operationId: 'addUser',
        summary: 'Add a user (its password generated and answered once when none is given)',
        tags: ['access'],
        requestBody: smallJsonBody('NewUser'),
        responses: { '201': answer('Added.', json(schemaRef('CreatedUser'))), '409': errorAnswer('`user_exists`, or `conflict`.') },
      },
      changeWithBody,
    ),
  },
  '/access/users/{user}/password': {
    put: operation(
      {
        operationId: 'changePassword',
        summary: "Set a user's password",
        description: "Ends the user's console sessions, in every process within a second, except the one this request came through.",
        tags: ['access'],
        parameters: [parameterRef('User')],
        requestBody: smallJsonBody('PasswordChange'),
        responses: { '200': answer('Changed.', json(schemaRef('PasswordChanged'))), '404': errorAnswer('No such user.') },
      },
      changeWithBody,
    ),
  },
  '/access/users/{user}': {
    delete: operation(
      {
        operationId: 'removeUser',
        summary: 'Remove a user and its grants',
        tags: ['access'],
        parameters: [parameterRef('User')],
        responses: {
          '200': answer('Removed.', json(schemaRef('UserRemoved'))),
          '404': errorAnswer('No such user.'),
          '409': errorAnswer('`last_administrator` (nobody would be left with admin on `*`), or `conflict`.'),
        },
      },
      change,
    ),
  },
  '/access/tokens': {
    get: listing('listTokens', 'The API tokens (never their secrets)', 'TokenList'),
    post: operation(
      {
        operationId: 'createToken',
        summary: 'Create an API token: its secret is answered this once',
        tags: ['access'],
        requestBody: smallJsonBody('NewToken'),
        responses: { '201': answer('Created.', json(schemaRef('CreatedToken'))), '409': errorAnswer('`token_exists`, or `conflict`.') },
      },
      changeWithBody,
    ),
  },
  '/access/tokens/{token}': {
    delete: operation(
      {
        operationId: 'revokeToken',
        summary: 'Revoke a token and its grants',
        tags: ['access'],
        parameters: [parameterRef('Token')],
        responses: {
          '200': answer('Revoked.', json(schemaRef('TokenRevoked'))),
          '404': errorAnswer('No such token.'),
          '409': errorAnswer('`last_administrator`, or `conflict`.'),
        },
      },
      change,
    ),
  },
  '/access/grants': {
    get: listing('listGrants', 'The grants', 'GrantList'),
    post: operation(
      {
        operationId: 'grant',
        summary: 'Grant a role on the states matching a glob',
        description: 'An `oidc:` subject must name an issuer of OIDC_ISSUERS.',
        tags: ['access'],
        requestBody: smallJsonBody('Grant'),
        responses: { '200': answer('Granted (or it was already).', json(schemaRef('GrantAdded'))), '422': errorAnswer('`unknown_subject`: add the user or create the token first.') },
      },
      changeWithBody,
    ),
    delete: operation(
      {
        operationId: 'revokeGrant',
        summary: 'Revoke a grant',
        tags: ['access'],
        requestBody: smallJsonBody('Grant'),
        responses: {
          '200': answer('Revoked.', json(schemaRef('GrantRevoked'))),
          '404': errorAnswer('No such grant.'),
          '409': errorAnswer('`last_administrator`, or `conflict`.'),
        },
      },
      changeWithBody,
    ),
  },
  '/access/apply': {
    post: operation(
      {
        operationId: 'applyAccess',
        summary: 'Make access exactly what the file says (as `state-ledger access apply`)',
        tags: ['access'],
        parameters: [{ name: 'dry_run', in: 'query', required: false, description: 'Only say what would change.', schema: { type: 'string', enum: ['true', 'false'], default: 'false' } }],
        requestBody: smallJsonBody('AccessFile'),
        responses: {
          '200': answer('Applied (or, with dry_run, what would be).', json(schemaRef('AccessApplied'))),
          '409': errorAnswer('`last_administrator`, or `conflict`.'),
          '422': errorAnswer('`unknown_subject`.'),
        },
      },
      changeWithBody,
    ),
  },
});

const DESCRIPTION = `A Terraform/OpenTofu http state backend with an append-only ledger.

**LOCK and UNLOCK.** The http backend's default lock and unlock methods are the WebDAV methods LOCK and UNLOCK, for which OpenAPI 3.1 has no fields. They are described here as operation objects under the path-item extensions \`x-lock\` and \`x-unlock\` (on \`/states/{name}\`, \`/states/{name}/lock\` and \`/states/{name}/unlock\`); tools that do not know these extensions ignore them. \`POST /states/{name}/lock\` and \`POST /states/{name}/unlock\` are the standard equivalents (set \`lock_method\` and \`unlock_method\` to POST with those addresses).

**State names** may contain \`/\` (\`team-a/prod/network\`); see the \`name\` parameter.

**Every GET also answers HEAD**, with the same status and headers and no body. OPTIONS on an existing path (once authenticated) answers 200 with an \`Allow\` header. A method or path that no operation here names is answered 404 \`not_found\`.

**Errors** are \`{"error": "<code>", "message": "<sentence>"}\`, always JSON, except lock conflicts (423, and 409 on unlock), whose body is the holder's LockInfo, and a 404 for a missing state on \`GET /states/{name}\`, which is empty, as both clients expect. The guards in front of every route (authentication, Origin, Content-Encoding, query encoding, login throttling, dependencies) answer the shared responses of \`components.responses\`, listed on every operation they reach.

**Every answer** carries \`X-Request-Id\` (the caller's, when it sends a sane one), \`X-Content-Type-Options: nosniff\` and \`Cache-Control: no-store\` (this document excepted).`;

/** The document: a plain object, built once per process. */
export const openApiDocument = (): Json => ({
  openapi: '3.1.0',
  info: {
    title: 'state-ledger',
    version: packageVersion(),
    summary: 'Terraform/OpenTofu http state backend with an append-only ledger',
    description: DESCRIPTION,
    license: { name: 'MIT', identifier: 'MIT' },
  },
  jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
  servers: [{ url: '/', description: 'This server' }],
  security: [{ basic: [] }, { bearer: [] }, { mutualTLS: [] }],
  tags: [
    { name: 'protocol', description: 'The Terraform/OpenTofu http backend protocol, exactly as both clients speak it.' },
    { name: 'states', description: 'Which states exist, and their outputs.' },
    { name: 'locks', description: 'Who holds which lock; an administrator releasing one.' },
    { name: 'history', description: 'Versions, their bytes, diffs, rollback.' },
    { name: 'audit', description: 'Every event, per state and in one global feed.' },
    { name: 'access', description: 'Users, tokens and grants (admin on `*`).' },
    { name: 'health', description: 'Without authentication.' },
    { name: 'console', description: 'Web console sessions (the console itself is served at `/ui/`).' },
    { name: 'operations', description: 'Metrics.' },
  ],
  paths,
  components: components(),
});

/** GET /openapi.json, without authentication: the document holds no secrets. */
export const openApiRoutes = (): express.Router => {
  const body = JSON.stringify(openApiDocument());
  const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
  const router = express.Router();
  router.get('/openapi.json', (req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('ETag', etag);
    if (req.get('if-none-match') === etag) return void res.status(304).end();
    res.type('application/json').send(body);
  });
  return router;
};
