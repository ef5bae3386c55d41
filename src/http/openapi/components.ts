import { MAX_STATE_NAME, SUB_RESOURCES } from '../../events/state-name.js';
import { EXPIRY_FORMS } from '../../access/expiry.js';
import { MAX_WAIT_SECONDS } from '../codecs.js';
import { SMALL_BODY_LIMIT } from '../small-body.js';

/**
 * The reusable parts of the OpenAPI document: schemas, parameters, responses and security schemes.
 * Plain JSON Schema 2020-12 (OpenAPI 3.1's dialect), written by hand from the codecs and the
 * routes' answers; test/http/openapi.test.ts keeps it honest.
 */

type Json = Record<string, unknown>;

export const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
export const responseRef = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
export const parameterRef = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });

const nullable = (type: string, extra: Json = {}): Json => ({ type: [type, 'null'], ...extra });
const time = (description: string): Json => ({ type: 'string', format: 'date-time', description });
const nullableTime = (description: string): Json => ({ type: ['string', 'null'], format: 'date-time', description });

/** Version numbers are PostgreSQL integers (codecs.ts). */
const MAX_VERSION = 2147483647;
const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
const SUB_RESOURCE_WORDS = [...SUB_RESOURCES].map((word) => `\`${word}\``).join(', ');
const ACCOUNT_NAME = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' };
const ROLE = { type: 'string', enum: ['outputs', 'read', 'write', 'admin'] };
const GLOB = { type: 'string', pattern: '^[A-Za-z0-9._/*-]{1,256}$', description: 'A state name pattern: `*` matches any run of characters within one `/`-separated segment, `**` as a whole segment any number of segments, and `*` alone every state.' };
const SUBJECT = { type: 'string', description: '`user:NAME`, `token:NAME` or `oidc:ISSUER[:claim=value,...]`.', examples: ['user:alice', 'token:ci-deploy'] };
const TEXT = { type: 'string', description: 'UTF-8 text without NUL characters.' };

const lockInfoProperties: Json = {
  ID: { type: 'string', minLength: 1, description: 'The lock ID the client chose (a UUID for Terraform and OpenTofu); without NUL characters.' },
  Operation: { ...TEXT, examples: ['OperationTypeApply'] },
  Info: TEXT,
  Who: { ...TEXT, examples: ['runner@ci-host'] },
  Version: { ...TEXT, description: 'The client version.' },
  Created: { ...TEXT, description: 'When the client took the lock, as it wrote it.' },
  Path: TEXT,
};

const versionEntry: Json = {
  type: 'object',
  required: ['version', 'serial', 'lineage', 'size', 'sha256', 'created_at', 'created_by'],
  properties: {
    version: { type: 'integer', minimum: 1, description: "The server's own sequence (1, 2, 3, ...), not Terraform's serial." },
    serial: nullable('integer', { description: "Terraform's serial (null for an OpenTofu-encrypted state)." }),
    lineage: nullable('string'),
    terraform_version: nullable('string'),
    size: { type: 'integer', minimum: 0, description: 'Bytes.' },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    md5: nullable('string', { description: 'Base64 MD5 as the pushing client sent it in Content-MD5, if it did.' }),
    encrypted: { type: 'boolean', description: "An OpenTofu-encrypted state (stored byte for byte, never parsed)." },
    resources: nullable('integer', { description: 'Resource count (null when encrypted).' }),
    outputs: nullable('integer', { description: 'Output count (null when encrypted).' }),
    instances: nullable('integer', { description: 'Resource instances in the body (count and for_each expanded), as the contents index counted them: null until it has read the version, and for encrypted or unreadable bodies. Only in the versions list.' }),
    operation: nullable('string', { description: 'The Operation of the lock held at push time.' }),
    who: nullable('string', { description: 'The Who of the lock held at push time.' }),
    restored_from: nullable('integer', { description: 'The version a rollback restored.' }),
    created_at: time('When the version was stored.'),
    created_by: { type: 'string', description: 'The actor: `user:alice`, `token:ci-deploy`, `oidc:<issuer>`, `cert:<CN>`.' },
    lock_id: nullable('string'),
    pinned: {
      description: 'Kept from retention by an administrator; null: not pinned.',
      oneOf: [{ type: 'object', required: ['at', 'by', 'reason'], properties: { at: time('When it was pinned.'), by: { type: 'string' }, reason: { type: 'string' } } }, { type: 'null' }],
    },
    pruned: {
      description: 'Its body removed by a retention policy (the entry remains); null: kept.',
      oneOf: [{ type: 'object', required: ['at', 'policy'], properties: { at: time('When it was pruned.'), policy: { type: 'string', description: 'The rule as written, with its glob.' } } }, { type: 'null' }],
    },
  },
};

const event: Json = {
  type: 'object',
  required: ['position', 'state', 'stream_version', 'type', 'recorded_at', 'actor', 'data'],
  properties: {
    position: { type: 'integer', minimum: 1, description: 'Position in the global feed.' },
    state: { type: 'string', description: 'The stream: a state name, or `$access` for users, tokens and grants.' },
    stream_version: { type: 'integer', minimum: 1 },
    type: { type: 'string', description: 'Past tense, PascalCase: StatePushed, StateLocked, LockReleased, LockForceReleased, StateDeleted, StateRolledBack, UserAdded, GrantAdded, ...' },
    recorded_at: time('Commit time.'),
    actor: { type: 'string' },
    remote_address: nullable('string'),
    user_agent: nullable('string'),
    request_id: nullable('string'),
    lock_id: nullable('string'),
    hash: nullable('string', { description: 'The hash chaining this event to the previous one of its stream.' }),
    data: { type: 'object', description: "The event's data (never a secret: password hashes and token secrets are left out)." },
    claims: { type: 'object', description: 'The JWT claims of an OIDC caller.' },
  },
};

const outputEntry: Json = {
  type: 'object',
  required: ['name', 'sensitive'],
  properties: { name: { type: 'string' }, sensitive: { type: 'boolean' }, value: { description: 'Absent for sensitive outputs.' } },
};

const schemas: Json = {
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', description: 'A stable code: `invalid_name`, `invalid_query`, `not_found`, `lock_lost`, ...', examples: ['invalid_query'] },
      message: { type: 'string', description: 'One sentence naming the field at fault and what it expects.' },
    },
  },
  StateName: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_STATE_NAME,
    pattern: `^${SEGMENT}(/${SEGMENT})*$`,
    description:
      `"/"-separated segments of letters, digits, ".", "_" or "-", each starting with a letter or digit and at most 128 characters, at most ${MAX_STATE_NAME} in all. ` +
      `No segment may be a sub-resource word (${SUB_RESOURCE_WORDS}).`,
    examples: ['network', 'team-a/prod/network'],
  },
  LockInfo: {
    type: 'object',
    required: ['ID'],
    properties: lockInfoProperties,
    description: "Terraform's statemgr.LockInfo as both clients marshal it. Only ID is required; fields other than these are dropped.",
  },
  HeldLock: {
    allOf: [schemaRef('LockInfo')],
    type: 'object',
    required: ['acquired_at', 'acquired_by', 'lease_until', 'expired'],
    properties: {
      acquired_at: time('When the lock was taken.'),
      acquired_by: { type: 'string', description: 'The actor who took it.' },
      lease_until: nullableTime('When its lease ends (LOCK_TTL); null without one.'),
      expired: { type: 'boolean', description: 'Past its lease: another lock may take it over.' },
    },
  },
  PastLock: {
    allOf: [schemaRef('LockInfo')],
    type: 'object',
    required: ['acquired_at', 'acquired_by'],
    properties: { acquired_at: time('When the lock was taken.'), acquired_by: { type: 'string' } },
  },
  ListedLock: {
    allOf: [schemaRef('HeldLock')],
    type: 'object',
    required: ['state', 'age_seconds'],
    properties: { state: schemaRef('StateName'), age_seconds: { type: 'integer', minimum: 0 } },
  },
  LockList: { type: 'object', required: ['locks'], properties: { locks: { type: 'array', items: schemaRef('ListedLock') } } },
  StateDocument: {
    type: 'object',
    description:
      'A Terraform/OpenTofu state (format version 4), or an OpenTofu-encrypted one. Stored byte for byte; the server reads its serial, lineage, resources and outputs. ' +
      'Valid UTF-8 JSON, nested at most 1,000 levels deep.',
  },
  PushResult: {
    type: 'object',
    required: ['version', 'sha256', 'size'],
    properties: { version: { type: 'integer', minimum: 1 }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, size: { type: 'integer', minimum: 0 } },
  },
  DeleteResult: { type: 'object', required: ['deleted'], properties: { deleted: { type: 'boolean', description: 'false when there was nothing to delete.' } } },
  UnlockResult: {
    type: 'object',
    required: ['released', 'forced'],
    properties: { released: { type: 'boolean' }, forced: { type: 'boolean', description: "Someone else's lock was released (recorded as LockForceReleased)." } },
  },
  ReleaseRequest: {
    type: 'object',
    required: ['reason'],
    properties: {
      reason: { type: 'string', minLength: 1, description: 'Why (recorded in the audit trail).' },
      ID: { type: 'string', minLength: 1, description: 'The lock to release, as GET /states/{name}/lock shows it: guards against releasing a lock taken since.' },
    },
  },
  ReleaseResult: {
    type: 'object',
    required: ['released', 'lock', 'reason'],
    properties: { released: { type: 'boolean' }, lock: { oneOf: [schemaRef('LockInfo'), { type: 'null' }] }, reason: { type: 'string' } },
  },
  RollbackRequest: {
    type: 'object',
    required: ['version', 'reason'],
    properties: {
      version: { type: 'integer', minimum: 1, maximum: MAX_VERSION, description: 'The version to restore, as a JSON number.' },
      reason: { type: 'string', minLength: 1 },
      force: { type: 'boolean', default: false, description: 'Restore a version of another lineage.' },
    },
  },
  PinRequest: {
    type: 'object',
    required: ['reason'],
    properties: { reason: { type: 'string', minLength: 1, maxLength: 1000, description: 'Why this version must be kept (not blank).' } },
  },
  PinResult: {
    type: 'object',
    required: ['name', 'version', 'pinned', 'changed'],
    properties: { name: schemaRef('StateName'), version: { type: 'integer', minimum: 1 }, pinned: { type: 'boolean' }, changed: { type: 'boolean' } },
  },
  RollbackResult: {
    type: 'object',
    required: ['version', 'restored_from', 'serial'],
    properties: {
      version: { type: 'integer', minimum: 1, description: 'The new version.' },
      restored_from: { type: 'integer', minimum: 1 },
      serial: nullable('integer', { description: 'The serial the new version carries (null for an encrypted state).' }),
    },
  },
  StateListing: {
    type: 'object',
    required: ['name', 'version', 'size', 'updated_at', 'updated_by', 'who', 'lock'],
    properties: {
      name: schemaRef('StateName'),
      version: nullable('integer', { description: 'null for a state that has only a lock.' }),
      size: nullable('integer'),
      updated_at: nullableTime('When the current version was stored.'),
      updated_by: nullable('string', { description: 'The actor who wrote the current version (`user:alice`, `token:ci-deploy`, ...), its `created_by`; null without one.' }),
      who: nullable('string', { description: 'The Who of the lock held when the current version was written; null without a version or a lock then.' }),
      lock: {
        oneOf: [
          {
            type: 'object',
            required: ['id', 'who', 'operation', 'acquired_at', 'acquired_by'],
            properties: { id: { type: 'string' }, who: nullable('string'), operation: nullable('string'), acquired_at: time('When the lock was taken.'), acquired_by: { type: 'string' } },
          },
          { type: 'null' },
        ],
      },
    },
  },
  StateList: { type: 'object', required: ['states'], properties: { states: { type: 'array', items: schemaRef('StateListing') } } },
  Outputs: {
    type: 'object',
    required: ['name', 'version', 'serial', 'lineage', 'outputs'],
    properties: {
      name: schemaRef('StateName'),
      version: { type: 'integer', minimum: 1 },
      serial: { type: 'integer' },
      lineage: { type: 'string' },
      outputs: { type: 'object', description: "The state's `outputs`, byte for byte as Terraform wrote them (numbers keep every digit)." },
    },
  },
  VersionEntry: versionEntry,
  VersionList: {
    type: 'object',
    required: ['name', 'current', 'versions', 'next'],
    properties: {
      name: schemaRef('StateName'),
      current: nullable('integer', { description: "The state's current version now (whatever `before` or `at` asked): null once the state has been deleted, when its versions remain to roll back to." }),
      versions: { type: 'array', items: schemaRef('VersionEntry'), description: 'Newest first.' },
      next: nullable('integer', { description: 'The `before` of the next page; null on the last one.' }),
    },
  },
  Diff: {
    type: 'object',
    required: ['name', 'from', 'to', 'resources', 'outputs'],
    properties: {
      name: schemaRef('StateName'),
      from: nullable('integer', { description: 'null when `to` is the first version.' }),
      to: { type: 'integer', minimum: 1 },
      resources: {
        type: 'object',
        required: ['added', 'removed', 'changed'],
        properties: {
          added: { type: 'array', items: { type: 'string' }, description: 'Resource addresses.' },
          removed: { type: 'array', items: { type: 'string' } },
          changed: {
            type: 'array',
            items: {
              type: 'object',
              required: ['address', 'attributes'],
              properties: { address: { type: 'string' }, attributes: { type: 'array', items: { type: 'string' }, description: 'Names only, never values.' } },
            },
          },
        },
      },
      outputs: {
        type: 'object',
        required: ['added', 'removed', 'changed'],
        properties: {
          added: { type: 'array', items: outputEntry },
          removed: { type: 'array', items: outputEntry },
          changed: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'sensitive'],
              properties: { name: { type: 'string' }, sensitive: { type: 'boolean' }, before: {}, after: {} },
              description: 'before and after are absent for sensitive outputs.',
            },
          },
        },
      },
    },
  },
  Event: event,
  StateEvents: {
    type: 'object',
    required: ['name', 'events', 'next'],
    properties: {
      name: schemaRef('StateName'),
      events: { type: 'array', items: schemaRef('Event') },
      next: nullable('integer', { description: 'The `after` of the next page (a stream version); null on the last one.' }),
    },
  },
  Feed: {
    type: 'object',
    required: ['events', 'next'],
    properties: {
      events: { type: 'array', items: schemaRef('Event'), description: 'In commit order.' },
      next: { type: 'integer', minimum: 0, description: 'The `after` of the next read (the cursor itself when the page is empty).' },
    },
  },
  ConsoleSession: {
    type: 'object',
    required: ['actor', 'grants'],
    properties: {
      actor: { type: 'string', description: 'Who the session acts for: `user:NAME` or `token:NAME`.' },
      grants: { type: 'array', items: { type: 'object', required: ['role', 'glob'], properties: { role: { type: 'string', enum: ['outputs', 'read', 'write', 'admin'] }, glob: { type: 'string' } } } },
      expires_at: { type: 'string', format: 'date-time', description: 'When the session ends (on sign-in only).' },
    },
  },
  Health: {
    type: 'object',
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['ok', 'unavailable'] },
      postgres: { type: 'string', enum: ['ok', 'unavailable'] },
      blobs: { type: 'string', enum: ['ok', 'unavailable'] },
      projections: {
        description: 'Only with `?verbose`: each asynchronous projection\'s lag (final events not applied yet, counted up to 100000, and how long the oldest has waited), or `unavailable`.',
        oneOf: [
          {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'lag_events', 'lag_seconds', 'checkpoint_at'],
              properties: {
                name: { type: 'string' },
                lag_events: { type: 'integer', minimum: 0 },
                lag_seconds: { type: 'number', minimum: 0 },
                checkpoint_at: { oneOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }], description: 'When its checkpoint last moved (null: it never ran).' },
              },
            },
          },
          { type: 'string', enum: ['unavailable'] },
        ],
      },
    },
  },
  User: {
    type: 'object',
    required: ['name', 'has_password', 'updated_at', 'updated_by'],
    properties: { name: ACCOUNT_NAME, has_password: { type: 'boolean' }, updated_at: time('Last change.'), updated_by: { type: 'string' } },
  },
  UserList: { type: 'object', required: ['users'], properties: { users: { type: 'array', items: schemaRef('User') } } },
  NewUser: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { ...ACCOUNT_NAME, description: 'Not `token` nor `oidc` (reserved Basic user names).' },
      password: { type: 'string', minLength: 12, maxLength: 1024, description: 'Generated (and answered once) when absent.' },
    },
  },
  CreatedUser: {
    type: 'object',
    required: ['name'],
    properties: { name: ACCOUNT_NAME, password: { type: 'string', description: 'The generated password, shown once (absent when one was given).' } },
  },
  PasswordChange: {
    type: 'object',
    required: ['password'],
    additionalProperties: false,
    properties: { password: { type: 'string', minLength: 12, maxLength: 1024 } },
  },
  Token: {
    type: 'object',
    required: ['name', 'created_at', 'created_by', 'expires_at', 'last_used_at'],
    properties: {
      name: ACCOUNT_NAME,
      created_at: time('When it was created.'),
      created_by: { type: 'string' },
      expires_at: nullableTime('null: never.'),
      last_used_at: nullableTime('null: never used.'),
    },
  },
  TokenList: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: schemaRef('Token') } } },
  NewToken: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: { name: ACCOUNT_NAME, expires: { type: 'string', description: `Optional: ${EXPIRY_FORMS}.`, examples: ['30d'] } },
  },
  CreatedToken: {
    type: 'object',
    required: ['name', 'secret', 'expires_at'],
    properties: { name: ACCOUNT_NAME, secret: { type: 'string', description: 'The token secret, shown this once.' }, expires_at: nullableTime('null: never.') },
  },
  Grant: {
    type: 'object',
    required: ['role', 'subject', 'glob'],
    additionalProperties: false,
    properties: { role: ROLE, subject: SUBJECT, glob: GLOB },
  },
  GrantListing: {
    type: 'object',
    required: ['role', 'subject', 'glob', 'granted_at', 'granted_by'],
    properties: { role: ROLE, subject: SUBJECT, glob: GLOB, granted_at: time('When it was granted.'), granted_by: { type: 'string' } },
  },
  GrantList: { type: 'object', required: ['grants'], properties: { grants: { type: 'array', items: schemaRef('GrantListing') } } },
  GrantAdded: {
    type: 'object',
    required: ['role', 'subject', 'glob', 'changed'],
    properties: { role: ROLE, subject: SUBJECT, glob: GLOB, changed: { type: 'boolean', description: 'false when the grant existed already.' } },
  },
  GrantRevoked: {
    type: 'object',
    required: ['role', 'subject', 'glob', 'revoked'],
    properties: { role: ROLE, subject: SUBJECT, glob: GLOB, revoked: { const: true } },
  },
  UserRemoved: { type: 'object', required: ['removed', 'grants_revoked'], properties: { removed: ACCOUNT_NAME, grants_revoked: { type: 'integer', minimum: 0 } } },
  TokenRevoked: { type: 'object', required: ['revoked', 'grants_revoked'], properties: { revoked: ACCOUNT_NAME, grants_revoked: { type: 'integer', minimum: 0 } } },
  PasswordChanged: { type: 'object', required: ['name'], properties: { name: ACCOUNT_NAME } },
  AccessFile: {
    type: 'object',
    additionalProperties: false,
    description: 'The whole of access as a team keeps it in git (`access apply`): users, tokens and grants absent from it are removed.',
    properties: {
      users: { type: 'array', maxItems: 10000, items: ACCOUNT_NAME },
      tokens: {
        type: 'array',
        maxItems: 10000,
        items: {
          oneOf: [
            ACCOUNT_NAME,
            {
              type: 'object',
              required: ['name'],
              additionalProperties: false,
              properties: { name: ACCOUNT_NAME, expires: nullableTime('An RFC 3339 time; absent or null: never.') },
            },
          ],
        },
      },
      grants: { type: 'array', maxItems: 10000, items: schemaRef('Grant') },
    },
  },
  AccessApplied: {
    type: 'object',
    required: ['dry_run', 'changes', 'secrets'],
    properties: {
      dry_run: { type: 'boolean' },
      changes: { type: 'array', items: { type: 'string' }, description: 'One sentence per change, made (or that would be made, with dry_run).' },
      secrets: {
        type: 'array',
        description: 'The secrets of the tokens this run created, shown once (none with dry_run).',
        items: { type: 'object', required: ['name', 'secret'], properties: { name: ACCOUNT_NAME, secret: { type: 'string' } } },
      },
    },
  },
};

const errorContent = { 'application/json': { schema: schemaRef('Error') } };
const lockInfoContent = { 'application/json': { schema: schemaRef('LockInfo') } };
const retryAfter = { 'Retry-After': { $ref: '#/components/headers/Retry-After' } };
const closes = { Connection: { $ref: '#/components/headers/Connection-Close' } };

/** The answers many operations share. The guards in front of every route give the generic ones. */
const responses: Json = {
  BadRequest: {
    description:
      'The request is not valid: a malformed request line or header (no Host, HTTP/2 spoken to HTTP/1.1), a query or path segment that is not percent-encoded UTF-8, ' +
      'an invalid state name (`invalid_name`), version (`invalid_version`) or query value (`invalid_query`, `invalid_lock_id`), ' +
      'or a body that is not what the operation takes (`invalid_json`, `invalid_utf8`, `content_md5_mismatch`, `invalid_content_md5`, `empty_body`, `invalid_state`, `invalid_lock_info`, ...).',
    content: errorContent,
  },
  Unauthorized: {
    description: 'No credentials, or credentials refused. The body is never read, and the connection is closed.',
    headers: { 'WWW-Authenticate': { schema: { type: 'string', const: 'Basic realm="state-ledger", charset="UTF-8"' } }, ...closes },
    content: errorContent,
  },
  Forbidden: {
    description:
      'The caller has a role on the state, but not the one the operation needs (`forbidden`, naming the role); or, on a state-changing request, an `Origin` ' +
      'that is neither the server\'s own nor in ALLOWED_ORIGINS (`foreign_origin`).',
    content: errorContent,
  },
  NotFound: {
    description: 'Not found. A state the caller has no role on at all is answered the same way as one that does not exist, so names are not disclosed.',
    content: errorContent,
  },
  RequestTimeout: {
    description: 'The body did not arrive in full in time (`request_timeout`), or stalled (`body_stalled`). The connection is closed.',
    headers: closes,
    content: errorContent,
  },
  Conflict: {
    description: 'A conflict (`conflict`: the state kept changing under concurrent writers; retry). Nothing was changed.',
    content: errorContent,
  },
  TooLarge: {
    description: `The body exceeds the limit (\`too_large\`): ${SMALL_BODY_LIMIT} bytes for JSON request bodies, MAX_STATE_BYTES for a state. The connection is closed.`,
    headers: closes,
    content: errorContent,
  },
  UnsupportedEncoding: {
    description: 'A `Content-Encoding` other than `identity` (`unsupported_encoding`): bodies are stored byte for byte and must be sent uncompressed.',
    content: errorContent,
  },
  LockHeld: {
    description: "Someone else holds the state's lock. The body is the holder's LockInfo (both clients parse it to print who holds it).",
    content: lockInfoContent,
  },
  Gone: {
    description: 'The version\'s body was pruned by the retention policy (`version_pruned`, naming when and by which rule); its metadata remains in the version list.',
    content: errorContent,
  },
  Unprocessable: { description: 'Understood, but cannot be done with this state or version (the code says why).', content: errorContent },
  TooManyRequests: {
    description:
      'Too many failed logins from this address, or for this user name from it (`too_many_login_failures`), or too many uploads in progress from this client ' +
      '(`too_many_uploads`, state pushes only). The connection is closed.',
    headers: { ...retryAfter, ...closes },
    content: errorContent,
  },
  InternalError: {
    description: 'A bug (`internal`), or a stored body that fails its checksum (`corrupt_body`). Never a stack trace; the log has the details.',
    content: errorContent,
  },
  Unavailable: {
    description:
      'A dependency (PostgreSQL, the blob store) is down or too slow (`unavailable`), or the server has as much of some work in hand as it takes (`server_busy`). Clients retry.',
    headers: retryAfter,
    content: errorContent,
  },
  InsufficientStorage: {
    description: "The server's disk or database is full (`insufficient_storage`); retry once space has been freed.",
    headers: retryAfter,
    content: errorContent,
  },
  NotModified: {
    description: '`If-None-Match` named the current ETag: the body is unchanged.',
    headers: { ETag: { $ref: '#/components/headers/ETag' } },
  },
};

const parameters: Json = {
  StateName: {
    name: 'name',
    in: 'path',
    required: true,
    description:
      'The state name. Names may nest with `/` (`team-a/prod/network`): send the `/`s as they are (`/states/team-a/prod/network/lock`) or encoded as `%2F`. ' +
      `The server splits the path at the first segment that is a sub-resource word (${SUB_RESOURCE_WORDS}), which is why no name segment may be one. ` +
      'OpenAPI path parameters are single segments; tools that encode them with encodeURIComponent produce `%2F`, which works.',
    schema: schemaRef('StateName'),
  },
  Version: { name: 'version', in: 'path', required: true, description: 'A version number (1, 2, 3, ...).', schema: { type: 'integer', minimum: 1, maximum: MAX_VERSION } },
  LockIdQuery: {
    name: 'ID',
    in: 'query',
    required: false,
    description: 'The lock the client holds (the clients send it on writes under a lock); given once, non-empty.',
    schema: { type: 'string', minLength: 1 },
  },
  At: {
    name: 'at',
    in: 'query',
    required: false,
    description: 'A point in time: RFC 3339 with an offset, such as 2026-11-25T08:00:00Z.',
    schema: { type: 'string', format: 'date-time' },
  },
  Format: {
    name: 'format',
    in: 'query',
    required: false,
    description: '`table` answers an aligned text table (`text/plain`), as `Accept: text/plain` does.',
    schema: { type: 'string', enum: ['json', 'table'], default: 'json' },
  },
  Limit: {
    name: 'limit',
    in: 'query',
    required: false,
    description: 'Page size: 50 unless given; larger values are taken as 1000.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_VERSION, default: 50 },
  },
  Wait: {
    name: 'wait',
    in: 'query',
    required: false,
    description: `Seconds (0 to ${MAX_WAIT_SECONDS}) to wait for an event after the cursor: a long poll.`,
    schema: { type: 'integer', minimum: 0, maximum: MAX_WAIT_SECONDS, default: 0 },
  },
  ContentMd5: {
    name: 'Content-MD5',
    in: 'header',
    required: false,
    description: "The body's MD5, base64 (both clients send it): a body that does not match is refused with 400.",
    schema: { type: 'string' },
  },
  IfNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description: 'The ETag of a copy the client has: answered 304 when it is current.',
    schema: { type: 'string' },
  },
  User: { name: 'user', in: 'path', required: true, schema: ACCOUNT_NAME },
  Token: { name: 'token', in: 'path', required: true, schema: ACCOUNT_NAME },
};

const headers: Json = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
  'Connection-Close': { description: 'The connection is closed after this answer (its body may be unread).', schema: { type: 'string', const: 'close' } },
  ETag: { description: "The body's SHA-256, quoted.", schema: { type: 'string' } },
  'X-State-Version': { description: 'The version served.', schema: { type: 'integer', minimum: 1 } },
  'Content-MD5': { description: "Base64 MD5 of the body (Terraform checks it), when the pushing client sent one.", schema: { type: 'string' } },
};

const securitySchemes: Json = {
  basic: {
    type: 'http',
    scheme: 'basic',
    description:
      'HTTP Basic: a user and its password; or the user name `token` with an API token as the password; or `oidc` with an OIDC-issued JWT as the password. ' +
      'Strict base64 of `name:password` in UTF-8.',
  },
  bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An API token or an OIDC-issued JWT (OIDC_ISSUERS).' },
  mutualTLS: {
    type: 'mutualTLS',
    description: 'A client certificate signed by TLS_CLIENT_CA (HTTPS only): its CN names the caller (`cert:<CN>`). Used when no Authorization header is sent.',
  },
};

export const components = (): Json => ({ schemas, responses, parameters, headers, securitySchemes });
